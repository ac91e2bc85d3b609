"""The dedup stages' intermediate files: named 1-d arrays that a crash can never leave half written.

Format: MAGIC | 8-byte-aligned sections | footer JSON | u64 footer length | 16-byte blake2b of the
footer | END. The footer names each section's offset, dtype, length and blake2b digest; readers
check both magics, the footer digest and every section they load.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid

import numpy as np

MAGIC = b"THRDDUP1"
END_MAGIC = b"THRDEND1"
_TRAILER = struct.Struct("<Q16s8s")
FORMAT_VERSION = 1


class CorruptFileError(ValueError):
    """An intermediate file is truncated, altered or from another format: rerun the stage that wrote it."""


def _digest(buf) -> str:
    return hashlib.blake2b(buf, digest_size=16).hexdigest()


def write_arrays(path: str, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Write named 1-d arrays atomically: a temporary file, fsync, then rename."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    sections = {}
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            pos = len(MAGIC)
            for name, arr in arrays.items():
                arr = np.ascontiguousarray(arr)
                if arr.ndim != 1:
                    raise ValueError(f"section {name!r} must be 1-d")
                pad = (-pos) % 8
                f.write(b"\0" * pad)
                pos += pad
                data = memoryview(arr).cast("B") if arr.size else b""
                f.write(data)
                sections[name] = {
                    "offset": pos,
                    "nbytes": arr.nbytes,
                    "dtype": arr.dtype.str,
                    "count": int(arr.size),
                    "digest": _digest(data),
                }
                pos += arr.nbytes
            footer = json.dumps(
                {"version": FORMAT_VERSION, "meta": meta or {}, "sections": sections}, sort_keys=True
            ).encode()
            f.write(footer)
            f.write(_TRAILER.pack(len(footer), hashlib.blake2b(footer, digest_size=16).digest(), END_MAGIC))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class ArrayFile:
    """Reader of `write_arrays` files; the footer is checked on open, each section on load."""

    def __init__(self, path: str):
        self.path = path
        try:
            size = os.path.getsize(path)
        except OSError as e:
            raise FileNotFoundError(f"{path}: missing; run the stage that writes it") from e
        if size < len(MAGIC) + _TRAILER.size:
            raise CorruptFileError(f"{path}: truncated ({size} bytes)")
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
            f.seek(size - _TRAILER.size)
            footer_len, footer_digest, end = _TRAILER.unpack(f.read(_TRAILER.size))
            if head != MAGIC or end != END_MAGIC:
                raise CorruptFileError(f"{path}: bad magic (truncated or not a dedup file)")
            if footer_len > size - len(MAGIC) - _TRAILER.size:
                raise CorruptFileError(f"{path}: bad footer length")
            f.seek(size - _TRAILER.size - footer_len)
            footer = f.read(footer_len)
        if hashlib.blake2b(footer, digest_size=16).digest() != footer_digest:
            raise CorruptFileError(f"{path}: footer checksum mismatch")
        info = json.loads(footer)
        self.meta: dict = info["meta"]
        self.sections: dict = info["sections"]
        body_end = size - _TRAILER.size - footer_len
        for name, s in self.sections.items():
            if s["offset"] + s["nbytes"] > body_end:
                raise CorruptFileError(f"{path}: section {name!r} runs past the end of the data")

    def load(self, name: str) -> np.ndarray:
        if name not in self.sections:
            raise CorruptFileError(f"{self.path}: no section {name!r}")
        s = self.sections[name]
        arr = np.fromfile(self.path, dtype=np.dtype(s["dtype"]), count=s["count"], offset=s["offset"])
        if arr.nbytes != s["nbytes"] or _digest(memoryview(arr).cast("B") if arr.size else b"") != s["digest"]:
            raise CorruptFileError(f"{self.path}: section {name!r} checksum mismatch")
        return arr


def check_meta(f: ArrayFile, expected: dict) -> None:
    got = {k: f.meta.get(k) for k in expected}
    if got != expected:
        raise ValueError(f"{f.path} was written with {got}, this run uses {expected}; clear the dedup work folder")


def strings_to_blob(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def blob_strings(blob: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> list[str]:
    raw = blob.tobytes()
    return [raw[offsets[i] : offsets[i + 1]].decode("utf-8", "surrogatepass") for i in idx]
