"""Collections and articles in SQLite (``CollectionStore``, ``ArticleStore``).

An article is written with its chunks, their full-text rows, its MinHash signature and band keys
and a version row in one transaction that also bumps its collection's version (``bump``: the one
place a version goes up; every write that changes what search sees calls it, re-embedded vectors
included).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NotFoundError
from ..models import Article
from .base import ArticleVersion, NewArticle, StoredRef

if TYPE_CHECKING:
    from .sqlite import SqliteStore


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def bump(db: sqlite3.Connection, collection_id: int) -> None:
    """Count one change to a collection: part of the transaction that made it."""
    db.execute("UPDATE collections SET version = version + 1 WHERE id = ?", (collection_id,))


class SqliteCollections:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def id_of(self, name: str, *, create: bool = False) -> int | None:
        row = self._store.db.execute(
            "SELECT id FROM collections WHERE name = ?", (name,)
        ).fetchone()
        if row:
            return int(row[0])
        if not create:
            return None
        with self._store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)",
                (name, now_iso()),
            )
            row = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def all(self) -> list[tuple[int, str]]:
        rows = self._store.db.execute("SELECT id, name FROM collections ORDER BY id")
        return [(r[0], r[1]) for r in rows]

    def version(self, collection_id: int) -> int:
        row = self._store.db.execute(
            "SELECT version FROM collections WHERE id = ?", (collection_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def newest_date(self, collection_id: int) -> str | None:
        row = self._store.db.execute(
            "SELECT MAX(published_at) FROM articles WHERE collection_id = ?", (collection_id,)
        ).fetchone()
        return row[0] if row else None

    def counts(self, collection_id: int) -> tuple[int, int]:
        row = self._store.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(chunk_count), 0) FROM articles WHERE collection_id = ?",
            (collection_id,),
        ).fetchone()
        return int(row[0]), int(row[1])


class SqliteArticles:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    # -- what is already stored --------------------------------------------------------------
    def by_text(self, collection_id: int, text_hash: str) -> StoredRef | None:
        return self._ref(
            "SELECT id, title FROM articles WHERE collection_id = ? AND content_hash = ?",
            (collection_id, text_hash),
        )

    def by_url(self, collection_id: int, canonical_url: str) -> StoredRef | None:
        return self._ref(
            "SELECT id, title FROM articles WHERE collection_id = ? AND canonical_url = ?",
            (collection_id, canonical_url),
        )

    def _ref(self, sql: str, params: tuple) -> StoredRef | None:
        row = self._store.db.execute(sql, params).fetchone()
        return StoredRef(int(row[0]), row[1]) if row else None

    def near_candidates(
        self, collection_id: int, bands: Sequence[int]
    ) -> list[tuple[StoredRef, bytes]]:
        if not bands:
            return []
        clauses = " OR ".join("(band = ? AND bucket = ?)" for _ in bands)
        params = [x for band, bucket in enumerate(bands) for x in (band, bucket)]
        rows = self._store.db.execute(
            f"""SELECT DISTINCT m.article_id, m.signature, a.title FROM minhash_bands b
                JOIN article_minhash m ON m.article_id = b.article_id
                JOIN articles a ON a.id = b.article_id
                WHERE b.collection_id = ? AND ({clauses})""",
            (collection_id, *params),
        ).fetchall()
        return [(StoredRef(int(r[0]), r[2]), bytes(r[1])) for r in rows]

    # -- writes ------------------------------------------------------------------------------
    def add(
        self, collection_id: int, articles: Sequence[NewArticle]
    ) -> list[tuple[int, list[int]]]:
        out: list[tuple[int, list[int]]] = []
        added = now_iso()
        with self._store.transaction() as db:
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
                        art.canonical_url,
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
            bump(db, collection_id)
        return out

    def replace(
        self, collection_id: int, article_id: int, article: NewArticle
    ) -> tuple[list[int], list[int], int]:
        art = article
        with self._store.transaction() as db:
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
            bump(db, collection_id)
        return new, old, int(version)

    def delete(self, collection_id: int, article_id: int) -> tuple[Article, list[int]]:
        with self._store.transaction() as db:
            article = self.get(collection_id, article_id)
            chunk_ids = [
                r[0]
                for r in db.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))
            ]
            db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            bump(db, collection_id)
        return article, chunk_ids

    def add_source(
        self,
        article_id: int,
        *,
        source: str | None,
        url: str | None,
        title: str | None,
        published_at: str | None,
    ) -> None:
        with self._store.transaction() as db:
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

    # -- reads -------------------------------------------------------------------------------
    def other_sources(self, article_id: int) -> list[tuple[str | None, str | None]]:
        rows = self._store.db.execute(
            "SELECT source, url FROM article_sources WHERE article_id = ? ORDER BY rowid",
            (article_id,),
        )
        return [(r[0], r[1]) for r in rows]

    def versions(self, article_id: int) -> list[ArticleVersion]:
        rows = self._store.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM article_versions WHERE article_id = ?"
            " ORDER BY version",
            (article_id,),
        )
        return [ArticleVersion(*r) for r in rows]

    def latest_version(self, article_id: int) -> ArticleVersion | None:
        row = self._store.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM article_versions WHERE article_id = ?"
            " ORDER BY version DESC LIMIT 1",
            (article_id,),
        ).fetchone()
        return ArticleVersion(*row) if row else None

    def get(self, collection_id: int, article_id: int) -> Article:
        row = self._store.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            " JOIN collections c ON c.id = a.collection_id"
            " WHERE a.id = ? AND a.collection_id = ?",
            (article_id, collection_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no article {article_id} in this collection")
        return _article(row)

    def page(self, collection_id: int, *, limit: int = 50, offset: int = 0) -> list[Article]:
        rows = self._store.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            " JOIN collections c ON c.id = a.collection_id"
            " WHERE a.collection_id = ?"
            " ORDER BY COALESCE(a.published_at, '') DESC, a.id DESC LIMIT ? OFFSET ?",
            (collection_id, limit, offset),
        )
        return [_article(r) for r in rows]

    def text(self, article_id: int) -> str:
        row = self._store.db.execute(
            "SELECT text FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return row[0] if row else ""


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
    """A row of ``_ARTICLE_COLUMNS``, which are ``Article``'s fields in order."""
    return Article(*row)
