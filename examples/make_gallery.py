"""Regenerates every figure of the documentation's examples gallery.

``python examples/make_gallery.py --quick`` runs each example script with ``--quick`` and writes its
figure to ``docs/examples/img/NAME.png``; ``--only NAME`` runs one. Each script runs in its own
process (each sets its own JAX configuration, e.g. float64) with the repository root on
``PYTHONPATH``, so the gallery always shows this checkout's awmkit.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Gallery scripts, in the order of the gallery pages.
EXAMPLES = (
    "double_pendulum_gradient_norm",
    "return_landscapes",
    "custom_control_problem",
    "gradient_path_heatmaps",
    "bounds_vs_measured",
    "custom_backbone",
    "learned_landscapes",
    "bpo_every_model",
    "ssm_long_horizon",
)


def run(name: str, quick: bool, out_dir: pathlib.Path) -> float:
    """Runs ``examples/NAME.py`` and returns its wall time in seconds."""
    out = out_dir / f"{name}.png"
    cmd = [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--out", str(out)]
    if quick:
        cmd.append("--quick")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run each example's --quick mode")
    parser.add_argument("--only", choices=EXAMPLES, action="append", help="run only these examples")
    parser.add_argument("--out-dir", default=str(ROOT / "docs" / "examples" / "img"))
    args = parser.parse_args(argv)
    out_dir = pathlib.Path(args.out_dir)
    for name in args.only or EXAMPLES:
        seconds = run(name, args.quick, out_dir)
        print(f"{name}: {seconds:.1f} s -> {out_dir / (name + '.png')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
