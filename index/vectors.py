"""FAISS over chunk ids: derived from SQLite, saved atomically beside a manifest.

FAISS ids are SQLite chunk row ids, so a hit maps back to its chunk without a side table. The
manifest names the model, dimension, count, the collection version the file reflects and a
checksum of the ids; anything that does not match on load means "rebuild from stored vectors".
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


@dataclass(frozen=True)
class Manifest:
    model: str
    dim: int
    count: int
    version: int
    id_checksum: int
    built_at: float
    kind: str = "flat"


def _checksum(ids: np.ndarray) -> int:
    return int(np.bitwise_xor.reduce(ids * np.int64(0x9E3779B1))) if len(ids) else 0


class VectorIndex:
    """One collection's vectors; every operation holds a lock (FAISS is not safe to mutate
    while searching)."""

    def __init__(self, dim: int, model: str) -> None:
        self.dim = dim
        self.model = model
        self.version = -1
        self._lock = threading.Lock()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        with self._lock:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._lock:
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> None:
        arr = np.fromiter(ids, dtype=np.int64)
        if len(arr) == 0:
            return
        with self._lock:
            self._index.remove_ids(faiss.IDSelectorBatch(arr))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The k nearest chunk ids by inner product; ``allowed`` restricts to those ids."""
        with self._lock:
            if self._index.ntotal == 0 or k <= 0:
                return []
            q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
            k = min(k, int(self._index.ntotal))
            if allowed is not None:
                if len(allowed) == 0:
                    return []
                params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
                scores, ids = self._index.search(q, k, params=params)
            else:
                scores, ids = self._index.search(q, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: Path, version: int) -> None:
        """Write index then manifest, each to a temp file renamed into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            tmp = path.with_suffix(".faiss.tmp")
            faiss.write_index(self._index, str(tmp))
            manifest = Manifest(
                model=self.model,
                dim=self.dim,
                count=int(self._index.ntotal),
                version=version,
                id_checksum=_checksum(ids),
                built_at=time.time(),
            )
        _fsync_file(tmp)
        os.replace(tmp, path)
        mtmp = manifest_path(path).with_suffix(".json.tmp")
        mtmp.write_text(json.dumps(manifest.__dict__, indent=1))
        _fsync_file(mtmp)
        os.replace(mtmp, manifest_path(path))
        _fsync_dir(path.parent)
        self.version = version

    @classmethod
    def load(cls, path: Path, *, dim: int, model: str, version: int) -> VectorIndex | None:
        """The saved index if it matches this model and collection version, else None."""
        mpath = manifest_path(path)
        if not path.is_file() or not mpath.is_file():
            return None
        try:
            manifest = Manifest(**json.loads(mpath.read_text()))
        except (ValueError, TypeError):
            return None
        if (manifest.model, manifest.dim, manifest.version) != (model, dim, version):
            return None
        try:
            index = faiss.read_index(str(path))
        except RuntimeError:
            return None
        if index.ntotal != manifest.count or index.d != dim:
            return None
        if not isinstance(index, faiss.IndexIDMap2):
            return None
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        if _checksum(ids) != manifest.id_checksum:
            return None
        out = cls(dim, model)
        out._index = index
        out.version = version
        return out


def manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
