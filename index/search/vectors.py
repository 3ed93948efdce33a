"""FAISS over chunk ids, derived from the store: one collection's vectors in memory.

FAISS ids are the store's chunk ids, so a hit maps back to its chunk without a side table.
Two kinds, chosen by size (measured by ``python -m bench.scale``; figures in README):

* ``flat`` — exact inner product (``IndexIDMap2(IndexFlatIP)``): a search reads every vector,
  which stays within the latency budget up to ``APPROX_THRESHOLD`` vectors.
* ``ivf`` — from ``APPROX_THRESHOLD`` vectors on: an inverted file (``ivf.py``), visiting
  ``NPROBE_FRACTION`` of its lists a search, or more when the build's own recall check asks.

Saving and loading (one file with its manifest, checked on load) is ``vector_file.py``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from .ivf import (
    CALIBRATION_QUERIES,
    NPROBE_FRACTION,
    RECALL_TARGET,
    TRAIN_PER_LIST,
    calibrate_nprobe,
    fill_ivf,
    ivf_from_flat,
    ivf_ids,
    nlist_for,
    nprobe_for,
)
from .vector_file import (
    DAMAGED,
    FOOTER,
    KIND_FLAT,
    KIND_IVF,
    MISSING,
    STALE,
    TEMP_GRACE_SECONDS,
    Manifest,
    checksum,
    read_index_file,
    read_manifest,
    sweep_temp_files,
    write_index_file,
)

__all__ = [
    "APPROX_THRESHOLD",
    "CALIBRATION_QUERIES",
    "DAMAGED",
    "FOOTER",
    "KIND_FLAT",
    "KIND_IVF",
    "MISSING",
    "NPROBE_FRACTION",
    "RECALL_TARGET",
    "STALE",
    "TEMP_GRACE_SECONDS",
    "TRAIN_PER_LIST",
    "Manifest",
    "VectorIndex",
    "calibrate_nprobe",
    "nlist_for",
    "nprobe_for",
    "read_manifest",
    "sweep_temp_files",
]

# Below this many vectors search is exact; from it on, approximate. Exact search this large
# still leaves room under the latency budget for a busier machine, with no recall given up.
APPROX_THRESHOLD = 200_000


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run one query on one OpenMP thread (this thread's setting only, restored after).

    A single query is too little work to split, and when another thread or process holds a
    core (an ingest embedding, say) OpenMP's fan-out waits on it (bench/scale.py measures it).
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _selector(allowed: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray | None]:
    """A FAISS id filter, and the buffer it points into (keep it alive while searching).

    A bitmap over the id range when that is not much bigger than the ids themselves (chunk ids
    are dense row ids): much quicker to build and test than ``IDSelectorBatch``, which hashes
    every id. Sparse ids fall back to the batch.
    """
    low, top = int(allowed.min()), int(allowed.max())
    if low >= 0 and top <= max(1 << 20, 64 * len(allowed)):
        bits = np.zeros(top + 1, dtype=bool)
        bits[allowed] = True
        packed = np.packbits(bits, bitorder="little")
        return faiss.IDSelectorBitmap(len(packed), faiss.swig_ptr(packed)), packed
    return faiss.IDSelectorBatch(allowed), None


class VectorIndex:
    """One collection's vectors; every operation holds a lock (FAISS is not safe to mutate
    while searching).

    Starts exact and switches itself to the approximate kind when an ``add`` takes it to
    ``approx_threshold`` vectors, so a collection that grows by ingestion needs no rebuild. It
    never switches back on removal: a rebuild (``build``) picks the kind from the count again.
    """

    def __init__(self, dim: int, model: str, *, approx_threshold: int = APPROX_THRESHOLD) -> None:
        self.dim = dim
        self.model = model
        self.version = -1
        self.approx_threshold = approx_threshold
        self._lock = threading.Lock()
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def kind(self) -> str:
        return KIND_IVF if isinstance(self._index, faiss.IndexIVF) else KIND_FLAT

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def nprobe(self) -> int:
        """Lists an approximate search visits (0 for exact); settable for benchmarks."""
        return int(self._index.nprobe) if isinstance(self._index, faiss.IndexIVF) else 0

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if isinstance(self._index, faiss.IndexIVF):
            self._index.nprobe = max(1, min(int(value), int(self._index.nlist)))

    @property
    def nlist(self) -> int:
        """Inverted lists of an approximate index (0 for exact)."""
        return int(self._index.nlist) if isinstance(self._index, faiss.IndexIVF) else 0

    @property
    def imbalance(self) -> float:
        """How unevenly the vectors fill the lists (1.0: evenly; exact: 1.0)."""
        if not isinstance(self._index, faiss.IndexIVF):
            return 1.0
        with self._lock:
            return float(self._index.invlists.imbalance_factor())

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._ids()

    def _ids(self) -> np.ndarray:
        if isinstance(self._index, faiss.IndexIVF):
            return ivf_ids(self._index)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._lock:
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            if self.kind == KIND_FLAT and self._index.ntotal >= self.approx_threshold:
                self._switch_to_ivf()

    def _reserve(self, n: int) -> None:
        """Room for n vectors in the flat storage up front.

        Grown batch by batch, the storage doubles and is copied; the old and new buffers then
        coexist, and the peak memory of a build is well above the vectors' own size.
        """
        if n > 0:
            flat = faiss.downcast_index(self._index.index)
            flat.codes.resize(n * self.dim * 4)  # allocates (and zero-fills) once
            flat.codes.resize(0)  # keeps the capacity

    def _switch_to_ivf(self) -> None:
        """Once in a collection's life: the flat index's vectors move to an inverted file."""
        self._index = ivf_from_flat(self._index, self.dim)

    @classmethod
    def build(
        cls,
        batches: Iterable[tuple[np.ndarray, np.ndarray]],
        *,
        dim: int,
        model: str,
        total: int,
        kind: str | None = None,
        approx_threshold: int = APPROX_THRESHOLD,
    ) -> VectorIndex:
        """An index of the kind ``total`` calls for, filled from (ids, vectors) batches.

        Streams: an approximate index is trained on the first ``TRAIN_PER_LIST`` × lists
        vectors (held until then), which are then added with the rest batch by batch, so no
        second copy of the collection ever exists. ``kind`` forces one kind (benchmarks);
        ``total`` is a hint, a wrong one costs only list balance.
        """
        out = cls(dim, model, approx_threshold=approx_threshold)
        want = kind or (KIND_IVF if total >= approx_threshold else KIND_FLAT)
        if want not in (KIND_FLAT, KIND_IVF):
            raise ValueError(f"unknown index kind {want!r}")
        it = iter(batches)
        if want == KIND_FLAT:
            if kind == KIND_FLAT:
                out.approx_threshold = 2**62  # forced: never switch
            out._reserve(total)
            for ids, vectors in it:
                out.add(ids, vectors)
            return out
        nlist = nlist_for(max(total, 1))
        need = nlist * TRAIN_PER_LIST
        held_ids: list[np.ndarray] = []
        held: list[np.ndarray] = []
        size = 0
        for ids, vectors in it:
            held_ids.append(np.asarray(ids, dtype=np.int64))
            held.append(np.ascontiguousarray(vectors, dtype=np.float32))
            size += len(ids)
            if size >= need:
                break
        if size == 0:
            return out
        if kind is None and size < approx_threshold and size < need:
            # The hint was wrong: everything is already here and it is small.
            for ids, vectors in zip(held_ids, held, strict=True):
                out.add(ids, vectors)
            return out
        out._index = fill_ivf(dim, held_ids, held, it, nlist)
        return out

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
        with self._lock, _one_thread():
            total = int(self._index.ntotal)
            if total == 0 or k <= 0:
                return []
            q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
            k = min(k, total)
            if allowed is None:
                scores, ids = self._index.search(q, k)
            else:
                if len(allowed) == 0:
                    return []
                sel, keep = _selector(np.asarray(allowed, dtype=np.int64))
                scores, ids = self._index.search(q, k, params=self._filtered(sel, len(allowed)))
                del keep  # the bitmap had to outlive the search
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def _filtered(self, sel: faiss.IDSelector, allowed: int) -> faiss.SearchParameters:
        if not isinstance(self._index, faiss.IndexIVF):
            return faiss.SearchParameters(sel=sel)
        # A filter pushes the allowed neighbours further out, more so the fewer ids it keeps:
        # visit more lists. 1/sqrt(share) keeps recall at the unfiltered level on a 5 % filter
        # (1/share would mean scanning everything).
        share = min(1.0, allowed / int(self._index.ntotal))
        nprobe = math.ceil(self._index.nprobe / math.sqrt(share))
        return faiss.SearchParametersIVF(sel=sel, nprobe=int(min(self._index.nlist, nprobe)))

    def search_batch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k nearest for many queries at once, on every thread faiss has
        (benchmarks: ground truth for recall); -1 ids where fewer than k exist."""
        with self._lock:
            return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: Path, version: int) -> None:
        """Write the index and its manifest as one file, atomically (``vector_file``)."""

        def write(tmp: str) -> Manifest:
            with self._lock:
                ids = self._ids()
                faiss.write_index(self._index, tmp)
                ivf = self.kind == KIND_IVF
                return Manifest(
                    model=self.model,
                    dim=self.dim,
                    count=int(self._index.ntotal),
                    version=version,
                    id_checksum=checksum(ids),
                    built_at=time.time(),
                    kind=self.kind,
                    nlist=int(self._index.nlist) if ivf else 0,
                    nprobe=int(self._index.nprobe) if ivf else 0,
                )

        write_index_file(path, write)
        self.version = version

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        dim: int,
        model: str,
        version: int | None = None,
        approx_threshold: int = APPROX_THRESHOLD,
    ) -> tuple[VectorIndex | None, str]:
        """The saved index if it matches this model, the collection version (when given: else
        labelled with its own) and its checksums, else None and why not: ``MISSING``, ``STALE``
        (…), or ``DAMAGED`` (…) when the bytes are not what was saved. Loads whichever kind was
        saved: the kind is re-chosen only on a rebuild."""
        index, manifest, why = read_index_file(path, dim=dim, model=model, version=version)
        if index is None or manifest is None:
            return None, why
        if manifest.kind == KIND_FLAT and isinstance(index, faiss.IndexIDMap2):
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        elif (
            manifest.kind == KIND_IVF
            and isinstance(index, faiss.IndexIVFScalarQuantizer)
            and index.metric_type == faiss.METRIC_INNER_PRODUCT
        ):
            index.nprobe = manifest.nprobe or nprobe_for(int(index.nlist))
            ids = ivf_ids(index)
        else:
            return None, f"{DAMAGED} (not the {manifest.kind} index its manifest names)"
        if checksum(ids) != manifest.id_checksum:
            return None, f"{DAMAGED} (its ids do not match their checksum)"
        out = cls(dim, model, approx_threshold=approx_threshold)
        out._index = index
        out.version = manifest.version
        return out, ""

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        dim: int,
        model: str,
        version: int,
        approx_threshold: int = APPROX_THRESHOLD,
    ) -> VectorIndex | None:
        """The saved index if it matches this model and collection version, else None."""
        index, _ = cls.open(
            path, dim=dim, model=model, version=version, approx_threshold=approx_threshold
        )
        return index
