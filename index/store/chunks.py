"""Chunks (``ChunkStore``), on both backends: their vectors for the derived index, their text for
answers and the derived BM25 index, the database's own BM25 where it has one (SQLite's FTS5),
and the filters both sides of search share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..models import Hit
from .articles import bump
from .base import ChunkText
from .sql import Part, select, vector_of

# A chunk ``ch`` with what its embedded text is made of, from its article ``a``.
CHUNK_TEXT = select(ChunkText, "ch", **{f: f"a.{f}" for f in ("title", "source", "published_at")})
_TEXTS = f"SELECT {CHUNK_TEXT} FROM chunks ch JOIN articles a ON a.id = ch.article_id"


# The search filters over articles ``a``: one place decides that ``as_of`` keeps undated
# articles while an explicit ``until`` (or ``since``) leaves them out.
_FILTERS = {
    "source": "lower(a.source) = lower(?)",
    "since": "a.published_at >= ?",
    "until": "a.published_at <= ?",
    "as_of": "(a.published_at IS NULL OR a.published_at <= ?)",
}


def filter_sql(**filters: str | None) -> tuple[str, list]:
    """`` AND …`` clauses of the filters given (``source``, ``since``, ``until``, ``as_of``) and
    their parameters."""
    given = [(_FILTERS[k], v) for k, v in filters.items() if v]
    return "".join(f" AND {c}" for c, _ in given), [v for _, v in given]


class ChunkStore(Part):
    """Chunks (passages) with their vectors, and the reads search is made of."""

    # -- vectors -----------------------------------------------------------------------------
    def count(self, collection_id: int) -> int:
        return self._store.value(f"SELECT COUNT(*) {self._store.CHUNKS_OF}", (collection_id,), 0)

    def iter_vectors(
        self, collection_id: int, batch: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of a collection's chunks in id order, in batches: what a
        vector index is built from (inside ``snapshot()``, with the version read there)."""
        sql = f"SELECT ch.id, v.vector {self._store.VECTORS_OF}"
        for rows in self._pages(sql, collection_id, batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, vector_of(b"".join(r[1] for r in rows)).reshape(len(rows), -1)

    def iter_texts(self, collection_id: int, batch: int = 512) -> Iterator[list[ChunkText]]:
        """The collection's chunks with their articles' title, source and date, in batches."""
        for rows in self._pages(f"{_TEXTS} WHERE a.collection_id = ?", collection_id, batch):
            yield [ChunkText(*r) for r in rows]

    def _pages(self, sql: str, collection_id: int, batch: int) -> Iterator[list[tuple]]:
        """The rows of ``sql`` (a collection's chunks ``ch``, their id first) in id order,
        ``batch`` at a time, each batch from the id the last one ended at."""
        last = 0
        while rows := self._store.rows(
            f"{sql} AND ch.id > ? ORDER BY ch.id LIMIT ?", (collection_id, last, batch)
        ):
            yield rows
            last = int(rows[-1][0])

    def texts(self, ids: Sequence[int]) -> list[ChunkText]:
        """Stored chunks with their articles' title, source and date (for derived indexes)."""
        return [ChunkText(*r) for r in self._store.rows_where_in(_TEXTS, "ch.id", ids)]

    def replace_vectors(
        self,
        collection_id: int,
        ids: Sequence[int],
        vectors: np.ndarray,
        digests: Sequence[bytes | None] = (),
    ) -> None:
        """New vectors for stored chunks of the collection (re-embedding: under ``digests``, the
        new model's, when given), its version bumped in the same transaction; the old vectors
        no other chunk uses go."""
        store = self._store
        with store.transaction():
            store.lock(collection_id)
            ids = [int(i) for i in ids]
            bump(store, collection_id, revectored=ids)
            old = [r[0] for r in store.rows_where_in("SELECT vector_id FROM chunks", "id", ids)]
            placed = store.vectors.place(list(digests), np.asarray(vectors, dtype=np.float32))
            store.run_many(
                "UPDATE chunks SET vector_id = ? WHERE id = ?",
                list(zip(placed, ids, strict=True)),
            )
            store.vectors.sweep(old)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vector of each chunk still there."""
        rows = self._store.rows_where_in(
            "SELECT ch.id, v.vector FROM chunks ch JOIN vectors v ON v.id = ch.vector_id",
            "ch.id",
            ids,
        )
        return {cid: vector_of(blob) for cid, blob in rows}

    # -- text and metadata -------------------------------------------------------------------
    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """Chunk ids with their scores joined to text and article metadata, order kept; ids no
        longer stored are left out."""
        rows = self._store.rows_where_in(
            """SELECT ch.id, ch.article_id, ch.text, ch.start, ch."end", a.title, a.source,
                      a.published_at, a.url
               FROM chunks ch JOIN articles a ON a.id = ch.article_id""",
            "ch.id",
            [cid for cid, _ in scored],
        )
        by_id = {r[0]: r for r in rows}  # Hit's fields in order, but the score
        return [Hit(*r[:2], float(s), *r[2:]) for c, s in scored if (r := by_id.get(c))]

    def dates(self, ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
        """Article id and publication date of each chunk: enough to re-rank a large pool by
        date before any text is read."""
        rows = self._store.rows_where_in(
            "SELECT ch.id, ch.article_id, a.published_at FROM chunks ch"
            " JOIN articles a ON a.id = ch.article_id",
            "ch.id",
            ids,
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    # -- search ------------------------------------------------------------------------------
    def ids(self, collection_id: int, **filters: str | None) -> np.ndarray:
        """Chunk ids passing the filters (``filter_sql``: ``source`` in any case, publication
        ``since`` and ``until`` inclusive with undated articles excluded, ``as_of`` keeping
        them)."""
        clauses, params = filter_sql(**filters)
        if clauses:
            sql = "SELECT ch.id FROM chunks ch JOIN articles a ON a.id = ch.article_id"
            sql += f" WHERE a.collection_id = ?{clauses}"
        else:
            sql = f"SELECT ch.id {self._store.CHUNKS_OF}"
        rows = self._store.rows(sql, (collection_id, *params))
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def lexical(
        self,
        collection_id: int,
        words: Sequence[str],
        limit: int,
        *,
        title_weight: float = 2.0,
        **filters: str | None,
    ) -> list[tuple[int, float]] | None:
        """BM25 over chunk text and article title by the database's own full-text index, the
        filters as ``ids`` takes them; None when it keeps none (PostgreSQL: the BM25 index
        derived per process answers)."""
        where, params = filter_sql(**filters)
        return self._store.fulltext(collection_id, words, limit, where, params, title_weight)
