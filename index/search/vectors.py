"""FAISS over chunk ids: derived from SQLite, saved atomically beside a manifest.

FAISS ids are SQLite chunk row ids, so a hit maps back to its chunk without a side table. Each
saved file ends with a manifest naming the model, dimension, count, the collection version the
file reflects, the kind of index, a checksum of the ids and a CRC-32 of every byte before it;
anything that does not match on load means "rebuild from stored vectors".

Two kinds, chosen by size (measured by ``python -m bench.scale``: 384-d, 2 busy cores):

* ``flat`` — exact inner product (``IndexIDMap2(IndexFlatIP)``). A search reads every vector,
  ~0.06 ms per 1,000 on one thread: ~13 ms at 200k, ~60 ms at 1M (over the 50 ms budget).
* ``ivf`` — from ``APPROX_THRESHOLD`` vectors on: an inverted file (``IndexIVFScalarQuantizer``:
  ~sqrt(n) spherical k-means lists, vectors kept as float16, ``NPROBE_FRACTION`` of the lists
  visited a search, or more when the build's own recall check asks for it). At 1M: ~20 s to
  train and fill (plus reading SQLite), recall@10 ≈ 0.98 of exact at p95 ≈ 16 ms on
  embedding-like vectors, 0.83× the raw vectors' bytes at peak. Supports ``remove_ids``
  (news gets forgotten) and id selectors (filtered search). float16 halves memory and scan time
  against float32 lists at no measurable recall cost (scores move by < 1e-4). HNSW was measured
  and rejected: 100k vectors took 100 s to build here (1M: 20+ minutes on every stale start), its
  recall on hard data was worse, and it cannot remove vectors.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

# Below this many vectors search is exact; from it on, approximate (see the module docstring).
# Exact search at 200k takes ~13 ms on one thread: room under the 50 ms budget for a busier
# machine, with no recall given up below it.
APPROX_THRESHOLD = 200_000
# Share of the inverted lists one search visits. On synthetic vectors calibrated to behave like
# MiniLM news chunks (bench/scale.py), recall@10 against exact at 1M: 1/8 → 0.95, 3/16 → 0.97,
# 1/4 → 0.98 (p95 16 ms on a busy machine); 1/4 leaves a margin for real data being harder.
NPROBE_FRACTION = 1 / 4
# An approximate index checks, when built, that visiting NPROBE_FRACTION of its lists finds this
# share of a full scan's top 10 for queries near its own vectors, and visits more lists until it
# does: vectors without cluster structure (uniform random ones) need nearly all of them.
RECALL_TARGET = 0.95
CALIBRATION_QUERIES = 100
# k-means training points per list: faiss wants ≥ 39; more buys little and costs build time.
TRAIN_PER_LIST = 50
# Vectors handed to FAISS at once when moving a flat index over, to bound the temporary copy.
_MOVE_BATCH = 65_536

KIND_FLAT = "flat"
KIND_IVF = "ivf"


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


def _checksum(ids: np.ndarray) -> int:
    return int(np.bitwise_xor.reduce(ids * np.int64(0x9E3779B1))) if len(ids) else 0


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run one query on one OpenMP thread (this thread's setting only, restored after).

    A single query is too little work to split, and when another thread or process holds a
    core (an ingest embedding, say) OpenMP's fan-out waits on it: flat search over 1M vectors
    took 316 ms on two threads of a busy 2-core machine and 67 ms on one.
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
    are dense row ids): built in ~0.2 ms for 50k ids, where ``IDSelectorBatch`` spends several
    ms hashing them and is slower to test against. Sparse ids fall back to the batch.
    """
    low, top = int(allowed.min()), int(allowed.max())
    if low >= 0 and top <= max(1 << 20, 64 * len(allowed)):
        bits = np.zeros(top + 1, dtype=bool)
        bits[allowed] = True
        packed = np.packbits(bits, bitorder="little")
        return faiss.IDSelectorBitmap(len(packed), faiss.swig_ptr(packed)), packed
    return faiss.IDSelectorBatch(allowed), None


