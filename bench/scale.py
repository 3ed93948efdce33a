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

The vectors and texts are made by ``bench/scale_data.py`` (distributions described there).
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

from bench.scale_data import COLLECTION, DIM, MODEL, fill

K = 50  # candidates retrieval asks FAISS for
MODEL_BYTES = 100_000_000  # all-MiniLM-L6-v2 weights, the allowance the RSS target adds
WORKER_TIMEOUT = 3_600
REPO = Path(__file__).resolve().parents[1]


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

    from index.search.vectors import KIND_FLAT, KIND_IVF, VectorIndex
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
        index = _build(store, cid, role, kind, result)
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
    if role == "approx-load":
        _sweep(index, queries, allowed, dict(np.load(work / "truth.npz")), sweep, result)
    return result


def _build(store: Any, cid: int, role: str, kind: str, result: dict[str, Any]) -> Any:
    """The index newsbot would build from the store, timed (and SQLite's share of it)."""
    from index.search.vectors import APPROX_THRESHOLD, KIND_FLAT, VectorIndex

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
    return index


def _sweep(
    index: Any,
    queries: dict[str, np.ndarray],
    allowed: np.ndarray,
    truth: dict[str, np.ndarray],
    sweep: list[float],
    result: dict[str, Any],
) -> None:
    """Latency and recall of the loaded approximate index at each nprobe share, then filtered."""
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
