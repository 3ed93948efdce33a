"""The store interface: what the ingest pipeline, the index registry, the retriever and the feed
poller may ask of the truth of a data folder. SQLite implements it (``sqlite.py``); a second
backend (PostgreSQL, shared by several bot processes) implements the same protocols. The core
parts are here; the parts of answers kept, watches and digests are in ``features.py``, under the
same contract.

The contract every backend keeps:

- **Collections and their version.** Every article belongs to one collection (one per Discord
  server, or one named on the command line). A collection's *version* is an integer that goes
  up with every committed change to what its search sees: articles added, replaced or deleted,
  vectors re-embedded. The bump is part of the same transaction as the change. A derived vector
  index labelled with version ``v`` holds exactly the chunk ids the store held at ``v``; an
  index whose label differs from ``collections.version()`` is stale and is rebuilt from
  ``chunks.iter_vectors``. Versions never go down and are never reused.
- **Transactions.** ``transaction()`` makes every write inside it one atomic unit, and takes the
  backend's *write lock* when it begins (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction
  that holds the collection's lock from its first statement): what is read inside — a duplicate
  check, a collection's version — still holds at commit, whatever other processes do meanwhile.
  Nested calls join the transaction already open in this thread. Any exception rolls it back.
  A full disk, a damaged store or a lock held too long becomes ``DiskFullError``,
  ``DamagedStoreError`` or ``StoreError`` saying so.
- **Single calls.** Every write method is atomic on its own: it runs in its own transaction, or
  joins the caller's. Reads outside a transaction see committed data; ``snapshot()`` makes a run
  of reads see one state of the store (a rebuild reads the version, then the vectors), and turns
  a read that fails into a ``StoreError`` (``DamagedStoreError`` for a damaged store): callers
  never catch a backend's own exceptions.
- **In-process writers.** ``write_lock`` is a re-entrant lock that ``transaction()`` holds; a
  caller that must update something derived together with a write (the FAISS index) holds it
  around both, so no other thread of this process writes in between.
- **Schema.** Opening a store brings its schema up to date once, however many processes open it
  at the same moment, and refuses a store made by a newer newsbot.

Chunk ids are unique across the whole store and never reused: they are the ids of the derived
vector index. Nor are the ids of articles, feeds, watches and answers, even of the newest one
removed (SQLite: AUTOINCREMENT; PostgreSQL: sequences): members, alerts and the alert scan's
place name them. Text hashes, canonical URLs and MinHash band keys are computed by the caller
(``index.ingest.dedup``); the store keeps and looks them up, it decides nothing about them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..models import Article, ChunkSpan, Hit
from .features import DigestStore, FeedbackStore, WatchStore


@dataclass(frozen=True)
class NewArticle:
    """An article ready to store: metadata, its chunks and their vectors."""

    title: str
    source: str | None
    published_at: str | None
    url: str | None
    author: str | None
    text: str
    content_hash: str
    chunks: Sequence[ChunkSpan]
    vectors: np.ndarray
    canonical_url: str | None = None  # the URL as duplicates are found by it
    added_by: str | None = None
    minhash: bytes | None = None  # near-duplicate signature (index.ingest.minhash)
    bands: Sequence[int] = ()  # its LSH band keys
    fetched_url: str | None = None  # where the text was fetched from (a page or a feed)
    feed_id: int | None = None  # the feed that carried it


@dataclass(frozen=True)
class StoredRef:
    """A stored article, as a duplicate check names it."""

    id: int
    title: str


@dataclass(frozen=True)
class ArticleVersion:
    """One stored version of an article and where it came from."""

    article_id: int
    version: int
    content_hash: str
    added_by: str | None
    added_at: str
    fetched_url: str | None
    feed_id: int | None


@dataclass(frozen=True)
class ChunkText:
    """A stored chunk with what its embedded text is made of (for re-embedding)."""

    id: int
    text: str
    title: str
    source: str | None
    published_at: str | None


@dataclass(frozen=True)
class Feed:
    id: int
    collection: str
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    interval_seconds: int
    next_poll_at: float
    last_polled_at: float | None
    last_status: str | None
    failures: int  # failed polls in a row (0 after a success)
    paused: bool
    added_by: str | None
    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    articles_added: int = 0  # new articles its entries became, ever
    notice: str | None = None  # what its current failures were told: "failing", "paused"

    @property
    def state(self) -> str:
        """What a listing says of it: paused, its last poll, or that it was never polled."""
        return "paused" if self.paused else (self.last_status or "not polled yet")

    @property
    def every(self) -> str:
        return f"every {self.interval_seconds // 60} min"


# What ``FeedStateStore.update`` may change.
FEED_FIELDS = frozenset(
    {
        "title",
        "etag",
        "last_modified",
        "interval_seconds",
        "next_poll_at",
        "last_polled_at",
        "last_status",
        "failures",
        "paused",
        "last_success_at",
        "last_error",
        "last_error_at",
        "articles_added",
        "notice",
    }
)


class CollectionStore(Protocol):
    """Collections by name, and the version each one is at (see the module docstring)."""

    def id_of(self, name: str, *, create: bool = False) -> int | None:
        """The collection's id; with ``create``, made (atomically, once) when missing."""
        ...

    def all(self) -> list[tuple[int, str]]:
        """(id, name) of every collection, oldest first."""
        ...

    def version(self, collection_id: int) -> int:
        """The collection's version (0 for one never written to)."""
        ...

    def newest_date(self, collection_id: int) -> str | None:
        """The latest publication date of its articles (None when none has one)."""
        ...

    def counts(self, collection_id: int) -> tuple[int, int]:
        """(articles, chunks) in the collection."""
        ...


