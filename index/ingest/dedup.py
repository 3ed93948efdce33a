"""Is it a duplicate, or an update? The one place that decides.

Exact first: the same normalized text (its hash), then the same canonical URL. Then the same
story told near-identically (MinHash, ``minhash.py``), for bodies long enough to tell a shared
story from shared boilerplate. Each is looked for in the store and among the articles of the
same ingest still waiting to be stored. The same URL with new text is an *update* when it comes
from where the stored article's current version came from — the same feed, or a fetch from the
same site — and a duplicate otherwise: a URL is a claim anyone can make (a page's canonical
link, a file's "url"), a fetch from the site is not.

Everything an article is recognised by is computed here (``fingerprint``): the store only keeps
and looks up hashes, canonical URLs and band keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..store import ArticleStore
from ..text import normalize
from . import minhash
from .web import same_site

# Near-duplicate detection only for articles this long: short bodies are often boilerplate
# (cookie and newsletter forms) that unrelated pages share word for word.
NEAR_DUP_MIN_WORDS = 80


def content_hash(text: str) -> str:
    """Hash of the text with case, punctuation, quotes and spacing normalized away.

    The same article pasted from two places differs in exactly those ways.
    """
    return hashlib.sha256(normalize(text).encode()).hexdigest()


def canonical_url(url: str | None) -> str | None:
    """The URL as dedup compares it: tracking parameters, fragment and default port dropped."""
    if not url:
        return None
    try:
        from courlan import normalize_url

        return normalize_url(url.strip(), strict=True)
    except Exception:  # a malformed URL still dedups on its literal text
        return url.strip()


@dataclass(frozen=True)
class Fingerprint:
    """What an article is recognised by."""

    text_hash: str
    url: str | None  # canonical
    words: int
    signature: np.ndarray
    bands: list[int]

    @property
    def minhash(self) -> bytes:
        return minhash.to_blob(self.signature)


def fingerprint(text: str, url: str | None) -> Fingerprint:
    sig = minhash.signature(text)
    return Fingerprint(
        content_hash(text), canonical_url(url), len(text.split()), sig, minhash.band_keys(sig)
    )


@dataclass(frozen=True)
class Match:
    """An already stored article that a new one repeats, and how it was recognised."""

    article_id: int  # -1: an article of the same ingest, not stored yet
    title: str
    by: str  # "text", "url" or "near" (the same story, near-identical text)
    similarity: float = 1.0


@dataclass(frozen=True)
class Verdict:
    """A duplicate (``match``), an update of a stored article (``replaces``), or new (neither)."""

    match: Match | None = None
    replaces: int | None = None


class Duplicates:
    def __init__(self, articles: ArticleStore) -> None:
        self.articles = articles

    def check(
        self,
        collection_id: int,
        fp: Fingerprint,
        waiting: Sequence[tuple[Fingerprint, str]],
        *,
        fetched_url: str | None,
        feed_id: int | None,
    ) -> Verdict:
        """The first look, before embedding: against the store and against ``waiting`` (the
        fingerprints and titles of this ingest's articles not stored yet)."""
        match = self._find(collection_id, fp, waiting)
        if (
            match is not None
            and match.by == "url"
            and match.article_id > 0
            and self.may_update(match.article_id, fetched_url, feed_id)
        ):
            return Verdict(replaces=match.article_id)  # same page, new text
        return Verdict(match=match)

    def recheck(self, collection_id: int, fp: Fingerprint, replaces: int | None) -> Verdict:
        """The look again inside the write transaction: another writer may have stored the same
        article while this one was being embedded."""
        match = self._stored(collection_id, fp)
        if match is not None and match.by == "url" and match.article_id == replaces:
            return Verdict(replaces=replaces)
        return Verdict(match=match)

    def may_update(self, article_id: int, fetched_url: str | None, feed_id: int | None) -> bool:
        """May a text from this feed or address replace the stored article with its URL?"""
        current = self.articles.latest_version(article_id)
        if current is None:
            return False
        if feed_id is not None and current.feed_id == feed_id:
            return True
        return fetched_url is not None and same_site(fetched_url, current.fetched_url)

    def _find(
        self, collection_id: int, fp: Fingerprint, waiting: Sequence[tuple[Fingerprint, str]]
    ) -> Match | None:
        match = self._stored(collection_id, fp)
        if match is not None:
            return match
        for other, title in waiting:
            if other.text_hash == fp.text_hash or (fp.url and other.url == fp.url):
                return Match(-1, title, "text")
        if fp.words < NEAR_DUP_MIN_WORDS:
            return None  # too short to tell a shared story from shared boilerplate
        best: Match | None = None
        for ref, blob in self.articles.near_candidates(collection_id, fp.bands):
            sim = minhash.similarity(fp.signature, minhash.from_blob(blob))
            if sim >= minhash.NEAR_DUPLICATE and (best is None or sim > best.similarity):
                best = Match(ref.id, ref.title, "near", sim)
        if best is not None:
            return best
        for other, title in waiting:
            sim = minhash.similarity(fp.signature, other.signature)
            if sim >= minhash.NEAR_DUPLICATE:
                return Match(-1, title, "near", sim)
        return None

    def _stored(self, collection_id: int, fp: Fingerprint) -> Match | None:
        """The same text first, then the same canonical URL."""
        ref = self.articles.by_text(collection_id, fp.text_hash)
        if ref is not None:
            return Match(ref.id, ref.title, "text")
        if fp.url:
            ref = self.articles.by_url(collection_id, fp.url)
            if ref is not None:
                return Match(ref.id, ref.title, "url")
        return None
