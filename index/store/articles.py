"""Collections and articles (``CollectionStore``, ``ArticleStore``), on both backends.

An article is written with its chunks, its MinHash signature and band keys and a version row in
one transaction that also bumps its collection's version (``bump``: the one place a version goes
up; every write that changes what search sees calls it, re-embedded vectors included), and
``chunk_log`` records which chunks that version added, removed or re-embedded, so other
processes' derived indexes follow without a rebuild (``changes_since``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from ..errors import DuplicateError, NotFoundError
from ..models import Article
from .base import ArticleVersion, NewArticle, StoredRef
from .sql import ARTICLE_SELECT, Part, SqlStore, now_iso, select

# A collection's chunk log reaches back this many versions; a process further behind rebuilds
# (``changes_since`` says so). Pruned every ``LOG_PRUNE_EVERY`` versions, in the bump's
# transaction.
LOG_KEPT = 1000
LOG_PRUNE_EVERY = 100

# What of a ``NewArticle`` is stored elsewhere than in its ``articles`` row; every other field
# is a column of that name. A replacement keeps the article's address and first adder.
_ELSEWHERE = {"chunks", "vectors", "digests", "minhash", "bands", "fetched_url", "feed_id"}
COLUMNS = tuple(f.name for f in fields(NewArticle) if f.name not in _ELSEWHERE)
REPLACED = tuple(c for c in COLUMNS if c not in ("url", "canonical_url", "added_by"))
VERSION_SELECT = f"SELECT {select(ArticleVersion, 'v')} FROM article_versions v"


def bump(
    store: SqlStore,
    collection_id: int,
    added: Sequence[int] = (),
    removed: Sequence[int] = (),
    revectored: Sequence[int] = (),
) -> int:
    """Count one change to a collection and log what it did to its chunks, in the caller's
    transaction; the new version."""
    version = int(
        store.value(
            "UPDATE collections SET version = version + 1 WHERE id = ? RETURNING version",
            (collection_id,),
        )
    )
    rows = [(collection_id, version, int(c), "r") for c in removed]
    rows += [(collection_id, version, int(c), "a") for c in added]
    rows += [(collection_id, version, int(c), "v") for c in revectored]
    if rows:
        store.insert_rows("chunk_log", ("collection_id", "version", "chunk_id", "op"), rows)
    if version % LOG_PRUNE_EVERY == 0 and version > LOG_KEPT:
        floor = version - LOG_KEPT
        store.run(
            "DELETE FROM chunk_log WHERE collection_id = ? AND version <= ?", (collection_id, floor)
        )
        store.run(
            "UPDATE collections SET logged_from = ? WHERE id = ? AND logged_from < ?",
            (floor, collection_id, floor),
        )
    return version


def _vectors_of(articles: Sequence[NewArticle]) -> tuple[list[bytes | None], np.ndarray]:
    """Every chunk's digest and vector, in order (no digests given: each stored unshared)."""
    digests: list[bytes | None] = []
    for art in articles:
        given = list(art.digests)
        if given and len(given) != len(art.chunks):
            raise ValueError(f"{len(given)} digests for {len(art.chunks)} chunks")
        digests += given or [None] * len(art.chunks)
    vectors = [np.asarray(a.vectors, dtype=np.float32) for a in articles if len(a.chunks)]
    return digests, (np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32))


class CollectionStore(Part):
    """Collections by name, and the version each one is at (``base.py``: the contract)."""

    def id_of(self, name: str, *, create: bool = False) -> int | None:
        """The collection's id; with ``create``, made (atomically, once) when missing."""
        found = self._store.value("SELECT id FROM collections WHERE name = ?", (name,))
        if found is not None or not create:
            return found
        with self._store.transaction():
            self._store.run(
                "INSERT INTO collections (name, created_at) VALUES (?, ?)"
                " ON CONFLICT (name) DO NOTHING",
                (name, now_iso()),
            )
            return self._store.value("SELECT id FROM collections WHERE name = ?", (name,))

    def all(self) -> list[tuple[int, str]]:
        """(id, name) of every collection, oldest first."""
        return [
            (r[0], r[1]) for r in self._store.rows("SELECT id, name FROM collections ORDER BY id")
        ]

    def version(self, collection_id: int) -> int:
        """The collection's version (0 for one never written to); inside a transaction, read
        under the collection's write lock (taken here)."""
        self._store.lock(collection_id)
        return self._store.value(
            "SELECT version FROM collections WHERE id = ?", (collection_id,), 0
        )

    def newest_date(self, collection_id: int) -> str | None:
        """The latest publication date of its articles (None when none has one)."""
        return self._store.value(
            "SELECT MAX(published_at) FROM articles WHERE collection_id = ?", (collection_id,)
        )

    def counts(self, collection_id: int) -> tuple[int, int]:
        """(articles, chunks) in the collection."""
        n, chunks = self._store.row(
            "SELECT COUNT(*), COALESCE(SUM(chunk_count), 0) FROM articles WHERE collection_id = ?",
            (collection_id,),
        )
        return int(n), int(chunks)

    def changes_since(
        self, collection_id: int, version: int
    ) -> tuple[int, list[tuple[int, str]]] | None:
        """(current version, [(chunk id, op)] in order) from ``version`` on, from one snapshot;
        None when the log does not reach back that far (a full rebuild is needed)."""
        with self._store.snapshot():
            row = self._store.row(
                "SELECT version, logged_from FROM collections WHERE id = ?", (collection_id,)
            )
            now, floor = (int(row[0]), int(row[1])) if row else (0, 0)
            if now == version:
                return now, []
            if now < version or version < floor:
                return None
            rows = self._store.rows(
                "SELECT chunk_id, op FROM chunk_log WHERE collection_id = ? AND version > ?"
                " ORDER BY version, op DESC",
                (collection_id, version),
            )
        return now, [(int(r[0]), r[1]) for r in rows]


