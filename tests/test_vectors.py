"""VectorIndex on small fake data: both kinds (exact and approximate) behave the same way.

The approximate kind is exercised with a lowered threshold on a few thousand 16-d vectors, so
the whole module runs in a couple of seconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from index.search.vectors import (
    DAMAGED,
    FOOTER,
    KIND_FLAT,
    KIND_IVF,
    VectorIndex,
    nlist_for,
    read_manifest,
)

DIM = 16
MODEL = "fake-model"
N = 5_000
THRESHOLD = 1_000


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Sparse row ids and clustered unit vectors (embeddings cluster by topic; uniform noise in
    16-d would test a case newsbot never sees)."""
    rng = np.random.default_rng(7)
    ids = np.arange(N, dtype=np.int64) * 3 + 11  # row ids are sparse, not 0..n-1
    centers = unit(rng.standard_normal((100, DIM), dtype=np.float32))
    noise = rng.standard_normal((N, DIM), dtype=np.float32) * 0.15
    return ids, unit(centers[rng.integers(100, size=N)] + noise)


def batches(ids: np.ndarray, vecs: np.ndarray, size: int = 700) -> Iterator:
    for s in range(0, len(ids), size):
        yield ids[s : s + size], vecs[s : s + size]


def exact_top(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(vecs @ q), kind="stable")[:k]
    return [int(i) for i in ids[order]]


def make(kind: str, ids: np.ndarray, vecs: np.ndarray) -> VectorIndex:
    return VectorIndex.build(
        batches(ids, vecs),
        dim=DIM,
        model=MODEL,
        total=len(ids),
        approx_threshold=THRESHOLD if kind == KIND_IVF else 10 * N,
    )


@pytest.fixture(scope="module", params=[KIND_FLAT, KIND_IVF])
def built(request, data) -> VectorIndex:
    index = make(request.param, *data)
    assert index.kind == request.param
    return index


def queries(n: int, seed: int = 1) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32))


def test_exact_search_is_exact(data) -> None:
    ids, vecs = data
    index = make(KIND_FLAT, ids, vecs)
    for q in queries(20):
        hits = index.search(q, 10)
        assert [i for i, _ in hits] == exact_top(vecs, ids, q, 10)
        assert [s for _, s in hits] == pytest.approx(sorted((vecs @ q).tolist())[-10:][::-1])


def test_search_leaves_thread_setting_alone(built, data) -> None:
    import faiss

    before = faiss.omp_get_max_threads()
    built.search(data[1][0], 5)
    assert faiss.omp_get_max_threads() == before


def test_approximate_recall(data) -> None:
    ids, vecs = data
    index = make(KIND_IVF, ids, vecs)
    assert index.nprobe < nlist_for(N)
    recall = np.mean(
        [
            len({i for i, _ in index.search(q, 10)} & set(exact_top(vecs, ids, q, 10))) / 10
            for q in queries(100)
        ]
    )
    assert recall >= 0.9


def test_ids_and_count(built, data) -> None:
    assert built.count == N
    assert sorted(built.ids().tolist()) == data[0].tolist()


def test_empty_and_bounds(built, data) -> None:
    q = data[1][0]
    assert built.search(q, 0) == []
    assert built.search(q, 10, allowed=np.empty(0, np.int64)) == []
    assert VectorIndex(DIM, MODEL).search(q, 5) == []


@pytest.mark.parametrize("kind", [KIND_FLAT, KIND_IVF])
def test_remove(kind, data) -> None:
    ids, vecs = data
    index = make(kind, ids, vecs)
    q = vecs[42]
    assert index.search(q, 1)[0][0] == ids[42]
    gone = ids[40:50]
    index.remove(gone.tolist())
    index.remove([])
    assert index.count == N - 10
    assert not set(gone.tolist()) & set(index.ids().tolist())
    assert all(i not in set(gone.tolist()) for i, _ in index.search(q, 50))


def test_allowed_restricts(built, data) -> None:
    ids, vecs = data
    rng = np.random.default_rng(3)
    for share in (0.5, 0.02):
        allowed = np.sort(rng.choice(ids, int(N * share), replace=False))
        mask = np.isin(ids, allowed)
        recall = []
        for q in queries(30, seed=5):
            hits = [i for i, _ in built.search(q, 10, allowed=allowed)]
            assert set(hits) <= set(allowed.tolist())
            truth = exact_top(vecs[mask], ids[mask], q, 10)
            recall.append(len(set(hits) & set(truth)) / 10)
        # Few allowed ids make the approximate index visit more lists, not return fewer.
        assert np.mean(recall) >= (1.0 if built.kind == KIND_FLAT else 0.9)


@pytest.mark.parametrize("kind", [KIND_FLAT, KIND_IVF])
def test_allowed_with_sparse_ids(kind, data) -> None:
    """Ids far apart take the other selector (a bitmap over their range would be huge)."""
    ids, vecs = data
    ids = ids * 1_000_003 + (1 << 40)
    index = make(kind, ids, vecs)
    allowed = ids[::7]
    q = vecs[7 * 100]
    hits = [i for i, _ in index.search(q, 10, allowed=allowed)]
    assert hits[0] == ids[700]
    assert set(hits) <= set(allowed.tolist())


def test_grows_into_approximate(data) -> None:
    ids, vecs = data
    index = VectorIndex(DIM, MODEL, approx_threshold=THRESHOLD)
    index.add(ids[:900], vecs[:900])
    assert index.kind == KIND_FLAT
    for s in range(900, 3000, 300):
        index.add(ids[s : s + 300], vecs[s : s + 300])
    assert index.kind == KIND_IVF
    assert index.count == 3000
    assert sorted(index.ids().tolist()) == ids[:3000].tolist()
    assert index.search(vecs[1234], 1)[0][0] == ids[1234]


