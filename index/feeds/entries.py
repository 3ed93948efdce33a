"""One feed entry, from what ``feed_entries`` remembers of it to a stored article.

- every handled entry is remembered, added or already indexed, so it is not fetched again;
  an entry that failed is retried on the next polls, ``MAX_ENTRY_ATTEMPTS`` times in all;
- a remembered entry is ingested again when it changed: for an entry with full text when the
  text's hash differs, for an entry without when the feed's ``updated`` time differs (the page is
  not fetched just to compare). The service turns "same URL, new text" into an update;
- an entry carrying its full text is ingested from the feed when it links to the feed's own
  site, any other from its page, fetched through the same safe fetcher.

``feed_entries.content_hash`` holds ``<text hash>`` or ``<text hash>@<updated time>`` for a
handled entry, and ``failed:<attempts>`` (with no article) for one that failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..errors import InputError, NewsbotError
from ..ingest.dedup import content_hash
from ..ingest.fetch import FetchPolicy, FetchResult
from ..ingest.sources import Failed
from ..ingest.web import same_site, site_label
from ..models import Document
from ..store import Feed, FeedStateStore
from .entry import FeedEntry

if TYPE_CHECKING:
    from ..service import NewsService

log = logging.getLogger("newsbot.feeds")

MAX_ENTRY_ATTEMPTS = 3  # polls that try a failing entry before it is given up
_FAILED = "failed:"

Fetcher = Callable[..., Awaitable[FetchResult]]


@dataclass(frozen=True)
class Work:
    """An entry to handle this poll, with what was remembered of it."""

    entry: FeedEntry
    state: str  # "new", "changed", "retry"
    attempts: int = 0  # earlier failed attempts
    article_id: int | None = None  # what feed_entries points at now


def _stamp(text_hash: str, entry: FeedEntry) -> str:
    return f"{text_hash}@{entry.updated}" if entry.updated else text_hash


def entry_state(entry: FeedEntry, seen: tuple[int | None, str | None] | None) -> Work | None:
    """What to do with an entry given what ``feed_entries`` remembers of it (None: nothing)."""
    if seen is None:
        return Work(entry, "new")
    article_id, stamp = seen
    stamp = stamp or ""
    if stamp.startswith(_FAILED):
        try:
            attempts = int(stamp[len(_FAILED) :])
        except ValueError:
            attempts = MAX_ENTRY_ATTEMPTS
        if attempts >= MAX_ENTRY_ATTEMPTS:
            return None
        return Work(entry, "retry", attempts, article_id)
    text_hash, _, updated = stamp.partition("@")
    if entry.content is not None:
        changed = content_hash(entry.content) != text_hash
    else:
        changed = bool(entry.updated and updated and entry.updated != updated)
    return Work(entry, "changed", 0, article_id) if changed else None


def _label(entry: FeedEntry) -> str:
    return entry.url or entry.title or entry.guid


class EntryIngester:
    """Reads an entry (from the feed or its page), ingests it through the service's public
    methods, and remembers the outcome in the feed state store."""

    def __init__(
        self,
        service: NewsService,
        feeds: FeedStateStore,
        *,
        fetcher: Fetcher,
        policy: FetchPolicy,
        lock: asyncio.Lock | None,
    ) -> None:
        self.service = service
        self.feeds = feeds
        self.fetcher = fetcher
        self.policy = policy
        self.lock = lock  # e.g. the bot's single-writer lock, held around each ingest

    async def handle(
        self, feed: Feed, item: Work, source: str | None, feed_url: str
    ) -> tuple[str | None, str | None]:
        """Ingest one entry: ("new" | "updated" | "duplicates", None), or (None, why it failed).
        Entry-level refusals are returned, not raised; a service that cannot ingest at all
        (StoreError…) fails the whole poll."""
        entry = item.entry
        try:
            doc = await self._read(feed, entry, source, feed_url)
            counter, error = await self._ingest(feed, item, doc)
        except InputError as exc:
            counter, error = None, f"{_label(entry)}: {exc}"
            await asyncio.to_thread(self.mark_failed, feed.id, item)
        except NewsbotError:
            raise  # the store cannot be used: the whole poll fails and backs off
        except Exception:  # one hostile entry must not stop the feed's other entries
            log.exception("feed %s entry %s failed", feed.id, entry.guid)
            counter, error = None, f"{_label(entry)}: internal error"
            await asyncio.to_thread(self.mark_failed, feed.id, item)
        if counter is None:
            log.info("feed %s entry %s failed: %s", feed.id, entry.guid, error)
        return counter, error

    async def _read(
        self, feed: Feed, entry: FeedEntry, source: str | None, feed_url: str
    ) -> Document | Failed:
        """A feed speaks only for its own site: an entry's full text is used when its link is
        on the feed's site (or it has none); an entry linking elsewhere is read from that page,
        so a text is never stored under an address that did not serve it."""
        if entry.content is not None and (entry.url is None or same_site(entry.url, feed_url)):
            return _document(entry, source, feed, feed_url)
        if not entry.url:
            raise InputError("the entry has no link and no article text")
        result = await self.fetcher(entry.url, self.policy)
        # Extraction (CPU, possibly slow) in a worker thread before the writer is taken.
        return await asyncio.to_thread(self._page_document, entry, result, source, feed_url)

    async def _ingest(
        self, feed: Feed, item: Work, doc: Document | Failed
    ) -> tuple[str | None, str | None]:
        """Ingest an extracted entry and remember it, in a worker thread, under the writer lock
        when one was given. Returns what ``handle`` does."""
        if self.lock is None:
            return await asyncio.to_thread(self._ingest_sync, feed, item, doc)
        async with self.lock:
            return await asyncio.to_thread(self._ingest_sync, feed, item, doc)

    def _ingest_sync(
        self, feed: Feed, item: Work, doc: Document | Failed
    ) -> tuple[str | None, str | None]:
        entry = item.entry
        if isinstance(doc, Failed):
            self.mark_failed(feed.id, item)
            return None, doc.reason
        ingest = self.service.ingest(
            feed.collection, [doc], added_by=f"feed {feed.id}", feed_id=feed.id
        )
        if ingest.failed:
            self.mark_failed(feed.id, item)
            return None, ingest.failed[0].reason
        for counter, results in (
            ("updated", ingest.updated),
            ("new", ingest.added),
            ("duplicates", ingest.duplicates),
        ):
            if results:
                article_id = results[0].article_id
                self.feeds.mark_entry(
                    feed.id,
                    entry.guid,
                    article_id if article_id and article_id > 0 else None,
                    _stamp(content_hash(doc.text), entry),
                )
                return counter, None
        self.mark_failed(feed.id, item)
        return None, f"{entry.url or entry.guid}: nothing was stored"

    def mark_failed(self, feed_id: int, item: Work) -> None:
        """Remember a failure; a changed entry keeps pointing at its earlier article."""
        attempts = item.attempts + 1
        self.feeds.mark_entry(feed_id, item.entry.guid, item.article_id, f"{_FAILED}{attempts}")

    def _page_document(
        self, entry: FeedEntry, fetched: FetchResult, source: str | None, feed_url: str
    ) -> Document | Failed:
        doc = self.service.document_from_fetched(fetched)
        if isinstance(doc, Failed):
            return doc
        title = doc.title
        if entry.title and (not title or title in (fetched.url, fetched.requested_url)):
            title = entry.title
        page_source = doc.source
        if source and page_source == site_label(fetched.url) and same_site(fetched.url, feed_url):
            # The page could not name itself, but it is on the site of the feed an admin chose
            # to follow: that feed's name is the site's.
            page_source = source
        return replace(
            doc,
            title=title,
            source=page_source or source,
            published_at=doc.published_at or entry.published_at,
            author=doc.author or entry.author,
        )


def _document(entry: FeedEntry, source: str | None, feed: Feed, feed_url: str) -> Document:
    """An entry's own full text; the feed (as fetched) is where it came from."""
    assert entry.content is not None
    return Document(
        text=entry.content,
        title=entry.title,
        source=source,
        published_at=entry.published_at,
        url=entry.url,
        author=entry.author,
        origin=entry.url or f"{feed.url} entry {entry.guid}"[:300],
        fetched_url=feed_url,
    )
