"""Scale: a synthetic collection of N chunks stored like real ones, then FAISS at that size.

  python -m bench.scale [--n 1000000] [--dist news,uniform] [--queries 200]
                        [--out bench/results/scale.json] [--workdir DIR] [--keep]

Fills a temporary SQLite database through ``Store.add_articles`` (articles of ten ~20-word
chunks, full-text index included), then runs each measurement in a fresh subprocess, so that
peak RSS (VmHWM) is that of a newsbot process starting up: read the vectors from SQLite and
build the index, or load the saved index. Reported for the exact flat index and for the
approximate one newsbot switches to: build, save and load times, peak RSS against the raw
vector bytes, search p50/p95 over single queries (k=50, what retrieval asks for), recall@10
and @50 against exact, an nprobe sweep, and a filtered search (one source out of twenty).

Vector distributions:

* ``news`` — anisotropic Gaussian article centres (power-law spectrum i^-0.7 around a common
  offset, like sentence embeddings), ten chunks around each. Calibrated on MiniLM vectors of
  the eval corpus-small (10k chunks): at that size it needs the same inverted-list share for
  the same recall as the real vectors (e.g. 8 % of lists → 0.97 vs 0.97).
* ``uniform`` — uniform random unit vectors: the worst case for any approximate index (every
  point is about as far from a query as every other), kept as a bound, not a forecast.

Queries: ``near`` = a stored chunk plus noise (cosine ≈ 0.89 to it), ``fresh`` = a new draw
from the same distribution (for ``uniform``: a random unit vector).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
MODEL = "synthetic"
COLLECTION = "synthetic"
CHUNKS_PER_ARTICLE = 10
WORDS_PER_CHUNK = 20
SOURCES = 20
FILL_ARTICLES = 2_000  # articles a transaction: 20k chunks, ~30 MB of vectors
K = 50  # candidates retrieval asks FAISS for
MODEL_BYTES = 100_000_000  # all-MiniLM-L6-v2 weights, the allowance the RSS target adds
WORKER_TIMEOUT = 3_600
REPO = Path(__file__).resolve().parents[1]


# -- synthetic data ----------------------------------------------------------------------------
class Synth:
    """Deterministic vectors and texts; generated batch by batch, never all at once."""

    def __init__(self, dist: str, seed: int = 0) -> None:
        if dist not in ("news", "uniform"):
            raise ValueError(f"unknown distribution {dist!r}")
        self.dist = dist
        self.rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(self.rng.standard_normal((DIM, DIM)))
        lam = np.arange(1, DIM + 1, dtype=np.float64) ** -0.7
        self.spread = (basis * np.sqrt(lam / lam.sum())).astype(np.float32)
        self.offset = (0.3 * basis[:, -1]).astype(np.float32)
        syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
        pick = self.rng.integers(len(syllables), size=(5_000, 3))
        self.words = np.array(["".join(syllables[i] for i in row) for row in pick])

    def vectors(self, articles: int, per_article: int = CHUNKS_PER_ARTICLE) -> np.ndarray:
        n = articles * per_article
        if self.dist == "uniform":
            return _unit(self.rng.standard_normal((n, DIM), dtype=np.float32))
        centres = self.offset + self.rng.standard_normal((articles, DIM), dtype=np.float32) @ (
            self.spread.T
        )
        noise = self.rng.standard_normal((n, DIM), dtype=np.float32) @ self.spread.T
        return _unit(np.repeat(centres, per_article, axis=0) + 0.5 * noise)

    def text(self, words: int) -> str:
        return " ".join(self.words[self.rng.integers(len(self.words), size=words)])


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def fill(db: Path, n: int, dist: str, n_queries: int) -> dict[str, Any]:
    """Store n chunks through the real write path; returns timings and the query vectors."""
    from index.ingest.dedup import content_hash
    from index.models import ChunkSpan
    from index.store import NewArticle
    from index.store.sqlite import SqliteStore

    synth = Synth(dist)
    articles = -(-n // CHUNKS_PER_ARTICLE)
    near_rows = np.sort(synth.rng.choice(articles * CHUNKS_PER_ARTICLE, n_queries, replace=False))
    near = np.empty((n_queries, DIM), np.float32)
    store = SqliteStore(db)
    cid = store.collections.id_of(COLLECTION, create=True)
    store.set_meta("embedding_model", MODEL)
    store.set_meta("embedding_dim", str(DIM))
    started = time.perf_counter()
    done = 0
    for first in range(0, articles, FILL_ARTICLES):
        count = min(FILL_ARTICLES, articles - first)
        vecs = synth.vectors(count)
        lo, hi = np.searchsorted(near_rows, [done, done + len(vecs)])
        near[lo:hi] = vecs[near_rows[lo:hi] - done]
        batch = []
        for a in range(count):
            spans, pos, parts = [], 0, []
            for o in range(CHUNKS_PER_ARTICLE):
                chunk = synth.text(WORDS_PER_CHUNK)
                spans.append(ChunkSpan(o, pos, pos + len(chunk), chunk))
                parts.append(chunk)
                pos += len(chunk) + 1
            text = " ".join(parts)
            number = first + a
            batch.append(
                NewArticle(
                    title=f"Article {number}: {synth.text(6)}",
                    source=f"source-{number % SOURCES:02d}",
                    published_at=f"2023-{1 + number % 12:02d}-{1 + number % 28:02d}",
                    url=None,
                    author=None,
                    text=text,
                    content_hash=content_hash(text),
                    chunks=spans,
                    vectors=vecs[a * CHUNKS_PER_ARTICLE : (a + 1) * CHUNKS_PER_ARTICLE],
                )
            )
        store.articles.add(cid, batch)
        done += len(vecs)
    seconds = time.perf_counter() - started
    chunks = store.chunks.count(cid)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    noise = synth.rng.standard_normal((n_queries, DIM), dtype=np.float32) / np.sqrt(DIM)
    queries = {
        "near": _unit(near + 0.5 * noise),
        "fresh": synth.vectors(n_queries, per_article=1),
    }
    return {
        "chunks": chunks,
        "seconds": round(seconds, 1),
        "chunks_per_s": round(chunks / seconds),
        "db_bytes": db.stat().st_size,
        "queries": queries,
    }


# -- workers (one fresh process each) ------------------------------------------------------------
def _status() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _ms(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
    }


def _timed_search(
    index: Any, queries: np.ndarray, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, list[float]]:
    out = np.full((len(queries), K), -1, np.int64)
    lat = []
    for row, q in enumerate(queries):
        t = time.perf_counter()
        hits = index.search(q, K, allowed)
        lat.append(time.perf_counter() - t)
        out[row, : len(hits)] = [i for i, _ in hits]
    return out, lat


def _timed_batches(it: Iterator[Any], spent: list[float]) -> Iterator[Any]:
    """Pass batches through, adding the time spent producing them (reading SQLite) to spent."""
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        spent[0] += time.perf_counter() - t
        yield item


def _recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(
        np.mean(
            [len(set(f[:k]) & set(t[:k]) - {-1}) / k for f, t in zip(found, truth, strict=True)]
        )
    )


def worker(role: str, db: Path, work: Path, sweep: list[float]) -> dict[str, Any]:
    """One measurement in this (fresh) process; the parent reads the JSON it prints."""

    from index.search.vectors import APPROX_THRESHOLD, KIND_FLAT, KIND_IVF, VectorIndex
    from index.store.sqlite import SqliteStore

    result: dict[str, Any] = {"rss_after_imports": _status()["VmRSS"]}
    store = SqliteStore(db)
    cid = store.collections.id_of(COLLECTION)
    version = store.collections.version(cid)
    kind = KIND_FLAT if role.startswith("exact") else KIND_IVF
    path = work / f"{kind}.faiss"
    queries = dict(np.load(work / "queries.npz"))
    allowed = store.chunks.ids(cid, source="source-03")
    result["filtered_share"] = round(len(allowed) / store.chunks.count(cid), 4)

    if role in ("exact", "approx"):
        total = store.chunks.count(cid)
        reading = [0.0]
        t = time.perf_counter()
        index = VectorIndex.build(
            _timed_batches(store.chunks.iter_vectors(cid), reading),
            dim=DIM,
            model=MODEL,
            total=total,
            # newsbot's own choice at full size; forced for a small smoke run
            kind=KIND_FLAT if role == "exact" else None if total >= APPROX_THRESHOLD else kind,
        )
        result["build_s"] = round(time.perf_counter() - t, 1)
        result["build_sqlite_read_s"] = round(reading[0], 1)
        assert index.kind == kind and index.count == total, (index.kind, index.count)
        result["peak_rss_build"] = _status()["VmHWM"]
        t = time.perf_counter()
        index.save(path, version)
        result["save_s"] = round(time.perf_counter() - t, 1)
        result["file_bytes"] = path.stat().st_size
        result["peak_rss"] = _status()["VmHWM"]
        if role == "approx":
            result["nlist"] = index.nlist
            result["nprobe"] = index.nprobe
            result["list_imbalance"] = round(index.imbalance, 3)
            return result
        # Ground truth for every later recall, and flat latency (a full scan, whatever the
        # query: timing one query set is enough).
        truth = {}
        truth["near"], lat = _timed_search(index, queries["near"])
        result["search"] = _ms(lat)
        # batch search: the per-query path is what was timed above
        truth["fresh"] = index.search_batch(queries["fresh"], K)[1]
        truth["filtered"], lat = _timed_search(index, queries["near"][:50], allowed)
        result["filtered_search"] = _ms(lat)
        np.savez(work / "truth.npz", **truth)
        return result

    t = time.perf_counter()
    index = VectorIndex.load(path, dim=DIM, model=MODEL, version=version)
    result["load_s"] = round(time.perf_counter() - t, 1)
    assert index is not None and index.kind == kind
    result["peak_rss_load"] = _status()["VmHWM"]
    result["rss_loaded"] = _status()["VmRSS"]
    if role == "exact-load":
        return result
    truth = dict(np.load(work / "truth.npz"))
    default = index.nprobe
    nlist = index.nlist
    probes = sorted({default, *(max(1, min(nlist, round(f * nlist))) for f in sweep)})
    result["sweep"] = []
    for nprobe in probes:
        index.nprobe = nprobe
        row: dict[str, Any] = {"nprobe": nprobe, "share": round(nprobe / nlist, 4)}
        for name in ("near", "fresh"):
            found, lat = _timed_search(index, queries[name])
            row[name] = {
                **_ms(lat),
                "recall@10": round(_recall(found, truth[name], 10), 4),
                "recall@50": round(_recall(found, truth[name], K), 4),
            }
        result["sweep"].append(row)
        if nprobe == default:
            result["search"] = row
    index.nprobe = default
    found, lat = _timed_search(index, queries["near"][:50], allowed)
    result["filtered_search"] = {
        **_ms(lat),
        "recall@10": round(_recall(found, truth["filtered"], 10), 4),
    }
    result["peak_rss"] = _status()["VmHWM"]
    return result


def run_worker(role: str, db: Path, work: Path, sweep: list[float]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.scale", "--worker", role, "--db", str(db)]
    cmd += ["--workdir", str(work), "--sweep", ",".join(map(str, sweep))]
    t = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {role} failed:\n{proc.stderr[-4000:]}")
    line = next(x for x in reversed(proc.stdout.splitlines()) if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT ") :])
    out["wall_s"] = round(time.perf_counter() - t, 1)
    print(f"  {role}: {out['wall_s']} s", file=sys.stderr, flush=True)
    return out


# -- the run ------------------------------------------------------------------------------------
def run_one(
    n: int, dist: str, n_queries: int, base: Path, sweep: list[float], keep: bool = False
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"scale-{dist}-", dir=base))
    try:
        print(f"{dist}: filling {n:,} chunks into {work}", file=sys.stderr, flush=True)
        filled = fill(work / "newsbot.sqlite3", n, dist, n_queries)
        np.savez(work / "queries.npz", **filled.pop("queries"))
        print(f"  fill: {filled['seconds']} s", file=sys.stderr, flush=True)
        db = work / "newsbot.sqlite3"
        exact = run_worker("exact", db, work, sweep)
        exact.update(run_worker("exact-load", db, work, sweep))
        approx = run_worker("approx", db, work, sweep)
        approx.update(run_worker("approx-load", db, work, sweep))
    finally:
        if keep:
            print(f"  kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    raw = filled["chunks"] * DIM * 4
    # The target allows 1.3 × the raw vectors plus the model; these processes hold no model,
    # so their own peak is held to 1.3 × raw.
    target = 1.3 * raw + MODEL_BYTES
    for part in (exact, approx):
        peak = max(part["peak_rss_build"], part["peak_rss_load"])
        part["peak_rss_ratio"] = round(peak / raw, 3)
        part["peak_rss_over_imports_ratio"] = round((peak - part["rss_after_imports"]) / raw, 3)
        part["peak_rss_within_target"] = peak <= 1.3 * raw
    return {
        "distribution": dist,
        "fill": filled,
        "raw_vector_bytes": raw,
        "rss_target_bytes": int(target),
        "exact": exact,
        "approx": approx,
    }


def table(result: dict[str, Any]) -> str:
    gb = 1e9
    e, a = result["exact"], result["approx"]
    lines = [
        f"{result['distribution']}: {result['fill']['chunks']:,} chunks, fill "
        f"{result['fill']['seconds']} s, raw vectors {result['raw_vector_bytes'] / gb:.2f} GB",
        f"{'':24}{'exact (flat)':>16}{'approx (ivf)':>16}",
        f"{'build from SQLite s':24}{e['build_s']:>16}{a['build_s']:>16}",
        f"{'  of which SQLite read':24}{e['build_sqlite_read_s']:>16}"
        f"{a['build_sqlite_read_s']:>16}",
        f"{'save s / load s':24}{e['save_s']:>9} / {e['load_s']:<4}{a['save_s']:>9} / "
        f"{a['load_s']:<4}",
        f"{'peak RSS build GB':24}{e['peak_rss_build'] / gb:>16.2f}"
        f"{a['peak_rss_build'] / gb:>16.2f}",
        f"{'peak RSS load GB':24}{e['peak_rss_load'] / gb:>16.2f}{a['peak_rss_load'] / gb:>16.2f}",
        f"{'peak / raw vectors':24}{e['peak_rss_ratio']:>16}{a['peak_rss_ratio']:>16}",
        f"{'search p50/p95 ms near':24}{e['search']['p50_ms']:>8}/{e['search']['p95_ms']:<7}"
        f"{a['search']['near']['p50_ms']:>8}/{a['search']['near']['p95_ms']:<7}",
        f"{'  fresh':24}{'(same)':>16}"
        f"{a['search']['fresh']['p50_ms']:>8}/{a['search']['fresh']['p95_ms']:<7}",
        f"{'recall@10 near / fresh':24}{'1':>16}"
        f"{a['search']['near']['recall@10']:>8}/{a['search']['fresh']['recall@10']:<7}",
        f"{'filtered p95 ms, recall':24}{e['filtered_search']['p95_ms']:>16}"
        f"{a['filtered_search']['p95_ms']:>8}/{a['filtered_search']['recall@10']:<7}",
        f"ivf: nlist {a['nlist']}, nprobe {a['nprobe']}; sweep (nprobe: recall@10 near/fresh, "
        "p95 ms near):",
    ]
    lines += [
        f"  {r['nprobe']:>5}: {r['near']['recall@10']:.3f}/{r['fresh']['recall@10']:.3f}"
        f"  {r['near']['p95_ms']:.1f}"
        for r in a["sweep"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="chunks in the collection")
    ap.add_argument("--dist", default="news,uniform", help="news, uniform or both (default)")
    ap.add_argument("--queries", type=int, default=200, help="queries in each set (≥ 200)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    ap.add_argument("--workdir", type=Path, default=None, help="where the temp folder goes")
    ap.add_argument(
        "--sweep", default="0.03125,0.0625,0.125,0.25,0.375,0.5,1", help="nprobe shares"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (database, indexes)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sweep = [float(x) for x in args.sweep.split(",") if x]
    if args.worker:
        out = worker(args.worker, args.db, args.workdir, sweep)
        print("RESULT " + json.dumps(out), flush=True)
        return 0

    base = args.workdir or Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    need = args.n * 6_000  # SQLite (vectors, texts, FTS) + both index files, with room
    free = shutil.disk_usage(base).free
    if free < need:
        raise SystemExit(f"{base} has {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
    from index.search.vectors import APPROX_THRESHOLD, NPROBE_FRACTION

    started = time.perf_counter()
    report: dict[str, Any] = {
        "n": args.n,
        "dim": DIM,
        "k": K,
        "queries_per_set": args.queries,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "approx_threshold": APPROX_THRESHOLD,
        "nprobe_fraction": NPROBE_FRACTION,
        "runs": [],
    }
    for dist in args.dist.split(","):
        result = run_one(args.n, dist, args.queries, base, sweep, args.keep)
        report["runs"].append(result)
        print(table(result), flush=True)
    report["loadavg_at_end"] = os.getloadavg()
    report["total_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    print(f"wrote {args.out} ({report['total_s']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
