"""Speed, measured side by side: ingest against raw encode of the same texts, question latency
against its floor (idle and while an ingest runs), rebuild against re-embedding."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np

from index.ingest.sources import document_from_record
from index.search.retrieve import Filters
from index.service import NewsService


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def ms(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "n": len(values),
    }


def ingest_throughput(service: NewsService, articles: list[dict], slices: int = 4) -> dict:
    """End-to-end ingest against raw ``encode`` of exactly the texts it embedded.

    The two alternate slice by slice (ingest a quarter, encode its chunks, next quarter…) so
    that both see the same machine: a neighbour's load lands on both sides of the ratio.
    """
    docs = [document_from_record(a, f"corpus:{i}") for i, a in enumerate(articles)]
    cid = None
    ingest_seconds = raw_seconds = 0.0
    chunks = added = duplicates = encoded = 0
    last_id = 0
    step = -(-len(docs) // slices)
    for start in range(0, len(docs), step):
        report = service.ingest("default", docs[start : start + step])
        ingest_seconds += report.seconds
        chunks += report.chunks
        added += len(report.added)
        duplicates += len(report.duplicates)
        cid = cid or service.store.collections.id_of("default")
        texts = []
        for rows in service.store.chunks.iter_texts(cid):
            fresh = [r for r in rows if r.id > last_id]
            texts += service.indexes.embedded_texts(fresh)  # what the ingest embedded
            last_id = max([last_id, *(r.id for r in fresh)])
        started = time.perf_counter()
        for i in range(0, len(texts), 256):
            service.embedder.embed(texts[i : i + 256])
        raw_seconds += time.perf_counter() - started
        encoded += len(texts)
    newsbot_rate = chunks / ingest_seconds
    raw_rate = encoded / raw_seconds
    return {
        "articles": added,
        "duplicates": duplicates,
        "chunks": chunks,
        "ingest_seconds": round(ingest_seconds, 1),
        "ingest_chunks_per_s": round(newsbot_rate, 2),
        "raw_encode_seconds": round(raw_seconds, 1),
        "raw_encode_chunks_per_s": round(raw_rate, 2),
        "ratio": round(newsbot_rate / raw_rate, 3),
        "slices": slices,
    }


def latency(service: NewsService, queries: list[dict], repeats: int = 1) -> dict:
    """Questions asked as members ask them: today, no date given."""
    questions = [q["question"] for q in queries]
    now = Filters(as_of=date.today().isoformat())
    index = service.vector_index("default")
    for q in questions[:20]:  # warm caches, the model and SQLite pages
        service.ask("default", q, filters=now)
    ask, search, floor = [], [], []
    for _ in range(repeats):
        for q in questions:
            t = time.perf_counter()
            vec = service.retriever.queries.embed_one(q)  # the question's own lane, as in search
            index.search(vec, 50)
            floor.append(time.perf_counter() - t)
            t = time.perf_counter()
            service.search("default", q, filters=now)
            search.append(time.perf_counter() - t)
            t = time.perf_counter()
            service.ask("default", q, filters=now)
            ask.append(time.perf_counter() - t)
    out = {"ask": ms(ask), "search": ms(search), "floor": ms(floor)}
    out["ask_p95_over_floor_p95"] = round(percentile(ask, 95) / percentile(floor, 95), 3)
    out["_samples"] = {"ask": ask, "search": search, "floor": floor}
    return out


def ask_under_load(
    service: NewsService,
    queries: list[dict],
    extra: list[dict],
    idle_p95: float,
    askers: int = 8,
    seconds: float = 60.0,
) -> dict:
    """8 threads asking while another thread ingests new articles: p95 and errors."""
    done = threading.Event()
    ingest_info: dict = {}

    def ingest() -> None:
        docs = [document_from_record(a, f"extra:{i}") for i, a in enumerate(extra)]
        ingest_info["report"] = service.ingest("default", docs)
        done.set()

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def asker(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline and not (done.is_set() and i > offset + 20):
            q = queries[i % len(queries)]["question"]
            t = time.perf_counter()
            try:
                service.ask("default", q, filters=Filters(as_of=date.today().isoformat()))
            except Exception as exc:  # counted, not raised: the point is to see them
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            with lock:
                latencies.append(time.perf_counter() - t)
            i += askers

    writer = threading.Thread(target=ingest, daemon=True)
    writer.start()
    with ThreadPoolExecutor(askers) as pool:
        list(pool.map(asker, range(askers)))
    writer.join(timeout=max(1.0, deadline - time.monotonic() + 120))
    report = ingest_info.get("report")
    return {
        "askers": askers,
        "asks": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:3],
        **ms(latencies),
        "p95_over_idle_p95": round(percentile(latencies, 95) / idle_p95, 3) if idle_p95 else None,
        "ingested_chunks_meanwhile": report.chunks if report else None,
    }


def rebuild_ratio(service: NewsService, raw_encode_seconds: float) -> dict:
    started = time.perf_counter()
    counts = service.rebuild("default")
    seconds = time.perf_counter() - started
    return {
        "vectors": sum(counts.values()),
        "rebuild_seconds": round(seconds, 3),
        "reembed_seconds": round(raw_encode_seconds, 1),
        "speedup": round(raw_encode_seconds / seconds, 1),
    }
