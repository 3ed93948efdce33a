"""The store interface: what the ingest pipeline, the index registry, the retriever and the feed
poller may ask of the truth of a data folder (``sql.SqlStore``, exported as ``Store``), and the
records it keeps. Its parts are written once (``articles.py``, ``chunks.py``, ``feeds.py``, and
each feature's in ``index.features``) over SQLite (``sqlite.py``) or PostgreSQL (shared by
several bot processes, ``postgres.py``).

The contract every backend keeps:

- **Collections and their version.** Every article belongs to one collection (one per Discord
  server, or one named on the command line). A collection's *version* is an integer that goes
  up with every committed change to what its search sees: articles added, replaced or deleted,
  vectors re-embedded. The bump is part of the same transaction as the change. A derived vector
  index labelled with version ``v`` holds exactly the chunk ids the store held at ``v``; an
  index whose label differs from ``collections.version()`` is stale: it follows the chunk log
  (``collections.changes_since``: what each version added, removed or re-embedded, written in
  the same transaction), or is rebuilt from ``chunks.iter_vectors`` when the log no longer
  reaches back. Versions never go down and are never reused.
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

Vectors are kept once: a chunk refers to its vector, stored under the digest of the model and
the text it embedded, which chunks of other collections (and later versions) embedding the same
text share (``vectors.py``); a vector goes when its last chunk does.

Chunk ids are unique across the whole store and never reused: they are the ids of the derived
vector index. Nor are the ids of articles, feeds, watches and answers, even of the newest one
removed (SQLite: AUTOINCREMENT; PostgreSQL: sequences): members, alerts and the alert scan's
place name them. Text hashes, canonical URLs and MinHash band keys are computed by the caller
(``index.ingest.dedup``); the store keeps and looks them up, it decides nothing about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from ..models import ChunkSpan


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
    # Each vector's key (``index.ingest.chunk.vector_digest``: the model and the text it read);
    # a vector stored under a digest already there is not stored again. None, or none given:
    # stored unshared.
    digests: Sequence[bytes | None] = ()


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "paused", bool(self.paused))  # SQLite keeps 0 or 1

    @property
    def state(self) -> str:
        """What a listing says of it: paused, its last poll, or that it was never polled."""
        return "paused" if self.paused else (self.last_status or "not polled yet")

    @property
    def every(self) -> str:
        return f"every {self.interval_seconds // 60} min"


# What ``FeedStateStore.update`` may change: everything of a feed but what names it.
FEED_FIELDS = frozenset(f.name for f in fields(Feed)) - {"id", "collection", "url", "added_by"}