class ArticleStore(Part):
    """Articles: each written whole with its chunks, vectors and provenance, or not at all."""

    # -- what is already stored --------------------------------------------------------------
    def by_text(self, collection_id: int, text_hash: str) -> StoredRef | None:
        """The article of the collection whose normalized text has this hash."""
        return self._ref("content_hash", collection_id, text_hash)

    def by_url(self, collection_id: int, canonical_url: str) -> StoredRef | None:
        """The article of the collection stored under this canonical URL."""
        return self._ref("canonical_url", collection_id, canonical_url)

    def _ref(self, column: str, collection_id: int, value: str) -> StoredRef | None:
        self._store.lock(collection_id)
        row = self._store.row(
            f"SELECT id, title FROM articles WHERE collection_id = ? AND {column} = ?",
            (collection_id, value),
        )
        return StoredRef(*row) if row else None

    def near_candidates(
        self, collection_id: int, bands: Sequence[int]
    ) -> list[tuple[StoredRef, bytes]]:
        """Articles sharing at least one MinHash band key, with their stored signatures."""
        if not bands:
            return []
        self._store.lock(collection_id)
        keys = " OR ".join("(b.band = ? AND b.bucket = ?)" for _ in bands)
        rows = self._store.rows(
            f"""SELECT DISTINCT m.article_id, a.title, m.signature FROM minhash_bands b
                JOIN article_minhash m ON m.article_id = b.article_id
                JOIN articles a ON a.id = b.article_id
                WHERE b.collection_id = ? AND ({keys})""",
            (collection_id, *(x for key in enumerate(bands) for x in (key[0], int(key[1])))),
        )
        return [(StoredRef(r[0], r[1]), bytes(r[2])) for r in rows]

    # -- writes ------------------------------------------------------------------------------
    def add(
        self, collection_id: int, articles: Sequence[NewArticle]
    ) -> list[tuple[int, list[int]]]:
        """Store whole articles (version 1 each) and bump the collection's version, in one
        transaction. Returns (article id, chunk ids) for each, in order."""
        out: list[tuple[int, list[int]]] = []
        added = now_iso()
        names = ", ".join(COLUMNS)
        marks = ", ".join("?" * len(COLUMNS))
        with self._store.transaction():
            self._store.lock(collection_id)
            vector_ids = iter(self._store.vectors.place(*_vectors_of(articles)))
            # Every article's row before any chunk's: a RETURNING statement among SQLite's
            # FTS5 inserts made each of them several times slower.
            article_ids = []
            for art in articles:
                article_id = self._store.value(
                    f"INSERT INTO articles (collection_id, chunk_count, added_at, {names})"
                    f" VALUES (?, ?, ?, {marks}) ON CONFLICT DO NOTHING RETURNING id",
                    (collection_id, len(art.chunks), added, *(getattr(art, c) for c in COLUMNS)),
                )
                if article_id is None:  # the unique constraints: text hash or canonical URL
                    ref = self.by_text(collection_id, art.content_hash) or (
                        self.by_url(collection_id, art.canonical_url or "")
                    )
                    raise DuplicateError(
                        "that article is already stored",
                        ref.id if ref else 0,
                        ref.title if ref else art.title,
                    )
                article_ids.append(article_id)
            for article_id, art in zip(article_ids, articles, strict=True):
                mine = [next(vector_ids) for _ in art.chunks]
                out.append(
                    (article_id, self._store.insert_chunks(collection_id, article_id, art, mine))
                )
                self._extras(collection_id, article_id, art, 1, added)
            bump(self._store, collection_id, added=[c for _, ids in out for c in ids])
        return out

    def replace(
        self, collection_id: int, article_id: int, article: NewArticle
    ) -> tuple[list[int], list[int], int]:
        """A new version of a stored article: its text, chunks, signature and metadata replaced
        (its URL kept), a version row recorded, the collection's version bumped, atomically.
        Returns (new chunk ids, old chunk ids, the article's new version)."""
        art, store = article, self._store
        sets = ", ".join(f"{c} = ?" for c in REPLACED)
        with store.transaction():
            store.lock(collection_id)
            version = store.value(
                f"UPDATE articles SET {sets}, chunk_count = ?, version = version + 1"
                " WHERE id = ? AND collection_id = ? RETURNING version",
                (*(getattr(art, c) for c in REPLACED), len(art.chunks), article_id, collection_id),
            )
            if version is None:
                raise NotFoundError(f"no article {article_id} in this collection")
            gone = store.rows(
                "DELETE FROM chunks WHERE article_id = ? RETURNING id, vector_id", (article_id,)
            )
            old = sorted(r[0] for r in gone)
            store.run("DELETE FROM minhash_bands WHERE article_id = ?", (article_id,))
            store.run("DELETE FROM article_minhash WHERE article_id = ?", (article_id,))
            # The unchanged passages' vectors are taken up again before the old ones are swept.
            vector_ids = store.vectors.place(*_vectors_of([art]))
            new = store.insert_chunks(collection_id, article_id, art, vector_ids)
            store.vectors.sweep([r[1] for r in gone])
            self._extras(collection_id, article_id, art, version, now_iso())
            bump(store, collection_id, added=new, removed=old)
        return new, old, version

    def _extras(
        self, collection_id: int, article_id: int, art: NewArticle, version: int, added_at: str
    ) -> None:
        """An article version's row, and its near-duplicate signature and band keys."""
        store = self._store
        # (a version's other fields are the article's own: content_hash, added_by, fetched_url …)
        row = {"article_id": article_id, "version": version, "added_at": added_at}
        row |= {f.name: getattr(art, f.name) for f in fields(ArticleVersion) if f.name not in row}
        store.upsert("article_versions", ("article_id", "version"), row)
        if art.minhash is None:
            return
        store.run(
            "INSERT INTO article_minhash (article_id, signature) VALUES (?, ?)",
            (article_id, art.minhash),
        )
        store.insert_rows(
            "minhash_bands",
            ("collection_id", "band", "bucket", "article_id"),
            [
                (collection_id, band, int(bucket), article_id)
                for band, bucket in enumerate(art.bands)
            ],
        )

    def delete(self, collection_id: int, article_id: int) -> tuple[Article, list[int]]:
        """Remove an article with everything that hangs on it and bump the collection's version;
        returns it and the chunk ids that went. ``NotFoundError`` when it is not there."""
        with self._store.transaction():
            self._store.lock(collection_id)
            article = self.get(collection_id, article_id)
            gone = self._store.rows(
                "DELETE FROM chunks WHERE article_id = ? RETURNING id, vector_id", (article_id,)
            )
            chunk_ids = sorted(r[0] for r in gone)
            self._store.run("DELETE FROM articles WHERE id = ?", (article_id,))
            self._store.vectors.sweep([r[1] for r in gone])  # those no other chunk uses
            bump(self._store, collection_id, removed=chunk_ids)
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
        """Another outlet that ran the same story (listed once per source and URL)."""
        with self._store.transaction():
            self._store.run(
                "INSERT INTO article_sources (article_id, source, url, title, published_at,"
                " added_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (article_id, source, url, title, published_at, now_iso()),
            )

    # -- reads -------------------------------------------------------------------------------
    def other_sources(self, article_id: int) -> list[tuple[str | None, str | None]]:
        """(source, url) of the other outlets, in the order they were added."""
        rows = self._store.rows(
            "SELECT source, url FROM article_sources WHERE article_id = ?"
            f" ORDER BY {self._store.ROW_ORDER}",
            (article_id,),
        )
        return [(r[0], r[1]) for r in rows]

    def versions(self, article_id: int) -> list[ArticleVersion]:
        """Every recorded version of an article, oldest first."""
        rows = self._store.rows(
            f"{VERSION_SELECT} WHERE v.article_id = ? ORDER BY v.version", (article_id,)
        )
        return [ArticleVersion(*r) for r in rows]

    def latest_version(self, article_id: int) -> ArticleVersion | None:
        return (self.versions(article_id) or [None])[-1]

    def get(self, collection_id: int, article_id: int) -> Article:
        """``NotFoundError`` when the article is not in that collection."""
        row = self._store.row(
            f"{ARTICLE_SELECT} WHERE a.id = ? AND a.collection_id = ?", (article_id, collection_id)
        )
        if row is None:
            raise NotFoundError(f"no article {article_id} in this collection")
        return Article(*row)

    def page(self, collection_id: int, *, limit: int = 50, offset: int = 0) -> list[Article]:
        """Articles newest first (by publication date, then id)."""
        rows = self._store.rows(
            f"{ARTICLE_SELECT} WHERE a.collection_id = ?"
            " ORDER BY COALESCE(a.published_at, '') DESC, a.id DESC LIMIT ? OFFSET ?",
            (collection_id, limit, offset),
        )
        return [Article(*r) for r in rows]

    def text(self, article_id: int) -> str:
        return self._store.value("SELECT text FROM articles WHERE id = ?", (article_id,), "")
