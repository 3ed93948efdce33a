"""``newsbot copy-store --to postgresql://…``: an SQLite store moved into an empty PostgreSQL
database as it is — ids, versions and vectors included (never re-embedded), so derived indexes
stay valid, and each table's id counter, so no id SQLite gave out is given out again — then
verified: the rows of every table counted on both sides, and a checksum of every article (id,
collection, hash, text) and chunk (id, article, offsets, text, vector bytes) compared, both read
back in id order.

The copy is one transaction: stopped before its commit, nothing is copied. Stopped after it,
during verification, the copy is whole but unverified; run again, a database that already holds
exactly this store (same counts and checksums) is verified rather than refused. Ctrl-C says
which of these happened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import Interrupted, StoreError
from .schema import COUNTED

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
        "last_success_at",
        "last_error",
        "last_error_at",
        "articles_added",
        "notice",
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
    # schema 6 (pg_migrations/004_feed_trouble.sql): where feed trouble is told
    "feed_notices": ("collection_id", "channel_id", "set_by", "set_at"),
}
SEQUENCES = ("collections", "articles", "chunks", "feeds", "article_sources", "answers", "watches")
BATCH = 5000


@dataclass
class CopyReport:
    counts: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    already: bool = False  # the target already held this store's copy: verified, not copied
    target: str = ""  # the target's URL without its password


def copy_sqlite_to_postgres(
    source: object, url: str, progress: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy ``source`` (a ``SqliteStore``) into the empty database at ``url``, or find a whole
    copy of it there already; verify; report. ``progress(table, rows)`` follows each table
    copied, then ``progress("verifying", 0)`` the commit. Ctrl-C is an ``Interrupted`` saying
    what it left."""
    from .postgres import PostgresStore, safe_url
    from .sqlite import SqliteStore

    if not isinstance(source, SqliteStore):
        raise StoreError(
            "copy-store copies from an SQLite data folder (NEWSBOT_DATABASE_URL unset)"
        )
    phase = "opening"
    try:
        target = PostgresStore(url)
        try:
            src = source.db
            src.execute("BEGIN")  # one snapshot of the source throughout
            try:
                if target.one("SELECT COUNT(*) FROM collections")[0]:
                    phase = "checking"
                    report = _verify_existing(src, target)
                    phase = "verified"
                    return report
                phase = "copying"
                with target.transaction() as db:
                    for table, columns in TABLES.items():
                        n = _copy_table(src, db, table, columns, progress)
                        if progress:
                            progress(table, n)
                    db.execute(
                        "UPDATE collections SET logged_from = version"  # no log from before
                    )
                    _advance_sequences(src, db)
                    phase = "committing"
                phase = "verifying"
                if progress:
                    progress("verifying", 0)
                report = verify(src, target)
                phase = "verified"
                return report
            finally:
                src.execute("COMMIT")
        finally:
            target.close()
    except KeyboardInterrupt:
        raise Interrupted(_left(phase, safe_url(url))) from None


def _left(phase: str, name: str) -> str:
    """What an interrupt during ``phase`` left in the target, and what to do."""
    if phase == "opening":
        return f"nothing was copied: {name} is unchanged"
    if phase == "copying":
        return f"nothing was copied: the copy was rolled back and {name} is still empty"
    if phase == "checking":
        return (
            f"nothing was copied or changed: {name} already held data, not yet verified as"
            " this store's copy; run the same copy-store again to verify it"
        )
    if phase == "verified":
        return f"the copy in {name} is whole and verified"
    if phase == "committing":
        return (
            f"stopped while committing the copy to {name}: run the same copy-store again"
            " (it copies into a database still empty, or verifies the copy there)"
        )
    return (
        f"the copy in {name} is whole but not verified: run the same copy-store again to verify it"
    )


def _verify_existing(src, target) -> CopyReport:
    """A target that holds data: verified when it is exactly this store (a copy whose
    verification was stopped), else refused with what differs; nothing in it is changed."""
    report, problems = compare(src, target)
    if problems:
        raise StoreError(
            f"{target.name} already holds collections and is not a copy of this store"
            f" ({'; '.join(problems[:3])}): copy into an empty one"
        )
    with target.transaction() as db:  # a copy made before the counters were carried over
        _advance_sequences(src, db)
    report = verify(src, target)
    report.already, report.target = True, target.name
    return report


def _counters(src) -> dict[str, int]:
    """The highest id each table of the source ever gave out (SQLite's AUTOINCREMENT
    counters, or its highest id left)."""
    used = {
        name: int(seq or 0) for name, seq in src.execute("SELECT name, seq FROM sqlite_sequence")
    }
    for table in SEQUENCES:
        if table != "article_sources":  # its PostgreSQL ids are new ones
            top = src.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0
            used[table] = max(used.get(table, 0), int(top))
    return used


def _advance_sequences(src, db) -> None:
    """Each sequence past every id used on either side; never moved back."""
    used = _counters(src)
    for table in SEQUENCES:
        db.execute(
            f"SELECT setval('{table}_id_seq', GREATEST(n, 1), n > 0) FROM ("
            f" SELECT GREATEST(%s, (SELECT COALESCE(MAX(id), 0) FROM {table}),"
            f" {_last_used(table)}) AS n) x",
            (used.get(table, 0),),
        )


def _last_used(table: str) -> str:
    """SQL for the highest id a table's sequence has given out (0: none yet)."""
    return f"(SELECT last_value - (NOT is_called)::int FROM {table}_id_seq)"


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
    with target.snapshot() as conn, conn.cursor(name="sums") as cur:
        cur.itersize = BATCH
        cur.execute(sql)
        yield from cur


def compare(src, target) -> tuple[CopyReport, list[str]]:
    """Counts of every table and checksums of articles and chunks on both sides, and what
    differs."""
    report = CopyReport()
    problems = []
    for table in TABLES:
        a = src.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        b = target.one(f"SELECT COUNT(*) FROM {table}")[0]
        report.counts[table] = b
        if a != b:
            problems.append(f"{table}: {a} rows in SQLite, {b} in PostgreSQL")
    if not problems:
        for name, sql in (("articles", ARTICLE_SUMS), ("chunks", CHUNK_SUMS)):
            _, mine = _digest(tuple(r) for r in src.execute(sql))
            _, theirs = _digest(_pg_rows(target, sql))
            report.checksums[name] = theirs
            if mine != theirs:
                problems.append(f"{name}: checksums differ")
    return report, problems


def verify(src, target) -> CopyReport:
    """Counts of every table and checksums of articles and chunks, equal on both sides, and
    no id SQLite gave out that PostgreSQL would give out again."""
    report, problems = compare(src, target)
    used = _counters(src)
    for table in COUNTED:
        last = target.one(f"SELECT {_last_used(table)}")[0]
        if last < used.get(table, 0):
            problems.append(f"{table}: new ids would start at {last + 1}, not past {used[table]}")
    if problems:
        raise StoreError("the copy does not match its source: " + "; ".join(problems))
    return report
