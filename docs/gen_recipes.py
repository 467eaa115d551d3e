"""Runs the recipes of the docs and records what they print, so the pages show real output.

    nice -n 10 python docs/gen_recipes.py [RECIPE ...]     # all by default; minutes on a 2-core CPU

Each recipe is a list of steps run in a fresh working directory holding a copy of ``docs/recipes/src/``
(the user's own files: ``my_systems.py`` and the scripts), one after another, as a user would type them:
a step is a shell command line (``awmkit ...`` runs this checkout's CLI) or a Python script. What a step
prints (stdout; stderr too when it fails, as a user sees an error) is written, after the command line,
to ``docs/recipes/output/<recipe>.txt``, which the recipe pages include (``--8<--``). Progress bars are
off (``--no-progress`` / ``progress=False``); numbers are whatever this machine computed.

``tests/test_docs_recipes.py`` reruns the cheap recipe (``own_problem_check``: the ``--env module:Class``
route and its errors, no training) and compares with the recorded file.
"""

import dataclasses
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "docs" / "recipes" / "src"
OUTPUT = ROOT / "docs" / "recipes" / "output"
_TRAIN = "--steps 2000 --warmup-steps 500 --policy-lr 1e-3 --eval-interval 500 --chunk-size 10 --no-progress"


@dataclasses.dataclass(frozen=True)
class Step:
    """``shown``: the command line as the docs show it; ``python``: run this script of ``src/`` instead."""

    shown: str
    python: str | None = None


RECIPES: dict[str, list[Step]] = {
    "quickstart": [
        Step(
            f"awmkit train --env timber_harvest --model awm-transformer --horizon 50 --seeds 3 {_TRAIN} "
            "--out runs/quickstart --resume"
        ),
        Step("awmkit results runs/quickstart"),
    ],  # fmt: skip
    "own_problem_check": [
        Step("PYTHONPATH=. awmkit rollout --env my_systems:VanDerPol --horizon 50"),
        Step("PYTHONPATH=. awmkit rollout --env my_systems:VanDerPoll --horizon 50"),
        Step("PYTHONPATH=. awmkit rollout --env my_sytems:VanDerPol --horizon 50"),
        Step("PYTHONPATH=. awmkit rollout --env my_systems:jnp --horizon 50"),
    ],
    "own_problem_cli": [
        Step(
            f"PYTHONPATH=. awmkit train --env my_systems:VanDerPol --model awm-transformer --horizon 50 "
            f"--seeds 3 {_TRAIN} --out runs/vdp-cli"
        ),
        Step("awmkit results --raw runs/vdp-cli"),
    ],  # fmt: skip
    "own_problem_api": [Step("python bpo_own_problem.py", python="bpo_own_problem.py")],
    "own_world_model": [Step("python own_world_model.py", python="own_world_model.py")],
}


def _argv(step: Step) -> tuple[list[str], dict[str, str]]:
    if step.python is not None:
        return [sys.executable, step.python], {}
    words = shlex.split(step.shown)
    env = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "awmkit", step.shown
    return [sys.executable, "-m", "awmkit", *words[1:]], env


def run_recipe(name: str, work: pathlib.Path) -> str:
    """Runs recipe `name` in the directory `work` (which gets a copy of ``src/``) and returns the text
    the docs show: each command line after ``$ ``, then what it printed."""
    shutil.copytree(SRC, work, dirs_exist_ok=True)
    parts = []
    for step in RECIPES[name]:
        argv, extra = _argv(step)
        # The step's own PYTHONPATH (e.g. "." for my_systems.py) first, then this checkout.
        path = [str(work / p) for p in extra.pop("PYTHONPATH", "").split(os.pathsep) if p] + [str(ROOT)]
        env = {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(path), "NO_COLOR": "1"}
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=3600)
        text = done.stdout if done.returncode == 0 else done.stdout + done.stderr
        parts.append(f"$ {step.shown}\n{text.rstrip()}\n")
    return "\n".join(parts)


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise SystemExit(f"unknown recipe(s) {', '.join(unknown)}; valid names are: {', '.join(RECIPES)}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or list(RECIPES):
            text = run_recipe(name, pathlib.Path(tmp) / name)
            (OUTPUT / f"{name}.txt").write_text(text)
            print(f"{name}: {len(text.splitlines())} lines -> {(OUTPUT / f'{name}.txt').relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
