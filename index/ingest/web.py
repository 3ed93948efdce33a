"""Fetched pages → documents: the step between the safe fetcher and extraction.

Kept apart from ``fetch`` (network, async) so extraction can run in a worker thread while the
fetch itself runs on whichever event loop the caller has.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import replace
from functools import lru_cache
from urllib.parse import urlsplit

from ..errors import InputError, NotAnArticleError
from ..models import Document
from ..settings import CoreSettings
from . import extract
from .fetch import FetchPolicy, FetchResult
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
    from ..errors import StoreError

    try:
        return FetchPolicy.from_setting(
            settings.fetch_allow,
            timeout=settings.fetch_timeout,
            max_bytes=settings.fetch_max_bytes,
        )
    except ValueError:
        raise StoreError("setting NEWSBOT_FETCH_ALLOW has an invalid value") from None


# The one reply to a link that is not one, wherever a web address is asked for.
NOT_A_WEB_ADDRESS = "that is not a web address (it should start with https://)"


def is_url(text: str) -> bool:
    return bool(URL.match(text.strip()))


def web_address(text: str) -> str:
    """The link a member typed (``<…>`` unwrapped), or ``InputError`` saying it is not one."""
    if not is_url(text):
        raise InputError(NOT_A_WEB_ADDRESS)
    return strip_url(text)


def strip_url(text: str) -> str:
    """Discord users wrap links in <…> to stop embeds."""
    m = URL.match(text.strip())
    return m.group(1) if m else text.strip()


@lru_cache(maxsize=4096)
def _site_parts(host: str) -> tuple[str, str | None]:
    """(site, its name label): ``news.bbc.co.uk`` → ``("bbc.co.uk", "bbc")``. An address, or a
    host under no suffix of the public suffix list shipped with ``tld``, is its own site."""
    try:
        ipaddress.ip_address(host)
        return host, None
    except ValueError:
        pass
    from tld import get_tld  # the list ships inside the package: no lookup at run time

    found = get_tld(host, fix_protocol=True, as_object=True, fail_silently=True)
    if found is None or not getattr(found, "domain", ""):
        return host, None
    return str(found.fld), str(found.domain)


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip(".").lower() or None


def site_of(url: str | None) -> str | None:
    """The registrable domain (eTLD+1) of a URL's host: who controls what is published there."""
    host = _host(url)
    return _site_parts(host)[0] if host else None


def same_site(a: str | None, b: str | None) -> bool:
    site = site_of(a)
    return site is not None and site == site_of(b)


def _name_words(name: str) -> list[str]:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.findall(r"[a-z0-9]+", ascii_name.casefold())


def site_name_fits(name: str | None, url: str | None) -> bool:
    """Does a page's claimed site name ("BBC News", "Reuters") belong to the host it came from?

    Only when the domain's own label is the name's first word(s) run together ("bbc" for
    bbc.co.uk, "theguardian" for theguardian.com, "lemonde" for "Le Monde.fr"): anyone can
    write ``og:site_name``, only the domain's owner can publish under its name.
    """
    host = _host(url)
    if not name or not host:
        return False
    label = _site_parts(host)[1]
    if not label:
        return False
    label = re.sub(r"[^a-z0-9]", "", label.casefold())
    words = _name_words(name)
    for start in (0, 1) if words[:1] == ["the"] else (0,):
        joined = ""
        for word in words[start:]:
            joined += word
            if len(joined) >= 2 and joined == label:
                return True
            if len(joined) >= len(label):
                break
    return False


def site_label(url: str | None) -> str | None:
    """How a citation names a site it cannot name better: its domain, readable."""
    site = site_of(url)
    if site is None:
        return None
    try:
        return site.encode("ascii").decode("idna")
    except UnicodeError:
        return site


def checked_source(claimed: str | None, fetched_url: str) -> str | None:
    """The source a fetched text is cited as: its own site name when that fits the host it
    came from, else the host's site. A page cannot pass itself off as another outlet."""
    if claimed and site_name_fits(claimed, fetched_url):
        return claimed
    return site_label(fetched_url) or claimed


def document_from_fetch(result: FetchResult) -> Document:
    """Extract the article a fetched page holds; feeds and empty pages are refused.

    Provenance is the fetched address, not what the page says of itself: its canonical URL
    counts only on the same site, and its site name only when it fits the host.
    """
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
    url = doc.url if doc.url and same_site(doc.url, result.url) else result.url
    return replace(
        doc,
        url=url,
        title=doc.title or result.url,
        source=checked_source(doc.source, result.url),
        notes=tuple(notes),
        fetched_url=result.url,
    )
