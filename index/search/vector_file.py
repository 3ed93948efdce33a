"""A saved vector index: one file holding the faiss index, then its manifest as JSON, then a
footer (the manifest's length and a magic string). One file renamed into place carries both,
so no reader can pair one save's vectors with another's manifest.

The manifest names the model, dimension, count, the collection version the file reflects, the
kind of index, a checksum of the ids and a CRC-32 of every byte before it; anything that does
not match on load means "rebuild from stored vectors".
"""

from __future__ import annotations

import json
import os
import re
import secrets
import struct
import time
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

KIND_FLAT = "flat"
KIND_IVF = "ivf"

# Why a saved index was not used (``VectorIndex.open``): only DAMAGED means the disk changed
# bytes behind newsbot's back; the others are ordinary (a crash, another process, a new model).
MISSING = "missing"
STALE = "stale"
DAMAGED = "damaged"

MAGIC = b"NBFAISS1"
FOOTER = struct.Struct("<Q8s")  # the manifest's length, then MAGIC
_CRC_BLOCK = 1 << 20
# A temp file left by a process that is gone, this long ago, is swept by the next save.
TEMP_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Manifest:
    model: str
    dim: int
    count: int
    version: int
    id_checksum: int
    built_at: float
    kind: str = KIND_FLAT
    nlist: int = 0
    nprobe: int = 0  # lists a search visits, as calibrated when the index was built
    size: int = 0  # bytes of the faiss index that precede the manifest in the file
    crc32: int = 0  # their CRC-32: any byte the disk changed is noticed on load


def checksum(ids: np.ndarray) -> int:
    """An order-free checksum of a set of ids."""
    return int(np.bitwise_xor.reduce(ids * np.int64(0x9E3779B1))) if len(ids) else 0


def write_index_file(path: Path, write: Callable[[str], Manifest]) -> None:
    """Save an index and its manifest as one file: ``write`` writes the faiss index to the
    file name it is given and returns the manifest (holding the index's lock only that long);
    the file is a temp file of this process's own, fsynced, then renamed into place, so
    concurrent saves never collide and a reader sees one whole save or another. The temp file
    is removed on any failure (a full disk: an ``OSError`` saying so)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(path)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.{os.getpid()}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
    try:
        try:
            manifest = write(str(tmp))
        except RuntimeError as exc:  # faiss says why at the end: "(No space left …)"
            reason = re.search(r"\(([^()]*)\)\s*$", str(exc))
            raise OSError(reason.group(1) if reason else str(exc)) from exc
        with tmp.open("r+b") as f:
            size, crc = _crc(f, None)
            blob = json.dumps(asdict(replace(manifest, size=size, crc32=crc))).encode()
            f.seek(size)
            f.write(blob + FOOTER.pack(len(blob), MAGIC))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    with suppress(OSError):  # the separate manifest of the older two-file format
        path.with_suffix(".json").unlink()
    _fsync_dir(path.parent)


def read_index_file(
    path: Path, *, dim: int, model: str, version: int | None = None
) -> tuple[faiss.Index | None, Manifest | None, str]:
    """The saved faiss index and its manifest when they match this model, the collection
    version (when given) and the file's checksum, else None and why not: ``MISSING``, ``STALE``
    (…), or ``DAMAGED`` (…) when the bytes are not what was saved. Reads one open file
    throughout, so a save renamed over it meanwhile cannot mix two saves."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return None, None, MISSING
    except OSError as exc:
        return None, None, f"{DAMAGED} (it cannot be read: {exc.strerror})"
    with f:
        manifest, why = _read_manifest(f, path)
        if manifest is None:
            return None, None, why
        if (manifest.model, manifest.dim) != (model, dim):
            return None, None, f"{STALE} (made with {manifest.model})"
        if version is not None and manifest.version != version:
            return None, None, f"{STALE} (collection version {manifest.version}, not {version})"
        if _crc(f, manifest.size) != (manifest.size, manifest.crc32):
            return None, None, f"{DAMAGED} (its checksum does not match)"
        f.seek(0)
        try:
            index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
        except RuntimeError:
            return None, None, f"{DAMAGED} (faiss cannot read it)"
    if index.ntotal != manifest.count or index.d != dim:
        return None, None, f"{DAMAGED} (it holds {index.ntotal} vectors, not {manifest.count})"
    return index, manifest, ""


def read_manifest(path: Path) -> Manifest | None:
    """The manifest of a saved index, or None when it has none that reads."""
    try:
        with path.open("rb") as f:
            return _read_manifest(f, path)[0]
    except OSError:
        return None


def _read_manifest(f: BinaryIO, path: Path) -> tuple[Manifest | None, str]:
    end = f.seek(0, os.SEEK_END)
    if end < FOOTER.size:
        return None, f"{DAMAGED} (it is truncated)"
    f.seek(end - FOOTER.size)
    length, magic = FOOTER.unpack(f.read(FOOTER.size))
    if magic != MAGIC:
        if path.with_suffix(".json").is_file():
            return None, f"{STALE} (an older format)"
        return None, f"{DAMAGED} (it has no manifest)"
    if length > end - FOOTER.size:
        return None, f"{DAMAGED} (its manifest is cut short)"
    f.seek(end - FOOTER.size - length)
    try:
        raw = json.loads(f.read(length))
        known = {f.name for f in fields(Manifest)}
        manifest = Manifest(**raw) if isinstance(raw, dict) and set(raw) <= known else None
    except (ValueError, TypeError):
        manifest = None
    if manifest is None or manifest.size != end - FOOTER.size - length:
        return None, f"{DAMAGED} (its manifest does not read)"
    return manifest, ""


def _crc(f: BinaryIO, size: int | None) -> tuple[int, int]:
    """(bytes read, CRC-32) of the first ``size`` bytes of f (all of it when None)."""
    f.seek(0)
    crc = done = 0
    while size is None or done < size:
        block = f.read(_CRC_BLOCK if size is None else min(_CRC_BLOCK, size - done))
        if not block:
            break
        crc = zlib.crc32(block, crc)
        done += len(block)
    return done, crc


def sweep_temp_files(path: Path, grace: float = TEMP_GRACE_SECONDS) -> list[Path]:
    """Remove temp files beside ``path`` whose writer is gone (killed mid-save), and the
    fixed-name ones of older versions; a live process's are left alone. Returns the removed."""
    removed = []
    now = time.time()
    for tmp in path.parent.glob(f"{path.stem}.*tmp"):
        parts = tmp.name.split(".")
        try:
            if now - tmp.stat().st_mtime < grace:
                continue
            pid = int(parts[-2]) if len(parts) >= 4 and parts[-2].isdigit() else None
            if pid is not None and pid != os.getpid() and _alive(pid):
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
