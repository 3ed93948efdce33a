"""SQLite, the source of truth: collections, articles, chunks with their vectors, FTS5 text.

Every write happens in one transaction and bumps its collection's ``version``; the FAISS index
records the version it reflects, so a stale index (after a crash, a kill, a copy) is noticed on
load and rebuilt from the vectors stored here, never by re-embedding.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .errors import NotFoundError, StoreError, damaged_message, from_sqlite
from .models import Article, ChunkSpan, Hit

SCHEMA_VERSION = 3

# Seconds a connection waits for another one (another process, often) to release SQLite's lock.
BUSY_TIMEOUT = 30.0

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        source TEXT,
        published_at TEXT,
        url TEXT,
        canonical_url TEXT,
        author TEXT,
        text TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        chunk_count INTEGER NOT NULL,
        added_by TEXT,
        added_at TEXT NOT NULL,
        UNIQUE (collection_id, content_hash)
    );
    CREATE UNIQUE INDEX articles_url ON articles (collection_id, canonical_url)
        WHERE canonical_url IS NOT NULL;
    CREATE INDEX articles_published ON articles (collection_id, published_at);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX chunks_article ON chunks (article_id);
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (
        title, text, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
    END;
    """,
    2: """
    ALTER TABLE articles ADD COLUMN guid TEXT;
    ALTER TABLE articles ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX articles_guid ON articles (collection_id, guid) WHERE guid IS NOT NULL;
    CREATE TABLE article_sources (
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        source TEXT,
        url TEXT,
        title TEXT,
        published_at TEXT,
        added_at TEXT NOT NULL
    );
    CREATE INDEX article_sources_article ON article_sources (article_id);
    CREATE TABLE article_minhash (
        article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
        signature BLOB NOT NULL
    );
    CREATE TABLE minhash_bands (
        collection_id INTEGER NOT NULL,
        band INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE
    );
    CREATE INDEX minhash_bands_lookup ON minhash_bands (collection_id, band, bucket);
    CREATE INDEX minhash_bands_article ON minhash_bands (article_id);
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        title TEXT,
        etag TEXT,
        last_modified TEXT,
        interval_seconds INTEGER NOT NULL DEFAULT 1800,
        next_poll_at REAL NOT NULL DEFAULT 0,
        last_polled_at REAL,
        last_status TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        paused INTEGER NOT NULL DEFAULT 0,
        added_by TEXT,
        added_at TEXT NOT NULL,
        UNIQUE (collection_id, url)
    );
    CREATE TABLE feed_entries (
        feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        guid TEXT NOT NULL,
        article_id INTEGER,
        content_hash TEXT,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (feed_id, guid)
    );
    """,
    # Provenance of every version of an article: who added it, the address its text was fetched
    # from, the feed that carried it. An update is allowed only from the same feed or site.
    # Stores from before know only the current version: its first adder (for version 1), and
    # the feed that added it when that feed's entry still holds the current text.
    3: """
    CREATE TABLE article_versions (
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        added_by TEXT,
        added_at TEXT NOT NULL,
        fetched_url TEXT,
        feed_id INTEGER,
        PRIMARY KEY (article_id, version)
    );
    INSERT INTO article_versions
        (article_id, version, content_hash, added_by, added_at, fetched_url, feed_id)
    SELECT a.id, a.version, a.content_hash,
           CASE WHEN a.version = 1 OR f.feed_id IS NOT NULL THEN a.added_by END,
           a.added_at, NULL, f.feed_id
    FROM articles a LEFT JOIN (
        SELECT e.article_id, MIN(e.feed_id) AS feed_id
        FROM feed_entries e JOIN articles x ON x.id = e.article_id
        WHERE x.added_by = 'feed ' || e.feed_id
          AND (e.content_hash = x.content_hash OR e.content_hash LIKE x.content_hash || '@%')
        GROUP BY e.article_id
    ) f ON f.article_id = a.id;
    """,
}


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def content_hash(text: str) -> str:
    """Hash of the text with case, punctuation, quotes and spacing normalized away.

    The same article pasted from two places differs in exactly those ways.
    """
    norm = unicodedata.normalize("NFKC", text).casefold()
    norm = _SPACE.sub(" ", _PUNCT.sub(" ", norm)).strip()
    return hashlib.sha256(norm.encode()).hexdigest()


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
    prefixed: Sequence[str]  # the exact texts that were embedded (prefix + chunk)
    vectors: np.ndarray
    added_by: str | None = None
    minhash: bytes | None = None  # near-duplicate signature (index.ingest.dedup)
    bands: Sequence[int] = ()  # its LSH band keys
    fetched_url: str | None = None  # where the text was fetched from (a page or a feed)
    feed_id: int | None = None  # the feed that carried it


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
    failures: int
    paused: bool
    added_by: str | None


