"""SQLite, the source of truth: one file, WAL, a connection per thread, writes in IMMEDIATE
transactions under one lock, FTS5 for BM25. Implements ``index.store.base.Store`` with the parts
both backends share (``sql.py``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..errors import StoreError, damaged_message, from_sqlite
from . import schema
from .sql import SqlStore

# Seconds a connection waits for another one (another process, often) to release SQLite's lock.
BUSY_TIMEOUT = 30.0


class SqliteStore(SqlStore):
    """One SQLite file; a connection per thread, writes serialized by one lock."""

    # A chunk's collection is its article's (SQLite's chunks do not repeat it). CROSS JOIN keeps
    # SQLite walking chunks by id: a plain JOIN sorted every row, vectors included, for each
    # batch (quadratic at 1 M).
    CHUNKS_OF = (
        "FROM chunks ch CROSS JOIN articles a ON a.id = ch.article_id WHERE a.collection_id = ?"
    )
    VECTORS_OF = (
        "FROM chunks ch CROSS JOIN articles a ON a.id = ch.article_id"
        " CROSS JOIN vectors v ON v.id = ch.vector_id WHERE a.collection_id = ?"
    )
    ROW_ORDER = "rowid"
    BEGIN_WRITE = "BEGIN IMMEDIATE"
    BEGIN_READ = "BEGIN"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.write_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._users = 0  # statements and transactions running now, on every thread
        self._idle = threading.Condition()
        self._closed = False
        schema.migrate(self.db, self.transaction, self.name)
        self._parts()

    # -- connections and transactions -------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"{self.name} is closed")
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
                )
                _wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot open the database {self.name}: {exc}") from None
            self._local.conn = conn
            with self._conn_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _in_use(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, kept open while in use: ``close`` waits for it (a
        connection closed under a running statement crashes the process) and a closed store
        refuses new work (what a running transaction does next is part of it)."""
        with self._idle:
            if self._closed and not getattr(self._local, "depth", 0):
                raise StoreError(f"{self.name} is closed")
            self._users += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield self.db
        finally:
            self._local.depth -= 1
            with self._idle:
                self._users -= 1
                self._idle.notify_all()

    def _execute(self, sql: str, params: Sequence[Any], fetch: bool) -> Any:
        with self._in_use() as db:
            try:
                cursor = db.execute(sql, params)
                return cursor.fetchall() if fetch else cursor.rowcount
            except sqlite3.DatabaseError as exc:
                known = from_sqlite(exc, self.name)
                if known is None:
                    raise
                raise known from exc

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._execute(sql, params, fetch=True)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params, fetch=False)

    def run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        with self._in_use() as db:
            db.executemany(sql, params)

    def in_(self, column: str, ids: Sequence[int] | Sequence[bytes]) -> tuple[str, list]:
        values = [i if isinstance(i, bytes) else int(i) for i in ids]
        return f"{column} IN ({','.join('?' * len(ids))})", values

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
        marks = ", ".join("?" * len(columns))
        self.run_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def next_ids(self, table: str, n: int) -> list[int]:
        """Those AUTOINCREMENT would give (SQLite's write lock is held; the counter follows)."""
        used = self.value("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,), 0)
        first = max(int(used), int(self.value(f"SELECT MAX(id) FROM {table}", (), 0))) + 1
        return list(range(first, first + n))

    def insert_chunks(
        self, collection_id: int, article_id: int, art: Any, vector_ids: Sequence[int]
    ) -> list[int]:
        """Each chunk and its full-text row (title and text, FTS5's two columns). The id is
        ``lastrowid``, not ``RETURNING``: a RETURNING statement between FTS5 inserts made each
        of them 3–5× slower (measured; an ingest's store writes 2× slower)."""
        ids = []
        for span, vector_id in zip(art.chunks, vector_ids, strict=True):
            chunk_id = self.db.execute(
                'INSERT INTO chunks (article_id, ordinal, start, "end", text, vector_id)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                (article_id, span.ordinal, span.start, span.end, span.text, vector_id),
            ).lastrowid
            self.db.execute(
                "INSERT INTO chunks_fts (rowid, title, text) VALUES (?, ?, ?)",
                (chunk_id, art.title, span.text),
            )
            ids.append(chunk_id)
        return ids

    def fulltext(
        self,
        collection_id: int,
        words: Sequence[str],
        limit: int,
        where: str,
        params: list,
        w: float,
    ) -> list[tuple[int, float]] | None:
        """FTS5's BM25 over title and text; higher is better (its sign flipped).

        Unfiltered, the best rows of the whole index are ranked first and only those are joined
        to their collection (joining every match made the query 3× slower); when that leaves
        too few rows for this collection, the exact filtered query runs instead.
        """
        match = fts_match(words)
        if match is None:
            return []
        try:
            with self._in_use() as db:
                if not where:
                    rows = db.execute(
                        """SELECT f.rowid, f.score FROM (
                               SELECT rowid, -bm25(chunks_fts, ?, 1.0) AS score FROM chunks_fts
                               WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, ?, 1.0) LIMIT ?
                           ) f CROSS JOIN chunks ch ON ch.id = f.rowid
                           JOIN articles a ON a.id = ch.article_id
                           WHERE a.collection_id = ? ORDER BY f.score DESC LIMIT ?""",
                        (w, match, w, limit * 4, collection_id, limit),
                    ).fetchall()
                    single = db.execute("SELECT COUNT(*) FROM collections").fetchone()[0] <= 1
                    if len(rows) == limit or single:
                        return rows
                return db.execute(
                    f"""SELECT f.rowid, -bm25(chunks_fts, ?, 1.0) AS score
                        FROM chunks_fts f JOIN chunks ch ON ch.id = f.rowid
                        JOIN articles a ON a.id = ch.article_id
                        WHERE chunks_fts MATCH ? AND a.collection_id = ?{where}
                        ORDER BY bm25(chunks_fts, ?, 1.0) LIMIT ?""",
                    (w, match, collection_id, *params, w, limit),
                ).fetchall()
        except sqlite3.OperationalError:
            return []

    def close(self) -> None:
        """Refuse new work, wait for what runs on other threads (bounded), then close every
        thread's connection; one still busy at the deadline is left to the garbage collector."""
        with self._idle:
            self._closed = True
            mine = getattr(self._local, "depth", 0)
            if not self._idle.wait_for(lambda: self._users <= mine, BUSY_TIMEOUT):
                return
        with self._conn_lock:
            for conn in self._connections:
                with suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _open(self) -> sqlite3.Connection | None:
        return self.db if self.db.in_transaction else None

    @contextmanager
    def _begun(self, begin: str, *, writing: bool) -> Iterator[sqlite3.Connection]:
        """A write's BEGIN IMMEDIATE takes SQLite's write lock at once, so what is read inside (a
        duplicate check, the collection version) still holds when the writes commit, whatever
        other processes do; a snapshot is a WAL read transaction. A full disk or a damaged file
        becomes a ``DiskFullError`` / ``DamagedStoreError`` saying so; any read that fails, a
        ``StoreError`` saying why."""
        with self._in_use() as db:
            try:
                db.execute(begin)
                self._local.writing = writing
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
                known = from_sqlite(exc, self.name)
                if known is None and writing:
                    raise
                raise (known or StoreError(str(exc))) from exc

    # -- health -------------------------------------------------------------------------------
    def size_bytes(self) -> tuple[int, int]:
        """Bytes of the database file and of its write-ahead log (not yet checkpointed)."""
        sizes = []
        for path in (self.path, self.path.with_name(self.name + "-wal")):
            try:
                sizes.append(path.stat().st_size)
            except OSError:
                sizes.append(0)
        return sizes[0], sizes[1]

    def _damaged(self) -> str | None:
        damage = [r[0] for r in self.rows("PRAGMA integrity_check(20)") if r[0] != "ok"]
        if not damage:
            return None
        more = f"; {len(damage) - 3} more" if len(damage) > 3 else ""
        return damaged_message(self.name, "; ".join(" ".join(d.split()) for d in damage[:3]) + more)

    def _checks(self) -> list[str]:
        fts = self.value("SELECT COUNT(*) FROM chunks_fts")
        total = self.value("SELECT COUNT(*) FROM chunks")
        return [f"full-text index holds {fts} rows for {total} chunks"] if fts != total else []


def fts_match(words: Sequence[str]) -> str | None:
    """An FTS5 MATCH expression: the words OR-ed, each quoted (FTS5 syntax in them is inert)."""
    return " OR ".join(f'"{w}"' for w in words) or None


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
