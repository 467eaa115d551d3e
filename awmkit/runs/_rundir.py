"""A run directory on disk: the only code that names its files.

``config.json`` (the run's configuration), ``metrics.jsonl`` (one JSON row per seed and evaluation,
appended after each chunk), ``result.json`` (written when the run finishes), ``checkpoints/checkpoint.eqx``
(the whole training state after the last completed chunk), ``learning_curve.png``, ``run.lock`` (the
exclusive lock of the process writing the run), and the loggers' folders ``tensorboard/`` and ``wandb/``. Every write is atomic (a temporary file renamed over the
old one) or an append of whole lines; every file error names the file.
"""

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import pathlib
import re
import shlex
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax

from .. import _fingerprint

CONFIG = "config.json"
METRICS = "metrics.jsonl"
RESULT = "result.json"
CHECKPOINTS = "checkpoints"
CHECKPOINT = "checkpoint.eqx"
CURVE = "learning_curve.png"
LOCK = "run.lock"
TENSORBOARD = "tensorboard"  # the TensorBoard logger's event files
WANDB = "wandb"  # the W&B logger's files (``wandb.init(dir=<run dir>)`` makes it)

# The checkpoint's first line is its JSON header, whose last member is the SHA-256 of every byte before
# it on that line plus the newline and the serialised payload: an edit anywhere is refused.
_HASH_TAIL = re.compile(rb', "sha256": "([0-9a-f]{64})"\}$')


class CheckpointError(ValueError):
    """A checkpoint (or a run directory) that cannot be resumed: corrupted, edited, written by a
    different run, or metrics left without their checkpoint."""


class RunLockedError(RuntimeError):
    """The run directory is being written by another process (named in the message)."""


class RunExistsError(ValueError):
    """`out` already holds a run and ``resume`` was not asked for."""


def _file_error(path: pathlib.Path, e: OSError) -> OSError:
    """``e`` again, naming ``path`` (a failed ``write`` or ``fsync`` names no file by itself)."""
    if e.filename is not None:
        return e
    err = type(e)(e.errno, e.strerror or str(e), str(path))
    err.__cause__ = e
    return err


@contextlib.contextmanager
def _naming(path: pathlib.Path) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise _file_error(path, e) from e


