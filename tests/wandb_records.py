"""Reads the records of W&B's offline run files (``run-<id>.wandb``) for the logger tests.

wandb 0.31 ships no reader for these files (its Python ``datastore`` went with the move to
``wandb-core``). The format is LevelDB's log format with W&B's header: 7 bytes ``":W&B"``, magic
0xBEE1 and version 0, then 32 KiB blocks of chunks, each a CRC-32 (of the chunk type then its data),
a length and a type (full, first, middle, last); a record is a ``wandb.proto.wandb_internal_pb2.Record``.

Run as a script, prints one JSON object per offline run directory given: its run id, config,
history (step -> values), summary and exit code.
"""

import json
import pathlib
import struct
import sys
import zlib

_BLOCK = 32768
_HEADER = struct.Struct("<4sHB")
_CHUNK = struct.Struct("<IHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def records(path):
    """The ``Record`` protos in a ``.wandb`` file, checking the header and every chunk's CRC."""
    from wandb.proto import wandb_internal_pb2

    data = pathlib.Path(path).read_bytes()
    ident, magic, version = _HEADER.unpack_from(data)
    if (ident, magic, version) != (b":W&B", 0xBEE1, 0):
        raise ValueError(f"{path}: not a W&B transaction log (header {ident!r}, {magic:#x}, {version})")
    pos, parts = _HEADER.size, []
    while pos + _CHUNK.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK.size:  # the block's zero-filled tail
            pos += left
            continue
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            raise ValueError(f"{path}: bad checksum at byte {pos}")
        pos += _CHUNK.size + length
        parts.append(chunk)
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            parts = []
            yield record


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read_run(offline_dir) -> dict:
    """The run id, config, history, summary and exit code of one ``offline-run-*`` directory."""
    (path,) = pathlib.Path(offline_dir).glob("run-*.wandb")
    out = {"id": None, "config": {}, "history": {}, "summary": {}, "exit_code": None}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["id"] = record.run.run_id
            out["config"].update({_key(i): json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            out["config"].update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            row = {_key(i): json.loads(i.value_json) for i in record.history.item}
            out["history"][str(record.history.step.num)] = row
        elif kind == "summary":
            out["summary"].update({_key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
    return out


if __name__ == "__main__":
    for directory in sys.argv[1:]:
        print(json.dumps(read_run(directory)))