def nlist_for(n: int) -> int:
    """Inverted lists for n vectors: the power of two nearest sqrt(n).

    Fewer lists than the textbook 4·sqrt(n) because training and assigning cost grow with the
    list count (2,048 lists took 2.5× as long to build at 1M as 1,024) while the share of the
    collection a search must scan for a given recall barely changes.
    """
    return int(min(65_536, max(16, 2 ** round(math.log2(math.sqrt(max(n, 1)))))))


def nprobe_for(nlist: int) -> int:
    return max(1, min(nlist, math.ceil(nlist * NPROBE_FRACTION)))


def _new_ivf(dim: int, nlist: int) -> faiss.IndexIVFScalarQuantizer:
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False
    )
    index.cp.spherical = True  # unit vectors compared by inner product: unit centroids
    index.cp.niter = 10
    index.cp.max_points_per_centroid = TRAIN_PER_LIST  # a bigger sample is subsampled
    index.nprobe = nprobe_for(nlist)
    # The quantizer is owned by the index from here on; Python must not free it first.
    index.own_fields = True
    quantizer.this.disown()
    return index


def _train_ivf(dim: int, sample: np.ndarray, nlist: int) -> faiss.IndexIVFScalarQuantizer:
    nlist = max(1, min(nlist, len(sample) // TRAIN_PER_LIST or 1))
    index = _new_ivf(dim, nlist)
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    return index


def calibrate_nprobe(index: faiss.IndexIVF, sample: np.ndarray) -> int:
    """The fewest lists (from ``NPROBE_FRACTION`` of them, doubling) whose recall@10 against a
    full scan reaches ``RECALL_TARGET``, for queries at cosine ≈ 0.7 from stored vectors (a
    question sits about that far from the passage that answers it). Sets and returns it."""
    nlist = int(index.nlist)
    start = nprobe_for(nlist)
    if len(sample) == 0 or index.ntotal == 0 or start >= nlist:
        index.nprobe = start
        return start
    rng = np.random.default_rng(0)
    pick = rng.choice(len(sample), size=min(CALIBRATION_QUERIES, len(sample)), replace=False)
    rows = sample[pick]
    noise = rng.standard_normal(rows.shape).astype(np.float32) / np.sqrt(rows.shape[1])
    queries = rows + noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    k = min(10, int(index.ntotal))
    index.nprobe = nlist
    _, truth = index.search(queries, k)
    nprobe = start
    while nprobe < nlist:
        index.nprobe = nprobe
        _, found = index.search(queries, k)
        recall = np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth, strict=True)])
        if recall >= RECALL_TARGET:
            break
        nprobe = min(nlist, nprobe * 2)
    index.nprobe = nprobe
    return nprobe


