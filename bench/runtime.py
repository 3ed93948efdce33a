"""The embedding runtimes side by side: ingest end to end on the configured one against raw
``embed`` of exactly the same chunk texts on ONNX Runtime and on PyTorch, and a question's
embedding on each, interleaved so a neighbour's load lands on every side of the ratios.

  python -m bench.runtime [--articles 150] [--slices 4] [--retrieval-from DATA_DIR] [--out FILE]

The raw encodes run on the ingest's own lane (the same threads, the same lowered priority), so
a neighbour on the same cores slows each side alike. The PyTorch vectors computed for the ratio
are kept: written into a copy of the store, they give the PyTorch run's retrieval figures
without a second ingest (``make bench``); ``--retrieval-from`` does the same for a data folder
of corpus-small the runtime stored.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import numpy as np

from index.models import Document
from index.search.embed import BackgroundLane, Embedder
from index.service import NewsService
from index.settings import CoreSettings


def _new_chunks(service: NewsService, collection: str, after: int) -> tuple[list[int], list[str]]:
    """Chunks stored since ``after`` (ids grow), as the model read them."""
    ids, texts = [], []
    cid = service.store.collections.id_of(collection)
    for rows in service.store.chunks.iter_texts(cid):
        fresh = [r for r in rows if r.id > after]
        ids += [r.id for r in fresh]
        texts += service.pipeline.embedded_texts(fresh)  # what the ingest embedded
    return ids, texts


def _encode(lane: BackgroundLane, embedder: Embedder, texts: list[str]) -> tuple[np.ndarray, float]:
    """Raw ``embed`` in the groups ingest sends (256), on the ingest's own lane: all cores and
    the same priority as the ingest's model (the lane is niced), so a neighbour's load costs
    every side alike. On an idle machine the lane changes nothing."""
    out = []
    started = time.perf_counter()
    for i in range(0, len(texts), 256):
        out.append(lane.embed(embedder, texts[i : i + 256]))
    seconds = time.perf_counter() - started
    return (np.vstack(out) if out else np.zeros((0, embedder.dim), np.float32)), seconds


def ingest_side_by_side(
    service: NewsService, docs: list[Document], torch_model: Embedder, slices: int = 4
) -> tuple[dict, dict[int, np.ndarray]]:
    """Slice by slice: ingest (the service's runtime), then raw encode of the slice's chunks on
    that runtime and on PyTorch, those two in turn first. Returns the figures (totals, and the
    median of the slices' ratios: a neighbour's load shifts less of it) and the PyTorch vectors
    by chunk id."""
    runtime = service.embedder
    seconds = {"ingest": 0.0, "raw": 0.0, "torch": 0.0}
    chunks = added = duplicates = encoded = 0
    last_id = 0
    torch_vectors: dict[int, np.ndarray] = {}
    per_slice: list[dict[str, float]] = []
    loads = [os.getloadavg()[0]]
    step = -(-len(docs) // slices)
    for k, start in enumerate(range(0, len(docs), step)):
        report = service.ingest("default", docs[start : start + step])
        seconds["ingest"] += report.seconds
        chunks += report.chunks
        added += len(report.added)
        duplicates += len(report.duplicates)
        ids, texts = _new_chunks(service, "default", last_id)
        last_id = max(ids, default=last_id)
        took = {"ingest": report.seconds}
        for side in ("raw", "torch") if k % 2 == 0 else ("torch", "raw"):
            vectors, took[side] = _encode(
                service.bulk, runtime if side == "raw" else torch_model, texts
            )
            seconds[side] += took[side]
            if side == "torch":
                torch_vectors.update(zip(ids, vectors, strict=True))
        encoded += len(texts)
        per_slice.append(
            {
                "chunks": len(texts),
                "ingest_over_torch_raw": round(took["torch"] / took["ingest"], 3),
                "raw_over_torch_raw": round(took["torch"] / took["raw"], 3),
            }
        )
        loads.append(os.getloadavg()[0])
    ingest_rate = chunks / seconds["ingest"]
    raw_rate = encoded / seconds["raw"]
    torch_rate = encoded / seconds["torch"]
    return {
        "runtime": getattr(runtime, "runtime", "?"),
        "articles": added,
        "duplicates": duplicates,
        "chunks": chunks,
        "ingest_seconds": round(seconds["ingest"], 1),
        "ingest_chunks_per_s": round(ingest_rate, 2),
        "raw_encode_seconds": round(seconds["raw"], 1),
        "raw_encode_chunks_per_s": round(raw_rate, 2),
        "torch_encode_seconds": round(seconds["torch"], 1),
        "torch_encode_chunks_per_s": round(torch_rate, 2),
        "ratio": round(ingest_rate / raw_rate, 3),
        "ingest_over_torch_raw": round(ingest_rate / torch_rate, 3),
        "raw_over_torch_raw": round(raw_rate / torch_rate, 3),
        "median_slice_ingest_over_torch_raw": _median(per_slice, "ingest_over_torch_raw"),
        "median_slice_raw_over_torch_raw": _median(per_slice, "raw_over_torch_raw"),
        "slices": per_slice,
        "load_average": [round(x, 2) for x in loads],  # 1-minute, before and after each slice
    }, torch_vectors


def _median(rows: list[dict[str, float]], key: str) -> float:
    return round(float(np.median([r[key] for r in rows])), 3) if rows else 0.0


def torch_copy(
    service: NewsService, vectors: dict[int, np.ndarray], data_dir: Path, torch_model: Embedder
) -> NewsService:
    """The same store with every chunk's PyTorch vector: the PyTorch run, without re-ingesting."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    name = "newsbot.sqlite3"
    source = service.settings.data_dir / name
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(data_dir / name)) as dst:
        src.backup(dst)
    copy = NewsService(CoreSettings(data_dir=data_dir), torch_model)
    ids = sorted(vectors)
    cid = copy.store.collections.id_of("default")
    copy.store.chunks.replace_vectors(cid, ids, np.vstack([vectors[i] for i in ids]))
    return copy


