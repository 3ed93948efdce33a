"""Fetched pages → documents: the step between the safe fetcher and extraction.

Kept apart from ``fetch`` (network, async) so extraction can run in a worker thread while the
fetch itself runs on whichever event loop the caller has.
"""

from __future__ import annotations

import re
from dataclasses import replace

from . import extract
from .errors import NotAnArticleError
from .fetch import FetchPolicy, FetchResult
from .models import Document
from .settings import CoreSettings
from .sources import decode_text

FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/rdf+xml",
    "application/x-rss+xml",
}
_PAYWALL = re.compile(
    rb"paywall|subscribe to (continue|read)|subscribers only|already a subscriber|"
    rb"sign in to (continue|read)|this article is for subscribers|premium content",
    re.IGNORECASE,
)
URL = re.compile(r"^<?(https?://[^\s<>]+)>?$", re.IGNORECASE)


def policy_for(settings: CoreSettings) -> FetchPolicy:
    from .errors import StoreError

    try:
        return FetchPolicy.from_setting(
            settings.fetch_allow,
            timeout=settings.fetch_timeout,
            max_bytes=settings.fetch_max_bytes,
        )
    except ValueError:
        raise StoreError("setting NEWSBOT_FETCH_ALLOW has an invalid value") from None


def is_url(text: str) -> bool:
    return bool(URL.match(text.strip()))


def strip_url(text: str) -> str:
    """Discord users wrap links in <…> to stop embeds."""
    m = URL.match(text.strip())
    return m.group(1) if m else text.strip()


def document_from_fetch(result: FetchResult) -> Document:
    """Extract the article a fetched page holds; feeds and empty pages are refused."""
    origin = result.url
    kind = result.content_type
    body = result.body
    if kind in FEED_TYPES or (
        kind in {"application/xml", "text/xml"}
        and re.search(rb"<(rss|feed|rdf:RDF)[\s>]", body[:2000])
    ):
        raise NotAnArticleError(
            f"{origin} is a news feed, not an article; an admin can follow it as a feed"
        )
    if kind == "application/pdf":
        doc = extract.extract_pdf(body, origin=origin)
    elif kind == "text/plain":
        doc = extract.clean_scraped_text(decode_text(body, origin), origin=origin)
    else:
        doc = extract.extract_html(body, url=result.url, origin=origin)
    notes: list[str] = []
    words = len(doc.text.split())
    if words < 150 and _PAYWALL.search(body):
        notes.append("may be cut short by a paywall")
    elif words < 80:
        notes.append("very short: the page may hold only a summary")
    return replace(
        doc, url=doc.url or result.url, title=doc.title or result.url, notes=tuple(notes)
    )
