"""Questions arriving as a server's members send them: open-loop Poisson arrivals at a fixed
rate, idle, during a bulk ingest and during a feed poll.

Each question's latency runs from the moment it was due to arrive, not from when a worker got
to it: when answers fall behind, the queue shows in the figures instead of slowing the askers
down (closed-loop askers, each asking again only once answered, hide exactly that).
"""

from __future__ import annotations

import asyncio
import html
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from index.models import Document
from index.search.retrieve import Filters

RATES = (2.0, 5.0, 10.0, 20.0, 40.0)
BREAK_P95_S = 1.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def arrivals(rate: float, seconds: float, seed: int) -> list[float]:
    """Poisson arrival times (seconds from the start) at ``rate`` a second."""
    rng = random.Random(seed)
    out, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= seconds:
            return out
        out.append(t)


def open_loop(
    ask: Callable[[str], object],
    questions: list[str],
    rate: float,
    seconds: float,
    *,
    seed: int = 1,
    workers: int = 64,
    grace: float = 60.0,
) -> dict:
    """Ask at Poisson arrivals for ``seconds``; p50/p95/p99 from each question's due time."""
    due = arrivals(rate, seconds, seed)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(question: str, due_at: float) -> None:
        try:
            ask(question)
        except Exception as exc:  # counted, not raised: the point is to see them
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            latencies.append(time.monotonic() - due_at)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="bench-asker")
    start = time.monotonic()
    futures = []
    for i, at in enumerate(due):
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        futures.append(pool.submit(one, questions[i % len(questions)], start + at))
    deadline = time.monotonic() + grace
    unfinished = 0
    for f in futures:
        try:
            f.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            unfinished += 1
    pool.shutdown(wait=False, cancel_futures=True)
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "asked": len(due),
        "answered": len(latencies),
        "errors": len(errors) + unfinished,
        "error_examples": errors[:3]
        + (["not answered within the grace time"] if unfinished else []),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


def asker(service, collection: str) -> Callable[[str], object]:
    """How a member asks: today, no date given (``/ask``)."""
    today = date.today().isoformat()

    def ask(question: str) -> object:
        return service.ask(collection, question, filters=Filters(as_of=today))

    return ask


@contextmanager
def bulk_ingest(service, collection: str, docs: list[Document]) -> Iterator[dict]:
    """An ingest of ``docs`` running in the background until the block ends (then stopped
    after the article in hand); yields what it did so far."""
    stop = threading.Event()
    info: dict = {"chunks": 0, "finished_early": False}

    def feed() -> Iterator[Document]:
        for doc in docs:
            if stop.is_set():
                return
            yield doc
        info["finished_early"] = True

    def run() -> None:
        report = service.ingest(collection, feed())
        info["chunks"] = report.chunks
        info["added"] = len(report.added)

    thread = threading.Thread(target=run, name="bench-bulk-ingest", daemon=True)
    thread.start()
    time.sleep(2.0)  # past the first group: the model is busy when the questions start
    try:
        yield info
    finally:
        stop.set()
        thread.join(timeout=600)


class _Site(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        found = self.pages.get(self.path)
        if found is None:
            self.send_error(404)
            return
        kind, body = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def article_page(record: dict) -> bytes:
    title = html.escape(record.get("title") or "Untitled")
    paragraphs = "".join(
        f"<p>{html.escape(p)}</p>" for p in (record.get("body") or "").split("\n") if p.strip()
    )
    published = html.escape(record.get("published_at") or record.get("date") or "")
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        f'<meta property="article:published_time" content="{published}"></head>'
        f"<body><nav>Home › News</nav><article><h1>{title}</h1>{paragraphs}</article>"
        "<aside><h2>Related</h2><ul><li>Another story</li></ul></aside></body></html>"
    ).encode()


@contextmanager
def feed_site(records: list[dict]) -> Iterator[str]:
    """An RSS feed of ``records`` (each a linked article page) served on 127.0.0.1."""
    pages: ClassVar[dict[str, tuple[str, bytes]]] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Site", (_Site,), {"pages": pages}))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    items = []
    stamp = format_datetime(datetime(2023, 10, 1, tzinfo=UTC))
    for i, record in enumerate(records):
        path = f"/news/{i}.html"
        pages[path] = ("text/html; charset=utf-8", article_page(record))
        items.append(
            f"<item><title>{html.escape(record.get('title') or '')}</title>"
            f"<link>{base}{path}</link><guid>{base}{path}</guid>"
            f"<pubDate>{stamp}</pubDate></item>"
        )
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Bench news</title>'
        f"<link>{base}/</link>{''.join(items)}</channel></rss>"
    ).encode()
    pages["/feed.xml"] = ("application/rss+xml", rss)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{base}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def feed_poll(service, collection: str, url: str, poller_factory) -> Iterator[dict]:
    """A feed followed and polled in the background (fetch, extract, ingest every entry)."""
    info: dict = {}
    service.add_feed(collection, url)
    poller = poller_factory(service)

    def run() -> None:
        reports = asyncio.run(poller.poll_due())
        info["new"] = sum(r.new for r in reports)
        info["status"] = [r.status for r in reports]

    thread = threading.Thread(target=run, name="bench-feed-poll", daemon=True)
    thread.start()
    time.sleep(2.0)
    try:
        yield info
    finally:
        thread.join(timeout=900)
        info["finished"] = not thread.is_alive()


def sweep(
    service,
    collection: str,
    questions: list[str],
    bulk_docs: list[Document],
    feed_records: list[dict],
    poller_factory,
    *,
    seconds: float = 20.0,
    idle_rates: tuple[float, ...] = (2.0, 5.0, 10.0),
    rates: tuple[float, ...] = RATES,
) -> dict:
    """Idle at each rate; during one bulk ingest at rising rates until p95 passes 1 s; during a
    feed poll at 5 a second. Ratios against idle at the same rate, from the same run."""
    ask = asker(service, collection)
    for q in questions[:20]:  # warm: the model, SQLite pages, the index
        ask(q)
    out: dict = {"seconds_per_rate": seconds, "idle": [], "during_ingest": [], "breaks_at": None}
    for i, rate in enumerate(idle_rates):
        out["idle"].append(open_loop(ask, questions, rate, seconds, seed=10 + i))
    idle_p95 = {r["rate_per_s"]: r["p95_ms"] for r in out["idle"]}
    with bulk_ingest(service, collection, bulk_docs) as info:
        for i, rate in enumerate(rates):
            run = open_loop(ask, questions, rate, seconds, seed=20 + i)
            if idle_p95.get(rate):
                run["p95_over_idle_p95"] = round(run["p95_ms"] / idle_p95[rate], 2)
            run["ingest_still_running"] = not info["finished_early"]
            out["during_ingest"].append(run)
            if run["p95_ms"] > BREAK_P95_S * 1000:
                out["breaks_at"] = rate
                break
    out["bulk_ingest"] = dict(info)
    with feed_site(feed_records) as url, feed_poll(service, collection, url, poller_factory) as fi:
        run = open_loop(ask, questions, 5.0, seconds, seed=30)
        run["poll_still_running"] = "new" not in fi
        if idle_p95.get(5.0):
            run["p95_over_idle_p95"] = round(run["p95_ms"] / idle_p95[5.0], 2)
        out["during_feed_poll"] = run
    out["feed_poll"] = dict(fi)
    return out
