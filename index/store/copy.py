"""``newsbot copy-store --to postgresql://…``: an SQLite store moved into an empty PostgreSQL
database as it is — ids, versions and vectors included (never re-embedded), so derived indexes
stay valid — then verified: the rows of every table counted on both sides, and a checksum of
every article (id, collection, hash, text) and chunk (id, article, offsets, text, vector bytes)
compared, both read back in id order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import StoreError

# Table: columns copied, in order (the PostgreSQL names; chunks gain their collection).
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "collections": ("id", "name", "version", "created_at"),
    "articles": (
        "id",
        "collection_id",
        "title",
        "source",
        "published_at",
        "url",
        "canonical_url",
        "author",
        "text",
        "content_hash",
        "chunk_count",
        "added_by",
        "added_at",
        "guid",
        "version",
    ),
    "chunks": ("id", "article_id", "ordinal", "start", "end", "text", "vector"),
    "article_sources": ("article_id", "source", "url", "title", "published_at", "added_at"),
    "article_minhash": ("article_id", "signature"),
    "minhash_bands": ("collection_id", "band", "bucket", "article_id"),
    "feeds": (
        "id",
        "collection_id",
        "url",
        "title",
        "etag",
        "last_modified",
        "interval_seconds",
        "next_poll_at",
        "last_polled_at",
        "last_status",
        "failures",
        "paused",
        "added_by",
        "added_at",
    ),
    "feed_entries": ("feed_id", "guid", "article_id", "content_hash", "seen_at"),
    "article_versions": (
        "article_id",
        "version",
        "content_hash",
        "added_by",
        "added_at",
        "fetched_url",
        "feed_id",
    ),
    # schema 4 (pg_migrations/002_features.sql): answers and votes, watches, digests
    "answers": (
        "id",
        "collection_id",
        "question",
        "citations",
        "asked_by",
        "channel_id",
        "message_id",
        "since",
        "until",
        "as_of",
        "asked_at",
    ),
    "answer_votes": ("answer_id", "voter", "value", "voted_at"),
    "watches": ("id", "collection_id", "topic", "vector", "owner", "channel_id", "created_at"),
    "watch_alerts": ("watch_id", "article_id", "title", "score", "alerted_at"),
    "digests": ("collection_id", "channel_id", "hour", "timezone", "last_day"),
}
SEQUENCES = ("collections", "articles", "chunks", "feeds", "article_sources", "answers", "watches")
BATCH = 5000


@dataclass
class CopyReport:
    counts: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)


def copy_sqlite_to_postgres(
    source: object, url: str, progress: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy ``source`` (a ``SqliteStore``) into the empty database at ``url``; verify; report."""
    from .postgres import PostgresStore
    from .sqlite import SqliteStore

    if not isinstance(source, SqliteStore):
        raise StoreError(
            "copy-store copies from an SQLite data folder (NEWSBOT_DATABASE_URL unset)"
        )
    target = PostgresStore(url)
    try:
        if target.one("SELECT COUNT(*) FROM collections")[0]:
            raise StoreError(f"{target.name} already holds collections: copy into an empty one")
        src = source.db
        src.execute("BEGIN")  # one snapshot of the source throughout
        try:
            with target.transaction() as db:
                for table, columns in TABLES.items():
                    n = _copy_table(src, db, table, columns, progress)
                    if progress:
                        progress(table, n)
                db.execute(
                    "UPDATE collections SET logged_from = version"  # no log from before
                )
                for table in SEQUENCES:
                    db.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" GREATEST((SELECT MAX(id) FROM {table}), 1))"
                    )
            report = verify(src, target)
        finally:
            src.execute("COMMIT")
        return report
    finally:
        target.close()


def _copy_table(src, db, table: str, columns: tuple[str, ...], progress) -> int:
    names = ", ".join(f'"{c}"' for c in columns)
    if table == "chunks":
        rows = src.execute(
            "SELECT ch.id, ch.article_id, ch.ordinal, ch.start, ch.end, ch.text, ch.vector,"
            " a.collection_id FROM chunks ch JOIN articles a ON a.id = ch.article_id"
            " ORDER BY ch.id"
        )
        names += ", collection_id"
    else:
        select = ", ".join(f'"{c}"' for c in columns)
        order = "rowid"
        rows = src.execute(f"SELECT {select} FROM {table} ORDER BY {order}")
    n = 0
    with db.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            row = tuple(row)
            if table == "feeds":
                row = (*row[:11], bool(row[11]), *row[12:])
            copy.write_row(row)
            n += 1
    return n


def _digest(rows: Iterator[tuple]) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    for row in rows:
        for value in row:
            if value is None:
                h.update(b"\x00N")
            elif isinstance(value, bytes | bytearray | memoryview):
                h.update(b"\x00B" + bytes(value))
            else:
                h.update(b"\x00S" + str(value).encode())
        h.update(b"\x01")
        n += 1
    return n, h.hexdigest()


ARTICLE_SUMS = "SELECT id, collection_id, content_hash, text, version FROM articles ORDER BY id"
CHUNK_SUMS = 'SELECT id, article_id, ordinal, start, "end", text, vector FROM chunks ORDER BY id'


def _pg_rows(target, sql: str) -> Iterator[tuple]:
    with target.pool.connection() as conn, conn.cursor(name="sums") as cur:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            cur.itersize = BATCH
            cur.execute(sql)
            yield from cur
        finally:
            conn.execute("COMMIT")


def verify(src, target) -> CopyReport:
    """Counts of every table and checksums of articles and chunks, equal on both sides."""
    report = CopyReport()
    problems = []
    for table in TABLES:
        a = src.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        b = target.one(f"SELECT COUNT(*) FROM {table}")[0]
        report.counts[table] = b
        if a != b:
            problems.append(f"{table}: {a} rows in SQLite, {b} in PostgreSQL")
    for name, sql in (("articles", ARTICLE_SUMS), ("chunks", CHUNK_SUMS)):
        _, mine = _digest(tuple(r) for r in src.execute(sql))
        _, theirs = _digest(_pg_rows(target, sql))
        report.checksums[name] = theirs
        if mine != theirs:
            problems.append(f"{name}: checksums differ")
    if problems:
        raise StoreError("the copy does not match its source: " + "; ".join(problems))
    return report
