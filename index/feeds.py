"""Following RSS/Atom (and JSON) feeds: parse them safely, poll them politely, ingest new entries.

Parsing never lets feedparser near the network or the file system: the body comes from the safe
fetcher and is handed over as a stream (a ``bytes`` argument is first tried as a *file name*),
with the real response headers and the final URL as ``Content-Location`` so relative links
resolve. Entry HTML becomes plain text here; nothing it references (images, iframes) is fetched.

The poller keeps its state in SQLite (``feeds`` and ``feed_entries``), so it survives restarts:

- conditional requests with the stored ETag / Last-Modified; a 304 parses nothing;
- on success the feed is next polled after its interval; on an error after
  ``min(max_backoff, interval * 2**failures)``;
- new entries (guid not yet in ``feed_entries``), newest first, at most ``max_entries`` a poll;
  the rest wait for a poll soon after (the ETag is then not stored, so that poll gets them);
- an entry carrying its full text (≥ ``FULL_TEXT_WORDS`` words) is ingested from the feed,
  any other is ingested from its page, fetched through the same safe fetcher;
- every handled entry is remembered, added or already indexed, so it is not fetched again;
  an entry that failed is retried on the next polls, ``MAX_ENTRY_ATTEMPTS`` times in all;
- a remembered entry is ingested again when it changed: for an entry with full text when the
  text's hash differs, for an entry without when the feed's ``updated`` time differs (the page is
  not fetched just to compare). The service turns "same URL, new text" into an update.

``feed_entries.content_hash`` holds ``<text hash>`` or ``<text hash>@<updated time>`` for a
handled entry, and ``failed:<attempts>`` (with no article) for one that failed.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import email.utils
import hashlib
import io
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import InputError, NewsbotError, NotAnArticleError, NotFoundError
from .ingest.dedup import content_hash
from .ingest.fetch import FetchResult, fetch
from .ingest.sources import TOO_DEEP, Failed, TooDeepError, load_json_pruned
from .ingest.web import same_site, site_label
from .models import Document
from .store import Feed

log = logging.getLogger("newsbot.feeds")

FULL_TEXT_WORDS = 120  # an entry's content this long is the article, not a teaser
MAX_ENTRY_ATTEMPTS = 3  # polls that try a failing entry before it is given up
_FAILED = "failed:"
_MAX_GUID = 500

Fetcher = Callable[..., Awaitable[FetchResult]]


class NotAFeedError(NotAnArticleError):
    """The body is not an RSS, Atom or JSON feed."""


@dataclass(frozen=True)
class FeedEntry:
    guid: str  # id/guid, else link, else a hash of title + published
    url: str | None  # the entry's link, absolute (resolved against the feed URL), http(s) only
    title: str | None
    published_at: str | None  # YYYY-MM-DD, the date the publisher states
    content: str | None  # the whole article as plain paragraphs ("\n\n") when the feed has it
    summary: str | None  # plain text
    author: str | None
    updated: str | None = None  # the entry's updated (else published) time, ISO UTC


# -- HTML → text -----------------------------------------------------------------------------

_DROP_NAMES = (
    "script style noscript template iframe frame frameset object embed applet svg math form "
    "button select textarea input video audio canvas head title meta link base"
)
_BLOCK_NAMES = (
    "p div section article header footer main aside nav address blockquote pre h1 h2 h3 h4 h5 "
    "h6 ul ol li dl dt dd table thead tbody tfoot tr caption figure figcaption hr br center "
    "details summary body html"
)
_DROP_TAGS = frozenset(_DROP_NAMES.split())
_BLOCK_TAGS = frozenset(_BLOCK_NAMES.split())
_CELL_TAGS = frozenset(("td", "th"))
_WS = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\ufeff]+")
_TAG = re.compile(r"<[^>]*>")
# Lines feed generators append to the article: "The post X appeared first on Y.", "Read more".
_TRAILER = re.compile(
    r"^(?:the post\b.{0,300}\bappeared first on\b.*|(?:continue reading|read more|read the full "
    r"(?:story|article))\b.{0,80}|\[?(?:…|\.\.\.)\]?)$",
    re.IGNORECASE,
)
# An entity defined by other entities ("billion laughs"); expat stops it, but only after
# expanding megabytes through feedparser's per-character callbacks. No real feed needs one.
_NESTED_ENTITY = re.compile(rb"<!ENTITY\s[^>]*?[\"'][^\"'>]*[&%][A-Za-z_:]", re.IGNORECASE)
_TRUNCATED_END = re.compile(r"(?:…|\.\.\.|\[…\]|\[\.\.\.\])\s*$")


def html_to_text(html: str) -> str:
    """HTML (a fragment or a page) → plain paragraphs separated by blank lines.

    Block elements and ``<br>`` end a paragraph, table cells are joined by spaces, scripts,
    styles, forms and embedded media are dropped, and nothing is fetched.
    """
    if not html or not html.strip():
        return ""
    html = html.replace("\x00", "")  # lxml refuses NUL; no text needs it
    if "<" not in html and "&" not in html:
        return _plain_paragraphs(html)
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.LxmlError, ValueError):
        return _plain_paragraphs(_TAG.sub(" ", html))
    paras: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        line = _WS.sub(" ", "".join(buf)).strip()
        buf.clear()
        if line:
            paras.append(line)

    stack: list[tuple[Any, bool]] = [(root, False)]  # (element, closing); no recursion
    while stack:
        el, closing = stack.pop()
        tag = el.tag.lower() if isinstance(el.tag, str) else None
        if not closing and tag is not None and tag not in _DROP_TAGS:
            if tag in _BLOCK_TAGS:
                flush()
            elif tag in _CELL_TAGS:
                buf.append(" ")
            if el.text:
                buf.append(el.text)
            stack.append((el, True))
            stack.extend((child, False) for child in reversed(el))
            continue
        if closing and tag in _BLOCK_TAGS:
            flush()
        elif closing and tag in _CELL_TAGS:
            buf.append(" ")
        if el.tail and el is not root:  # comments, dropped elements and closed ones alike
            buf.append(el.tail)
    flush()
    while paras and _TRAILER.match(paras[-1]):
        paras.pop()
    return "\n\n".join(paras)


def _plain_paragraphs(text: str) -> str:
    text = text.replace("\x00", "")
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n\n".join(p for p in (_WS.sub(" ", b).strip() for b in blocks) if p)


def _detail_text(value: Any, kind: str | None) -> str:
    """A feedparser text construct → plain text (HTML converted, plain text kept)."""
    if not value:
        return ""
    value = str(value)
    if kind and "html" not in kind and "xml" not in kind:
        return _plain_paragraphs(value)
    return html_to_text(value)


def _one_line(text: str | None, limit: int = 300) -> str | None:
    line = _WS.sub(" ", (text or "").replace("\x00", "")).strip()
    return line[:limit] or None


# -- dates -----------------------------------------------------------------------------------


def _publisher_date(raw: Any, parsed: Any) -> str | None:
    """The calendar date in the publisher's own time zone (RFC 822 or ISO 8601 text), else
    the UTC date feedparser parsed."""
    day: date | None = None
    if isinstance(raw, str) and raw.strip():
        text = raw.strip()
        try:
            day = email.utils.parsedate_to_datetime(text).date()
        except (TypeError, ValueError, IndexError, OverflowError):
            with contextlib.suppress(ValueError, OverflowError):
                day = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    if day is None and parsed:
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            day = date(*tuple(parsed)[:3])
    if day is None or not 1990 <= day.year <= 2100:
        return None
    return day.isoformat()


def _iso_utc(parsed: Any) -> str | None:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed) if parsed else None
    except (TypeError, ValueError, OverflowError):
        return None


def _timestamp(parsed: Any) -> float | None:
    try:
        return float(calendar.timegm(parsed)) if parsed else None
    except (TypeError, ValueError, OverflowError):
        return None


# -- parsing ---------------------------------------------------------------------------------


def _web_url(base: str, link: Any) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    try:
        url = urljoin(base, link.strip())
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _guid(raw: Any, url: str | None, *fallback: Any) -> str | None:
    guid = raw.strip() if isinstance(raw, str) else str(raw) if raw is not None else ""
    guid = guid.replace("\x00", "")
    guid = guid or url or ""
    if not guid:
        basis = "\x1f".join(str(f or "") for f in fallback)
        if not basis.strip("\x1f"):
            return None
        return "sha256:" + hashlib.sha256(basis.encode()).hexdigest()
    if len(guid) > _MAX_GUID:
        return "sha256:" + hashlib.sha256(guid.encode()).hexdigest()
    return guid


def _full_text(contents: list[str], summary: str) -> str | None:
    """The article text when the feed carries it: the longest content of enough words, else a
    description that long which does not end in an ellipsis (a teaser cut short)."""
    best = max(contents, key=len, default="")
    if len(best.split()) >= FULL_TEXT_WORDS:
        return best
    if len(summary.split()) >= FULL_TEXT_WORDS and not _TRUNCATED_END.search(summary):
        return summary
    return None


def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str]
) -> tuple[str | None, list[FeedEntry]]:
    """A feed's title and entries, newest first (by date when every entry has one, else in the
    feed's order). Raises :class:`NotAFeedError` when the body is not RSS, Atom or JSON Feed."""
    heads = {str(k).lower(): str(v) for k, v in headers.items()}
    media = heads.get("content-type", "").split(";")[0].strip().lower()
    if media in ("application/feed+json", "application/json") or body.lstrip()[:1] == b"{":
        return _parse_json_feed(body, url)

    import feedparser

    head = body[:65536]
    if b"<!ENTITY" in head.upper() and _NESTED_ENTITY.search(head):
        raise NotAFeedError("that feed declares nested entities, which no feed needs")
    heads["content-location"] = url  # the base for relative links: where it was fetched from
    heads.pop("content-encoding", None)  # the fetcher already inflated the body
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),  # never bytes/str: feedparser tries those as URLs and file names
            response_headers=heads,
            resolve_relative_uris=True,
            sanitize_html=True,
        )
    except Exception as exc:  # the loose parser can fail in odd ways on hostile input
        raise NotAFeedError("that address is not an RSS or Atom feed") from exc
    raw_entries = parsed.get("entries") or []
    if not raw_entries and (parsed.get("bozo") or not parsed.get("version")):
        raise NotAFeedError("that address is not an RSS or Atom feed")
    feed_info = parsed.get("feed") or {}
    title = _one_line(
        _detail_text(feed_info.get("title"), (feed_info.get("title_detail") or {}).get("type"))
    )

    entries: list[tuple[FeedEntry, float | None]] = []
    seen: set[str] = set()
    for e in raw_entries:
        try:
            found = _xml_entry(e, url)
        except Exception as exc:  # one hostile entry must not cost the feed its others
            _skipped(url, exc)
            continue
        if found is None or found[0].guid in seen:
            continue
        seen.add(found[0].guid)
        entries.append(found)
    return title, _newest_first(entries)


