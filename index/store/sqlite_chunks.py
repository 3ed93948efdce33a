"""Chunks in SQLite (``ChunkStore``): their vectors for the derived index, their text for
answers, FTS5 BM25 for the lexical side of search, and the filters both sides share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..models import Hit
from .base import ChunkText
from .filters import filter_sql
from .sqlite_articles import bump

if TYPE_CHECKING:
    from .sqlite import SqliteStore


class SqliteChunks:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    # -- vectors -----------------------------------------------------------------------------
    def count(self, collection_id: int) -> int:
        row = self._store.db.execute(
            """SELECT COUNT(*) FROM chunks ch JOIN articles a ON a.id = ch.article_id
               WHERE a.collection_id = ?""",
            (collection_id,),
        ).fetchone()
        return int(row[0])

    def iter_vectors(
        self, collection_id: int, batch: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = 0
        while True:
            rows = self._store.db.execute(
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

    def iter_texts(self, collection_id: int, batch: int = 512) -> Iterator[list[ChunkText]]:
        last = 0
        while True:
            rows = self._store.db.execute(
                """SELECT ch.id, ch.text, a.title, a.source, a.published_at FROM chunks ch
                   JOIN articles a ON a.id = ch.article_id
                   WHERE a.collection_id = ? AND ch.id > ? ORDER BY ch.id LIMIT ?""",
                (collection_id, last, batch),
            ).fetchall()
            if not rows:
                return
            yield [ChunkText(*r) for r in rows]
            last = int(rows[-1][0])

    def replace_vectors(self, collection_id: int, ids: Sequence[int], vectors: np.ndarray) -> None:
        with self._store.transaction() as db:
            bump(db, collection_id)
            db.executemany(
                "UPDATE chunks SET vector = ? WHERE id = ?",
                [
                    (np.asarray(v, dtype=np.float32).tobytes(), int(i))
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._store.db.execute(
            f"SELECT id, vector FROM chunks WHERE id IN ({marks})", list(ids)
        ).fetchall()
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    # -- text and metadata -------------------------------------------------------------------
    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        if not scored:
            return []
        ids = [cid for cid, _ in scored]
        marks = ",".join("?" * len(ids))
        rows = self._store.db.execute(
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
            out.append(Hit(r[0], r[1], float(score), *r[2:]))  # Hit's fields in order
        return out

    def dates(self, ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
        """Article id and publication date of each chunk: enough to re-rank a large pool by
        date before any text is read."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._store.db.execute(
            f"""SELECT ch.id, ch.article_id, a.published_at FROM chunks ch
                JOIN articles a ON a.id = ch.article_id WHERE ch.id IN ({marks})""",
            list(ids),
        ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    # -- search ------------------------------------------------------------------------------
    def ids(
        self,
        collection_id: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
    ) -> np.ndarray:
        clauses, params = filter_sql(source, since, until, as_of)
        rows = self._store.db.execute(
            f"""SELECT ch.id FROM chunks ch JOIN articles a ON a.id = ch.article_id
                WHERE a.collection_id = ?{clauses}""",
            (collection_id, *params),
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

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
        """BM25 over chunk text and article title; higher is better (FTS5's sign flipped).

        Unfiltered, the best rows of the whole index are ranked first and only those are joined
        to their collection (joining every match made the query 3× slower); when that leaves
        too few rows for this collection, the exact filtered query runs instead.
        """
        match = fts_match(words)
        if match is None:
            return []
        clauses, params = filter_sql(source, since, until, as_of)
        db = self._store.db
        try:
            if not clauses:
                rows = db.execute(
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
            rows = db.execute(
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
        return self._store.db.execute("SELECT COUNT(*) FROM collections").fetchone()[0] <= 1


def fts_match(words: Sequence[str]) -> str | None:
    """An FTS5 MATCH expression: the words OR-ed, each quoted (FTS5 syntax in them is inert)."""
    return " OR ".join(f'"{w}"' for w in words) or None
