"""A BPO run directory on disk: ``config.json``, ``metrics.jsonl``, ``result.json`` and the atomic,
hashed ``checkpoints/checkpoint.eqx`` whose header fingerprints the run (``awmkit._fingerprint``). The
baselines' host loop (``awmkit/baselines/_host.py``) writes the same layout."""

import dataclasses
import hashlib
import io
import json
import os
import pathlib
from typing import Any

import equinox as eqx

from .. import _fingerprint
from ._train import TrainState

_CHECKPOINT_FORMAT = "awmkit-bpo-checkpoint-v1"
_CHECKPOINT_NAME = "checkpoint.eqx"
# Run settings a resumed run may change: they do not change what is computed.
# Recorded in config.json but not compared from the run section on resume ("model" is compared from
# the checkpoint header's own "model" section).
_NOT_IN_CHECKPOINT = ("awmkit_version", "seed_group_size", "model_config")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: corrupted, or written by a different run."""


def _describe(obj, depth: int = 0) -> Any:
    """JSON-serialisable hyper-parameters of a module: static fields, Python scalars, nested modules."""
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, tuple) and all(isinstance(x, (bool, int, float, str)) or x is None for x in obj):
        return list(obj)
    if callable(obj) and not isinstance(obj, eqx.Module):
        return getattr(obj, "__name__", type(obj).__name__)
    if isinstance(obj, eqx.Module) and depth < 4:
        out: dict[str, Any] = {"class": type(obj).__name__}
        for field in dataclasses.fields(obj):
            value = getattr(obj, field.name, None)
            if eqx.is_array(value):
                out[field.name] = {"shape": list(value.shape), "dtype": str(value.dtype)}
                continue
            described = _describe(value, depth + 1)
            if described is not _SKIP:
                out[field.name] = described
        return out
    return _SKIP


_SKIP = object()


def tree_fingerprint(tree) -> str:
    """A hash of a pytree's classes, static fields, leaf shapes and dtypes (the same in every process)."""
    return _fingerprint.structure(tree)


def _structure_hash(state: TrainState) -> str:
    """A hash of the training state's classes, static fields and leaf shapes (the same in every process)."""
    return _fingerprint.structure(state)


#: The command-line flag of each run-configuration field a resume-mismatch message names.
RUN_FLAGS = {
    "seed_indices": "--seeds",
    "stop_gradient": "--full-gradient",
    "policy": "the `policy` factory",
    "algo": "--algo",
}


# --- the run directory ---------------------------------------------------------------------------


class _RunDir:
    def __init__(self, out: pathlib.Path):
        self.root = out
        self.checkpoints = out / "checkpoints"
        self.checkpoint = self.checkpoints / _CHECKPOINT_NAME
        self.metrics = out / "metrics.jsonl"
        self.config = out / "config.json"
        self.result = out / "result.json"

    def holds_run(self) -> bool:
        return self.config.exists() or self.checkpoint.exists() or self.metrics.exists()

    def write_json(self, path: pathlib.Path, data) -> None:
        text = json.dumps(data, indent=2) + "\n"
        if path.exists() and path.read_text() == text:
            return  # unchanged: re-running a finished run leaves the directory as it was
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def finished_result(self, completed_chunks: int, num_chunks: int) -> dict | None:
        """``result.json`` of a run whose checkpoint is its last one, or ``None`` if it has not finished."""
        if completed_chunks < num_chunks or not self.result.exists():
            return None
        return json.loads(self.result.read_text())

    def save_checkpoint(self, header: dict, state: TrainState) -> None:
        self.write_checkpoint(header, state)

    def write_checkpoint(self, header: dict, tree) -> None:
        """An atomic checkpoint of any pytree: a JSON header line with the payload's hash and size, then
        the serialised leaves (the baselines' run directories write theirs through this too)."""
        buffer = io.BytesIO()
        eqx.tree_serialise_leaves(buffer, tree)
        payload = buffer.getvalue()
        header = {**header, "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps(header).encode() + b"\n")
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        # Atomic: a kill leaves either the previous checkpoint or this one, never half of one.
        os.replace(tmp, self.checkpoint)

    def truncate_metrics(self, completed_chunks: int) -> None:
        """Drops metric lines of chunks after the checkpoint (written before a kill, to be redone)."""
        if not self.metrics.exists():
            return
        lines = self.metrics.read_text().splitlines()
        keep = [
            line for line in lines if line.strip() and json.loads(line).get("chunk", -1) < completed_chunks
        ]
        if keep == lines:
            return
        tmp = self.metrics.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, self.metrics)

    def append_metrics(self, rows: list[dict]) -> None:
        with open(self.metrics, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, bytes]:
    """The JSON header and the serialised payload of a BPO checkpoint file, after checking its hash.

    Raises [`awmkit.bpo.CheckpointError`][] when the file is truncated or corrupted."""
    return read_checkpoint_file(path, _CHECKPOINT_FORMAT, "BPO ")


def read_checkpoint_file(path: str | os.PathLike, checkpoint_format: str, label: str = "") -> tuple[dict, bytes]:
    """The header and payload of a checkpoint written by `_RunDir.write_checkpoint` in
    `checkpoint_format` (BPO's or a baseline's), its hash checked; `label` names the kind in errors."""
    path = pathlib.Path(path)
    data = path.read_bytes()
    newline = data.find(b"\n")
    try:
        header = json.loads(data[:newline].decode())
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"checkpoint {path} is corrupted: its header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != checkpoint_format:
        raise CheckpointError(f"{path} is not an awmkit {label}checkpoint (format {checkpoint_format})")
    payload = data[newline + 1 :]
    if len(payload) != header.get("bytes") or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(
            f"checkpoint {path} is corrupted: its payload ({len(payload)} bytes) does not match the hash "
            f"recorded in its header ({header.get('bytes')} bytes)"
        )
    return header, payload


def _differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    return _fingerprint.differences(saved, current, prefix)