class ArticleStore(Protocol):
    """Articles: each written whole with its chunks, vectors and provenance, or not at all."""

    def by_text(self, collection_id: int, text_hash: str) -> StoredRef | None:
        """The article of the collection whose normalized text has this hash."""
        ...

    def by_url(self, collection_id: int, canonical_url: str) -> StoredRef | None:
        """The article of the collection stored under this canonical URL."""
        ...

    def near_candidates(
        self, collection_id: int, bands: Sequence[int]
    ) -> list[tuple[StoredRef, bytes]]:
        """Articles sharing at least one MinHash band key, with their stored signatures."""
        ...

    def add(
        self, collection_id: int, articles: Sequence[NewArticle]
    ) -> list[tuple[int, list[int]]]:
        """Store whole articles (version 1 each) and bump the collection's version, in one
        transaction. Returns (article id, chunk ids) for each, in order."""
        ...

    def replace(
        self, collection_id: int, article_id: int, article: NewArticle
    ) -> tuple[list[int], list[int], int]:
        """A new version of a stored article: its text, chunks, signature and metadata replaced
        (its URL kept), a version row recorded, the collection's version bumped, atomically.
        Returns (new chunk ids, old chunk ids, the article's new version)."""
        ...

    def delete(self, collection_id: int, article_id: int) -> tuple[Article, list[int]]:
        """Remove an article with everything that hangs on it and bump the collection's version;
        returns it and the chunk ids that went. ``NotFoundError`` when it is not there."""
        ...

    def add_source(
        self,
        article_id: int,
        *,
        source: str | None,
        url: str | None,
        title: str | None,
        published_at: str | None,
    ) -> None:
        """Another outlet that ran the same story (listed once per source and URL)."""
        ...

    def other_sources(self, article_id: int) -> list[tuple[str | None, str | None]]:
        """(source, url) of the other outlets, in the order they were added."""
        ...

    def versions(self, article_id: int) -> list[ArticleVersion]:
        """Every recorded version of an article, oldest first."""
        ...

    def latest_version(self, article_id: int) -> ArticleVersion | None: ...

    def get(self, collection_id: int, article_id: int) -> Article:
        """``NotFoundError`` when the article is not in that collection."""
        ...

    def page(self, collection_id: int, *, limit: int, offset: int) -> list[Article]:
        """Articles newest first (by publication date, then id)."""
        ...

    def text(self, article_id: int) -> str: ...