def test_small_collection_stays_exact_despite_large_hint(data) -> None:
    ids, vecs = data
    index = VectorIndex.build(
        batches(ids[:500], vecs[:500]),
        dim=DIM,
        model=MODEL,
        total=10 * N,  # stale hint
        approx_threshold=THRESHOLD,
    )
    assert (index.kind, index.count) == (KIND_FLAT, 500)


@pytest.mark.parametrize("kind", [KIND_FLAT, KIND_IVF])
def test_save_load_round_trip(kind, data, tmp_path: Path) -> None:
    ids, vecs = data
    index = make(kind, ids, vecs)
    path = tmp_path / "faiss" / "collection-1.faiss"
    index.save(path, version=7)
    assert [p.name for p in path.parent.iterdir()] == ["collection-1.faiss"]  # no temp files
    assert read_manifest(path).kind == kind
    loaded = VectorIndex.load(path, dim=DIM, model=MODEL, version=7)
    assert loaded is not None
    assert (loaded.kind, loaded.count, loaded.version) == (kind, N, 7)
    assert loaded.nprobe == index.nprobe
    for q in queries(5):
        assert loaded.search(q, 10) == index.search(q, 10)

    assert VectorIndex.load(path, dim=DIM, model=MODEL, version=8) is None
    assert VectorIndex.load(path, dim=DIM, model="other", version=7) is None
    assert VectorIndex.load(path, dim=DIM + 1, model=MODEL, version=7) is None
    assert VectorIndex.load(tmp_path / "missing.faiss", dim=DIM, model=MODEL, version=7) is None


def split(saved: bytes) -> tuple[bytes, dict]:
    """A saved file's faiss bytes and its manifest."""
    length, _ = FOOTER.unpack(saved[-FOOTER.size :])
    body = saved[: -FOOTER.size]
    return body[: len(body) - length], json.loads(body[len(body) - length :])


def joined(index_bytes: bytes, manifest: dict, magic: bytes = b"NBFAISS1") -> bytes:
    blob = json.dumps(manifest).encode()
    return index_bytes + blob + FOOTER.pack(len(blob), magic)


@pytest.mark.parametrize("kind", [KIND_FLAT, KIND_IVF])
def test_load_rejects_damage(kind, data, tmp_path: Path) -> None:
    ids, vecs = data
    path = tmp_path / "c.faiss"
    make(kind, ids, vecs).save(path, version=1)
    good = path.read_bytes()
    index_bytes, manifest = split(good)

    def why() -> str:
        index, reason = VectorIndex.open(path, dim=DIM, model=MODEL, version=1)
        assert (index is None) == bool(reason)
        return reason

    assert why() == ""
    middle = len(index_bytes) // 2  # inside the vectors
    for damaged in (
        good[: len(good) // 2],  # truncated
        b"not an index at all" * 10,
        good[:middle] + bytes(4096) + good[middle + 4096 :],  # a zeroed region of vectors
        good[:middle] + bytes([good[middle] ^ 1]) + good[middle + 1 :],  # one flipped bit
    ):
        path.write_bytes(damaged)
        assert why().startswith(DAMAGED)
    for change in (
        {"id_checksum": manifest["id_checksum"] ^ 1},
        {"crc32": manifest["crc32"] ^ 1},
        {"count": N + 1},
        {"kind": KIND_IVF if kind == KIND_FLAT else KIND_FLAT},
        {"kind": "hnsw"},
        {"surprise": 1},
    ):
        path.write_bytes(joined(index_bytes, {**manifest, **change}))
        assert why().startswith(DAMAGED), change
    path.write_bytes(index_bytes + b"{not json" + FOOTER.pack(9, b"NBFAISS1"))
    assert why().startswith(DAMAGED)
    path.write_bytes(good)
    assert why() == ""


def test_a_save_never_collides_with_another_and_leaves_no_temp_file(data, tmp_path: Path) -> None:
    """Saves of one path from many threads (as from many processes) each write a temp file of
    their own: none fails, the last lands whole, no temp file is left."""
    ids, vecs = data
    index = make(KIND_FLAT, ids, vecs)
    path = tmp_path / "c.faiss"
    errors = []

    def save(version: int) -> None:
        try:
            index.save(path, version)
        except Exception as exc:  # pragma: no cover - what the test is about
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(v,)) for v in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == ["c.faiss"]
    assert VectorIndex.load(path, dim=DIM, model=MODEL, version=read_manifest(path).version)


def test_vectors_without_clusters_make_the_index_visit_more_lists() -> None:
    """Uniform random 64-d vectors: the quarter of the lists that serves clustered data would
    miss most neighbours, so the build raises nprobe until recall@10 reaches the target."""
    rng = np.random.default_rng(3)
    dim, n = 64, 8_000
    ids = np.arange(n, dtype=np.int64)
    vecs = unit(rng.standard_normal((n, dim), dtype=np.float32))
    index = VectorIndex.build(
        batches(ids, vecs), dim=dim, model=MODEL, total=n, approx_threshold=1_000
    )
    assert index.kind == KIND_IVF and index.nprobe > nlist_for(n) // 4
    near = unit(vecs[rng.choice(n, 100, replace=False)] + rng.standard_normal((100, dim)) / 8)
    recall = np.mean(
        [
            len({i for i, _ in index.search(q, 10)} & set(exact_top(vecs, ids, q, 10))) / 10
            for q in near
        ]
    )
    assert recall >= 0.9
