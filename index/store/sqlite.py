"""SQLite, the source of truth: one file, WAL, a connection per thread, writes in IMMEDIATE
transactions under one lock. Implements ``index.store.base.Store`` from composed parts
(collections and articles, chunks, feed state, feedback, watches, digests), each sharing this
object's connections and transactions.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import StoreError, damaged_message, from_sqlite
from . import schema
from .sqlite_articles import SqliteArticles, SqliteCollections
from .sqlite_chunks import SqliteChunks
from .sqlite_digests import SqliteDigests
from .sqlite_feedback import SqliteFeedback
from .sqlite_feeds import SqliteFeeds
from .sqlite_watches import SqliteWatches

# Seconds a connection waits for another one (another process, often) to release SQLite's lock.
BUSY_TIMEOUT = 30.0


class SqliteStore:
    """One SQLite file; a connection per thread, writes serialized by one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.write_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        schema.migrate(self.db, self.transaction, self.name)
        self.collections = SqliteCollections(self)
        self.articles = SqliteArticles(self)
        self.chunks = SqliteChunks(self)
        self.feeds = SqliteFeeds(self)
        self.feedback = SqliteFeedback(self)
        self.watches = SqliteWatches(self)
        self.digests = SqliteDigests(self)

    # -- connections and transactions -------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
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
                raise StoreError(f"cannot open the database {self.name}: {exc}") from None
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
                known = from_sqlite(exc, self.name)
                if known is None:
                    raise
                raise known from exc

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Reads that all see one state of the database (a WAL read transaction), however
        other processes write meanwhile; inside a transaction already open, that one. A read
        that fails is a ``StoreError`` saying why (``DamagedStoreError`` for a damaged file)."""
        try:
            with self._read() as db:
                yield db
        except sqlite3.DatabaseError as exc:
            raise (from_sqlite(exc, self.name) or StoreError(str(exc))) from exc

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
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

    @contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """Nothing to take: each process refuses a second rebuild of its own (base.py)."""
        yield

    # -- meta and health ---------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def size_bytes(self) -> tuple[int, int]:
        """Bytes of the database file and of its write-ahead log (not yet checkpointed)."""
        sizes = []
        for path in (self.path, self.path.with_name(self.name + "-wal")):
            try:
                sizes.append(path.stat().st_size)
            except OSError:
                sizes.append(0)
        return sizes[0], sizes[1]

    def integrity_problems(self) -> list[str]:
        """Empty when the file is sound and every article holds exactly its chunks; a damaged
        file is one problem that says what to do (restore a backup, or ``.recover``). All from one
        snapshot: counts read while another process writes would disagree."""
        try:
            with self._read():
                return self._integrity_problems()
        except sqlite3.DatabaseError as exc:
            return [damaged_message(self.name, str(exc))]

    def _integrity_problems(self) -> list[str]:
        damage = [r[0] for r in self.db.execute("PRAGMA integrity_check(20)") if r[0] != "ok"]
        if damage:
            more = f"; {len(damage) - 3} more" if len(damage) > 3 else ""
            detail = "; ".join(" ".join(d.split()) for d in damage[:3]) + more
            return [damaged_message(self.name, detail)]
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
