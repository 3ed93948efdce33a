"""Speed, measured side by side: question latency against its floor, rebuild against
re-embedding. (Ingest and the runtimes: ``bench/runtime.py``; load: ``bench/load.py``.)"""

from __future__ import annotations

import time
from datetime import date

import numpy as np

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
