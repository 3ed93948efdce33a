"""Polling feeds politely, one after another, with their state kept in the store so it survives
restarts:

- conditional requests with the stored ETag / Last-Modified; a 304 parses nothing;
- on success the feed is next polled after its interval; on an error after
  ``min(max_backoff, interval * 2**failures)``;
- new or changed entries, newest first, at most ``max_entries`` a poll; the rest wait for a poll
  soon after (the ETag is then not stored, so that poll gets them). ``entries`` handles each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import NewsbotError, NotFoundError
from ..ingest.fetch import FetchResult, fetch
from ..ingest.web import policy_for
from ..store import Feed, FeedStateStore
from .entries import MAX_ENTRY_ATTEMPTS, EntryIngester, Fetcher, Work, entry_state
from .entry import FeedEntry
from .parse import parse_feed

if TYPE_CHECKING:
    from ..service import NewsService

log = logging.getLogger("newsbot.feeds")


@dataclass
class PollReport:
    feed_id: int
    url: str
    status: str  # "ok", "not modified", "error: <message>", "paused"
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    failed: int = 0
    next_poll_at: float = 0.0
    errors: list[str] = field(default_factory=list)  # one user-safe line per failed entry
    waiting: int = 0  # changed or new entries left for the next poll (over max_entries)
    collection: str = ""  # the feed's collection
    failures: int = 0  # failed polls in a row, this one included
    paused: bool = False  # this poll's failure made the bot pause the feed
    told: str | None = None  # the notice its trouble had been told before this poll

    def notice(self, notice_after: int) -> str | None:
        """What this poll calls for telling admins, unless already told: "paused" (the bot
        paused the feed), "failing" (``notice_after`` failed polls in a row), "recovered" (a
        feed whose trouble was told works again), or None."""
        if self.paused:
            return None if self.told == "paused" else "paused"
        if self.status.startswith("error"):
            failing = notice_after > 0 and self.failures >= notice_after
            return "failing" if failing and self.told is None else None
        if self.status in ("ok", "not modified") and self.told is not None:
            return "recovered"
        return None

    def summary(self) -> str:
        """A short line for ``feeds.last_status`` and logs."""
        if self.status != "ok":
            return self.status
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.new, "new"),
                (self.updated, "updated"),
                (self.duplicates, "already indexed"),
                (self.failed, "failed"),
                (self.waiting, "waiting"),
            )
            if n
        ]
        return "ok" + (f": {', '.join(parts)}" if parts else "")

    def count(self, counter: str | None, error: str | None) -> None:
        """One entry's outcome, as ``EntryIngester.handle`` gives it."""
        if counter is None:
            self.failed += 1
            self.errors.append((error or "failed")[:300])
        else:
            setattr(self, counter, getattr(self, counter) + 1)


