"""``awmkit train`` in child processes, shared by test_resume_processes.py and test_run_processes.py.

Both start tiny runs as fresh ``python -m awmkit`` processes and compare them with one uninterrupted
reference run of the same command. The reference of each algorithm is made once per test process (the
two modules share the xdist group ``train_processes``, so one worker makes it for both) and the children
share the session's persistent compilation cache (tests/conftest.py), so each program is compiled once.
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
GROUP = "train_processes"  # the xdist group of every test that uses `reference`
COMMON = ["--env", "cancer_treatment", "--horizon", "10", "--seeds", "2", "--key", "3"]
FLAGS = {
    "bpo": [
        "--model", "markovian", "--steps", "100", "--warmup-steps", "20", "--dynamics-batch-size", "4",
        "--policy-batch-size", "4", "--dynamics-update-every", "5", "--policy-update-every", "5",
        "--policy-lr", "1e-3",
        "--eval-interval", "20", "--eval-episodes", "2", "--chunk-size", "2",
    ],
    "sac": [
        "--algo", "sac", "--steps", "200", "--warmup-steps", "40", "--eval-interval", "40", "--batch-size", "8",
        "--critic-width", "8", "--policy-width", "8", "--critic-lr", "1e-3", "--policy-lr", "1e-3",
        "--eval-episodes", "2",
    ],
    "odt": [
        "--algo", "odt", "--steps", "100", "--warmup-steps", "20", "--updates-per-iteration", "2",
        "--batch-size", "4", "--context-length", "3", "--embed-width", "8", "--depth", "1", "--num-heads", "2",
        "--mlp-width", "8", "--eval-interval", "20", "--eval-episodes", "2", "--target-return", "-40",
    ],
}  # fmt: skip


def child_env() -> dict:
    """The children's environment: this tree first on the path, and every compiled program kept in the
    persistent cache (however small), so that reference, killed and resumed runs compile it once."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def train(env: dict, algo: str, out: pathlib.Path, *extra: str) -> subprocess.CompletedProcess:
    """``awmkit train`` of ``algo``'s tiny run into ``out`` in a child, with ``--json``."""
    argv = [
        sys.executable,
        "-m",
        "awmkit",
        "train",
        *COMMON,
        *FLAGS[algo],
        "--out",
        str(out),
        "--json",
        *extra,
    ]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)


_REFERENCES: dict[str, tuple[str, pathlib.Path, dict]] = {}


def reference(algo: str, tmp_path_factory) -> tuple[str, pathlib.Path, dict]:
    """One uninterrupted run of ``algo`` in a child, made on first use in this test process:
    ``(algo, run directory, its --json summary)``. Tests only read it (or resume it, finished, which
    changes nothing: test_resume_processes.py checks that)."""
    if algo not in _REFERENCES:
        out = tmp_path_factory.mktemp(f"reference-{algo}") / "run"
        done = train(child_env(), algo, out, "--no-progress")
        assert done.returncode == 0, done.stderr
        _REFERENCES[algo] = algo, out, json.loads(done.stdout)
    return _REFERENCES[algo]