def _skipped(url: str, exc: BaseException) -> None:
    reason = str(exc) if isinstance(exc, NewsbotError) else type(exc).__name__
    log.warning("feed %s: skipped an entry: %s", url, reason)


def _xml_entry(e: Any, url: str) -> tuple[FeedEntry, float | None] | None:
    """One feedparser entry, or None when it names nothing to read."""
    # "updated" is read with dict.get: feedparser maps it to "published"
    link = _web_url(url, e.get("link"))
    entry_title = _one_line(_detail_text(e.get("title"), (e.get("title_detail") or {}).get("type")))
    summary = _detail_text(e.get("summary"), (e.get("summary_detail") or {}).get("type"))
    contents = [
        _detail_text(c.get("value"), c.get("type"))
        for c in e.get("content") or []
        if isinstance(c, Mapping)
    ]
    published_parsed = e.get("published_parsed") or dict.get(e, "updated_parsed")
    guid = _guid(e.get("id"), link, entry_title, e.get("published"), summary)
    if guid is None:
        return None
    author = (e.get("author_detail") or {}).get("name") or e.get("author")
    entry = FeedEntry(
        guid=guid,
        url=link,
        title=entry_title,
        published_at=_publisher_date(
            e.get("published") or dict.get(e, "updated"), published_parsed
        ),
        content=_full_text(contents, summary),
        summary=summary or None,
        author=_one_line(author, 200),
        updated=_iso_utc(dict.get(e, "updated_parsed") or e.get("published_parsed")),
    )
    return entry, _timestamp(published_parsed)