_FEED_COLUMNS = (
    "f.id, c.name, f.url, f.title, f.etag, f.last_modified, f.interval_seconds, f.next_poll_at,"
    " f.last_polled_at, f.last_status, f.failures, f.paused, f.added_by"
)


def _feed(row: sqlite3.Row) -> Feed:
    return Feed(*row[:11], bool(row[11]), row[12])


class FeedStore:
    """Feed state in SQLite, so polling survives restarts; mixed into Store."""

    db: sqlite3.Connection

    def add_feed(
        self, collection_id: int, url: str, *, added_by: str | None, interval_seconds: int
    ) -> Feed:
        from .errors import DuplicateError

        with self.transaction() as db:  # type: ignore[attr-defined]
            row = db.execute(
                "SELECT id, url FROM feeds WHERE collection_id = ? AND url = ?",
                (collection_id, url),
            ).fetchone()
            if row:
                raise DuplicateError(
                    f"that feed is already followed as feed {row[0]}", int(row[0]), row[1]
                )
            cur = db.execute(
                """INSERT INTO feeds (collection_id, url, interval_seconds, added_by, added_at)
                   VALUES (?, ?, ?, ?, ?)""",
                (collection_id, url, interval_seconds, added_by, now_iso()),
            )
        return self.get_feed(int(cur.lastrowid))

    def get_feed(self, feed_id: int, collection_id: int | None = None) -> Feed:
        sql = (
            f"SELECT {_FEED_COLUMNS} FROM feeds f JOIN collections c ON c.id = f.collection_id"
            " WHERE f.id = ?"
        )
        params: tuple = (feed_id,)
        if collection_id is not None:
            sql += " AND f.collection_id = ?"
            params += (collection_id,)
        row = self.db.execute(sql, params).fetchone()
        if row is None:
            raise NotFoundError(f"no feed {feed_id} here")
        return _feed(row)

    def list_feeds(self, collection_id: int) -> list[Feed]:
        rows = self.db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds f JOIN collections c ON c.id = f.collection_id"
            " WHERE f.collection_id = ? ORDER BY f.id",
            (collection_id,),
        )
        return [_feed(r) for r in rows]

    def due_feeds(self, now: float, limit: int = 20) -> list[Feed]:
        rows = self.db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds f JOIN collections c ON c.id = f.collection_id"
            " WHERE f.paused = 0 AND f.next_poll_at <= ? ORDER BY f.next_poll_at LIMIT ?",
            (now, limit),
        )
        return [_feed(r) for r in rows]

    def next_feed_due(self) -> float | None:
        row = self.db.execute("SELECT MIN(next_poll_at) FROM feeds WHERE paused = 0").fetchone()
        return row[0]

    _FEED_FIELDS = frozenset(
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
        }
    )

    def update_feed(self, feed_id: int, **fields: object) -> None:
        unknown = set(fields) - self._FEED_FIELDS
        if unknown:
            raise ValueError(f"unknown feed fields {unknown}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as db:  # type: ignore[attr-defined]
            db.execute(f"UPDATE feeds SET {sets} WHERE id = ?", (*fields.values(), feed_id))

    def remove_feed(self, collection_id: int, feed_id: int) -> Feed:
        feed = self.get_feed(feed_id, collection_id)
        with self.transaction() as db:  # type: ignore[attr-defined]
            db.execute("DELETE FROM feed_entries WHERE feed_id = ?", (feed_id,))
            db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,))
        return feed

    def entry_seen(self, feed_id: int, guid: str) -> tuple[int | None, str | None] | None:
        row = self.db.execute(
            "SELECT article_id, content_hash FROM feed_entries WHERE feed_id = ? AND guid = ?",
            (feed_id, guid),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def mark_entry(
        self, feed_id: int, guid: str, article_id: int | None, text_hash: str | None
    ) -> None:
        with self.transaction() as db:  # type: ignore[attr-defined]
            db.execute(
                """INSERT OR REPLACE INTO feed_entries (feed_id, guid, article_id, content_hash,
                       seen_at) VALUES (?, ?, ?, ?, ?)""",
                (feed_id, guid, article_id, text_hash, now_iso()),
            )


class Store(FeedStore):
    """One SQLite file; a connection per thread, writes serialized by one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.write_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._migrate()

    # -- connections -------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
                )
                conn.row_factory = sqlite3.Row
                _wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot open the database {self.path.name}: {exc}") from None
            self._local.conn = conn
            with self._conn_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._conn_lock:
            for conn in self._connections:
                with suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the write lock; ROLLBACK on any exception.

        IMMEDIATE takes SQLite's write lock at once, so what is read inside (a duplicate
        check, the collection version) still holds when the writes commit, whatever other
        processes do. Nested calls join the outer transaction. A full disk or a damaged file
        becomes a ``DiskFullError`` / ``DamagedStoreError`` saying so.
        """
        with self.write_lock:
            db = self.db
            if getattr(self._local, "writing", False):
                yield db  # part of the transaction this thread already holds
                return
            if db.in_transaction:
                raise RuntimeError("a write inside a read snapshot")
            try:
                db.execute("BEGIN IMMEDIATE")
                self._local.writing = True
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:  # SQLite may have rolled back already (a full disk)
                        with suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                    raise
                finally:
                    self._local.writing = False
            except sqlite3.DatabaseError as exc:
                known = from_sqlite(exc, self.path.name)
                if known is None:
                    raise
                raise known from exc

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Reads that all see one state of the database (a WAL read transaction), however
        other processes write meanwhile; inside a transaction already open, that one."""
        db = self.db
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN")
        try:
            yield db
        finally:
            if db.in_transaction:
                with suppress(sqlite3.Error):
                    db.execute("COMMIT")

    def _migrate(self) -> None:
        """Bring the schema up to date, once, however many processes open a new file at once:
        the version is read again under SQLite's write lock and every step runs in that one
        transaction, so a second process finds the work done (or none of it, after a crash)."""
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path.name} is not a newsbot database: {exc}") from None
        if version > SCHEMA_VERSION:
            raise self._newer(version)
        if version == SCHEMA_VERSION:
            return
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise self._newer(version)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _statements(MIGRATIONS[target]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    def _newer(self, version: int) -> StoreError:
        return StoreError(
            f"{self.path.name} has schema {version}, newer than this newsbot ({SCHEMA_VERSION})"
        )

    def file_bytes(self) -> tuple[int, int]:
        """Bytes of the database file and of its write-ahead log (not yet checkpointed)."""
        sizes = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                sizes.append(path.stat().st_size)
            except OSError:
                sizes.append(0)
        return sizes[0], sizes[1]

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- collections -------------------------------------------------------------------------
    def collection_id(self, name: str, *, create: bool = False) -> int | None:
        row = self.db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        if not create:
            return None
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)",
                (name, now_iso()),
            )
            row = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def collections(self) -> list[tuple[int, str]]:
        return [
            (r[0], r[1]) for r in self.db.execute("SELECT id, name FROM collections ORDER BY id")
        ]

    def newest_date(self, collection_id: int) -> str | None:
        """The latest publication date in a collection (None when no article has one)."""
        row = self.db.execute(
            "SELECT MAX(published_at) FROM articles WHERE collection_id = ?", (collection_id,)
        ).fetchone()
        return row[0] if row else None

    def collection_version(self, collection_id: int) -> int:
        row = self.db.execute(
            "SELECT version FROM collections WHERE id = ?", (collection_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    # -- articles ----------------------------------------------------------------------------
    def find_duplicate(self, collection_id: int, text_hash: str, url: str | None) -> Match | None:
        """The article this one repeats: the same text first, then the same canonical URL."""
        row = self.db.execute(
            "SELECT id, title FROM articles WHERE collection_id = ? AND content_hash = ?",
            (collection_id, text_hash),
        ).fetchone()
        if row:
            return Match(int(row[0]), row[1], "text")
        if url:
            row = self.db.execute(
                "SELECT id, title FROM articles WHERE collection_id = ? AND canonical_url = ?",
                (collection_id, canonical_url(url)),
            ).fetchone()
            if row:
                return Match(int(row[0]), row[1], "url")
        return None

    def add_articles(
        self, collection_id: int, articles: Sequence[NewArticle]
    ) -> list[tuple[int, list[int]]]:
        """Store whole articles in one transaction; returns (article id, chunk ids) for each."""
        out: list[tuple[int, list[int]]] = []
        added = now_iso()
        with self.transaction() as db:
            for art in articles:
                cur = db.execute(
                    """INSERT INTO articles (collection_id, title, source, published_at, url,
                           canonical_url, author, text, content_hash, chunk_count, added_by,
                           added_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        collection_id,
                        art.title,
                        art.source,
                        art.published_at,
                        art.url,
                        canonical_url(art.url),
                        art.author,
                        art.text,
                        art.content_hash,
                        len(art.chunks),
                        art.added_by,
                        added,
                    ),
                )
                article_id = int(cur.lastrowid)
                out.append((article_id, _insert_chunks(db, article_id, art)))
                _insert_minhash(db, collection_id, article_id, art)
                _insert_version(db, article_id, 1, art, added)
            db.execute(
                "UPDATE collections SET version = version + 1 WHERE id = ?", (collection_id,)
            )
        return out

    def near_duplicate(
        self, collection_id: int, signature: np.ndarray, bands: Sequence[int]
    ) -> Match | None:
        """A stored article telling the same story (MinHash over LSH band buckets)."""
        from .ingest import dedup

        if not bands:
            return None
        clauses = " OR ".join("(band = ? AND bucket = ?)" for _ in bands)
        params = [x for band, bucket in enumerate(bands) for x in (band, bucket)]
        rows = self.db.execute(
            f"""SELECT DISTINCT m.article_id, m.signature, a.title FROM minhash_bands b
                JOIN article_minhash m ON m.article_id = b.article_id
                JOIN articles a ON a.id = b.article_id
                WHERE b.collection_id = ? AND ({clauses})""",
            (collection_id, *params),
        ).fetchall()
        best: Match | None = None
        for article_id, blob, title in rows:
            sim = dedup.similarity(signature, dedup.from_blob(blob))
            if sim >= dedup.NEAR_DUPLICATE and (best is None or sim > best.similarity):
                best = Match(int(article_id), title, "near", sim)
        return best

    def add_source(
        self,
        article_id: int,
        *,
        source: str | None,
        url: str | None,
        title: str | None,
        published_at: str | None,
    ) -> None:
        """Another outlet that ran the same story, listed beside the stored article."""
        with self.transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM article_sources WHERE article_id = ? AND url IS ? AND source IS ?",
                (article_id, url, source),
            ).fetchone()
            if not exists:
                db.execute(
                    """INSERT INTO article_sources (article_id, source, url, title,
                           published_at, added_at) VALUES (?, ?, ?, ?, ?, ?)""",
                    (article_id, source, url, title, published_at, now_iso()),
                )

    def article_versions(self, article_id: int) -> list[ArticleVersion]:
        """Every recorded version of an article, oldest first."""
        rows = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM article_versions WHERE article_id = ?"
            " ORDER BY version",
            (article_id,),
        )
        return [ArticleVersion(*r) for r in rows]

    def latest_version(self, article_id: int) -> ArticleVersion | None:
        row = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM article_versions WHERE article_id = ?"
            " ORDER BY version DESC LIMIT 1",
            (article_id,),
        ).fetchone()
        return ArticleVersion(*row) if row else None

    def other_sources(self, article_id: int) -> list[tuple[str | None, str | None]]:
        return [
            (r[0], r[1])
            for r in self.db.execute(
                "SELECT source, url FROM article_sources WHERE article_id = ? ORDER BY rowid",
                (article_id,),
            )
        ]

    def replace_article(
        self, collection_id: int, article_id: int, art: NewArticle
    ) -> tuple[list[int], list[int], int]:
        """A changed version of a stored article (same URL, new text): its chunks are replaced
        in one transaction. Returns (new chunk ids, old chunk ids, new version)."""
        with self.transaction() as db:
            old = [
                r[0]
                for r in db.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))
            ]
            db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            db.execute("DELETE FROM minhash_bands WHERE article_id = ?", (article_id,))
            db.execute("DELETE FROM article_minhash WHERE article_id = ?", (article_id,))
            db.execute(
                """UPDATE articles SET title = ?, source = ?, published_at = ?, author = ?,
                       text = ?, content_hash = ?, chunk_count = ?, version = version + 1
                   WHERE id = ? AND collection_id = ?""",
                (
                    art.title,
                    art.source,
                    art.published_at,
                    art.author,
                    art.text,
                    art.content_hash,
                    len(art.chunks),
                    article_id,
                    collection_id,
                ),
            )
            new = _insert_chunks(db, article_id, art)
            _insert_minhash(db, collection_id, article_id, art)
            version = db.execute(
                "SELECT version FROM articles WHERE id = ?", (article_id,)
            ).fetchone()[0]
            _insert_version(db, article_id, int(version), art, now_iso())
            db.execute(
                "UPDATE collections SET version = version + 1 WHERE id = ?", (collection_id,)
            )
        return new, old, int(version)

    def delete_article(self, collection_id: int, article_id: int) -> tuple[Article, list[int]]:
        """Remove an article and its chunks; returns it and the chunk ids that went with it."""
        with self.transaction() as db:
            article = self.get_article(collection_id, article_id)
            chunk_ids = [
                r[0]
                for r in db.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))
            ]
            db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            db.execute(
                "UPDATE collections SET version = version + 1 WHERE id = ?", (collection_id,)
            )
        return article, chunk_ids

    def get_article(self, collection_id: int, article_id: int) -> Article:
        row = self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            " JOIN collections c ON c.id = a.collection_id"
            " WHERE a.id = ? AND a.collection_id = ?",
            (article_id, collection_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no article {article_id} in this collection")
        return _article(row)

    def list_articles(
        self, collection_id: int, *, limit: int = 50, offset: int = 0
    ) -> list[Article]:
        rows = self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            " JOIN collections c ON c.id = a.collection_id"
            " WHERE a.collection_id = ?"
            " ORDER BY COALESCE(a.published_at, '') DESC, a.id DESC LIMIT ? OFFSET ?",
            (collection_id, limit, offset),
        )
        return [_article(r) for r in rows]

    def article_text(self, article_id: int) -> str:
        row = self.db.execute("SELECT text FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row[0] if row else ""

    def counts(self, collection_id: int) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(chunk_count), 0) FROM articles WHERE collection_id = ?",
            (collection_id,),
        ).fetchone()
        return int(row[0]), int(row[1])

    # -- chunks ------------------------------------------------------------------------------
    def iter_vectors(
        self, collection_id: int, batch: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of a collection's chunks, in batches, for rebuilding FAISS."""
        last = 0
        while True:
            rows = self.db.execute(
                # CROSS JOIN keeps SQLite walking chunks by row id; a plain JOIN let it sort
                # every remaining row, vectors included, for each batch (quadratic at 1 M).
                """SELECT ch.id, ch.vector FROM chunks ch CROSS JOIN articles a
                   ON a.id = ch.article_id
                   WHERE a.collection_id = ? AND ch.id > ? ORDER BY ch.id LIMIT ?""",
                (collection_id, last, batch),
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield ids, vecs.reshape(len(rows), -1)
            last = int(ids[-1])

    def iter_chunk_texts(self, collection_id: int, batch: int = 512) -> Iterator[list[tuple]]:
        """(chunk id, chunk text, title, source, published_at) batches, for re-embedding."""
        last = 0
        while True:
            rows = self.db.execute(
                """SELECT ch.id, ch.text, a.title, a.source, a.published_at FROM chunks ch
                   JOIN articles a ON a.id = ch.article_id
                   WHERE a.collection_id = ? AND ch.id > ? ORDER BY ch.id LIMIT ?""",
                (collection_id, last, batch),
            ).fetchall()
            if not rows:
                return
            yield [tuple(r) for r in rows]
            last = int(rows[-1][0])

    def replace_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE chunks SET vector = ? WHERE id = ?",
                [
                    (np.asarray(v, dtype=np.float32).tobytes(), int(i))
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )

    def bump_version(self, collection_id: int) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE collections SET version = version + 1 WHERE id = ?", (collection_id,)
            )

    def chunk_count(self, collection_id: int) -> int:
        row = self.db.execute(
            """SELECT COUNT(*) FROM chunks ch JOIN articles a ON a.id = ch.article_id
               WHERE a.collection_id = ?""",
            (collection_id,),
        ).fetchone()
        return int(row[0])

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """Join chunk ids (with scores) to their text and article metadata, keeping order."""
        if not scored:
            return []
        ids = [cid for cid, _ in scored]
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"""SELECT ch.id, ch.article_id, ch.text, ch.start, ch.end, a.title, a.source,
                       a.published_at, a.url
                FROM chunks ch JOIN articles a ON a.id = ch.article_id WHERE ch.id IN ({marks})""",
            ids,
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        out = []
        for cid, score in scored:
            r = by_id.get(cid)
            if r is None:
                continue
            out.append(
                Hit(
                    chunk_id=r[0],
                    article_id=r[1],
                    score=float(score),
                    text=r[2],
                    start=r[3],
                    end=r[4],
                    title=r[5],
                    source=r[6],
                    published_at=r[7],
                    url=r[8],
                )
            )
        return out

    def chunk_dates(self, chunk_ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
        """Article id and publication date of each chunk: enough to re-rank a large pool by
        date before any text is read."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self.db.execute(
            f"""SELECT ch.id, ch.article_id, a.published_at FROM chunks ch
                JOIN articles a ON a.id = ch.article_id WHERE ch.id IN ({marks})""",
            list(chunk_ids),
        ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def filtered_chunk_ids(
        self,
        collection_id: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
    ) -> np.ndarray:
        clauses, params = _filter_sql(source, since, until, as_of)
        rows = self.db.execute(
            f"""SELECT ch.id FROM chunks ch JOIN articles a ON a.id = ch.article_id
                WHERE a.collection_id = ?{clauses}""",
            (collection_id, *params),
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def lexical(
        self,
        collection_id: int,
        match: str,
        limit: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
        title_weight: float = 2.0,
    ) -> list[tuple[int, float]]:
        """BM25 over chunk text and article title; higher is better (FTS5's sign flipped).

        Unfiltered, the best rows of the whole index are ranked first and only those are joined
        to their collection (joining every match made the query 3× slower); when that leaves
        too few rows for this collection, the exact filtered query runs instead.
        """
        clauses, params = _filter_sql(source, since, until, as_of)
        try:
            if not clauses:
                rows = self.db.execute(
                    """SELECT f.rowid, f.score FROM (
                           SELECT rowid, -bm25(chunks_fts, ?, 1.0) AS score FROM chunks_fts
                           WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, ?, 1.0) LIMIT ?
                       ) f CROSS JOIN chunks ch ON ch.id = f.rowid
                       JOIN articles a ON a.id = ch.article_id
                       WHERE a.collection_id = ? ORDER BY f.score DESC LIMIT ?""",
                    (title_weight, match, title_weight, limit * 4, collection_id, limit),
                ).fetchall()
                if len(rows) == limit or self._single_collection():
                    return [(int(r[0]), float(r[1])) for r in rows]
            rows = self.db.execute(
                f"""SELECT f.rowid, -bm25(chunks_fts, ?, 1.0) AS score
                    FROM chunks_fts f JOIN chunks ch ON ch.id = f.rowid
                    JOIN articles a ON a.id = ch.article_id
                    WHERE chunks_fts MATCH ? AND a.collection_id = ?{clauses}
                    ORDER BY bm25(chunks_fts, ?, 1.0) LIMIT ?""",
                (title_weight, match, collection_id, *params, title_weight, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        return [(int(r[0]), float(r[1])) for r in rows]

    def _single_collection(self) -> bool:
        return self.db.execute("SELECT COUNT(*) FROM collections").fetchone()[0] <= 1

    def integrity_problems(self) -> list[str]:
        """Empty when the file is sound and every article holds exactly its chunks; a damaged
        file is one problem that says what to do (restore a backup, or ``.recover``). All from one
        snapshot: counts read while another process writes would disagree."""
        try:
            with self.snapshot():
                return self._integrity_problems()
        except sqlite3.DatabaseError as exc:
            return [damaged_message(self.path.name, str(exc))]

    def _integrity_problems(self) -> list[str]:
        damage = [r[0] for r in self.db.execute("PRAGMA integrity_check(20)") if r[0] != "ok"]
        if damage:
            more = f"; {len(damage) - 3} more" if len(damage) > 3 else ""
            detail = "; ".join(" ".join(d.split()) for d in damage[:3]) + more
            return [damaged_message(self.path.name, detail)]
        rows = self.db.execute(
            """SELECT a.id, a.chunk_count, COUNT(ch.id) FROM articles a
               LEFT JOIN chunks ch ON ch.article_id = a.id GROUP BY a.id
               HAVING COUNT(ch.id) != a.chunk_count"""
        ).fetchall()
        problems = [f"article {r[0]} has {r[2]} of its {r[1]} chunks" for r in rows]
        fts = self.db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
        total = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        if fts != total:
            problems.append(f"full-text index holds {fts} rows for {total} chunks")
        return problems


@dataclass(frozen=True)
class Match:
    """An already stored article that a new one repeats, and how it was recognised."""

    article_id: int
    title: str
    by: str  # "text", "url" or "near" (the same story, near-identical text)
    similarity: float = 1.0


def _insert_chunks(db: sqlite3.Connection, article_id: int, art: NewArticle) -> list[int]:
    chunk_ids = []
    for span, vector in zip(art.chunks, art.vectors, strict=True):
        cur = db.execute(
            """INSERT INTO chunks (article_id, ordinal, start, end, text, vector)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (
                article_id,
                span.ordinal,
                span.start,
                span.end,
                span.text,
                np.asarray(vector, dtype=np.float32).tobytes(),
            ),
        )
        chunk_id = int(cur.lastrowid)
        db.execute(
            "INSERT INTO chunks_fts (rowid, title, text) VALUES (?, ?, ?)",
            (chunk_id, art.title, span.text),
        )
        chunk_ids.append(chunk_id)
    return chunk_ids


_VERSION_COLUMNS = "article_id, version, content_hash, added_by, added_at, fetched_url, feed_id"


def _insert_version(
    db: sqlite3.Connection, article_id: int, version: int, art: NewArticle, added_at: str
) -> None:
    db.execute(
        f"INSERT OR REPLACE INTO article_versions ({_VERSION_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            article_id,
            version,
            art.content_hash,
            art.added_by,
            added_at,
            art.fetched_url,
            art.feed_id,
        ),
    )


