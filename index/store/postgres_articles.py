"""Collections and articles in PostgreSQL (``CollectionStore``, ``ArticleStore``), the same
protocols as ``sqlite_articles.py``, sharing ``PostgresStore``'s connections and transactions.

Every write that changes what search sees goes through ``bump``: the collection's version goes up
in the same transaction, and ``chunk_log`` records which chunks that version added, removed or
re-embedded, so other processes' derived indexes follow without a rebuild (``changes_since``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DuplicateError, NotFoundError
from ..models import Article
from .base import ArticleVersion, NewArticle, StoredRef
from .sqlite_articles import now_iso

if TYPE_CHECKING:
    import psycopg

    from .postgres import PostgresStore


def bump(
    db: psycopg.Connection,
    collection_id: int,
    added: Sequence[int] = (),
    removed: Sequence[int] = (),
    revectored: Sequence[int] = (),
) -> int:
    """Count one change to a collection and log what it did to its chunks; its new version."""
    version = db.execute(
        "UPDATE collections SET version = version + 1 WHERE id = %s RETURNING version",
        (collection_id,),
    ).fetchone()[0]
    rows = [(collection_id, version, int(c), "r") for c in removed]
    rows += [(collection_id, version, int(c), "a") for c in added]
    rows += [(collection_id, version, int(c), "v") for c in revectored]
    if rows:
        with (
            db.cursor() as cur,
            cur.copy("COPY chunk_log (collection_id, version, chunk_id, op) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    return int(version)


def _vec(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


class PgCollections:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def id_of(self, name: str, *, create: bool = False) -> int | None:
        row = self._store.one("SELECT id FROM collections WHERE name = %s", (name,))
        if row:
            return int(row[0])
        if not create:
            return None
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO collections (name, created_at) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, now_iso()),
            )
            row = db.execute("SELECT id FROM collections WHERE name = %s", (name,)).fetchone()
        return int(row[0])

    def all(self) -> list[tuple[int, str]]:
        return [
            (int(r[0]), r[1])
            for r in self._store.execute("SELECT id, name FROM collections ORDER BY id")
        ]

    def version(self, collection_id: int) -> int:
        """Inside a transaction, read under the collection's write lock (taken here)."""
        self._store.lock(collection_id)
        row = self._store.one("SELECT version FROM collections WHERE id = %s", (collection_id,))
        return int(row[0]) if row else 0

    def newest_date(self, collection_id: int) -> str | None:
        row = self._store.one(
            "SELECT MAX(published_at) FROM articles WHERE collection_id = %s", (collection_id,)
        )
        return row[0] if row else None

    def counts(self, collection_id: int) -> tuple[int, int]:
        row = self._store.one(
            "SELECT COUNT(*), COALESCE(SUM(chunk_count), 0) FROM articles WHERE collection_id = %s",
            (collection_id,),
        )
        return int(row[0]), int(row[1])

    def changes_since(
        self, collection_id: int, version: int
    ) -> tuple[int, list[tuple[int, str]]] | None:
        """(current version, [(chunk id, op)] in order) from ``version`` on, from one snapshot;
        None when the log does not reach back that far (a full rebuild is needed)."""
        with self._store.snapshot() as db:
            row = db.execute(
                "SELECT version, logged_from FROM collections WHERE id = %s", (collection_id,)
            ).fetchone()
            now, floor = (int(row[0]), int(row[1])) if row else (0, 0)
            if now == version:
                return now, []
            if now < version or version < floor:
                return None
            rows = db.execute(
                "SELECT version, chunk_id, op FROM chunk_log"
                " WHERE collection_id = %s AND version > %s ORDER BY version, op DESC",
                (collection_id, version),
            ).fetchall()
        return now, [(int(r[1]), r[2]) for r in rows]


_VERSION_COLUMNS = "article_id, version, content_hash, added_by, added_at, fetched_url, feed_id"
_ARTICLE_COLUMNS = (
    "a.id, c.name, a.title, a.source, a.published_at, a.url, a.text, a.content_hash,"
    " a.added_by, a.added_at, a.chunk_count"
)


