"""Markdown tables from the benchmark results in ``benchmarks/results/*.json``.

The documentation's Benchmarks page is built from these files at ``mkdocs build`` time (through
``docs/hooks.py``), so the published numbers are always the committed ones. Run
``python docs/gen_benchmarks.py`` to print the generated Markdown.

Each results file is a JSON object with a list of row objects under ``"results"`` or ``"rows"`` and,
optionally, ``"benchmark"`` (a title) and machine information (``"machine"``, ``"device"``, ``"jax"``...).
When neither exists, an object of objects (e.g. ``"models": {"markovian": {...}, ...}``) gives one row per
entry, named in a first column ``name``. Nested objects in a row are flattened one level
(``{"euler": {"max_abs": ...}}`` becomes a column ``euler.max_abs``); short lists of numbers are shown
inline, other lists are left out of the table.
"""

import json
import re
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
_ROW_KEYS = ("results", "rows")
_MACHINE_KEYS = ("machine", "device", "platform", "jax", "jax_version", "awmkit", "awmkit_version", "quick")


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _short_list(value) -> bool:
    return (
        isinstance(value, list)
        and 0 < len(value) <= 12
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


def _cell(value):
    if _short_list(value):
        return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
    return value


def _flatten(row: dict) -> dict:
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if not isinstance(v, (dict, list)) or _short_list(v):
                    flat[f"{key}.{sub}"] = _cell(v)
        elif not isinstance(value, list) or _short_list(value):
            flat[key] = _cell(value)
    return flat


def _rows(data):
    if isinstance(data, list):
        return data
    for key in _ROW_KEYS:
        if key in data:
            return data[key]
    for value in data.values():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            return [{"name": name, **row} for name, row in value.items()]
    return None


def _machine(data: dict) -> str:
    parts = []
    for key in _MACHINE_KEYS:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if not isinstance(v, (dict, list)))
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def table(path: pathlib.Path) -> str:
    """One Markdown section (title, machine line, table) for one results file."""
    data = json.loads(path.read_text())
    rows = _rows(data)
    title = data.get("benchmark", path.stem) if isinstance(data, dict) else path.stem
    lines = [f"## {title}", "", f"Source: `benchmarks/results/{path.name}`.", ""]
    if isinstance(data, dict) and _machine(data):
        lines += [f"*{_machine(data)}*", ""]
    if not rows:
        return "\n".join(lines + ["This file holds no rows.", ""])
    flat = [_flatten(r) for r in rows]
    columns: list[str] = []
    for r in flat:
        columns += [c for c in r if c not in columns]
    for part in _split(columns, flat):
        lines.append("| " + " | ".join(header(c) for c in part) + " |")
        lines.append("|" + "---|" * len(part))
        for r in flat:
            lines.append("| " + " | ".join(_fmt(r.get(c)) for c in part) + " |")
        lines.append("")
    return "\n".join(lines)


# Words of result keys spelled out in column headers.
_WORDS = {"s": "s", "us": "µs", "ms": "ms", "n": "n", "h": "H", "r2": "R²", "ss": "SS", "stderr": "std. error"}
#: Columns per table: wider tables are split, repeating the identifying columns, so each fits the page.
MAX_COLUMNS = 8


def header(key: str) -> str:
    """A readable column header for a result key: ``env_steps_per_s_per_seed`` -> ``env steps/s per
    seed``, ``compile_s`` -> ``compile (s)``, ``euler.max_abs`` -> ``euler: max abs``."""
    prefix, _, name = key.rpartition(".")
    words = name.split("_")
    unit = ""
    if len(words) > 1 and words[-1] in ("s", "ms", "us", "hours"):
        unit = f" ({_WORDS.get(words[-1], words[-1])})"
        words = words[:-1]
    text = re.sub(r" per s\b", "/s", " ".join(_WORDS.get(w, w) for w in words))
    return (f"{prefix.replace('.', ' ')}: " if prefix else "") + text + unit


def _split(columns: list[str], rows: list[dict]) -> list[list[str]]:
    """The columns in groups of at most ``MAX_COLUMNS``: first the identifying (text) columns at the
    front, repeated in every group; then the others, those of one nested object (``euler.*``) together."""
    ids = []
    for c in columns:
        if len(ids) < 3 and all(isinstance(r.get(c), str) or r.get(c) is None for r in rows) and "." not in c:
            ids.append(c)
        else:
            break
    ids = ids or columns[:1]
    rest = [c for c in columns if c not in ids]
    width = max(1, MAX_COLUMNS - len(ids))
    groups: list[list[str]] = []
    for c in rest:
        prefix = c.rpartition(".")[0]
        last = groups[-1] if groups else None
        same = last is not None and last[-1].rpartition(".")[0] == prefix
        if last is not None and len(last) < width and same:
            last.append(c)
        else:
            groups.append([c])
    return [ids + g for g in groups] if groups else [ids]


def render(results_dir: pathlib.Path = RESULTS) -> str:
    """Every results file in ``results_dir`` as Markdown sections, sorted by file name."""
    files = sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []
    if not files:
        return "No benchmark results are committed on this branch yet (`benchmarks/results/` is empty).\n"
    return "\n".join(table(p) for p in files)


if __name__ == "__main__":
    sys.stdout.write(render())
