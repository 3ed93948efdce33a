"""RSS and Atom (through feedparser) → entries; JSON Feed goes to ``jsonfeed``.

feedparser never gets near the network or the file system: the body comes from the safe fetcher
and is handed over as a stream (a ``bytes`` argument is first tried as a *file name*), with the
real response headers and the final URL as ``Content-Location`` so relative links resolve.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from .entry import (
    FeedEntry,
    NotAFeedError,
    collect,
    entry_guid,
    full_text,
    iso_utc,
    publisher_date,
    timestamp,
    web_url,
)
from .html import detail_text, one_line
from .jsonfeed import parse_json_feed

# An entity defined by other entities ("billion laughs"); expat stops it, but only after
# expanding megabytes through feedparser's per-character callbacks. No real feed needs one.
_NESTED_ENTITY = re.compile(rb"<!ENTITY\s[^>]*?[\"'][^\"'>]*[&%][A-Za-z_:]", re.IGNORECASE)


def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str]
) -> tuple[str | None, list[FeedEntry]]:
    """A feed's title and entries, newest first (by date when every entry has one, else in the
    feed's order). Raises :class:`NotAFeedError` when the body is not RSS, Atom or JSON Feed."""
    heads = {str(k).lower(): str(v) for k, v in headers.items()}
    media = heads.get("content-type", "").split(";")[0].strip().lower()
    if media in ("application/feed+json", "application/json") or body.lstrip()[:1] == b"{":
        return parse_json_feed(body, url)

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
    title = one_line(
        detail_text(feed_info.get("title"), (feed_info.get("title_detail") or {}).get("type"))
    )

    return title, collect(raw_entries, url, _xml_entry)


def _xml_entry(e: Any, url: str) -> tuple[FeedEntry, float | None] | None:
    """One feedparser entry, or None when it names nothing to read."""
    # "updated" is read with dict.get: feedparser maps it to "published"
    link = web_url(url, e.get("link"))
    entry_title = one_line(detail_text(e.get("title"), (e.get("title_detail") or {}).get("type")))
    summary = detail_text(e.get("summary"), (e.get("summary_detail") or {}).get("type"))
    contents = [
        detail_text(c.get("value"), c.get("type"))
        for c in e.get("content") or []
        if isinstance(c, Mapping)
    ]
    published_parsed = e.get("published_parsed") or dict.get(e, "updated_parsed")
    guid = entry_guid(e.get("id"), link, entry_title, e.get("published"), summary)
    if guid is None:
        return None
    author = (e.get("author_detail") or {}).get("name") or e.get("author")
    entry = FeedEntry(
        guid=guid,
        url=link,
        title=entry_title,
        published_at=publisher_date(e.get("published") or dict.get(e, "updated"), published_parsed),
        content=full_text(contents, summary),
        summary=summary or None,
        author=one_line(author, 200),
        updated=iso_utc(dict.get(e, "updated_parsed") or e.get("published_parsed")),
    )
    return entry, timestamp(published_parsed)
