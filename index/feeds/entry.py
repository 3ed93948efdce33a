"""A feed entry and what both parsers (RSS/Atom, JSON Feed) need to make one: dates in the
publisher's own time zone, absolute web links, a stable guid, and the full text when the feed
carries the article rather than a teaser."""

from __future__ import annotations

import calendar
import contextlib
import email.utils
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..errors import NewsbotError, NotAnArticleError

log = logging.getLogger("newsbot.feeds")

FULL_TEXT_WORDS = 120  # an entry's content this long is the article, not a teaser
_MAX_GUID = 500
_TRUNCATED_END = re.compile(r"(?:…|\.\.\.|\[…\]|\[\.\.\.\])\s*$")


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


def publisher_date(raw: Any, parsed: Any) -> str | None:
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


def iso_utc(parsed: Any) -> str | None:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed) if parsed else None
    except (TypeError, ValueError, OverflowError):
        return None


def timestamp(parsed: Any) -> float | None:
    try:
        return float(calendar.timegm(parsed)) if parsed else None
    except (TypeError, ValueError, OverflowError):
        return None


def web_url(base: str, link: Any) -> str | None:
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


def entry_guid(raw: Any, url: str | None, *fallback: Any) -> str | None:
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


def full_text(contents: list[str], summary: str) -> str | None:
    """The article text when the feed carries it: the longest content of enough words, else a
    description that long which does not end in an ellipsis (a teaser cut short)."""
    best = max(contents, key=len, default="")
    if len(best.split()) >= FULL_TEXT_WORDS:
        return best
    if len(summary.split()) >= FULL_TEXT_WORDS and not _TRUNCATED_END.search(summary):
        return summary
    return None


def _skipped(url: str, exc: BaseException) -> None:
    reason = str(exc) if isinstance(exc, NewsbotError) else type(exc).__name__
    log.warning("feed %s: skipped an entry: %s", url, reason)


def newest_first(entries: list[tuple[FeedEntry, float | None]]) -> list[FeedEntry]:
    if entries and all(ts is not None for _, ts in entries):
        entries = sorted(entries, key=lambda pair: -(pair[1] or 0.0))
    return [e for e, _ in entries]


Reader = Callable[[Any, str], tuple[FeedEntry, float | None] | None]


def collect(items: Iterable[Any], url: str, read: Reader) -> list[FeedEntry]:
    """Each item read into an entry, newest first, the first of a guid kept. One hostile item
    is skipped and logged; it must not cost the feed its others."""
    entries: list[tuple[FeedEntry, float | None]] = []
    seen: set[str] = set()
    for item in items:
        try:
            found = read(item, url)
        except Exception as exc:
            _skipped(url, exc)
            continue
        if found is None or found[0].guid in seen:
            continue
        seen.add(found[0].guid)
        entries.append(found)
    return newest_first(entries)
