"""PostgreSQL, the shared source of truth for several newsbot processes (``NEWSBOT_DATABASE_URL``).

Implements ``index.store.base.Store`` like ``sqlite.py``, with the parts both backends share
(``sql.py``). psycopg 3 with a connection pool; a thread in a transaction or snapshot keeps one
connection for it, other reads borrow one per call.

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
- **Row locks** (``FOR KEY SHARE``) keep an answer or a watch from being deleted while a vote
  or an alert on it commits; a channel's answers are recorded and pruned under its advisory lock.

Vectors are little-endian float32 ``bytea``; chunks repeat their article's collection. BM25 is
derived per process (``index.search.lexical``), like the FAISS indexes, since PostgreSQL's own
ranking is not BM25 (README).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ..errors import BusyError, DiskFullError, StoreError
from .schema import newer
from .sql import SqlStore

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


def migrate(conn: psycopg.Connection, version: int, target: int) -> None:
    """Run the migrations after ``version`` up to ``target``, recording each, in the caller's
    transaction."""
    for n in range(version + 1, target + 1):
        conn.execute(MIGRATIONS[n])
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (n,))


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"postgresql://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """A statement with ``?`` placeholders as psycopg takes it."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStore(SqlStore):
    """One PostgreSQL database, shared by every process pointed at it."""

    CHUNKS_OF = "FROM chunks ch WHERE ch.collection_id = ?"
    VECTORS_OF = "FROM chunks ch JOIN vectors v ON v.id = ch.vector_id WHERE ch.collection_id = ?"
    ROW_ORDER = "id"
    KEY_SHARE = " FOR KEY SHARE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    BEGIN_WRITE = "BEGIN"
    BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"  # one state of every table

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
        self._parts()

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
        if (held := self._open()) is not None:
            yield held
            return
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise _known(exc, self.name) from exc

    def _execute(self, sql: str, params: Sequence[Any]) -> tuple[list[tuple], int]:
        with self.conn() as conn:
            try:
                cur = conn.execute(_pg(sql) if params else sql, params or None)
                return (cur.fetchall() if cur.description else []), cur.rowcount
            except psycopg.Error as exc:
                if self._open() is None:
                    raise _known(exc, self.name) from exc
                raise

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._execute(sql, params)[0]

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params)[1]

    def run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        with self.conn() as conn, conn.cursor() as cur:
            cur.executemany(_pg(sql), list(params))

    def in_(self, column: str, ids: Sequence[int] | Sequence[bytes]) -> tuple[str, list]:
        return f"{column} = ANY(?)", [[i if isinstance(i, bytes) else int(i) for i in ids]]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with (
            self.conn() as conn,
            conn.cursor() as cur,
            cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def next_ids(self, table: str, n: int) -> list[int]:
        sql = f"SELECT nextval('{table}_id_seq') FROM generate_series(1, ?) ORDER BY 1"
        return [int(r[0]) for r in self.rows(sql, (n,))]

    def insert_chunks(
        self, collection_id: int, article_id: int, art: Any, vector_ids: Sequence[int]
    ) -> list[int]:
        return self.insert_returning_ids(
            "chunks",
            ("article_id", "collection_id", "ordinal", "start", "end", "text", "vector_id"),
            [
                (article_id, collection_id, s.ordinal, s.start, s.end, s.text, vid)
                for s, vid in zip(art.chunks, vector_ids, strict=True)
            ],
        )

    def close(self) -> None:
        with suppress(Exception):
            self.pool.close()

    # -- transactions --------------------------------------------------------------------------
    def _open(self) -> psycopg.Connection | None:
        return getattr(self._local, "conn", None)

    @contextmanager
    def _begun(self, begin: str, *, writing: bool) -> Iterator[psycopg.Connection]:
        """A connection from the pool. Collections are locked by the parts as they are first
        touched (``lock``), so writers of different collections do not wait for each other."""
        try:
            with self.pool.connection() as conn:
                conn.execute(begin)
                self._local.conn, self._local.writing, self._local.locked = conn, writing, set()
                try:
                    yield conn
                except BaseException:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    self._local.conn, self._local.writing, self._local.locked = None, False, set()
                conn.execute("COMMIT")
        except psycopg.Error as exc:
            raise _known(exc, self.name) from exc

    def lock(self, collection_id: int) -> None:
        """Inside a transaction: hold the collection's write lock until it ends (every process)."""
        if getattr(self._local, "writing", False) and collection_id not in self._local.locked:
            self.lock_key(LOCK_COLLECTION, int(collection_id))
            self._local.locked.add(collection_id)

    def lock_key(self, kind: int, key: int) -> None:
        if getattr(self._local, "writing", False):
            self._local.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (kind, key))

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
        with self._begun("BEGIN", writing=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_MIGRATE,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            if version > SCHEMA_VERSION:
                raise newer(self.name, version, SCHEMA_VERSION)
            migrate(conn, version, SCHEMA_VERSION)

    # -- health --------------------------------------------------------------------------------
    def size_bytes(self) -> tuple[int, int]:
        """Bytes of the database; PostgreSQL's WAL is the server's, not counted here."""
        return int(self.value("SELECT pg_database_size(current_database())")), 0

    def _checks(self) -> list[str]:
        stray = self.value(
            """SELECT COUNT(*) FROM chunks ch JOIN articles a ON a.id = ch.article_id
               WHERE a.collection_id != ch.collection_id"""
        )
        problem = f"{stray} chunks are filed under another collection than their article"
        return [problem] if stray else []


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
