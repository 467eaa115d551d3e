"""The library's GPU defaults, read from a committed table: ``awmkit/data/gpu_defaults.json``.

The table holds the four settings ``benchmarks/gpu_tune.py`` decides (`KEYS`: the attention
implementation ``"auto"`` resolves to, the matmul precision policy in force when none is set, the
generation scans' unroll and the number of runs vmapped in one program) with its provenance
(``measured``, ``source``, ``machine``). It is read only when a program is traced for a GPU backend
(`GPU_BACKENDS`); every other backend keeps its own defaults, defined beside the switches
(``awmkit.nn.AUTO_ATTENTION``, ``awmkit.models.GENERATION_UNROLL``,
``awmkit.bpo.DEFAULT_SEED_GROUP_SIZE``). ``benchmarks/gpu_defaults.py`` writes the table from a
``gpu_tune.py`` result with `defaults_from_tune`; until one from a GPU is committed the table states
``"measured": "none yet, ..."`` and holds the defaults measured on 2026-12-04.
"""

import functools
import importlib.resources
import json
import pathlib

#: Backends the table applies to.
GPU_BACKENDS = ("gpu", "cuda", "rocm")

#: The settings the table holds.
KEYS = ("attention", "matmul_precision", "generation_unroll", "seed_group_size")


def table_path() -> pathlib.Path:
    """The committed table shipped with the package."""
    return pathlib.Path(str(importlib.resources.files("awmkit.data").joinpath("gpu_defaults.json")))


@functools.cache
def gpu_table() -> dict:
    """The committed table (read once per process), checked: a table without every key of `KEYS` is a
    one-line ``ValueError`` naming the file."""
    path = table_path()
    table = json.loads(path.read_text())
    missing = [k for k in KEYS if k not in table.get("defaults", {})]
    if missing:
        raise ValueError(f"{path}: `defaults` lacks {', '.join(missing)}; expected keys {', '.join(KEYS)}")
    return table


def gpu_default(key: str, backend: str, otherwise):
    """The committed GPU default `key` when `backend` is a GPU backend, else `otherwise` (the caller's
    own default for that backend), so a CPU never reads the table."""
    if backend not in GPU_BACKENDS:
        return otherwise
    return gpu_table()["defaults"][key]


def defaults_from_tune(report: dict, source: str) -> dict:
    """The table for a ``benchmarks/gpu_tune.py`` result `report` (its JSON, from the file `source`):
    its chosen attention, precision and unroll, and as runs per program the chosen R at the longest
    horizon (``None``, all runs of a device in one program, when that R is the largest tried).
    Refuses a result measured on another backend than a GPU in one line."""
    machine = report.get("machine", {})
    if machine.get("backend") not in GPU_BACKENDS:
        raise ValueError(
            f"`report` ({source}) was measured on backend {machine.get('backend')!r}, not a GPU "
            f"({', '.join(GPU_BACKENDS)}): its choices cannot become the GPU defaults"
        )
    chosen = report["chosen"]
    precision = chosen.get("precision")
    runs = {int(h): int(r) for h, r in chosen["runs"].items()}
    best = runs[max(runs)]
    tried = report.get("config", {}).get("runs") or [best]
    return {
        "measured": f"benchmarks/gpu_tune.py on {machine.get('device')} (jax {machine.get('jax')})",
        "source": source,
        "machine": machine,
        "note": "Written by benchmarks/gpu_defaults.py from the gpu_tune result in `source`.",
        "defaults": {
            "attention": chosen.get("attention", "xla"),
            # bf16 is never a default (its gradient error is documented, not chosen for the user).
            "matmul_precision": precision if precision in (None, "float32", "tf32") else None,
            "generation_unroll": int(chosen.get("unroll", 1)),
            "seed_group_size": None if best >= max(tried) else best,
        },
    }
