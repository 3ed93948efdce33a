"""``newsbot copy-store --to postgresql://…``: an SQLite store moved into an empty PostgreSQL
database as it is — ids, versions and vectors included (never re-embedded), so derived indexes
stay valid, and each table's id counter, so no id SQLite gave out is given out again — then
verified: the rows of every table counted on both sides, and a checksum of every article (id,
collection, hash, text), chunk (id, article, offsets, text, its vector's bytes) and vector (id,
digest, bytes) compared, all read back in id order.

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

# Derived from what they record: not copied (PostgreSQL's log starts at the copied versions).
NOT_COPIED = ("chunk_log",)

# The tables with a PostgreSQL sequence: the counted ones, collections and article_sources.
SEQUENCES = (*COUNTED, "collections", "article_sources")
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
            with source.snapshot() as src:  # one state of the source throughout
                already = bool(target.value("SELECT COUNT(*) FROM collections"))
                with target.transaction() as db:
                    if already:  # verified when it is exactly this store, else refused
                        phase = "checking"
                        _, problems = compare(source, target)
                        if problems:
                            raise StoreError(
                                f"{target.name} already holds collections and is not a copy of"
                                f" this store ({'; '.join(problems[:3])}): copy into an empty one"
                            )
                    else:
                        phase = "copying"
                        for table, columns in tables(source, db).items():
                            n = _copy_table(src, db, table, columns)
                            if progress:
                                progress(table, n)
                        db.execute(
                            "UPDATE collections SET logged_from = version"  # no log from before
                        )
                    # (a copy already there may have been made before the counters came along)
                    _advance_sequences(source, db)
                    phase = "committing"
                phase = "verifying"
                if progress and not already:
                    progress("verifying", 0)
                report = verify(source, target)
                report.already, report.target = already, target.name
                phase = "verified"
                return report
        finally:
            target.close()
    except KeyboardInterrupt:
        raise Interrupted(LEFT[phase].format(name=safe_url(url))) from None


# What an interrupt during each phase left in the target ``{name}``, and what to do.
LEFT = {
    "opening": "nothing was copied: {name} is unchanged",
    "copying": "nothing was copied: the copy was rolled back and {name} is still empty",
    "checking": "nothing was copied or changed: {name} already held data, not yet verified as"
    " this store's copy; run the same copy-store again to verify it",
    "committing": "stopped while committing the copy to {name}: run the same copy-store again"
    " (it copies into a database still empty, or verifies the copy there)",
    "verifying": "the copy in {name} is whole but not verified: run the same copy-store again"
    " to verify it",
    "verified": "the copy in {name} is whole and verified",
}


def _counters(source) -> dict[str, int]:
    """The highest id each table of the source ever gave out (the one before those SQLite would
    give next); article_sources' PostgreSQL ids are new ones."""
    return {t: source.next_ids(t, 1)[0] - 1 for t in SEQUENCES if t != "article_sources"}


def _advance_sequences(source, db) -> None:
    """Each sequence past every id used on either side; never moved back."""
    used = _counters(source)
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


def tables(source, db) -> dict[str, list[str]]:
    """Every table of the target that the source holds too, each after the tables it refers to,
    with the columns both hold (chunks gain their collection: PostgreSQL repeats it)."""
    from .backup import pg_columns, pg_tables_in_order

    out = {}
    for table in pg_tables_in_order(db):
        mine = [r[1] for r in source.rows(f'PRAGMA table_info("{table}")')]
        theirs = set(pg_columns(db, table))
        if mine and table not in NOT_COPIED:
            out[table] = [c for c in mine if c in theirs] + ["collection_id"] * (table == "chunks")
    return out


def _copy_table(src, db, table: str, columns: list[str]) -> int:
    names = ", ".join(f'"{c}"' for c in columns)
    # A chunk's collection is its article's (``tables``: SQLite's chunks do not repeat it).
    article = "(SELECT a.collection_id FROM articles a WHERE a.id = t.article_id)"
    select = names.replace('"collection_id"', article) if table == "chunks" else names
    n = 0
    with db.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in src.execute(f"SELECT {select} FROM {table} t ORDER BY t.rowid"):
            copy.write_row(row)
            n += 1
    return n


def _digest(rows: Iterator[tuple]) -> str:
    h = hashlib.sha256()
    for row in rows:
        for value in row:
            if value is None:
                h.update(b"\x00N")
            elif isinstance(value, bytes | bytearray | memoryview):
                h.update(b"\x00B" + bytes(value))
            else:
                h.update(b"\x00S" + str(value).encode())
        h.update(b"\x01")
    return h.hexdigest()


SUMS = {
    "articles": "SELECT id, collection_id, content_hash, text, version FROM articles ORDER BY id",
    "chunks": 'SELECT ch.id, ch.article_id, ch.ordinal, ch.start, ch."end", ch.text, v.vector'
    " FROM chunks ch JOIN vectors v ON v.id = ch.vector_id ORDER BY ch.id",
    "vectors": "SELECT id, digest, vector FROM vectors ORDER BY id",
}


def _pg_rows(target, sql: str) -> Iterator[tuple]:
    with target.snapshot() as conn, conn.cursor(name="sums") as cur:
        cur.itersize = BATCH
        cur.execute(sql)
        yield from cur


def compare(source, target) -> tuple[CopyReport, list[str]]:
    """Counts of every table and checksums of articles and chunks on both sides, and what
    differs."""
    report = CopyReport()
    problems = []
    with target.snapshot() as conn:
        names = list(tables(source, conn))
    for table in names:
        a = source.value(f"SELECT COUNT(*) FROM {table}")
        b = target.value(f"SELECT COUNT(*) FROM {table}")
        report.counts[table] = b
        if a != b:
            problems.append(f"{table}: {a} rows in SQLite, {b} in PostgreSQL")
    if not problems:
        for name, sql in SUMS.items():
            mine = _digest(tuple(r) for r in source.db.execute(sql))
            theirs = _digest(_pg_rows(target, sql))
            report.checksums[name] = theirs
            if mine != theirs:
                problems.append(f"{name}: checksums differ")
    return report, problems


def verify(source, target) -> CopyReport:
    """Counts of every table and checksums of articles and chunks, equal on both sides, and
    no id SQLite gave out that PostgreSQL would give out again."""
    report, problems = compare(source, target)
    used = _counters(source)
    for table in COUNTED:
        last = target.value(f"SELECT {_last_used(table)}")
        if last < used.get(table, 0):
            problems.append(f"{table}: new ids would start at {last + 1}, not past {used[table]}")
    if problems:
        raise StoreError("the copy does not match its source: " + "; ".join(problems))
    return report
