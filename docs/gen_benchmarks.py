"""The Benchmarks page from the benchmark results in ``benchmarks/results/*.json``.

The page is built from these files at ``mkdocs build`` time (through ``docs/hooks.py``), so the published
numbers are always the committed ones. Run ``python docs/gen_benchmarks.py`` to print the Markdown.

A file with a spec in ``gen_benchmarks_specs.SPECS`` (keyed by its stem without the device suffix,
``_cpu``/``_gpu``/``_h200``/``_cuda``) gets one short table of the columns that matter, its takeaway, its
machine and date (the file's last commit), its recorded notes folded below, and its GPU sibling beside it.
Negative times (a difference of two timings smaller than their noise) are flagged, not shown as results.
Files without a spec fall back to the generic table below.

Each results file is a JSON object with a list of row objects under ``"results"`` or ``"rows"`` and,
optionally, ``"benchmark"`` (a title) and machine information (``"machine"``, ``"device"``, ``"jax"``...).
When neither exists, an object of objects (e.g. ``"models": {"markovian": {...}, ...}``) gives one row per
entry, named in a first column ``name``. Nested objects in a row are flattened one level
(``{"euler": {"max_abs": ...}}`` becomes a column ``euler.max_abs``); short lists of numbers are shown
inline, other lists are left out of the table.
"""

import json
import pathlib
import re
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from gen_benchmarks_specs import SPECS, _get  # noqa: E402

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
_WORDS = {
    "s": "s",
    "us": "µs",
    "ms": "ms",
    "n": "n",
    "h": "H",
    "r2": "R²",
    "ss": "SS",
    "stderr": "std. error",
}
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


_DEVICES = ("cpu", "gpu", "h200", "cuda")
_TIME = re.compile(r"\((s|h|ms)\)|µs|hours|seconds")
NOISE = "⚠ noise"


def _key(path: pathlib.Path) -> tuple[str, str]:
    stem = path.stem
    for dev in _DEVICES:
        if stem.endswith(f"_{dev}"):
            return stem[: -len(dev) - 1], dev
    return stem, "cpu"


def _date(path: pathlib.Path) -> str:
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", path.name],
            cwd=path.parent, capture_output=True, text=True, timeout=20,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or "not committed yet"


def machine_line(data: dict, path: pathlib.Path) -> str:
    """``2 CPUs (x86_64), backend cpu; load average 1.6 before; committed 2026-12-02``."""
    m = data.get("machine")
    parts = []
    if isinstance(m, dict):
        cpus = m.get("cpu_count") or m.get("cpus")
        parts.append(f"{cpus} CPUs" if cpus else "")
        if m.get("processor"):
            parts[-1] += f" ({m['processor']})"
        backend = m.get("backend") or m.get("device") or data.get("platform") or data.get("device")
        if m.get("gpu") or m.get("device_kind"):
            backend = m.get("gpu") or m.get("device_kind")
        if backend:
            parts.append(f"backend {backend}")
    elif m:
        parts.append(str(m))
    elif data.get("device"):
        parts.append(f"device {data['device']}")
    load = data.get("load_average") or data.get("load_average_before")
    if isinstance(load, dict):
        load = load.get("before") or load.get("start")
    if isinstance(load, list) and load:
        parts.append(f"load average {load[0]:.1f} before")
    parts.append(f"committed {_date(path)}")
    return "; ".join(p for p in parts if p)


def _value(value, header: str) -> tuple[str, bool]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0 and _TIME.search(header):
        return NOISE, True
    return _fmt(value), False


def curated(name: str, paths: list[pathlib.Path]) -> str:
    """One benchmark: title, takeaway, then per device its machine line, table and notes."""
    spec = SPECS[name]
    datas = [json.loads(p.read_text()) for p in paths]
    lines = [f"## {spec['title']}", ""]
    take = spec["takeaway"](datas[0]) if spec.get("takeaway") else None
    if take:
        lines += [f"**Takeaway.** {take}", ""]
    flagged = False
    for path, data in zip(paths, datas):
        device = _key(path)[1].upper()
        lines += [f"*{device}: {machine_line(data, path)}. Source: `benchmarks/results/{path.name}`.*", ""]
        cols = spec["columns"]
        lines.append("| " + " | ".join(h for _, h in cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for row in spec["rows"](data):
            cells = []
            for key, head in cols:
                text, noisy = _value(_get(row, key), head)
                flagged |= noisy
                cells.append(text)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        notes = [data[k] for k in ("note", "notes") if isinstance(data, dict) and data.get(k)]
        if notes:
            body = "\n\n".join(n if isinstance(n, str) else "; ".join(map(str, n)) for n in notes)
            lines += [
                f'??? note "Notes recorded with `{path.name}`"',
                "    " + body.replace("\n", "\n    "),
                "",
            ]
    if flagged:
        lines += [
            f"{NOISE}: a negative time, the difference of two timings smaller than their noise; not a result.",
            "",
        ]
    return "\n".join(lines)


def render(results_dir: pathlib.Path = RESULTS) -> str:
    """The page's generated part: the curated benchmarks in ``SPECS`` order, then files without a spec."""
    files = sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []
    if not files:
        return "No benchmark results are committed on this branch yet (`benchmarks/results/` is empty).\n"
    groups: dict[str, list[pathlib.Path]] = {}
    for p in files:
        groups.setdefault(_key(p)[0], []).append(p)
    for ps in groups.values():
        ps.sort(key=lambda p: _DEVICES.index(_key(p)[1]))
    gpu = [p.name for p in files if _key(p)[1] != "cpu"]
    parts = [
        "GPU results: "
        + (", ".join(f"`{n}`" for n in gpu) + ", shown beside the CPU ones." if gpu else "none committed yet. "
           "A results file named `<benchmark>_h200.json` (or `_gpu`, `_cuda`) is shown beside its CPU file, "
           "with the same columns.")
        + "\n"
    ]  # fmt: skip
    parts += [curated(name, groups[name]) for name in SPECS if name in groups]
    others = [p for name, ps in groups.items() if name not in SPECS for p in ps]
    empty = [p for p in others if not _rows(json.loads(p.read_text()))]
    parts += [table(p) for p in others if p not in empty]
    if empty:
        parts.append(
            "Files with no rows: " + ", ".join(f"`benchmarks/results/{p.name}`" for p in empty) + ".\n"
        )
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