class FeedPoller:
    """Polls due feeds one after another and ingests their new entries into the feed's
    collection. Network waits happen on the event loop; everything else in worker threads.

    Feed state is read and written only through ``feeds`` (the service's store part unless
    another is given); articles go in only through the service's public methods.
    """

    def __init__(
        self,
        service: NewsService,
        *,
        feeds: FeedStateStore | None = None,
        clock: Callable[[], float] = time.time,
        fetcher: Fetcher = fetch,
        max_entries: int = 20,
        min_interval: int = 300,
        max_backoff: int = 6 * 3600,
        lock: asyncio.Lock | None = None,
        owned: Callable[[], Sequence[int] | None] | None = None,
        pause_after: int | None = None,
        on_report: Callable[[PollReport], Awaitable[None]] | None = None,
    ) -> None:
        self.feeds: FeedStateStore = feeds if feeds is not None else service.store.feeds
        # Failed polls in a row after which the feed is paused (0: never).
        self.pause_after = max(
            0, service.settings.feed_pause_after if pause_after is None else pause_after
        )
        # Told of every poll's outcome (the bot: metrics and notices to admins).
        self.on_report = on_report
        self._wake: asyncio.Event | None = None
        # The collections whose feeds this process polls (a bot serving some shards), or all.
        self.owned = owned or (lambda: None)
        self.clock = clock
        self.fetcher = fetcher
        self.max_entries = max(1, max_entries)
        self.min_interval = max(1, min_interval)
        self.max_backoff = max(self.min_interval, max_backoff)
        self.entries = EntryIngester(
            service, self.feeds, fetcher=fetcher, policy=policy_for(service.settings), lock=lock
        )

    # -- one feed ----------------------------------------------------------------------------
    def _interval(self, feed: Feed) -> int:
        return max(self.min_interval, int(feed.interval_seconds or 0))

    async def poll_feed(self, feed: Feed) -> PollReport:
        """Poll one feed now (if it is not paused) and ingest what is new or changed."""
        try:
            feed = await asyncio.to_thread(self.feeds.get, feed.id)  # fresh state
        except NotFoundError as exc:
            return PollReport(feed.id, feed.url, f"error: {exc}", next_poll_at=feed.next_poll_at)
        if feed.paused:
            return PollReport(feed.id, feed.url, "paused", next_poll_at=feed.next_poll_at)
        now = self.clock()
        try:
            report = await self._poll(feed, now)
        except NewsbotError as exc:  # fetch refusals, not a feed, a store that cannot be used
            report = await self._failed(feed, now, str(exc))
        except Exception:
            log.exception("polling feed %s (%s) failed", feed.id, feed.url)
            report = await self._failed(feed, now, "internal error (see the log)")
        report.collection, report.told = feed.collection, feed.notice
        if self.on_report is not None:
            try:
                await self.on_report(report)
            except Exception:  # telling about a poll never fails the poll
                log.exception("reporting the poll of feed %s failed", feed.id)
        return report

    async def _poll(self, feed: Feed, now: float) -> PollReport:
        result = await self.fetcher(
            feed.url, self.entries.policy, etag=feed.etag, last_modified=feed.last_modified
        )
        if result.not_modified:
            return await self._not_modified(feed, now, result)
        title, entries = await asyncio.to_thread(
            parse_feed, result.body, url=result.url, headers=result.headers
        )
        work, waiting = await asyncio.to_thread(self._plan, feed.id, entries)
        report = PollReport(feed.id, feed.url, "ok", waiting=waiting)
        source = title or feed.title or _site(feed.url)
        retry_later = False
        for item in work:
            counter, error = await self.entries.handle(feed, item, source, result.url)
            report.count(counter, error)
            retry_later |= counter is None and item.attempts + 1 < MAX_ENTRY_ATTEMPTS

        fields: dict[str, object] = {
            "failures": 0,
            "last_polled_at": now,
            "last_success_at": now,
            "last_status": report.summary()[:300],
            "notice": None,
        }
        if report.new:
            fields["articles_added"] = feed.articles_added + report.new
        if title and title != feed.title:
            fields["title"] = title
        if waiting or retry_later:
            # Entries left over or to retry: the next poll must get the whole feed, not a 304.
            fields.update(etag=None, last_modified=None)
        else:
            fields.update(etag=result.etag, last_modified=result.last_modified)
        report.next_poll_at = now + (self.min_interval if waiting else self._interval(feed))
        fields["next_poll_at"] = report.next_poll_at
        await asyncio.to_thread(self.feeds.update, feed.id, **fields)
        log.info("feed %s (%s): %s", feed.id, feed.url, report.summary())
        return report

    async def _not_modified(self, feed: Feed, now: float, result: FetchResult) -> PollReport:
        report = PollReport(
            feed.id, feed.url, "not modified", next_poll_at=now + self._interval(feed)
        )
        await asyncio.to_thread(
            self.feeds.update,
            feed.id,
            etag=result.etag or feed.etag,
            last_modified=result.last_modified or feed.last_modified,
            failures=0,
            next_poll_at=report.next_poll_at,
            last_polled_at=now,
            last_success_at=now,
            last_status=report.status,
            notice=None,
        )
        return report

    async def _failed(self, feed: Feed, now: float, message: str) -> PollReport:
        failures = feed.failures + 1
        delay = min(self.max_backoff, self._interval(feed) * 2 ** min(failures, 30))
        report = PollReport(
            feed.id, feed.url, f"error: {message}", next_poll_at=now + delay, failures=failures
        )
        fields: dict[str, object] = {}
        if self.pause_after and failures >= self.pause_after:
            report.paused = True
            fields["paused"] = 1
            log.warning(
                "feed %s (%s): %s; paused after %d failed polls in a row",
                feed.id,
                feed.url,
                message,
                failures,
            )
        else:
            log.info("feed %s (%s): %s; next try in %d s", feed.id, feed.url, message, delay)
        await asyncio.to_thread(
            self.feeds.update,
            feed.id,
            failures=failures,
            next_poll_at=report.next_poll_at,
            last_polled_at=now,
            last_status=report.status[:300],
            last_error=message[:300],
            last_error_at=now,
            **fields,
        )
        return report

    def _plan(self, feed_id: int, entries: list[FeedEntry]) -> tuple[list[Work], int]:
        """The entries to handle this poll (newest first, at most max_entries) and how many
        more wait. Runs in a worker thread."""
        work: list[Work] = []
        waiting = 0
        for entry in entries:
            item = entry_state(entry, self.feeds.entry(feed_id, entry.guid))
            if item is None:
                continue
            if len(work) < self.max_entries:
                work.append(item)
            else:
                waiting += 1
        return work, waiting

    # -- all feeds ---------------------------------------------------------------------------
    async def poll_due(self) -> list[PollReport]:
        """Poll every unpaused feed whose time has come, one after another."""
        due = await asyncio.to_thread(self.feeds.due, self.clock(), 100_000, self.owned())
        reports = []
        for feed in due:
            try:
                reports.append(await self.poll_feed(feed))
            except Exception:  # poll_feed handles its own errors; this is the last guard
                log.exception("polling feed %s (%s) failed", feed.id, feed.url)
        return reports

    async def poll_now(self, feeds: Iterable[Feed]) -> list[PollReport]:
        """Make these feeds due now (paused ones stay paused), then poll every due feed."""
        for feed in feeds:
            if not feed.paused:
                await asyncio.to_thread(self.feeds.update, feed.id, next_poll_at=0)
        return await self.poll_due()

    async def run(self, stop: asyncio.Event, *, idle_max: float = 60.0) -> None:
        """Poll due feeds until ``stop`` is set, sleeping until the next feed is due (at most
        ``idle_max`` seconds at a time). Setting ``stop`` interrupts a poll in progress."""
        idle_max = max(0.001, idle_max)
        wake = self._wake = asyncio.Event()
        while not stop.is_set():
            await _until_stopped(stop, self.poll_due())
            if stop.is_set():
                break
            delay = idle_max
            try:
                due = await asyncio.to_thread(self.feeds.next_due)
            except Exception:
                log.exception("reading the feed schedule failed")
                due = None
            if due is not None:
                # At least a second between rounds, so a feed stuck "due" cannot spin the loop.
                delay = min(idle_max, max(1.0, due - self.clock()))
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            try:
                await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            wake.clear()

    def wake(self) -> None:
        """Look at the schedule now rather than at the end of the current wait (a feed just
        resumed is due at once)."""
        if self._wake is not None:
            self._wake.set()


async def _until_stopped(stop: asyncio.Event, work: Awaitable[object]) -> None:
    """Run ``work`` until it ends or ``stop`` is set, whichever comes first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, stopper):
            if not t.done():
                t.cancel()
        for t in (task, stopper):
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await t
                except Exception:
                    log.exception("a feed polling round failed")


def _site(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    return host.removeprefix("www.") or None
