"""Chunks in PostgreSQL (``ChunkStore``): vectors for the derived FAISS index, texts for the
derived BM25 index (``lexical.py``) — PostgreSQL's own ranking is not BM25."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..models import Hit
from .base import ChunkText
from .filters import filter_sql
from .lexical import LexicalCache

if TYPE_CHECKING:
    from .postgres import PostgresStore
from .postgres_articles import _vec, bump


class PgChunks:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self.lexical_cache = LexicalCache(store)

    def count(self, collection_id: int) -> int:
        row = self._store.one(
            "SELECT COUNT(*) FROM chunks WHERE collection_id = %s", (collection_id,)
        )
        return int(row[0])

    def iter_vectors(
        self, collection_id: int, batch: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = 0
        while True:
            rows = self._store.execute(
                "SELECT id, vector FROM chunks WHERE collection_id = %s AND id > %s"
                " ORDER BY id LIMIT %s",
                (collection_id, last, batch),
            )
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").astype(
                np.float32, copy=False
            )
            yield ids, vecs.reshape(len(rows), -1)
            last = int(ids[-1])

    def iter_texts(self, collection_id: int, batch: int = 512) -> Iterator[list[ChunkText]]:
        last = 0
        while True:
            rows = self._store.execute(
                """SELECT ch.id, ch.text, a.title, a.source, a.published_at FROM chunks ch
                   JOIN articles a ON a.id = ch.article_id
                   WHERE ch.collection_id = %s AND ch.id > %s ORDER BY ch.id LIMIT %s""",
                (collection_id, last, batch),
            )
            if not rows:
                return
            yield [ChunkText(int(r[0]), *r[1:]) for r in rows]
            last = int(rows[-1][0])

    def replace_vectors(self, collection_id: int, ids: Sequence[int], vectors: np.ndarray) -> None:
        with self._store.transaction() as db:
            self._store.lock(collection_id)
            ids = [int(i) for i in ids]
            bump(db, collection_id, revectored=ids)
            with db.cursor() as cur:
                cur.executemany(
                    "UPDATE chunks SET vector = %s WHERE id = %s",
                    [(_vec(v), i) for i, v in zip(ids, vectors, strict=True)],
                )

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not len(ids):
            return {}
        rows = self._store.execute(
            "SELECT id, vector FROM chunks WHERE id = ANY(%s)", ([int(i) for i in ids],)
        )
        return {int(r[0]): np.frombuffer(r[1], dtype="<f4").astype(np.float32) for r in rows}

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        if not scored:
            return []
        ids = [int(cid) for cid, _ in scored]
        rows = self._store.execute(
            """SELECT ch.id, ch.article_id, ch.text, ch.start, ch."end", a.title, a.source,
                      a.published_at, a.url
               FROM chunks ch JOIN articles a ON a.id = ch.article_id WHERE ch.id = ANY(%s)""",
            (ids,),
        )
        by_id = {int(r[0]): r for r in rows}
        out = []
        for cid, score in scored:
            r = by_id.get(int(cid))
            if r is None:
                continue
            out.append(Hit(int(r[0]), int(r[1]), float(score), *r[2:]))
        return out

    def dates(self, ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
        if not len(ids):
            return {}
        rows = self._store.execute(
            """SELECT ch.id, ch.article_id, a.published_at FROM chunks ch
               JOIN articles a ON a.id = ch.article_id WHERE ch.id = ANY(%s)""",
            ([int(i) for i in ids],),
        )
        return {int(r[0]): (int(r[1]), r[2]) for r in rows}

    def ids(
        self,
        collection_id: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
    ) -> np.ndarray:
        clauses, params = _pg_filters(source, since, until, as_of)
        if not clauses:
            rows = self._store.execute(
                "SELECT id FROM chunks WHERE collection_id = %s", (collection_id,)
            )
        else:
            rows = self._store.execute(
                f"""SELECT ch.id FROM chunks ch JOIN articles a ON a.id = ch.article_id
                    WHERE ch.collection_id = %s{clauses}""",
                (collection_id, *params),
            )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def texts_of(self, ids: Sequence[int]) -> list[tuple[int, str, str]]:
        """(id, title, text) of stored chunks, for the derived lexical index."""
        if not len(ids):
            return []
        rows = self._store.execute(
            """SELECT ch.id, a.title, ch.text FROM chunks ch
               JOIN articles a ON a.id = ch.article_id WHERE ch.id = ANY(%s)""",
            ([int(i) for i in ids],),
        )
        return [(int(r[0]), r[1], r[2]) for r in rows]

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
        """BM25 (FTS5's formula, title and text columns) from this process's derived index of
        the collection, kept current from the chunk log; filters applied to the stored rows."""
        if not words:
            return []
        index = self.lexical_cache.current(collection_id)
        allowed = None
        if source or since or until or as_of:
            allowed = self.ids(collection_id, source=source, since=since, until=until, as_of=as_of)
        return index.search(words, limit, title_weight=title_weight, allowed=allowed)


def _pg_filters(
    source: str | None, since: str | None, until: str | None, as_of: str | None
) -> tuple[str, list]:
    return filter_sql(
        source, since, until, as_of, mark="%s", source_equals="lower(a.source) = lower({})"
    )
