"""What both backends share: the store's parts, written once as SQL both SQLite (3.35+) and
PostgreSQL run, over a few statement calls each backend implements (``sqlite.py``,
``postgres.py``).

Statements use ``?`` placeholders (PostgreSQL's module translates them), ``ON CONFLICT`` and
``RETURNING`` on both. The backends differ only where the databases do: connections and the pool,
the write lock (``BEGIN IMMEDIATE`` against advisory locks, ``lock``), the full-text index (FTS5
against the BM25 index derived per process), bulk inserts (``COPY``), row locks, error mapping.
A row becomes a dataclass by its fields' names (``select``): a column added to a dataclass and to
the schema is read without another change here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import StoreError
from ..models import Article

if TYPE_CHECKING:
    from ..features.digests import DigestStore
    from ..features.feedback import FeedbackStore
    from ..features.watches import WatchStore
    from .articles import ArticleStore, CollectionStore
    from .chunks import ChunkStore
    from .feeds import FeedStateStore
    from .vectors import VectorStore


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def vector_bytes(vector: np.ndarray) -> bytes:
    """A vector as stored: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_of(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def select(cls: type, alias: str, **exprs: str) -> str:
    """The select list of a dataclass's fields in their order: ``alias.name``, or the expression
    ``exprs`` gives for it (``collection="c.name"``); ``cls(*row)`` then reads a row."""
    return ", ".join(exprs.get(f.name, f"{alias}.{f.name}") for f in fields(cls))


ARTICLE_SELECT = (
    f"SELECT {select(Article, 'a', collection='c.name')} FROM articles a"
    " JOIN collections c ON c.id = a.collection_id"
)

Passages = tuple[Article, list[str], np.ndarray]  # an article, its passages' texts and vectors


class Part:
    """One part of the store (its articles, chunks, feeds, a feature's records), written over
    the store's statement calls."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store


class SqlStore:
    """A data folder's truth (``base.py``: the contract): its parts, one implementation each for
    both databases, sharing transactions and one write lock; and the statement calls they use."""

    name: str  # how messages name the store ("newsbot.sqlite3")
    write_lock: threading.RLock
    _local: threading.local  # this thread's connection (``conn``) and whether it is writing
    collections: CollectionStore
    articles: ArticleStore
    chunks: ChunkStore
    vectors: VectorStore
    feeds: FeedStateStore
    feedback: FeedbackStore
    watches: WatchStore
    digests: DigestStore
    # The dialect's pieces of SQL.
    CHUNKS_OF: ClassVar[str]  # FROM … WHERE: a collection's chunks ``ch`` (the id a parameter)
    VECTORS_OF: ClassVar[str]  # the same, with each chunk's vector ``v``
    ROW_ORDER: ClassVar[str]  # a table's insertion order
    KEY_SHARE: ClassVar[str] = ""  # a row kept from deletion until the transaction ends
    BEGIN_WRITE: ClassVar[str]  # a transaction's BEGIN, which takes the write lock
    BEGIN_READ: ClassVar[str]  # a snapshot's
    SKIP_LOCKED: ClassVar[str] = ""  # rows claimed, skipping those another transaction holds

    def _parts(self) -> None:
        from ..features.digests import DigestStore
        from ..features.feedback import FeedbackStore
        from ..features.watches import WatchStore
        from .articles import ArticleStore, CollectionStore
        from .chunks import ChunkStore
        from .feeds import FeedStateStore
        from .vectors import VectorStore

        self.collections = CollectionStore(self)
        self.articles = ArticleStore(self)
        self.chunks = ChunkStore(self)
        self.vectors = VectorStore(self)
        self.feeds = FeedStateStore(self)
        self.feedback = FeedbackStore(self)
        self.watches = WatchStore(self)
        self.digests = DigestStore(self)

    # -- statements: each backend's ------------------------------------------------------------
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """One statement's rows (none for a statement that returns none)."""
        raise NotImplementedError

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement; the rows it changed."""
        raise NotImplementedError

    def run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def in_(self, column: str, ids: Sequence[int] | Sequence[bytes]) -> tuple[str, list]:
        """``column`` among ``ids`` (or digests): the condition and its parameters."""
        raise NotImplementedError

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
        """Many rows at once (PostgreSQL: ``COPY``)."""
        raise NotImplementedError

    def next_ids(self, table: str, n: int) -> list[int]:
        """Inside a transaction: the next ``n`` ids of the table's counter, given out at once."""
        raise NotImplementedError

    def insert_chunks(
        self, collection_id: int, article_id: int, art: Any, vector_ids: Sequence[int]
    ) -> list[int]:
        """An article's chunks, each with its vector's id (and what indexes them in the
        database); their new ids."""
        raise NotImplementedError

    def fulltext(self, *query: Any) -> list[tuple[int, float]] | None:
        """BM25 by the database's own full-text index (``sqlite.py``); None when it keeps none
        (PostgreSQL)."""
        return None

    def lock(self, collection_id: int) -> None:
        """Inside a transaction: hold the collection's write lock until it ends (every process).
        SQLite's ``BEGIN IMMEDIATE`` holds the whole database already."""

    def lock_key(self, kind: int, key: int) -> None:
        """Inside a transaction: hold another of the store's locks until it ends."""

    def _open(self) -> Any:
        """This thread's connection while it is in a transaction or snapshot, else None."""
        raise NotImplementedError

    def _begun(self, begin: str, *, writing: bool) -> AbstractContextManager[Any]:
        """One connection from ``begin`` to COMMIT, ROLLBACK on any exception, this thread's
        meanwhile; a failure the user must hear of said as a ``StoreError``."""
        raise NotImplementedError

    @contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """Work only one process sharing the store may do at a time (a rebuild): ``BusyError``
        while another process holds it. SQLite: nothing (its processes each refuse a second
        rebuild of their own); PostgreSQL: a session advisory lock."""
        yield

    def size_bytes(self) -> tuple[int, int]:
        """Bytes the store takes, and of those, recent writes not yet merged (a log)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _damaged(self) -> str | None:
        """A damaged database, said with what to do (SQLite's page check), or None."""
        return None

    def _checks(self) -> list[str]:
        """Problems only this backend can have (a full-text index behind, chunks misfiled)."""
        return []

    # -- shared ---------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One atomic unit of writes holding the write lock (``base.py``); nested calls join it."""
        with self.write_lock:
            if getattr(self._local, "writing", False):
                yield self._local.conn  # part of the transaction this thread already holds
                return
            if self._open() is not None:
                raise RuntimeError("a write inside a read snapshot")
            with self._begun(self.BEGIN_WRITE, writing=True) as conn:
                yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """Reads that all see one state; inside an open transaction, that transaction."""
        if (held := self._open()) is not None:
            yield held
            return
        with self._begun(self.BEGIN_READ, writing=False) as conn:
            yield conn

    def insert_returning_ids(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence]
    ) -> list[int]:
        """New rows of a table with an id counter, inserted at once; their ids, in order."""
        if not rows:
            return []
        ids = self.next_ids(table, len(rows))
        self.insert_rows(table, ("id", *columns), [(i, *r) for i, r in zip(ids, rows, strict=True)])
        return ids

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def value(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        found = self.row(sql, params)
        return default if found is None or found[0] is None else found[0]

    def rows_where_in(
        self, sql: str, column: str, values: Sequence, after: str = ""
    ) -> list[tuple]:
        """The rows of ``sql WHERE column IN values after``, run a batch of values at a time (a
        statement takes only so many parameters)."""
        out: list[tuple] = []
        for start in range(0, len(values), 500):
            cond, params = self.in_(column, values[start : start + 500])
            out += self.rows(f"{sql} WHERE {cond}{after}", params)
        return out

    def get_meta(self, key: str) -> str | None:
        return self.value("SELECT value FROM meta WHERE key = ?", (key,))

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.upsert("meta", ("key",), {"key": key, "value": value})

    def upsert(self, table: str, key: Sequence[str], row: dict[str, Any]) -> None:
        """``row`` (its columns' values) inserted, or written over the row of the same ``key``."""
        sets = ", ".join(f"{c} = excluded.{c}" for c in row if c not in key)
        self.run(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}",
            list(row.values()),
        )

    def integrity_problems(self) -> list[str]:
        """Empty when the store is sound and every article holds exactly its chunks; all from
        one snapshot (counts read while another process writes would disagree)."""
        try:
            with self.snapshot():
                if damaged := self._damaged():
                    return [damaged]
                rows = self.rows(
                    """SELECT a.id, a.chunk_count, COUNT(ch.id) FROM articles a
                       LEFT JOIN chunks ch ON ch.article_id = a.id GROUP BY a.id
                       HAVING COUNT(ch.id) != a.chunk_count"""
                )
                return [f"article {r[0]} has {r[2]} of its {r[1]} chunks" for r in rows] + (
                    self._checks()
                )
        except StoreError as exc:
            return [str(exc)]

    def with_passages(self, where: str, params: Sequence[Any]) -> list[Passages]:
        """The articles ``where`` picks (a condition on ``a``, the articles, with its ``ORDER BY``
        and ``LIMIT``), each with its passages' texts and stored vectors, in passage order: what
        the alert scan and the digest read, from one snapshot."""
        with self.snapshot():
            articles = [Article(*r) for r in self.rows(f"{ARTICLE_SELECT} WHERE {where}", params)]
            texts: dict[int, list[str]] = {a.id: [] for a in articles}
            vecs: dict[int, list[np.ndarray]] = {a.id: [] for a in articles}
            for article_id, text, blob in self.rows_where_in(
                "SELECT ch.article_id, ch.text, v.vector FROM chunks ch"
                " JOIN vectors v ON v.id = ch.vector_id",
                "ch.article_id",
                list(texts),
                " ORDER BY ch.article_id, ch.ordinal",
            ):
                texts[article_id].append(text)
                vecs[article_id].append(vector_of(blob))
        empty = np.zeros((0, 0), dtype=np.float32)
        return [(a, texts[a.id], np.vstack(vecs[a.id]) if vecs[a.id] else empty) for a in articles]
