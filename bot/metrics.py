"""What ``GET /metrics`` exports (Prometheus text): counters moved where things happen, the
gateway's state read when scraped.

One registry per bot (``NewsBot.metrics``), so two bots in one process (tests) never share a
count. Every series is labelled by shard only: never by server name or member, which would
leak who uses the bot to whoever reads the metrics and grow without bound.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from index.feeds import PollReport
from index.service import IngestReport

__all__ = ["CONTENT_TYPE", "Metrics", "shard_of"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# No ``*_created`` series beside every counter: a second line each that no dashboard reads.
disable_created_metrics()
# Seconds: a question is answered in tens of milliseconds idle, seconds during a bulk ingest.
ANSWER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def shard_of(guild_id: int | None, shard_count: int | None) -> str:
    """The shard a server's events come on, as Discord routes them (DMs: shard 0)."""
    if guild_id is None or not shard_count or shard_count <= 1:
        return "0"
    return str((int(guild_id) >> 22) % shard_count)


class Metrics:
    """The bot's counters, one registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.questions = Counter(
            "newsbot_questions",
            "Questions asked (/ask, follow-ups, Ask newsbot about this): answered with citations,"
            " or refused as nothing relevant.",
            ["shard", "outcome"],
            registry=r,
        )
        self.answer_seconds = Histogram(
            "newsbot_answer_seconds",
            "Time to answer a question (search, compose, keep the answer).",
            ["shard"],
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.ingested = Counter(
            "newsbot_ingested_articles",
            "Articles handed to ingestion, by how (member or feed) and what became of them.",
            ["shard", "via", "result"],
            registry=r,
        )
        self.feed_polls = Counter(
            "newsbot_feed_polls", "Feed polls made by this process.", ["shard"], registry=r
        )
        self.feed_poll_failures = Counter(
            "newsbot_feed_poll_failures",
            "Feed polls that failed (the feed is then backed off).",
            ["shard"],
            registry=r,
        )
        self.feed_notices = Counter(
            "newsbot_feed_notices",
            "Feed trouble notices posted in a /feeds notify channel.",
            ["shard"],
            registry=r,
        )
        self.watch_alerts = Counter(
            "newsbot_watch_alerts", "Watch alerts and summaries sent.", ["shard"], registry=r
        )
        self.digests = Counter("newsbot_digests", "Daily digests posted.", ["shard"], registry=r)
        self.rebuilds = Counter(
            "newsbot_rebuilds", "Index rebuilds finished (/rebuild-index).", ["shard"], registry=r
        )
        self.gateway_latency = Gauge(
            "newsbot_gateway_latency_seconds",
            "Time between the last heartbeat and Discord's acknowledgement.",
            ["shard"],
            registry=r,
        )
        self.gateway_connected = Gauge(
            "newsbot_gateway_connected",
            "1 while the shard's gateway connection is open.",
            ["shard"],
            registry=r,
        )

    # -- where things happen -------------------------------------------------------------------
    def question(self, shard: str, *, answered: bool, seconds: float) -> None:
        self.questions.labels(shard, "answered" if answered else "refused").inc()
        self.answer_seconds.labels(shard).observe(seconds)

    def ingest(self, shard: str, via: str, report: IngestReport) -> None:
        for result, n in (
            ("added", len(report.added)),
            ("updated", len(report.updated)),
            ("duplicate", len(report.duplicates)),
            ("failed", len(report.failed)),
        ):
            if n:
                self.ingested.labels(shard, via, result).inc(n)

    def feed_poll(self, shard: str, report: PollReport) -> None:
        """One poll's outcome: the poll, its failure, and the entries it ingested."""
        if report.status == "paused":
            return  # not polled
        self.feed_polls.labels(shard).inc()
        if report.status.startswith("error"):
            self.feed_poll_failures.labels(shard).inc()
        for result, n in (
            ("added", report.new),
            ("updated", report.updated),
            ("duplicate", report.duplicates),
            ("failed", report.failed),
        ):
            if n:
                self.ingested.labels(shard, "feed", result).inc(n)

    # -- read when scraped -----------------------------------------------------------------------
    def gateway(self, shards: Iterable[tuple[int, bool, float | None]]) -> None:
        """(shard, connected, latency in seconds or None) of each shard served."""
        for shard, connected, latency in shards:
            self.gateway_connected.labels(str(shard)).set(1 if connected else 0)
            if latency is not None:
                self.gateway_latency.labels(str(shard)).set(latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)