def _ivf_ids(index: faiss.IndexIVF) -> np.ndarray:
    lists = index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), size).copy()
        for i in range(index.nlist)
        if (size := lists.list_size(i))
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


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

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._ids()

    def _ids(self) -> np.ndarray:
        if isinstance(self._index, faiss.IndexIVF):
            return _ivf_ids(self._index)
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
        coexist: peak RSS of an exact 1M build was 1.46× the raw vectors instead of ~1.1×.
        """
        if n > 0:
            flat = faiss.downcast_index(self._index.index)
            flat.codes.resize(n * self.dim * 4)  # allocates (and zero-fills) once
            flat.codes.resize(0)  # keeps the capacity

    def _switch_to_ivf(self) -> None:
        """Train lists on a sample spread over the whole flat index, then move every vector.

        Reads the flat storage in place (no copy of all vectors); the flat index is freed once
        the move is done. About 4 s at 200k vectors, once in a collection's life.
        """
        flat_map = self._index
        n = int(flat_map.ntotal)
        flat = faiss.downcast_index(flat_map.index)
        xb = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)
        ids = faiss.vector_to_array(flat_map.id_map).astype(np.int64)
        nlist = nlist_for(n)
        pick = np.linspace(0, n - 1, num=min(n, nlist * TRAIN_PER_LIST)).astype(np.int64)
        ivf = _train_ivf(self.dim, xb[pick], nlist)
        for start in range(0, n, _MOVE_BATCH):
            ivf.add_with_ids(
                np.ascontiguousarray(xb[start : start + _MOVE_BATCH]),
                ids[start : start + _MOVE_BATCH],
            )
        calibrate_nprobe(ivf, np.ascontiguousarray(xb[pick[:: max(1, len(pick) // 400)]]))
        self._index = ivf

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
        vectors (held until then, ~80 MB at 1M), which are then added with the rest batch by
        batch, so no second copy of the collection ever exists. ``kind`` forces one kind
        (benchmarks); ``total`` is a hint, a wrong one costs only list balance.
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
        sample = np.concatenate(held)
        ivf = _train_ivf(dim, sample, nlist)
        probe = sample[:: max(1, len(sample) // (4 * CALIBRATION_QUERIES))].copy()
        del sample
        for ids, vectors in zip(held_ids, held, strict=True):
            ivf.add_with_ids(vectors, ids)
        held_ids.clear()
        held.clear()
        for ids, vectors in it:
            if len(ids):
                ivf.add_with_ids(
                    np.ascontiguousarray(vectors, dtype=np.float32),
                    np.asarray(ids, dtype=np.int64),
                )
        calibrate_nprobe(ivf, probe)
        out._index = ivf
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
                if isinstance(self._index, faiss.IndexIVF):
                    # A filter pushes the allowed neighbours further out, more so the fewer ids
                    # it keeps: visit more lists. 1/sqrt(share) keeps recall at the unfiltered
                    # level on a 5 % filter (1/share would mean scanning everything).
                    share = min(1.0, len(allowed) / total)
                    nprobe = math.ceil(self._index.nprobe / math.sqrt(share))
                    params = faiss.SearchParametersIVF(
                        sel=sel, nprobe=int(min(self._index.nlist, nprobe))
                    )
                else:
                    params = faiss.SearchParameters(sel=sel)
                scores, ids = self._index.search(q, k, params=params)
                del keep  # the bitmap had to outlive the search
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: Path, version: int) -> None:
        """Write the index and its manifest as one file: a temp file of this process's own,
        fsynced, then renamed into place, so concurrent saves never collide and a reader sees
        one whole save or another. The temp file is removed on any failure (a full disk: an
        ``OSError`` saying so)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_temp_files(path)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.{os.getpid()}.tmp")
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
        try:
            with self._lock:
                ids = self._ids()
                try:
                    faiss.write_index(self._index, str(tmp))
                except RuntimeError as exc:  # faiss says why at the end: "(No space left …)"
                    reason = re.search(r"\(([^()]*)\)\s*$", str(exc))
                    raise OSError(reason.group(1) if reason else str(exc)) from exc
                manifest = Manifest(
                    model=self.model,
                    dim=self.dim,
                    count=int(self._index.ntotal),
                    version=version,
                    id_checksum=_checksum(ids),
                    built_at=time.time(),
                    kind=self.kind,
                    nlist=int(self._index.nlist) if self.kind == KIND_IVF else 0,
                    nprobe=int(self._index.nprobe) if self.kind == KIND_IVF else 0,
                )
            with tmp.open("r+b") as f:
                size, crc = _crc(f, None)
                blob = json.dumps(asdict(replace(manifest, size=size, crc32=crc))).encode()
                f.seek(size)
                f.write(blob + _FOOTER.pack(len(blob), _MAGIC))
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
        self.version = version

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        dim: int,
        model: str,
        version: int,
        approx_threshold: int = APPROX_THRESHOLD,
    ) -> tuple[VectorIndex | None, str]:
        """The saved index if it matches this model and collection version and its checksum,
        else None and why not: ``MISSING``, ``STALE`` (…), or ``DAMAGED`` (…) when the bytes
        are not what was saved.

        Reads one open file throughout, so a save renamed over it meanwhile cannot mix two
        saves. Loads whichever kind was saved: the kind is re-chosen only on a rebuild.
        """
        try:
            f = path.open("rb")
        except FileNotFoundError:
            return None, MISSING
        except OSError as exc:
            return None, f"{DAMAGED} (it cannot be read: {exc.strerror})"
        with f:
            manifest, why = _read_manifest(f, path)
            if manifest is None:
                return None, why
            if (manifest.model, manifest.dim) != (model, dim):
                return None, f"{STALE} (made with {manifest.model})"
            if manifest.version != version:
                return None, f"{STALE} (collection version {manifest.version}, not {version})"
            if _crc(f, manifest.size) != (manifest.size, manifest.crc32):
                return None, f"{DAMAGED} (its checksum does not match)"
            f.seek(0)
            try:
                index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
            except RuntimeError:
                return None, f"{DAMAGED} (faiss cannot read it)"
        if index.ntotal != manifest.count or index.d != dim:
            return None, f"{DAMAGED} (it holds {index.ntotal} vectors, not {manifest.count})"
        if manifest.kind == KIND_FLAT and isinstance(index, faiss.IndexIDMap2):
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        elif (
            manifest.kind == KIND_IVF
            and isinstance(index, faiss.IndexIVFScalarQuantizer)
            and index.metric_type == faiss.METRIC_INNER_PRODUCT
        ):
            index.nprobe = manifest.nprobe or nprobe_for(int(index.nlist))
            ids = _ivf_ids(index)
        else:
            return None, f"{DAMAGED} (not the {manifest.kind} index its manifest names)"
        if _checksum(ids) != manifest.id_checksum:
            return None, f"{DAMAGED} (its ids do not match their checksum)"
        out = cls(dim, model, approx_threshold=approx_threshold)
        out._index = index
        out.version = version
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


