"""Run fingerprints: what defines a run, never object identities.

A checkpoint records, in its JSON header, a description of the run that wrote it (configuration,
environment and model names and parameters, the state's tree of class names, leaf shapes and dtypes) and
a hash of that description. Resuming compares the two: equal descriptions resume, different ones are
refused with the differing fields listed first. Everything here is a pure function of values, so the
fingerprint of a run is the same in every process (``repr`` of a function holds a memory address and is
never used). BPO (``awmkit/bpo/_run.py``) and the baselines' host loop (``awmkit/baselines/_host.py``)
share this module.
"""

import dataclasses
import enum
import functools
import hashlib
import json
import types
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import numpy as np

# Arrays of at most this many elements are described by their values when ``values=True``
# (environment parameters); larger ones by a hash of their bytes.
_MAX_LISTED = 16
_MAX_DEPTH = 64


def _qualname(obj) -> str:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{module}.{name}" if module and module != "builtins" else name


def _array(x, values: bool) -> dict:
    shape = [int(d) for d in x.shape]
    out: dict[str, Any] = {"shape": shape, "dtype": str(x.dtype)}
    if values and not isinstance(x, jax.ShapeDtypeStruct) and not _is_key(x):
        data = np.asarray(x)
        if data.size <= _MAX_LISTED:
            out["value"] = data.tolist()
        else:
            out["sha256"] = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:16]
    return out


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _is_array_like(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct))


def describe(obj, *, values: bool = False) -> Any:
    """A JSON-serialisable description of ``obj`` that is equal in every process for equal runs.

    Modules and dataclasses become ``{"class": qualified name, field: description, ...}``; named tuples,
    tuples, lists and dicts keep their shape; arrays (and ``jax.ShapeDtypeStruct``) become
    ``{"shape", "dtype"}``, plus their values (small arrays) or a hash of their bytes with
    ``values=True``; functions become their qualified names (``functools.partial`` its function and
    arguments); Python scalars and strings are kept; any other object becomes its class name.
    """
    return _describe(obj, values, 0, set())


def _describe(obj, values: bool, depth: int, seen: set[int]) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if _is_array_like(obj):
        return _array(obj, values)
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, type):
        return _qualname(obj)
    if depth > _MAX_DEPTH or id(obj) in seen:
        return f"<{type(obj).__qualname__}>"
    seen = seen | {id(obj)}
    rec = functools.partial(_describe, values=values, depth=depth + 1, seen=seen)
    if isinstance(obj, functools.partial):
        return {
            "partial": rec(obj.func),
            "args": [rec(a) for a in obj.args],
            "keywords": {k: rec(v) for k, v in sorted(obj.keywords.items())},
        }
    if isinstance(obj, eqx.Module) or (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        out: dict[str, Any] = {"class": _qualname(type(obj))}
        for field in dataclasses.fields(obj):
            out[field.name] = rec(getattr(obj, field.name, None))
        return out
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple, e.g. an Optax state
        return {"class": _qualname(type(obj)), **{k: rec(v) for k, v in zip(obj._fields, obj)}}
    if isinstance(obj, (tuple, list)):
        return [rec(x) for x in obj]
    if isinstance(obj, Mapping):
        return {str(k): rec(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, types.MethodType):
        return {"method": _qualname(obj.__func__), "of": _qualname(type(obj.__self__))}
    if callable(obj):
        # Functions by name: two processes (or two runs) with the same code give the same text.
        named = hasattr(obj, "__qualname__") or hasattr(obj, "__name__")
        return _qualname(obj) if named else _qualname(type(obj))
    return _qualname(type(obj))


def digest(description: Any) -> str:
    """A short hash of a description (``describe``'s output): 16 hex digits."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def structure(tree) -> str:
    """The hash of a pytree's structure: class names, static fields, leaf shapes and dtypes."""
    return digest(describe(tree))


def differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """One line per differing field of two descriptions, ``path: checkpoint has X, this run has Y``,
    in the order of the fields."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out: list[str] = []
        names = list(saved) + [k for k in current if k not in saved]
        for name in names:
            a, b = saved.get(name, "<missing>"), current.get(name, "<missing>")
            out += differences(a, b, f"{prefix}{name}.")
        return out
    if (
        isinstance(saved, list)
        and isinstance(current, list)
        and len(saved) == len(current)
        and any(isinstance(x, (dict, list)) for x in saved)
    ):
        return [
            line
            for i, (a, b) in enumerate(zip(saved, current))
            for line in differences(a, b, f"{prefix}{i}.")
        ]
    if saved != current:
        return [f"{prefix.rstrip('.')}: checkpoint has {_short(saved)}, this run has {_short(current)}"]
    return []


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mismatch_message(
    path,
    saved: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    flags: Mapping[str, str] | None = None,
    max_detail: int = 6,
) -> str | None:
    """Why the checkpoint at ``path`` cannot be resumed by this run, or ``None`` when it can.

    ``saved`` and ``current`` map sections (``"run"`` first: the run's configuration; then e.g.
    ``"env"``, ``"model"``, ``"structure"``) to descriptions. The message starts with the differing
    fields of the earliest differing section, one line each with the flag that sets it (``flags``
    maps a configuration field to its command-line flag; by default ``--field-name``); later sections
    are summarised, since they usually follow from the first (another environment means other shapes).
    """
    flags = {} if flags is None else flags
    sections = list(saved) + [k for k in current if k not in saved]
    lines: list[str] = []
    to_change: list[str] = []
    extra = 0
    for section in sections:
        diffs = differences(saved.get(section), current.get(section))
        if not diffs:
            continue
        if lines:  # a later section: it follows from the first difference
            extra += len(diffs)
            continue
        for line in diffs[:max_detail]:
            name = line.split(":", 1)[0]
            if section == "run":
                field = name.split(".", 1)[0]
                flag = flags.get(field, "--" + field.replace("_", "-"))
                if flag not in to_change:
                    to_change.append(flag)
                lines.append(f"{line} ({flag})")
            else:
                lines.append(f"{section}.{line}")
        if len(diffs) > max_detail:
            lines.append(f"... and {len(diffs) - max_detail} more differences in {section}")
    if not lines:
        return None
    if extra:
        more = "1 more difference that follows" if extra == 1 else f"{extra} more differences that follow"
        lines.append(f"(and {more} from those)")
    if to_change:
        hint = f"to resume it, set {', '.join(to_change)} to the checkpoint's values; or choose another run directory"
    else:
        hint = (
            "it was written with other code or another model or policy; resume with those, "
            "or choose another run directory"
        )
    return f"checkpoint {path} belongs to a different run; {hint}:\n  " + "\n  ".join(lines)