def _insert_minhash(
    db: sqlite3.Connection, collection_id: int, article_id: int, art: NewArticle
) -> None:
    if art.minhash is None:
        return
    db.execute(
        "INSERT OR REPLACE INTO article_minhash (article_id, signature) VALUES (?, ?)",
        (article_id, art.minhash),
    )
    db.executemany(
        "INSERT INTO minhash_bands (collection_id, band, bucket, article_id) VALUES (?, ?, ?, ?)",
        [(collection_id, band, bucket, article_id) for band, bucket in enumerate(art.bands)],
    )


_ARTICLE_COLUMNS = (
    "a.id, c.name, a.title, a.source, a.published_at, a.url, a.text, a.content_hash,"
    " a.added_by, a.added_at, a.chunk_count"
)


def _article(row: sqlite3.Row) -> Article:
    return Article(
        id=row[0],
        collection=row[1],
        title=row[2],
        source=row[3],
        published_at=row[4],
        url=row[5],
        text=row[6],
        content_hash=row[7],
        added_by=row[8],
        added_at=row[9],
        chunk_count=row[10],
    )


def _filter_sql(
    source: str | None, since: str | None, until: str | None, as_of: str | None = None
) -> tuple[str, list]:
    """SQL for the filters; ``as_of`` keeps undated articles, an explicit ``until`` does not."""
    clauses, params = "", []
    if source:
        clauses += " AND a.source = ? COLLATE NOCASE"
        params.append(source)
    if since:
        clauses += " AND a.published_at >= ?"
        params.append(since)
    if until:
        clauses += " AND a.published_at <= ?"
        params.append(until)
    if as_of:
        clauses += " AND (a.published_at IS NULL OR a.published_at <= ?)"
        params.append(as_of)
    return clauses, params


def _wal(conn: sqlite3.Connection) -> None:
    """Switch to write-ahead logging. The first switch of a new file needs it to itself, and
    SQLite does not wait for that on its own: several processes opening a new data folder at
    once would fail with "database is locked", so wait here (bounded)."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF in (5, 6)  # BUSY, LOCKED
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            out.append(joined)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf))
    return out
