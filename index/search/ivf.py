"""The approximate kind of vector index: an inverted file over spherical k-means lists with
float16 vectors (``IndexIVFScalarQuantizer``), how many lists it has, how many a search visits,
and how it is trained and filled without a second copy of the collection.

Why this kind (figures in README, "Vector index", and ``bench/results``): it supports
``remove_ids`` (news gets forgotten) and id selectors (filtered search); float16 halves memory
and scan work against float32 lists at no measurable recall cost; HNSW was measured and
rejected (slow to build on every stale start, worse recall on hard data, no removal).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import faiss
import numpy as np

# Share of the inverted lists one search visits. On synthetic vectors calibrated to behave like
# MiniLM news chunks (bench/scale.py), recall@10 against exact at 1M: 1/8 → 0.95, 3/16 → 0.97,
# 1/4 → 0.98; 1/4 leaves a margin for real data being harder.
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


def nlist_for(n: int) -> int:
    """Inverted lists for n vectors: the power of two nearest sqrt(n).

    Fewer lists than the textbook 4·sqrt(n) because training and assigning cost grow with the
    list count while the share of the collection a search must scan for a given recall barely
    changes.
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


def train_ivf(dim: int, sample: np.ndarray, nlist: int) -> faiss.IndexIVFScalarQuantizer:
    """An empty index whose lists are trained on ``sample`` (at most one list a
    ``TRAIN_PER_LIST`` sample vectors)."""
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


def ivf_ids(index: faiss.IndexIVF) -> np.ndarray:
    """Every id stored in the lists."""
    lists = index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), size).copy()
        for i in range(index.nlist)
        if (size := lists.list_size(i))
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


def fill_ivf(
    dim: int,
    sample_ids: list[np.ndarray],
    sample: list[np.ndarray],
    rest: Iterator[tuple[np.ndarray, np.ndarray]],
    nlist: int,
) -> faiss.IndexIVFScalarQuantizer:
    """Train on the held first batches, add them, then stream the rest in batch by batch, so
    no second copy of the collection ever exists; then calibrate the lists a search visits."""
    joined = np.concatenate(sample)
    ivf = train_ivf(dim, joined, nlist)
    probe = joined[:: max(1, len(joined) // (4 * CALIBRATION_QUERIES))].copy()
    del joined
    for ids, vectors in zip(sample_ids, sample, strict=True):
        ivf.add_with_ids(vectors, ids)
    sample_ids.clear()
    sample.clear()
    for ids, vectors in rest:
        if len(ids):
            ivf.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )
    calibrate_nprobe(ivf, probe)
    return ivf


def ivf_from_flat(flat_map: faiss.IndexIDMap2, dim: int) -> faiss.IndexIVFScalarQuantizer:
    """Train lists on a sample spread over a whole flat index, then move every vector.

    Reads the flat storage in place (no copy of all vectors); the caller frees the flat index
    once it holds the new one.
    """
    n = int(flat_map.ntotal)
    flat = faiss.downcast_index(flat_map.index)
    xb = faiss.rev_swig_ptr(flat.get_xb(), n * dim).reshape(n, dim)
    ids = faiss.vector_to_array(flat_map.id_map).astype(np.int64)
    nlist = nlist_for(n)
    pick = np.linspace(0, n - 1, num=min(n, nlist * TRAIN_PER_LIST)).astype(np.int64)
    ivf = train_ivf(dim, xb[pick], nlist)
    for start in range(0, n, _MOVE_BATCH):
        ivf.add_with_ids(
            np.ascontiguousarray(xb[start : start + _MOVE_BATCH]),
            ids[start : start + _MOVE_BATCH],
        )
    calibrate_nprobe(ivf, np.ascontiguousarray(xb[pick[:: max(1, len(pick) // 400)]]))
    return ivf