def _newest_first(entries: list[tuple[FeedEntry, float | None]]) -> list[FeedEntry]:
    if entries and all(ts is not None for _, ts in entries):
        entries = sorted(entries, key=lambda pair: -(pair[1] or 0.0))
    return [e for e, _ in entries]


def _parse_json_feed(body: bytes, url: str) -> tuple[str | None, list[FeedEntry]]:
    """JSON Feed 1.x (feedparser 6 does not read it). An item nested too deeply to read is
    cut out and skipped with the others that fail; the feed's other items are read."""
    try:
        data = load_json_pruned(body, _MAX_JSON_DEPTH)
    except (ValueError, UnicodeDecodeError, InputError):
        raise NotAFeedError("that address is not an RSS, Atom or JSON feed") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("version"), str)
        or not data["version"].startswith("https://jsonfeed.org/version/")
        or not isinstance(data.get("items", []), list)
    ):
        raise NotAFeedError("that address is not an RSS, Atom or JSON feed")
    raw_title = data.get("title")
    title = _one_line(raw_title if isinstance(raw_title, str) else "")
    entries: list[tuple[FeedEntry, float | None]] = []
    seen: set[str] = set()
    for item in data.get("items") or []:
        try:
            found = _json_entry(item, url)
        except Exception as exc:  # one hostile item must not cost the feed its others
            _skipped(url, exc)
            continue
        if found is None or found[0].guid in seen:
            continue
        seen.add(found[0].guid)
        entries.append(found)
    return title, _newest_first(entries)


