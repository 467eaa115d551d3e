"""The recipes' recorded output (``docs/recipes/output/*.txt``, written by ``docs/gen_recipes.py``) is what
the code prints: the cheap recipe is rerun here and compared, every recording holds exactly its recipe's
command lines, and the pages include every recording and source."""

import importlib
import pathlib
import re
import shutil
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
gen_recipes = importlib.import_module("gen_recipes")


def _blocks(text: str) -> list[tuple[str, str]]:
    """``[(command line, output), ...]`` of a recording."""
    parts = re.split(r"^\$ (.*)$", text, flags=re.MULTILINE)
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def test_every_recording_holds_its_recipes_commands_and_is_shown():
    pages = "".join(p.read_text() for p in (DOCS / "recipes").glob("*.md"))
    for name, steps in gen_recipes.RECIPES.items():
        recorded = (gen_recipes.OUTPUT / f"{name}.txt").read_text()
        blocks = _blocks(recorded)
        assert [c for c, _ in blocks] == [s.shown for s in steps], name
        assert all(out for _, out in blocks), f"{name}: a step printed nothing"
        assert "Traceback" not in recorded, name
        assert f'--8<-- "docs/recipes/output/{name}.txt"' in pages, name
        for step in steps:
            if step.python:
                assert f'--8<-- "docs/recipes/src/{step.python}"' in pages
    assert '--8<-- "docs/recipes/src/my_systems.py"' in pages


def _numbers_close(a: str, b: str) -> bool:
    """Equal text, numbers equal to a relative 1e-4 (float rounding on another CPU)."""
    num = r"-?\d+\.\d+(?:e-?\d+)?"
    if re.sub(num, "#", a) != re.sub(num, "#", b):
        return False
    return all(
        abs(float(x) - float(y)) <= 1e-4 * max(1.0, abs(float(y)))
        for x, y in zip(re.findall(num, a), re.findall(num, b))
    )


def test_the_env_import_path_recipe_prints_what_was_recorded(tmp_path, monkeypatch, capsys):
    """``own_problem_check`` (a rollout of ``my_systems:VanDerPol`` and three mistakes) rerun in-process."""
    from awmkit.cli import main

    shutil.copytree(gen_recipes.SRC, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    recorded = _blocks((gen_recipes.OUTPUT / "own_problem_check.txt").read_text())
    for step, (shown, expected) in zip(gen_recipes.RECIPES["own_problem_check"], recorded):
        argv, _ = gen_recipes._argv(step)
        try:
            code = main(argv[3:])
        except SystemExit as e:
            code = e.code
        out = capsys.readouterr()
        printed = (out.out if code == 0 else out.out + out.err).strip()
        assert _numbers_close(printed, expected), f"{shown}\nprinted:\n{printed}\nrecorded:\n{expected}"


@pytest.mark.parametrize(
    "name, message",
    [
        ("my_systems:Nope", "module 'my_systems' has no attribute 'Nope'"),
        ("no_such_module_xyz:Tank", "cannot import module 'no_such_module_xyz'"),
        (
            "my_systems:jnp",
            "expected an AbstractControlProblem subclass or a factory returning one, got a module",
        ),
        ("my_systems:Integrator", "Integrator is not a subclass of awmkit.envs.AbstractControlProblem"),
        ("my_systems:", "an import path must read 'package.module:Class'"),
    ],
)
def test_make_with_an_import_path_refuses_in_one_line(name, message, monkeypatch):
    import awmkit

    monkeypatch.syspath_prepend(str(gen_recipes.SRC))
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        awmkit.envs.make(name, 20)
    assert "\n" not in str(info.value)


def test_make_with_an_import_path_builds_the_class_and_a_factory(monkeypatch):
    import awmkit

    monkeypatch.syspath_prepend(str(gen_recipes.SRC))
    env = awmkit.envs.make("my_systems:VanDerPol", 20, mu=2.0)
    assert type(env.problem).__name__ == "VanDerPol" and env.problem.mu == 2.0 and env.horizon == 20
    assert awmkit.envs.describe("my_systems:VanDerPol")["state_names"] == ["position", "velocity"]
    with pytest.raises(ValueError, match="unknown parameter"):
        awmkit.envs.make("my_systems:VanDerPol", 20, nu=1.0)
    with pytest.raises(ValueError, match=r"returned a str, not an awmkit.envs.AbstractControlProblem"):
        awmkit.envs.make("os:getcwd", 20)


def test_repo_url_and_clone_commands_use_the_address_pyproject_gives():
    import tomllib

    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    repo_url = re.search(r"^repo_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE).group(1)
    assert repo_url in urls.values()
    for page in (ROOT / "README.md", DOCS / "index.md", DOCS / "recipes" / "train-and-results.md"):
        clones = re.findall(r"git clone (\S+)", page.read_text())
        assert clones and set(clones) == {repo_url}, page


def test_a_sweep_cell_takes_an_import_path(monkeypatch):
    from awmkit.experiments import Cell

    monkeypatch.syspath_prepend(str(gen_recipes.SRC))
    cell = Cell(
        name="vdp-H10", kind="bpo", env="my_systems:VanDerPol", horizon=10, seeds=1, model="markovian"
    )
    assert Cell.from_dict(cell.to_dict()) == cell
    with pytest.raises(
        ValueError, match=r"cell 'x': environment 'my_systems:Nope': module 'my_systems' has no"
    ):
        Cell(name="x", kind="bpo", env="my_systems:Nope", horizon=10, seeds=1, model="markovian")