def _raw_keys(tree):
    """Typed PRNG keys replaced by their raw data (serialisation stores plain arrays only)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _fingerprint._is_key(x) else x, tree)


def _typed_keys(tree, like):
    return jax.tree.map(
        lambda x, ref: jax.random.wrap_key_data(x) if _fingerprint._is_key(ref) else x, tree, like
    )


class RunDir:
    """A run directory: its files, atomic writes, the checkpoint and the lock.

    ``RunDir(path)`` touches nothing; [`awmkit.runs.RunDir.lock`][] takes the exclusive lock,
    the write methods create what they need.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    # --- the files ---------------------------------------------------------------------------------
    @property
    def config(self) -> pathlib.Path:
        return self.root / CONFIG

    @property
    def metrics(self) -> pathlib.Path:
        return self.root / METRICS

    @property
    def result(self) -> pathlib.Path:
        return self.root / RESULT

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.root / CHECKPOINTS

    @property
    def checkpoint(self) -> pathlib.Path:
        return self.checkpoints / CHECKPOINT

    @property
    def curve(self) -> pathlib.Path:
        return self.root / CURVE

    @property
    def lock_file(self) -> pathlib.Path:
        return self.root / LOCK

    @property
    def tensorboard(self) -> pathlib.Path:
        return self.root / TENSORBOARD

    @property
    def wandb(self) -> pathlib.Path:
        return self.root / WANDB

    def artifact(self, name: str) -> pathlib.Path:
        """``checkpoints/<name>``: a trainer's extra file (e.g. the final policies)."""
        return self.checkpoints / name

    def holds_run(self) -> bool:
        """Whether a run was started here (a configuration, metrics or a checkpoint exists)."""
        return self.config.exists() or self.checkpoint.exists() or self.metrics.exists()

    def check(self, resume: bool, name: str = "out") -> None:
        """Refuses a path that is not a directory, and a directory holding a run unless resuming."""
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"`{name}` {str(self.root)!r} exists and is not a directory")
        if not resume and self.holds_run():
            holder = self.holder()
            if holder is not None:  # being written now: say by whom rather than "pass --resume"
                raise RunLockedError(self._locked_message(holder))
            raise RunExistsError(
                f"`{name}` {str(self.root)!r} already holds a run; pass --resume (resume=True) to continue "
                "it, or choose another directory"
            )

    # --- the lock ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Holds ``run.lock`` exclusively (``fcntl.flock``) for the block; another process is refused
        with a one-line [`awmkit.runs.RunLockedError`][] naming it (pid, host, start time, command).
        The kernel releases the lock when its process dies however it dies (SIGKILL included), so a
        lock file left by a killed process is stale and taken over; the file is removed on release."""
        with _naming(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
        fd = self._acquire()
        try:
            argv = list(getattr(sys, "orig_argv", sys.argv)) or ["python"]
            command = shlex.join([os.path.basename(argv[0]), *argv[1:]])
            command = " ".join(command.split())  # one line, whatever the arguments hold
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
            with _naming(self.lock_file):
                os.ftruncate(fd, 0)
                os.pwrite(
                    fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}: {command}".encode(), 0
                )
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_file)  # before unlocking: a waiting process then makes a new file
            os.close(fd)  # closing the descriptor releases the lock

    def _locked_message(self, holder: str) -> str:
        return (
            f"{self.root} is in use by another awmkit process ({holder}); wait for it to finish or choose "
            "another directory"
        )

    def holder(self) -> str | None:
        """Who holds the lock now (pid, host, start time, command), or ``None`` when nobody does."""
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "an unknown process"
        else:
            return None
        finally:
            os.close(fd)

    def _acquire(self) -> int:
        while True:
            with _naming(self.lock_file):
                fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "an unknown process"
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise _file_error(self.lock_file, e) from e
                raise RunLockedError(self._locked_message(holder)) from None
            try:  # the file may have been removed by its holder's release meanwhile: lock the new one
                same = os.stat(self.lock_file).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    # --- JSON files --------------------------------------------------------------------------------
    def write_json(self, path: pathlib.Path, data: Any) -> None:
        """``path`` atomically (unchanged content is not rewritten)."""
        text = json.dumps(data, indent=2) + "\n"
        with _naming(path):
            if path.exists() and path.read_text() == text:
                return  # re-running a finished run leaves the directory as it was
        self._atomic(path, text.encode())

    def read_json(self, path: pathlib.Path) -> Any:
        """``path`` parsed; a missing, unreadable or invalid file is a one-line error naming it."""
        try:
            return json.loads(path.read_text())
        except OSError as e:
            raise _file_error(path, e) from e
        except ValueError as e:
            raise CheckpointError(f"{path} is not valid JSON ({e})") from None

    def _atomic(self, path: pathlib.Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        try:
            with _naming(tmp):
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            with _naming(path):
                os.replace(tmp, path)  # a kill leaves the old file or the new one, never half of one
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()  # a full disk: leave no half-written temporary behind
            raise

    # --- metrics.jsonl -----------------------------------------------------------------------------
    def append_metrics(self, rows: list[dict]) -> None:
        """Appends ``rows`` (one JSON line each) in one write, flushed to disk."""
        if not rows:
            return
        text = "".join(json.dumps(row) + "\n" for row in rows)
        with _naming(self.metrics):
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.metrics, "a") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())

    def read_metrics(self, *, repair: bool = False) -> list[dict]:
        """The rows of ``metrics.jsonl`` (none when it is missing). A last line cut short by an
        interrupted write is dropped with a warning (and, with ``repair``, removed from the file); any
        other bad line is a [`awmkit.runs.CheckpointError`][] naming the file and line."""
        with _naming(self.metrics):
            if not self.metrics.exists():
                return []
            data = self.metrics.read_bytes()
        lines = data.split(b"\n")
        torn = lines.pop()  # after the last newline: empty unless a write was cut short
        rows = []
        for i, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise CheckpointError(f"{self.metrics}: line {i} is not a JSON object: {line[:80]!r}")
            rows.append(row)
        if torn:
            warnings.warn(
                f"{self.metrics}: dropped a torn last line ({len(torn)} bytes) left by an interrupted write",
                stacklevel=2,
            )
            if repair:
                self._atomic(self.metrics, data[: len(data) - len(torn)])
        return rows

    def truncate_metrics(self, completed: int) -> list[dict]:
        """Keeps the rows of chunks before ``completed`` (those after the checkpoint are redone),
        repairing a torn last line; returns the rows kept."""
        rows = self.read_metrics(repair=True)
        keep = [row for row in rows if row.get("chunk", -1) < completed]
        if len(keep) != len(rows):
            self._atomic(self.metrics, "".join(json.dumps(row) + "\n" for row in keep).encode())
        return keep

    # --- the checkpoint ----------------------------------------------------------------------------
    def write_checkpoint(self, header: dict, tree) -> None:
        """An atomic checkpoint of any pytree (typed PRNG keys stored as their raw data): a JSON header
        line whose last member hashes the header and the payload, then the serialised leaves."""
        buffer = io.BytesIO()
        eqx.tree_serialise_leaves(buffer, _raw_keys(tree))
        payload = buffer.getvalue()
        head = json.dumps({**header, "bytes": len(payload)}).encode()[:-1]
        digest = hashlib.sha256(head + b"\n" + payload).hexdigest()
        self._atomic(self.checkpoint, head + f', "sha256": "{digest}"}}\n'.encode() + payload)

    def write_tree(self, name: str, tree) -> None:
        """``checkpoints/<name>``: the leaves of ``tree`` (``eqx.tree_serialise_leaves``), atomically."""
        buffer = io.BytesIO()
        eqx.tree_serialise_leaves(buffer, tree)
        self._atomic(self.artifact(name), buffer.getvalue())

    def read_checkpoint(self, checkpoint_format: str, like=None) -> tuple[dict, Any]:
        """The header of the checkpoint and its state deserialised into ``like`` (a pytree of the
        state's shapes; ``None`` returns the payload's bytes), after checking the format and the hash
        that covers every byte of the file."""
        return read_checkpoint_file(self.checkpoint, checkpoint_format, like)

    def check_metrics_have_checkpoint(self) -> None:
        """Refuses metrics of training chunks without a checkpoint (it was deleted or lost): resuming
        would repeat their rows. Rows of the warm-up alone (a run killed before its first checkpoint)
        are dropped: that start is redone."""
        rows = self.read_metrics()
        if any(row.get("chunk", -1) >= 0 for row in rows):
            raise CheckpointError(
                f"{self.metrics} holds {len(rows)} rows but {self.checkpoint} is missing: the run cannot be "
                f"resumed without its checkpoint; delete {self.root} to start over"
            )
        if rows or self.metrics.exists():
            with _naming(self.metrics):
                self.metrics.unlink(missing_ok=True)


def read_checkpoint_file(path: str | os.PathLike, checkpoint_format: str, like=None) -> tuple[dict, Any]:
    """The header and state (see `RunDir.read_checkpoint`) of the checkpoint file ``path``."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _file_error(path, e) from e
    newline = data.find(b"\n")
    line = data[: max(newline, 0)]
    try:
        header = json.loads(line.decode())
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"checkpoint {path} is corrupted: its header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != checkpoint_format:
        found = header.get("format") if isinstance(header, dict) else None
        raise CheckpointError(
            f"{path} is not an awmkit checkpoint of format {checkpoint_format} (found {found!r})"
        )
    match = _HASH_TAIL.search(line)
    payload = data[newline + 1 :]
    if (
        match is None
        or hashlib.sha256(line[: match.start()] + b"\n" + payload).hexdigest() != match[1].decode()
    ):
        raise CheckpointError(
            f"checkpoint {path} is corrupted or was edited: its header and payload ({len(payload)} bytes) do "
            "not match the hash in its header"
        )
    if like is None:
        return header, payload
    return header, deserialise(path, payload, like)


def deserialise(path: pathlib.Path, payload: bytes, like):
    """The state in a checkpoint's ``payload`` (of the file ``path``), into the shapes ``like``."""
    is_shape = lambda x: isinstance(x, jax.ShapeDtypeStruct)
    dynamic, static = eqx.partition(like, is_shape, is_leaf=is_shape)
    raw_like = jax.eval_shape(_raw_keys, dynamic)
    try:
        raw = eqx.tree_deserialise_leaves(io.BytesIO(payload), eqx.combine(raw_like, static))
    except Exception as e:  # noqa: BLE001 - a payload of other shapes: name the file
        raise CheckpointError(f"checkpoint {path} does not hold this run's state ({e})") from None
    raw_dynamic = eqx.partition(raw, eqx.is_array)[0]
    return eqx.combine(_typed_keys(raw_dynamic, dynamic), static)