_MAX_JSON_DEPTH = 32  # a JSON Feed item is 3 deep; a hostile one thousands


def _check_depth(value: Any, limit: int = 16) -> None:
    """Refuse an item holding a part cut for depth, or deeper than ``limit`` (so nothing
    below recurses: ``str()`` of a 900-deep list raises RecursionError)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit or node == TOO_DEEP:
            raise TooDeepError("nested too deeply")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _json_entry(item: Any, url: str) -> tuple[FeedEntry, float | None] | None:
    """One JSON Feed item, or None when it is not an object or names nothing to read."""
    if not isinstance(item, dict):
        return None
    _check_depth(item)
    link = _web_url(url, item.get("url")) or _web_url(url, item.get("external_url"))
    if item.get("content_html"):
        content = html_to_text(_text(item["content_html"]))
    else:
        content = _plain_paragraphs(_text(item.get("content_text") or ""))
    summary = _plain_paragraphs(_text(item.get("summary") or ""))
    entry_title = _one_line(_text(item.get("title") or ""))
    published = item.get("date_published") or item.get("date_modified")
    guid = _guid(item.get("id"), link, entry_title, published, summary or content)
    if guid is None:
        return None
    authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
    if not isinstance(authors, list):
        authors = []
    names = [_text(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")]
    entry = FeedEntry(
        guid=guid,
        url=link,
        title=entry_title,
        published_at=_publisher_date(published, None),
        content=_full_text([content], summary),
        summary=summary or (content[:500] if content else None),
        author=_one_line(", ".join(names), 200),
        updated=_json_time(item.get("date_modified") or published),
    )
    return entry, _json_timestamp(published)


def _json_datetime(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _json_time(raw: Any) -> str | None:
    moment = _json_datetime(raw)
    if moment is None or moment.tzinfo is None:
        return None
    try:  # 0001-01-01T00:00:00+14:00 is a valid date whose UTC time is before year 1
        return _iso_utc(moment.utctimetuple())
    except (OverflowError, ValueError):
        return None


def _json_timestamp(raw: Any) -> float | None:
    moment = _json_datetime(raw)
    if moment is None or moment.tzinfo is None:
        return None
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


# -- polling ---------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Work:
    entry: FeedEntry
    state: str  # "new", "changed", "retry"
    attempts: int = 0  # earlier failed attempts
    article_id: int | None = None  # what feed_entries points at now


def _stamp(text_hash: str, entry: FeedEntry) -> str:
    return f"{text_hash}@{entry.updated}" if entry.updated else text_hash


def _entry_state(entry: FeedEntry, seen: tuple[int | None, str | None] | None) -> _Work | None:
    """What to do with an entry given what ``feed_entries`` remembers of it (None: nothing)."""
    if seen is None:
        return _Work(entry, "new")
    article_id, stamp = seen
    stamp = stamp or ""
    if stamp.startswith(_FAILED):
        try:
            attempts = int(stamp[len(_FAILED) :])
        except ValueError:
            attempts = MAX_ENTRY_ATTEMPTS
        if attempts >= MAX_ENTRY_ATTEMPTS:
            return None
        return _Work(entry, "retry", attempts, article_id)
    text_hash, _, updated = stamp.partition("@")
    if entry.content is not None:
        changed = content_hash(entry.content) != text_hash
    else:
        changed = bool(entry.updated and updated and entry.updated != updated)
    return _Work(entry, "changed", 0, article_id) if changed else None


class FeedPoller:
    """Polls due feeds one after another and ingests their new entries into the feed's
    collection. Network waits happen on the event loop; everything else in worker threads."""

    def __init__(
        self,
        service: Any,
        *,
        clock: Callable[[], float] = time.time,
        fetcher: Fetcher = fetch,
        max_entries: int = 20,
        min_interval: int = 300,
        max_backoff: int = 6 * 3600,
        lock: asyncio.Lock | None = None,
    ) -> None:
        from .ingest.web import policy_for

        self.service = service
        self.store = service.store
        self.clock = clock
        self.fetcher = fetcher
        self.max_entries = max(1, max_entries)
        self.min_interval = max(1, min_interval)
        self.max_backoff = max(self.min_interval, max_backoff)
        self.lock = lock  # e.g. the bot's single-writer lock, held around each ingest
        self.policy = policy_for(service.settings)

    # -- one feed ----------------------------------------------------------------------------
    def _interval(self, feed: Feed) -> int:
        return max(self.min_interval, int(feed.interval_seconds or 0))

    async def poll_feed(self, feed: Feed) -> PollReport:
        """Poll one feed now (if it is not paused) and ingest what is new or changed."""
        try:
            feed = await asyncio.to_thread(self.store.feeds.get, feed.id)  # fresh state
        except NotFoundError as exc:
            return PollReport(feed.id, feed.url, f"error: {exc}", next_poll_at=feed.next_poll_at)
        if feed.paused:
            return PollReport(feed.id, feed.url, "paused", next_poll_at=feed.next_poll_at)
        now = self.clock()
        try:
            return await self._poll(feed, now)
        except NewsbotError as exc:  # fetch refusals, not a feed, a store that cannot be used
            return await self._failed(feed, now, str(exc))
        except Exception:
            log.exception("polling feed %s (%s) failed", feed.id, feed.url)
            return await self._failed(feed, now, "internal error (see the log)")

    async def _poll(self, feed: Feed, now: float) -> PollReport:
        result = await self.fetcher(
            feed.url, self.policy, etag=feed.etag, last_modified=feed.last_modified
        )
        interval = self._interval(feed)
        if result.not_modified:
            report = PollReport(feed.id, feed.url, "not modified", next_poll_at=now + interval)
            await asyncio.to_thread(
                self.store.feeds.update,
                feed.id,
                etag=result.etag or feed.etag,
                last_modified=result.last_modified or feed.last_modified,
                failures=0,
                next_poll_at=report.next_poll_at,
                last_polled_at=now,
                last_status=report.status,
            )
            return report

        title, entries = await asyncio.to_thread(
            parse_feed, result.body, url=result.url, headers=result.headers
        )
        work, waiting = await asyncio.to_thread(self._plan, feed.id, entries)
        report = PollReport(feed.id, feed.url, "ok", waiting=waiting)
        source = title or feed.title or _site(feed.url)
        retry_later = False
        for item in work:
            failed = await self._entry(feed, item, source, report, result.url)
            retry_later |= failed and item.attempts + 1 < MAX_ENTRY_ATTEMPTS

        fields: dict[str, object] = {
            "failures": 0,
            "last_polled_at": now,
            "last_status": report.summary()[:300],
        }
        if title and title != feed.title:
            fields["title"] = title
        if waiting or retry_later:
            # Entries left over or to retry: the next poll must get the whole feed, not a 304.
            fields.update(etag=None, last_modified=None)
        else:
            fields.update(etag=result.etag, last_modified=result.last_modified)
        report.next_poll_at = now + (self.min_interval if waiting else interval)
        fields["next_poll_at"] = report.next_poll_at
        await asyncio.to_thread(self.store.feeds.update, feed.id, **fields)
        log.info("feed %s (%s): %s", feed.id, feed.url, report.summary())
        return report

    async def _failed(self, feed: Feed, now: float, message: str) -> PollReport:
        failures = feed.failures + 1
        delay = min(self.max_backoff, self._interval(feed) * 2 ** min(failures, 30))
        report = PollReport(feed.id, feed.url, f"error: {message}", next_poll_at=now + delay)
        log.info("feed %s (%s): %s; next try in %d s", feed.id, feed.url, message, delay)
        await asyncio.to_thread(
            self.store.feeds.update,
            feed.id,
            failures=failures,
            next_poll_at=report.next_poll_at,
            last_polled_at=now,
            last_status=report.status[:300],
        )
        return report

    def _plan(self, feed_id: int, entries: list[FeedEntry]) -> tuple[list[_Work], int]:
        """The entries to handle this poll (newest first, at most max_entries) and how many
        more wait. Runs in a worker thread."""
        work: list[_Work] = []
        waiting = 0
        for entry in entries:
            item = _entry_state(entry, self.store.feeds.entry(feed_id, entry.guid))
            if item is None:
                continue
            if len(work) < self.max_entries:
                work.append(item)
            else:
                waiting += 1
        return work, waiting

    # -- one entry ---------------------------------------------------------------------------
    async def _entry(
        self, feed: Feed, item: _Work, source: str | None, report: PollReport, feed_url: str
    ) -> bool:
        """Ingest one entry; True when it failed. Entry-level refusals are counted, not raised;
        a service that cannot ingest at all (StoreError…) fails the whole poll.

        A feed speaks only for its own site: an entry's full text is used when its link is on
        the feed's site (or it has none); an entry linking elsewhere is read from that page, so
        a text is never stored under an address that did not serve it.
        """
        entry = item.entry
        try:
            if entry.content is not None and (entry.url is None or same_site(entry.url, feed_url)):
                doc = self._document(entry, source, feed, feed_url)
            elif entry.url:
                result = await self.fetcher(entry.url, self.policy)
                # Extraction (CPU, possibly slow) in a worker thread before the writer is taken.
                doc = await asyncio.to_thread(self._page_document, entry, result, source, feed_url)
            else:
                raise InputError("the entry has no link and no article text")
            counter, error = await self._ingest(feed, item, doc)
        except InputError as exc:
            counter, error = None, f"{entry.url or entry.title or entry.guid}: {exc}"
            await asyncio.to_thread(self._mark_failed, feed.id, item)
        except NewsbotError:
            raise  # the store cannot be used: the whole poll fails and backs off
        except Exception:  # one hostile entry must not stop the feed's other entries
            log.exception("feed %s entry %s failed", feed.id, entry.guid)
            counter, error = None, f"{entry.url or entry.title or entry.guid}: internal error"
            await asyncio.to_thread(self._mark_failed, feed.id, item)
        if counter is None:
            report.failed += 1
            report.errors.append((error or "failed")[:300])
            log.info("feed %s entry %s failed: %s", feed.id, entry.guid, error)
            return True
        setattr(report, counter, getattr(report, counter) + 1)
        return False

    async def _ingest(
        self, feed: Feed, item: _Work, doc: Document | Failed
    ) -> tuple[str | None, str | None]:
        """Ingest an extracted entry and remember it, in a worker thread, under the writer lock
        when one was given. Returns (PollReport counter to bump, None) or (None, failure)."""
        if self.lock is None:
            return await asyncio.to_thread(self._ingest_sync, feed, item, doc)
        async with self.lock:
            return await asyncio.to_thread(self._ingest_sync, feed, item, doc)

    def _ingest_sync(
        self, feed: Feed, item: _Work, doc: Document | Failed
    ) -> tuple[str | None, str | None]:
        entry = item.entry
        if isinstance(doc, Failed):
            self._mark_failed(feed.id, item)
            return None, doc.reason
        ingest = self.service.ingest(
            feed.collection, [doc], added_by=f"feed {feed.id}", feed_id=feed.id
        )
        if ingest.failed:
            self._mark_failed(feed.id, item)
            return None, ingest.failed[0].reason
        for counter, results in (
            ("updated", getattr(ingest, "updated", [])),
            ("new", ingest.added),
            ("duplicates", ingest.duplicates),
        ):
            if results:
                article_id = results[0].article_id
                self.store.feeds.mark_entry(
                    feed.id,
                    entry.guid,
                    article_id if article_id and article_id > 0 else None,
                    _stamp(content_hash(doc.text), entry),
                )
                return counter, None
        self._mark_failed(feed.id, item)
        return None, f"{entry.url or entry.guid}: nothing was stored"

    def _mark_failed(self, feed_id: int, item: _Work) -> None:
        """Remember a failure; a changed entry keeps pointing at its earlier article."""
        attempts = item.attempts + 1
        self.store.feeds.mark_entry(
            feed_id, item.entry.guid, item.article_id, f"{_FAILED}{attempts}"
        )

    @staticmethod
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

    # -- all feeds ---------------------------------------------------------------------------
    async def poll_due(self) -> list[PollReport]:
        """Poll every unpaused feed whose time has come, one after another."""
        due = await asyncio.to_thread(self.store.feeds.due, self.clock(), 100_000)
        reports = []
        for feed in due:
            try:
                reports.append(await self.poll_feed(feed))
            except Exception:  # poll_feed handles its own errors; this is the last guard
                log.exception("polling feed %s (%s) failed", feed.id, feed.url)
        return reports

    async def run(self, stop: asyncio.Event, *, idle_max: float = 60.0) -> None:
        """Poll due feeds until ``stop`` is set, sleeping until the next feed is due (at most
        ``idle_max`` seconds at a time). Setting ``stop`` interrupts a poll in progress."""
        idle_max = max(0.001, idle_max)
        while not stop.is_set():
            await self._until_stopped(stop, self.poll_due())
            if stop.is_set():
                break
            delay = idle_max
            try:
                due = await asyncio.to_thread(self.store.feeds.next_due)
            except Exception:
                log.exception("reading the feed schedule failed")
                due = None
            if due is not None:
                # At least a second between rounds, so a feed stuck "due" cannot spin the loop.
                delay = min(idle_max, max(1.0, due - self.clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()

    @staticmethod
    async def _until_stopped(stop: asyncio.Event, work: Awaitable[Any]) -> None:
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
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    return host.removeprefix("www.") or None