class ChunkStore(Protocol):
    """Chunks (passages) with their vectors, and the reads search is made of."""

    def count(self, collection_id: int) -> int: ...

    def iter_vectors(
        self, collection_id: int, batch: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of a collection's chunks in id order, in batches: what a
        vector index is built from (inside ``snapshot()``, with the version read there)."""
        ...

    def iter_texts(self, collection_id: int, batch: int = 512) -> Iterator[list[ChunkText]]:
        """The collection's chunks with their articles' title, source and date, in batches."""
        ...

    def replace_vectors(self, collection_id: int, ids: Sequence[int], vectors: np.ndarray) -> None:
        """New vectors for stored chunks of the collection (re-embedding), its version bumped in
        the same transaction."""
        ...

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vector of each chunk still there."""
        ...

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """Chunk ids with their scores joined to text and article metadata, order kept; ids no
        longer stored are left out."""
        ...

    def dates(self, ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
        """Article id and publication date of each chunk still stored."""
        ...

    def ids(
        self,
        collection_id: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
    ) -> np.ndarray:
        """Chunk ids passing the filters: ``source`` (any case), publication ``since`` and
        ``until`` (inclusive, undated articles excluded), ``as_of`` (undated ones kept)."""
        ...

    def lexical(
        self,
        collection_id: int,
        words: Sequence[str],
        limit: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
        title_weight: float = 2.0,
    ) -> list[tuple[int, float]]:
        """BM25 (or the backend's equivalent) over chunk text and article title for any of
        ``words``, the filters as in ``ids``; best first, higher is better."""
        ...


class FeedStateStore(Protocol):
    """Followed feeds and what their polls saw, so polling survives restarts."""

    def add(
        self, collection_id: int, url: str, *, added_by: str | None, interval_seconds: int
    ) -> Feed:
        """``DuplicateError`` when the collection already follows that URL."""
        ...

    def get(self, feed_id: int, collection_id: int | None = None) -> Feed:
        """``NotFoundError`` when there is no such feed (in that collection)."""
        ...

    def of_collection(self, collection_id: int) -> list[Feed]: ...

    def due(
        self, now: float, limit: int = 20, collections: Sequence[int] | None = None
    ) -> list[Feed]:
        """Unpaused feeds whose next poll is at or before ``now``, soonest first; only those of
        ``collections`` when given (a bot process owns its shards' servers). A store shared by
        processes hands each due feed to one caller only (PostgreSQL: claimed for a while)."""
        ...

    def next_due(self) -> float | None:
        """When the next unpaused feed is due (None: no feed)."""
        ...

    def update(self, feed_id: int, **fields: object) -> None:
        """Change some of ``FEED_FIELDS`` atomically; other names raise ``ValueError``."""
        ...

    def remove(self, collection_id: int, feed_id: int) -> Feed:
        """Stop following a feed (its entries' memory goes with it)."""
        ...

    def entry(self, feed_id: int, guid: str) -> tuple[int | None, str | None] | None:
        """What was remembered of an entry: (article id, stamp), or None when never seen."""
        ...

    def mark_entry(
        self, feed_id: int, guid: str, article_id: int | None, stamp: str | None
    ) -> None:
        """Remember an entry (replacing what was remembered)."""
        ...

    def notice_channel(self, collection_id: int) -> int | None:
        """The channel feed trouble is posted in (``/feeds notify``), or None."""
        ...

    def set_notice_channel(
        self, collection_id: int, channel_id: int | None, *, set_by: str | None = None
    ) -> None:
        """Post feed trouble in this channel from now on (None: nowhere)."""
        ...


class Store(Protocol):
    """A data folder's truth: the four parts above and the three of ``features.py``, sharing
    transactions and one write lock."""

    name: str  # how messages name the store ("newsbot.sqlite3")
    collections: CollectionStore
    articles: ArticleStore
    chunks: ChunkStore
    feeds: FeedStateStore
    feedback: FeedbackStore
    watches: WatchStore
    digests: DigestStore
    write_lock: threading.RLock

    def transaction(self) -> AbstractContextManager[object]:
        """One atomic unit of writes holding the write lock (see the module docstring)."""
        ...

    def snapshot(self) -> AbstractContextManager[object]:
        """Reads that all see one state; inside an open transaction, that transaction."""
        ...

    def exclusive(self, what: str) -> AbstractContextManager[None]:
        """Work only one process sharing the store may do at a time (a rebuild): ``BusyError``
        while another process holds it. SQLite: nothing (its processes each refuse a second
        rebuild of their own); PostgreSQL: a session advisory lock."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def integrity_problems(self) -> list[str]:
        """Empty when the store is sound and every article holds exactly its chunks (and the
        full-text index every chunk); a damaged store is one problem saying what to do."""
        ...

    def size_bytes(self) -> tuple[int, int]:
        """Bytes the store takes, and of those, recent writes not yet merged (a log)."""
        ...

    def close(self) -> None: ...