class PgArticles:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def by_text(self, collection_id: int, text_hash: str) -> StoredRef | None:
        self._store.lock(collection_id)
        return self._ref(
            "SELECT id, title FROM articles WHERE collection_id = %s AND content_hash = %s",
            (collection_id, text_hash),
        )

    def by_url(self, collection_id: int, canonical_url: str) -> StoredRef | None:
        self._store.lock(collection_id)
        return self._ref(
            "SELECT id, title FROM articles WHERE collection_id = %s AND canonical_url = %s",
            (collection_id, canonical_url),
        )

    def _ref(self, sql: str, params: tuple) -> StoredRef | None:
        row = self._store.one(sql, params)
        return StoredRef(int(row[0]), row[1]) if row else None

    def near_candidates(
        self, collection_id: int, bands: Sequence[int]
    ) -> list[tuple[StoredRef, bytes]]:
        if not bands:
            return []
        self._store.lock(collection_id)
        rows = self._store.execute(
            """SELECT DISTINCT m.article_id, m.signature, a.title FROM minhash_bands b
               JOIN unnest(%s::int[], %s::bigint[]) AS k(band, bucket)
                 ON b.band = k.band AND b.bucket = k.bucket
               JOIN article_minhash m ON m.article_id = b.article_id
               JOIN articles a ON a.id = b.article_id
               WHERE b.collection_id = %s""",
            (list(range(len(bands))), [int(b) for b in bands], collection_id),
        )
        return [(StoredRef(int(r[0]), r[2]), bytes(r[1])) for r in rows]

    # -- writes ------------------------------------------------------------------------------
    def add(
        self, collection_id: int, articles: Sequence[NewArticle]
    ) -> list[tuple[int, list[int]]]:
        out: list[tuple[int, list[int]]] = []
        added = now_iso()
        with self._store.transaction() as db:
            self._store.lock(collection_id)
            for art in articles:
                row = db.execute(
                    """INSERT INTO articles (collection_id, title, source, published_at, url,
                           canonical_url, author, text, content_hash, chunk_count, added_by,
                           added_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT DO NOTHING RETURNING id""",
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
                ).fetchone()
                if row is None:  # the unique constraints: text hash or canonical URL
                    ref = self.by_text(collection_id, art.content_hash) or (
                        self.by_url(collection_id, art.canonical_url or "")
                    )
                    raise DuplicateError(
                        "that article is already stored",
                        ref.id if ref else 0,
                        ref.title if ref else art.title,
                    )
                article_id = int(row[0])
                out.append((article_id, _insert_chunks(db, collection_id, article_id, art)))
                _insert_minhash(db, collection_id, article_id, art)
                _insert_version(db, article_id, 1, art, added)
            bump(db, collection_id, added=[c for _, ids in out for c in ids])
        return out

    def replace(
        self, collection_id: int, article_id: int, article: NewArticle
    ) -> tuple[list[int], list[int], int]:
        art = article
        with self._store.transaction() as db:
            self._store.lock(collection_id)
            old = [
                int(r[0])
                for r in db.execute(
                    "DELETE FROM chunks WHERE article_id = %s RETURNING id", (article_id,)
                )
            ]
            old.sort()
            db.execute("DELETE FROM minhash_bands WHERE article_id = %s", (article_id,))
            db.execute("DELETE FROM article_minhash WHERE article_id = %s", (article_id,))
            row = db.execute(
                """UPDATE articles SET title = %s, source = %s, published_at = %s, author = %s,
                       text = %s, content_hash = %s, chunk_count = %s, version = version + 1
                   WHERE id = %s AND collection_id = %s RETURNING version""",
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
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no article {article_id} in this collection")
            new = _insert_chunks(db, collection_id, article_id, art)
            _insert_minhash(db, collection_id, article_id, art)
            version = int(row[0])
            _insert_version(db, article_id, version, art, now_iso())
            bump(db, collection_id, added=new, removed=old)
        return new, old, version

    def delete(self, collection_id: int, article_id: int) -> tuple[Article, list[int]]:
        with self._store.transaction() as db:
            self._store.lock(collection_id)
            article = self.get(collection_id, article_id)
            chunk_ids = sorted(
                int(r[0])
                for r in db.execute(
                    "DELETE FROM chunks WHERE article_id = %s RETURNING id", (article_id,)
                )
            )
            db.execute("DELETE FROM articles WHERE id = %s", (article_id,))
            bump(db, collection_id, removed=chunk_ids)
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
            db.execute(
                """INSERT INTO article_sources (article_id, source, url, title, published_at,
                       added_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                (article_id, source, url, title, published_at, now_iso()),
            )

    # -- reads -------------------------------------------------------------------------------
    def other_sources(self, article_id: int) -> list[tuple[str | None, str | None]]:
        rows = self._store.execute(
            "SELECT source, url FROM article_sources WHERE article_id = %s ORDER BY id",
            (article_id,),
        )
        return [(r[0], r[1]) for r in rows]

    def versions(self, article_id: int) -> list[ArticleVersion]:
        rows = self._store.execute(
            f"SELECT {_VERSION_COLUMNS} FROM article_versions WHERE article_id = %s"
            " ORDER BY version",
            (article_id,),
        )
        return [_version(r) for r in rows]

    def latest_version(self, article_id: int) -> ArticleVersion | None:
        row = self._store.one(
            f"SELECT {_VERSION_COLUMNS} FROM article_versions WHERE article_id = %s"
            " ORDER BY version DESC LIMIT 1",
            (article_id,),
        )
        return _version(row) if row else None

    def get(self, collection_id: int, article_id: int) -> Article:
        row = self._store.one(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            " JOIN collections c ON c.id = a.collection_id"
            " WHERE a.id = %s AND a.collection_id = %s",
            (article_id, collection_id),
        )
        if row is None:
            raise NotFoundError(f"no article {article_id} in this collection")
        return Article(*row)

    def page(self, collection_id: int, *, limit: int = 50, offset: int = 0) -> list[Article]:
        rows = self._store.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            " JOIN collections c ON c.id = a.collection_id"
            " WHERE a.collection_id = %s"
            " ORDER BY COALESCE(a.published_at, '') DESC, a.id DESC LIMIT %s OFFSET %s",
            (collection_id, limit, offset),
        )
        return [Article(*r) for r in rows]

    def text(self, article_id: int) -> str:
        row = self._store.one("SELECT text FROM articles WHERE id = %s", (article_id,))
        return row[0] if row else ""


def _version(row: tuple) -> ArticleVersion:
    return ArticleVersion(
        int(row[0]), int(row[1]), *row[2:6], None if row[6] is None else int(row[6])
    )


def _insert_chunks(
    db: psycopg.Connection, collection_id: int, article_id: int, art: NewArticle
) -> list[int]:
    n = len(art.chunks)
    if n == 0:
        return []
    ids = [
        int(r[0])
        for r in db.execute(
            "SELECT nextval('chunks_id_seq') FROM generate_series(1, %s) ORDER BY 1", (n,)
        )
    ]
    with (
        db.cursor() as cur,
        cur.copy(
            'COPY chunks (id, article_id, collection_id, ordinal, start, "end", text, vector)'
            " FROM STDIN"
        ) as copy,
    ):
        for cid, span, vector in zip(ids, art.chunks, art.vectors, strict=True):
            copy.write_row(
                (
                    cid,
                    article_id,
                    collection_id,
                    span.ordinal,
                    span.start,
                    span.end,
                    span.text,
                    _vec(vector),
                )
            )
    return ids


def _insert_version(
    db: psycopg.Connection, article_id: int, version: int, art: NewArticle, added_at: str
) -> None:
    db.execute(
        f"INSERT INTO article_versions ({_VERSION_COLUMNS})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (article_id, version) DO UPDATE SET content_hash = EXCLUDED.content_hash,"
        " added_by = EXCLUDED.added_by, added_at = EXCLUDED.added_at,"
        " fetched_url = EXCLUDED.fetched_url, feed_id = EXCLUDED.feed_id",
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
    db: psycopg.Connection, collection_id: int, article_id: int, art: NewArticle
) -> None:
    if art.minhash is None:
        return
    db.execute(
        "INSERT INTO article_minhash (article_id, signature) VALUES (%s, %s)"
        " ON CONFLICT (article_id) DO UPDATE SET signature = EXCLUDED.signature",
        (article_id, art.minhash),
    )
    if art.bands:
        db.execute(
            "INSERT INTO minhash_bands (collection_id, band, bucket, article_id)"
            " SELECT %s, k.band, k.bucket, %s FROM unnest(%s::int[], %s::bigint[])"
            " AS k(band, bucket)",
            (collection_id, article_id, list(range(len(art.bands))), [int(b) for b in art.bands]),
        )