def retrieval_side_by_side(
    source: Path, work: Path, runtime: Embedder, torch_model: Embedder, eval_dir: Path
) -> dict:
    """Retrieval figures of a store the runtime embedded (``source``: corpus-small, say)
    against the same chunks embedded by PyTorch now, each store asked through its own runtime
    (dated and undated). A copy of each; ``source`` is only read."""
    from bench.quality import asked, load_scorer, read_jsonl

    copies = {}
    for name, model in (("runtime", runtime), ("torch", torch_model)):
        data = work / name
        data.mkdir(parents=True)
        with (
            closing(sqlite3.connect(f"file:{source / 'newsbot.sqlite3'}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(data / "newsbot.sqlite3")) as dst,
        ):
            src.backup(dst)
        copies[name] = NewsService(CoreSettings(data_dir=data), model)
    service = copies["runtime"]
    cid = service.store.collections.id_of("default")
    ids, texts = _new_chunks(service, "default", 0)
    vectors, seconds = _encode(service.bulk, torch_model, texts)
    copies["torch"].store.chunks.replace_vectors(cid, ids, vectors)
    scorer = load_scorer(eval_dir)
    queries = read_jsonl(eval_dir / "realtimeqa-2023q4" / "queries.jsonl")
    out: dict = {
        "chunks": len(texts),
        "torch_encode_chunks_per_s": round(len(texts) / seconds, 2),
    }
    for mode in ("dated", "undated"):
        figures = {}
        for name, svc in copies.items():
            run = {}
            for q in queries:
                question, filters = asked(q, mode, q.get("as_of") or "")
                hits = svc.search("default", question, top_k=10, filters=filters)
                run[q["id"]] = [{"text": h.text} for h in hits]
            figures[name] = {k: round(v, 4) for k, v in scorer.score(queries, run).items()}
        out[mode] = {
            **figures,
            "largest_difference": round(
                max(
                    abs(figures["runtime"][k] - figures["torch"][k])
                    for k in figures["torch"]
                    if isinstance(figures["torch"][k], float)
                ),
                4,
            ),
        }
    for svc in copies.values():
        svc.close()
    return out


def query_side_by_side(runtime: Embedder, torch_model: Embedder, questions: list[str]) -> dict:
    """One question at a time on one thread (the question lane), alternating runtimes."""
    for e in (runtime, torch_model):
        use = getattr(e, "use_threads", None)
        if use:
            use(1)
        e.embed(questions[:5])
    took: dict[str, list[float]] = {"runtime": [], "torch": []}
    for q in questions:
        for key, e in (("runtime", runtime), ("torch", torch_model)):
            started = time.perf_counter()
            e.embed([q])
            took[key].append(time.perf_counter() - started)
    p50 = {k: float(np.median(v)) * 1000 for k, v in took.items()}
    return {
        "questions": len(questions),
        "runtime_p50_ms": round(p50["runtime"], 2),
        "torch_p50_ms": round(p50["torch"], 2),
        "ratio": round(p50["runtime"] / p50["torch"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.runtime``: ingest of held-out articles (the model warm) against raw
    encode of the same chunk texts on its runtime and on PyTorch, slice by slice."""
    import argparse
    import json
    import sys
    import tempfile

    from bench.collections import held_out
    from bench.quality import EVAL
    from index.ingest.sources import document_from_record
    from index.search.cpu import cpu_line
    from index.search.embed import make_embedder, model_cache_dir

    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=150)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "runtime.json")
    ap.add_argument(
        "--retrieval-from",
        type=Path,
        help="a data folder of corpus-small stored by the runtime: its retrieval figures against"
        " the same chunks embedded by PyTorch (copies; the folder is only read)",
    )
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        cache = model_cache_dir("", Path(tmp))
        runtime = make_embedder(a.backend, cache_dir=cache)
        torch_model = make_embedder("torch", cache_dir=cache)
        service = NewsService(CoreSettings(data_dir=Path(tmp) / "data"), runtime)
        service.bulk.embed(runtime, ["warm up"] * 4)  # exported, chosen, the lane warm
        _encode(service.bulk, torch_model, ["warm up"] * 4)
        docs = [
            document_from_record(x, f"held-out:{i}")
            for i, x in enumerate(held_out(a.eval_dir, a.articles))
        ]
        figures, _ = ingest_side_by_side(service, docs, torch_model, a.slices)
        service.close()
        if a.retrieval_from:
            figures["retrieval"] = retrieval_side_by_side(
                a.retrieval_from, Path(tmp) / "retrieval", runtime, torch_model, a.eval_dir
            )
    result = {
        "cpu": cpu_line(),
        "command": "python -m bench.runtime " + " ".join(argv or sys.argv[1:]),
        **figures,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
