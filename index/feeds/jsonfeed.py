"""JSON Feed 1.x → entries (feedparser 6 does not read it). The body is parsed with hostile depth
cut out, and each item is checked for depth before anything below recurses into it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import InputError
from ..ingest.sources import TOO_DEEP, TooDeepError, load_json_pruned
from .entry import (
    FeedEntry,
    NotAFeedError,
    collect,
    entry_guid,
    full_text,
    iso_utc,
    publisher_date,
    web_url,
)
from .html import html_to_text, one_line, plain_paragraphs


def parse_json_feed(body: bytes, url: str) -> tuple[str | None, list[FeedEntry]]:
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
    title = one_line(raw_title if isinstance(raw_title, str) else "")
    return title, collect(data.get("items") or [], url, _json_entry)


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
    link = web_url(url, item.get("url")) or web_url(url, item.get("external_url"))
    if item.get("content_html"):
        content = html_to_text(_text(item["content_html"]))
    else:
        content = plain_paragraphs(_text(item.get("content_text") or ""))
    summary = plain_paragraphs(_text(item.get("summary") or ""))
    entry_title = one_line(_text(item.get("title") or ""))
    published = item.get("date_published") or item.get("date_modified")
    guid = entry_guid(item.get("id"), link, entry_title, published, summary or content)
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
        published_at=publisher_date(published, None),
        content=full_text([content], summary),
        summary=summary or (content[:500] if content else None),
        author=one_line(", ".join(names), 200),
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
        return iso_utc(moment.utctimetuple())
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
