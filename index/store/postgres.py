"""PostgreSQL, the shared source of truth for several newsbot processes (``NEWSBOT_DATABASE_URL``).

Implements ``index.store.base.Store`` like ``sqlite.py``, from four parts (collections and
articles in ``postgres_articles``, ``postgres_chunks``, ``postgres_feeds``) and the three feature
parts (``postgres_features``: answers and votes, watches, digests)
sharing this object's connections and transactions. psycopg 3 with a connection pool; a thread
in a transaction or snapshot keeps one connection for it, other reads borrow one per call.

- **Writers serialize per collection**: the first thing a write does to a collection (reading its
  version inside a transaction, or writing to it) takes a transaction-scoped advisory lock on it
  (``pg_advisory_xact_lock``), so a duplicate check and the collection's version read under it
  still hold at commit, whatever other processes do; exact duplicates are refused again by
  unique constraints (``ON CONFLICT``).
- **Snapshots** are REPEATABLE READ, read-only transactions.
- **Connections** are checked as the pool lends them: after a server restart the dropped ones
  are replaced, so no member's request meets "terminating connection due to administrator
  command".
- **Schema**: numbered files in ``pg_migrations/``, run once each under an advisory lock, so
  several processes starting together migrate once.
- **Cluster-wide exclusive work** (a rebuild) takes a session advisory lock (``exclusive``).

Vectors are little-endian float32 ``bytea``; BM25 is derived per process (``lexical.py``),
like the FAISS indexes, since PostgreSQL's own ranking is not BM25 (README).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ..errors import BusyError, DiskFullError, StoreError

try:
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - the optional extra is missing
    raise StoreError(
        "NEWSBOT_DATABASE_URL names PostgreSQL, but psycopg is not installed:"
        " pip install 'newsbot[postgres]'"
    ) from exc

# Advisory lock keys: (class, object). Classes keep newsbot's locks apart from each other.
LOCK_MIGRATE = 7001
LOCK_COLLECTION = 7002
LOCK_EXCLUSIVE = 7003
LOCK_ANSWERS = 7004  # a channel's kept answers: recording (and pruning) them, votes on them

POOL_SIZE = 8
CONNECT_TIMEOUT = 30.0


def migrations() -> dict[int, str]:
    """``{number: sql}`` of every file in pg_migrations (``001_initial.sql`` is 1)."""
    found = {}
    for entry in resources.files(__package__).joinpath("pg_migrations").iterdir():
        m = re.match(r"(\d+)_.*\.sql$", entry.name)
        if m:
            found[int(m.group(1))] = entry.read_text()
    return dict(sorted(found.items()))


MIGRATIONS = migrations()
SCHEMA_VERSION = max(MIGRATIONS)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"postgresql://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


class PostgresStore:
    """One PostgreSQL database, shared by every process pointed at it."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.name = safe_url(url)
        self._local = threading.local()
        self.write_lock = threading.RLock()
        try:
            self.pool = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                kwargs={"autocommit": True},
                check=self._check,
                open=True,
                timeout=CONNECT_TIMEOUT,
                name="newsbot",
            )
            self.pool.wait(timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            raise StoreError(f"cannot connect to the database {self.name}: {exc}") from None
        self._migrate()
        from .postgres_articles import PgArticles, PgCollections
        from .postgres_chunks import PgChunks
        from .postgres_features import PgDigests, PgFeedback, PgWatches
        from .postgres_feeds import PgFeeds

        self.collections = PgCollections(self)
        self.articles = PgArticles(self)
        self.chunks = PgChunks(self)
        self.feeds = PgFeeds(self)
        self.feedback = PgFeedback(self)
        self.watches = PgWatches(self)
        self.digests = PgDigests(self)

    # -- connections ---------------------------------------------------------------------------
    def _check(self, conn: psycopg.Connection) -> None:
        """Tried (an empty query) before the pool lends it: a connection the server dropped (a
        restart, a failover, an idle timeout) is replaced unseen instead of failing the next
        member's question. The first dropped one found means the others idle in the pool were
        dropped too: they are all sorted out at once, not one a try (the pool waits longer
        after each failed try: 1, 2, 4 … s)."""
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            self.pool.check()
            raise

    @contextmanager
    def conn(self) -> Iterator[psycopg.Connection]:
        """The connection of this thread's open transaction or snapshot, else one from the pool."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise _known(exc, self.name) from exc

    def execute(self, sql: str, params: Any = None) -> list[tuple]:
        """Run one statement; its rows (empty for one that returns none)."""
        with self.conn() as conn:
            try:
                cur = conn.execute(sql, params)
                return cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                if getattr(self._local, "conn", None) is None:
                    raise _known(exc, self.name) from exc
                raise

    def one(self, sql: str, params: Any = None) -> tuple | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "writing", False)

    def close(self) -> None:
        with suppress(Exception):
            self.pool.close()

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """BEGIN … COMMIT on one connection under the write lock; ROLLBACK on any exception.
        Nested calls join it. Collections are locked by the parts as they are first touched
        (``lock``), so writers of different collections do not wait for each other."""
        with self.write_lock:
            if getattr(self._local, "writing", False):
                yield self._local.conn
                return
            if getattr(self._local, "conn", None) is not None:
                raise RuntimeError("a write inside a read snapshot")
            try:
                with self.pool.connection() as conn:
                    conn.execute("BEGIN")
                    self._local.conn, self._local.writing = conn, True
                    self._local.locked = set()
                    try:
                        yield conn
                        conn.execute("COMMIT")
                    except BaseException:
                        with suppress(psycopg.Error):
                            conn.execute("ROLLBACK")
                        raise
                    finally:
                        self._local.conn, self._local.writing = None, False
                        self._local.locked = set()
            except psycopg.Error as exc:
                raise _known(exc, self.name) from exc

    def lock(self, collection_id: int) -> None:
        """Inside a transaction: hold the collection's write lock until it ends (every process)."""
        if not getattr(self._local, "writing", False):
            return
        locked: set[int] = self._local.locked
        if collection_id in locked:
            return
        self._local.conn.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_COLLECTION, int(collection_id))
        )
        locked.add(collection_id)

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection]:
        """Reads that all see one state (REPEATABLE READ); inside an open transaction, that one."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        try:
            with self.pool.connection() as conn:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                self._local.conn = conn
                try:
                    yield conn
                finally:
                    self._local.conn = None
                    with suppress(psycopg.Error):
                        conn.execute("COMMIT")
        except psycopg.Error as exc:
            raise _known(exc, self.name) from exc

    @contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """Work only one process of the cluster may do at a time (a rebuild): ``BusyError``
        while another holds it. A session advisory lock, on a connection held throughout."""
        key = int.from_bytes(what.encode()[:4].ljust(4, b"\0"), "little") & 0x7FFFFFFF
        with self.pool.connection() as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_EXCLUSIVE, key))
            if not got.fetchone()[0]:
                raise BusyError(f"a {what} is already running; try again when it has finished")
            try:
                yield
            finally:
                with suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_EXCLUSIVE, key))

    # -- schema --------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.pool.connection() as conn:
            try:
                conn.execute("BEGIN")
                conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_MIGRATE,))
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
                version = row[0] or 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.name} has schema {version}, newer than this newsbot"
                        f" ({SCHEMA_VERSION})"
                    )
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    conn.execute(MIGRATIONS[target])
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (target,))
                conn.execute("COMMIT")
            except BaseException:
                with suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        return int(self.one("SELECT MAX(version) FROM schema_version")[0])

    # -- meta and health -----------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = %s", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

    def size_bytes(self) -> tuple[int, int]:
        """Bytes of the database; PostgreSQL's WAL is the server's, not counted here."""
        row = self.one("SELECT pg_database_size(current_database())")
        return int(row[0]), 0

    def integrity_problems(self) -> list[str]:
        """Empty when every article holds exactly its chunks (from one snapshot)."""
        try:
            with self.snapshot() as db:
                rows = db.execute(
                    """SELECT a.id, a.chunk_count, COUNT(ch.id) FROM articles a
                       LEFT JOIN chunks ch ON ch.article_id = a.id GROUP BY a.id
                       HAVING COUNT(ch.id) != a.chunk_count"""
                ).fetchall()
                stray = db.execute(
                    """SELECT COUNT(*) FROM chunks ch JOIN articles a ON a.id = ch.article_id
                       WHERE a.collection_id != ch.collection_id"""
                ).fetchone()[0]
        except StoreError as exc:
            return [str(exc)]
        problems = [f"article {r[0]} has {r[2]} of its {r[1]} chunks" for r in rows]
        if stray:
            problems.append(f"{stray} chunks are filed under another collection than their article")
        return problems


def _known(exc: BaseException, name: str) -> StoreError:
    """The user-facing error for a PostgreSQL failure."""
    state = getattr(exc, "sqlstate", None) or ""
    if state == "53100":
        return DiskFullError(name)
    if state.startswith("08") or isinstance(exc, psycopg.OperationalError):
        return StoreError(f"the database {name} cannot be reached: {_first_line(exc)}")
    return StoreError(f"the database {name} failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
