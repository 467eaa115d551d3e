"""Writes the library's GPU defaults (``awmkit/data/gpu_defaults.json``) from a committed
``benchmarks/gpu_tune.py`` result measured on a GPU: its chosen attention implementation, matmul
precision (bf16 is never adopted), generation unroll and runs per program, with the result's file
and machine as provenance. Other backends keep their own defaults; a result from a CPU is refused.

After a device session (``$OUT/gpu_tune.json`` copied to ``benchmarks/results/gpu_tune_h200.json``)::

    python benchmarks/gpu_defaults.py benchmarks/results/gpu_tune_h200.json

then commit both files (``tests/test_gpu_defaults.py`` checks that the table matches its source).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from awmkit._gpu_defaults import defaults_from_tune, table_path  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", help="a gpu_tune.py JSON result measured on a GPU")
    parser.add_argument("--out", default=None, help="the table to write (default: the package's)")
    args = parser.parse_args(argv)
    with open(args.result) as f:
        report = json.load(f)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = os.path.relpath(os.path.abspath(args.result), root)
    try:
        table = defaults_from_tune(report, source)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out or str(table_path())
    with open(out, "w") as f:
        f.write(json.dumps(table, indent=2) + "\n")
    print(f"{out}: {json.dumps(table['defaults'])} ({table['measured']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
