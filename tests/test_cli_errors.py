"""Every ``awmkit`` error is one line ``awmkit <cmd>: error: <what>; <hint> (see `awmkit <cmd> --help`)``
on stderr with exit status 2, found before anything is compiled (``awmkit.cli.main`` in-process)."""

import argparse

import pytest

import awmkit
from awmkit import _cli_common
from awmkit.cli import build_parser, main
from awmkit.envs import registered
from awmkit.evaluation import load_references

TRAIN = ["train", "--env", "harvest", "--model", "simulator", "--horizon", "20", "--no-progress"]


def _error(capsys, argv) -> str:
    """stderr of a command that must fail with status 2 (argparse errors exit, the others return)."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.out == ""
    return captured.err


def test_argument_errors_are_one_line_without_usage(capsys):
    err = _error(capsys, ["train", "--env", "cartpole", "--horizon", "20"])
    assert err == (
        f"awmkit train: error: argument --env: unknown environment 'cartpole'; valid names are: "
        f"{', '.join(registered())} (or an import path 'package.module:Class') (see `awmkit train --help`)\n"
    )
    assert _error(capsys, ["train", "--env", "harvest"]) == (
        "awmkit train: error: the following arguments are required: --horizon (see `awmkit train --help`)\n"
    )
    assert _error(capsys, [*TRAIN, "--stepz", "3"]) == (
        "awmkit train: error: unrecognized arguments: --stepz 3 (see `awmkit train --help`)\n"
    )
    commands = ", ".join(next(a for a in build_parser()._actions if a.dest == "command").choices)
    assert _error(capsys, []) == (
        f"awmkit: error: the following arguments are required: COMMAND; one of: {commands} "
        "(see `awmkit --help`)\n"
    )


def test_sub_commands_added_by_any_module_inherit_the_format(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    extra = sub.add_parser("extra")  # as another branch's _cli.py would
    extra.add_argument("--n", type=_cli_common.positive_int)
    assert isinstance(extra, _cli_common.ArgumentParser)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["extra", "--n", "0"])
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "awmkit extra: error: argument --n: expected a positive integer, got 0 (see `awmkit extra --help`)\n"
    )


def test_errors_raised_by_a_sub_command_are_one_line(capsys):
    assert _error(capsys, ["train", "--env", "harvest", "--horizon", "20"]) == (
        "awmkit train: error: --algo bpo needs --model, one of: "
        + ", ".join(awmkit.models.names())
        + " (see `awmkit train --help`)\n"
    )


@pytest.mark.parametrize("command", [[*TRAIN, "--out"], ["diagnose", "paths", "--out"]])
def test_unwritable_output_directory(command, capsys, tmp_path):
    name = command[0]
    assert _error(capsys, [*command, "/proc/x/run"]) == (
        f"awmkit {name}: error: argument --out: cannot create /proc/x/run: /proc is not writable; choose a "
        f"writable directory (see `awmkit {name} --help`)\n"
    )
    (tmp_path / "file").write_text("")
    assert _error(capsys, [*command, str(tmp_path / "file")]) == (
        f"awmkit {name}: error: argument --out: {tmp_path / 'file'} exists and is not a directory; pass a "
        f"directory (see `awmkit {name} --help`)\n"
    )
    assert not any(tmp_path.iterdir()) or [p.name for p in tmp_path.iterdir()] == ["file"]


def test_unwritable_references_file(capsys):
    assert _error(capsys, ["references", "--write", "--output", "/proc/x/refs.json"]) == (
        "awmkit references: error: argument --output: cannot create /proc/x/refs.json: /proc is not "
        "writable; choose a writable directory (see `awmkit references --help`)\n"
    )


def test_shipped_reference_that_is_not_shipped(capsys):
    horizons = sorted(h for (e, h) in load_references() if e == "harvest")
    assert _error(capsys, ["references", "--shipped", "--env", "harvest", "--horizon", "37"]) == (
        "awmkit references: error: no shipped reference for harvest at H = 37; shipped horizons: harvest: "
        f"{', '.join(map(str, horizons))} (compute others without --shipped) (see `awmkit references --help`)\n"
    )


def test_results_of_an_empty_folder(capsys, tmp_path):
    assert _error(capsys, ["results", str(tmp_path)]) == (
        f"awmkit results: error: no runs found in {tmp_path} (no config.json in it or below it); pass run "
        "directories written by `awmkit train --out DIR`, or a folder holding them "
        "(see `awmkit results --help`)\n"
    )


def test_unknown_environment_name_comes_before_the_missing_horizon():
    with pytest.raises(ValueError) as info:
        awmkit.envs.make("nope")
    assert str(info.value) == (
        f"unknown environment 'nope'; valid names are: {', '.join(registered())} "
        "(or an import path 'package.module:Class')"
    )
    with pytest.raises(TypeError, match=r"make\('harvest'\) needs `horizon`"):
        awmkit.envs.make("harvest")