# Why a saved index was not used (``VectorIndex.open``): only DAMAGED means the disk changed
# bytes behind newsbot's back; the others are ordinary (a crash, another process, a new model).
MISSING = "missing"
STALE = "stale"
DAMAGED = "damaged"

# A saved index is the faiss file, then its manifest as JSON, then this footer: the manifest's
# length and a magic string. One file renamed into place carries both, so no reader can pair
# one save's vectors with another's manifest.
_MAGIC = b"NBFAISS1"
_FOOTER = struct.Struct("<Q8s")
_CRC_BLOCK = 1 << 20
# A temp file left by a process that is gone, this long ago, is swept by the next save.
TEMP_GRACE_SECONDS = 60.0


def read_manifest(path: Path) -> Manifest | None:
    """The manifest of a saved index, or None when it has none that reads."""
    try:
        with path.open("rb") as f:
            return _read_manifest(f, path)[0]
    except OSError:
        return None


def _read_manifest(f: BinaryIO, path: Path) -> tuple[Manifest | None, str]:
    end = f.seek(0, os.SEEK_END)
    if end < _FOOTER.size:
        return None, f"{DAMAGED} (it is truncated)"
    f.seek(end - _FOOTER.size)
    length, magic = _FOOTER.unpack(f.read(_FOOTER.size))
    if magic != _MAGIC:
        if path.with_suffix(".json").is_file():
            return None, f"{STALE} (an older format)"
        return None, f"{DAMAGED} (it has no manifest)"
    if length > end - _FOOTER.size:
        return None, f"{DAMAGED} (its manifest is cut short)"
    f.seek(end - _FOOTER.size - length)
    try:
        raw = json.loads(f.read(length))
        known = {f.name for f in fields(Manifest)}
        manifest = Manifest(**raw) if isinstance(raw, dict) and set(raw) <= known else None
    except (ValueError, TypeError):
        manifest = None
    if manifest is None or manifest.size != end - _FOOTER.size - length:
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
