"""``newsbot backup FILE`` and ``newsbot restore FILE``: the store's content as one file, taken
while the bot and other processes keep writing, and put back into an empty data folder or an
empty database.

The file is a tar archive (gzip-compressed when its name ends in ``.gz`` or ``.tgz``) whose first
member is ``manifest.json`` — the backend, its schema version, when it was made, the rows of
every table, and each payload member's size and SHA-256 — followed by the payload:

- **SQLite**: ``newsbot.sqlite3``, a copy made by SQLite's online backup in one step, which reads
  one snapshot of the database (WAL: writers go on meanwhile and are not in the copy).
- **PostgreSQL**: ``tables/<name>.copy``, each table in ``COPY`` text format, all read in one
  REPEATABLE READ snapshot, with the sequences' positions (so no id is given out twice after a
  restore). The store's own content rather than ``pg_dump``: no client/server version to match.

FAISS indexes are not in a backup: they are derived, and rebuilt from the stored vectors on first
use (``newsbot rebuild`` does it at once). A restore checks every payload's checksum before
using it, refuses a backup of a newer schema than this newsbot's, fills only an empty data folder
(no database file) or an empty database, brings an older schema up to date, and compares the
rows of every table with the manifest.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
import os
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, StoreError

FORMAT = "newsbot-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "newsbot.sqlite3"
CHUNK = 1 << 20

Progress = Callable[[str], None]


@dataclass
class Manifest:
    """What a backup holds, as its ``manifest.json`` says."""

    backend: str  # "sqlite" or "postgresql"
    schema: int
    created_at: str
    counts: dict[str, int]
    files: dict[str, dict[str, Any]]  # member name -> {"bytes", "sha256"}
    tables: list[dict[str, Any]] = field(default_factory=list)  # PostgreSQL: name, columns
    sequences: dict[str, int] = field(default_factory=dict)  # PostgreSQL: name -> last value
    source: str = ""  # the store it was made from (no password)

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str) -> Manifest:
        try:
            body = json.loads(data)
            if body.get("format") != FORMAT:
                raise ValueError("not a newsbot backup")
            if int(body.get("format_version", 0)) > FORMAT_VERSION:
                raise InputError(
                    f"{name} was written by a newer newsbot (backup format"
                    f" {body['format_version']}): restore it with that version or newer"
                )
            return cls(
                backend=str(body["backend"]),
                schema=int(body["schema"]),
                created_at=str(body["created_at"]),
                counts={str(k): int(v) for k, v in body["counts"].items()},
                files=dict(body["files"]),
                tables=list(body.get("tables", [])),
                sequences={str(k): int(v) for k, v in body.get("sequences", {}).items()},
                source=str(body.get("source", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{name} is not a newsbot backup ({exc})") from None


# -- writing ----------------------------------------------------------------------------------
def backup(store: Any, path: Path, progress: Progress | None = None) -> Manifest:
    """Write a backup of ``store`` (SQLite or PostgreSQL) to ``path``, atomically: the file
    appears whole under its name, or not at all (an older file of that name stays until then)."""
    from .sqlite import SqliteStore

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; name the backup file")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".newsbot-backup-", dir=path.parent) as tmp:
        work = Path(tmp)
        if isinstance(store, SqliteStore):
            manifest = _sqlite_payload(store, work, progress)
        else:
            manifest = _postgres_payload(store, work, progress)
        partial = work / (path.name + ".partial")
        _write_archive(partial, path.name, manifest, work)
        os.replace(partial, path)
    return manifest


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _copied(blocks: Iterable[bytes], dst: IO) -> dict[str, Any]:
    """``blocks`` written to ``dst``; what a manifest says of them."""
    h, size = hashlib.sha256(), 0
    for block in blocks:
        h.update(block)
        size += len(block)
        dst.write(block)
    return {"bytes": size, "sha256": h.hexdigest()}


def _sqlite_payload(store: Any, work: Path, progress: Progress | None) -> Manifest:
    from .schema import SCHEMA_VERSION

    copy = work / SQLITE_MEMBER
    if progress:
        progress(f"copying {store.name}")
    try:
        # A connection of its own: the store's transactions in this process are not disturbed,
        # and one backup step reads one snapshot however other processes write.
        with (
            closing(sqlite3.connect(store.path, timeout=30)) as src,
            closing(sqlite3.connect(copy)) as dst,
        ):
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, nothing beside it
            counts = _sqlite_counts(dst)
            schema = dst.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        from ..errors import from_sqlite

        raise (from_sqlite(exc, store.name) or StoreError(f"backup failed: {exc}")) from exc
    if schema != SCHEMA_VERSION:
        raise StoreError(f"{store.name} has schema {schema}, not {SCHEMA_VERSION}")
    return Manifest(
        backend="sqlite",
        schema=int(schema),
        created_at=_now(),
        counts=counts,
        files={SQLITE_MEMBER: {"bytes": copy.stat().st_size, "sha256": _sha256(copy)}},
        source=store.name,
    )


def _sqlite_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Rows of every table (the full-text index's own, not its shadow tables)."""
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT GLOB 'chunks_fts_*' ORDER BY name"
        )
    ]
    return {n: db.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def _postgres_payload(store: Any, work: Path, progress: Progress | None) -> Manifest:
    (work / "tables").mkdir()
    files: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    tables: list[dict[str, Any]] = []
    with store.snapshot() as conn:  # REPEATABLE READ: every table from one state
        schema = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
        for name in pg_tables_in_order(conn):
            columns = pg_columns(conn, name)
            if progress:
                progress(f"copying {name}")
            member = f"tables/{name}.copy"
            cols = ", ".join(f'"{c}"' for c in columns)
            with (
                (work / member).open("wb") as f,
                conn.cursor() as cur,
                cur.copy(f'COPY "{name}" ({cols}) TO STDOUT') as copy,
            ):
                files[member] = _copied(map(bytes, copy), f)
            counts[name] = conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
            tables.append({"name": name, "columns": columns})
        sequences = {
            r[0]: int(r[1])
            for r in conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences"
                " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            )
        }
    return Manifest(
        backend="postgresql",
        schema=schema,
        created_at=_now(),
        counts=counts,
        files=files,
        tables=tables,
        sequences=sequences,
        source=store.name,
    )


def pg_columns(conn: Any, table: str) -> list[str]:
    """A PostgreSQL table's columns, in order."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    ]


def pg_tables_in_order(conn: Any) -> list[str]:
    """Every newsbot table but the schema's own record, each after the tables it refers to
    (restore loads them in this order)."""
    names = sorted(
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename != 'schema_version'"
        )
    )
    refers: dict[str, set[str]] = {n: set() for n in names}
    for child, parent in conn.execute(
        """SELECT c.relname, p.relname FROM pg_constraint k
           JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
           WHERE k.contype = 'f'"""
    ):
        if child in refers and parent in refers and child != parent:
            refers[child].add(parent)
    return list(graphlib.TopologicalSorter(refers).static_order())  # newsbot's have no cycle


def _write_archive(partial: Path, name: str, manifest: Manifest, work: Path) -> None:
    mode = "w:gz" if name.endswith((".gz", ".tgz")) else "w"
    (work / MANIFEST).write_bytes(manifest.to_json())
    with tarfile.open(partial, mode) as tar:  # type: ignore[call-overload]
        for member in (MANIFEST, *manifest.files):  # the manifest first
            source = work / member
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = source.stat().st_size, int(time.time()), 0o600
            with source.open("rb") as f:
                tar.addfile(info, f)
    with partial.open("rb+") as f:  # on disk before it takes the backup's name
        os.fsync(f.fileno())


# -- reading ------------------------------------------------------------------------------------
@contextmanager
def _archive(path: Path) -> Iterator[tuple[tarfile.TarFile, Manifest]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"there is no backup file {path}")
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path} is not a newsbot backup ({exc})") from None
    with tar:
        try:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise InputError(f"{path} is not a newsbot backup (no {MANIFEST} first)")
            data = tar.extractfile(first).read()  # type: ignore[union-attr]
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(f"{path} is damaged ({exc})") from None
        yield tar, Manifest.from_json(data, str(path))


def read_manifest(path: Path) -> Manifest:
    with _archive(path) as (_, manifest):
        return manifest


def _members(tar: tarfile.TarFile, manifest: Manifest, path: Path) -> Iterator[tuple[str, IO]]:
    """The payload members the manifest names, in archive order; nothing else is read."""
    seen = set()
    try:
        for info in tar:
            if info.name in manifest.files and info.isfile() and info.name not in seen:
                seen.add(info.name)
                yield info.name, tar.extractfile(info)  # type: ignore[misc]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path} is damaged ({exc})") from None
    missing = set(manifest.files) - seen
    if missing:
        raise InputError(f"{path} is damaged: {', '.join(sorted(missing))} missing")


def _copy_checked(src: IO, dst: IO, expected: dict[str, Any], what: str) -> None:
    """Copy while hashing; ``InputError`` when the bytes are not the ones the manifest names."""
    got = _copied(iter(lambda: src.read(CHUNK), b""), dst)
    if got != {"bytes": int(expected["bytes"]), "sha256": expected["sha256"]}:
        raise InputError(f"{what} is damaged: its checksum does not match the manifest's")


@dataclass
class Restored:
    manifest: Manifest
    target: str  # the database file or the database restored into (no password)
    counts: dict[str, int]  # rows now in each table the manifest counts


def restore(
    path: Path, data_dir: Path, database_url: str = "", progress: Progress | None = None
) -> Restored:
    """Fill an empty data folder (or the empty database ``database_url``) from a backup."""
    from . import DATABASE_NAME, is_postgres

    path = Path(path)
    with _archive(path) as (tar, manifest):
        want = "postgresql" if database_url else "sqlite"
        if manifest.backend != want:
            raise InputError(_wrong_backend(path, manifest.backend))
        if database_url:
            if not is_postgres(database_url):
                raise StoreError("NEWSBOT_DATABASE_URL must start with postgresql://")
            return _restore_postgres(tar, manifest, path, database_url, progress)
        return _restore_sqlite(tar, manifest, path, Path(data_dir) / DATABASE_NAME, progress)


def _wrong_backend(path: Path, backend: str) -> str:
    if backend == "sqlite":
        return (
            f"{path} is a backup of an SQLite data folder: restore it with NEWSBOT_DATABASE_URL"
            " unset, then `newsbot copy-store --to postgresql://…` to move it"
        )
    return f"{path} is a backup of a PostgreSQL store: restore it with NEWSBOT_DATABASE_URL set"


def _newer(path: Path, schema: int, ours: int) -> InputError:
    return InputError(
        f"{path} holds a store of schema {schema}, newer than this newsbot's ({ours}):"
        " restore it with the newsbot that made it, or a newer one"
    )


def _restore_sqlite(
    tar: tarfile.TarFile, manifest: Manifest, path: Path, db_path: Path, progress: Progress | None
) -> Restored:
    from .schema import SCHEMA_VERSION
    from .sqlite import SqliteStore

    if manifest.schema > SCHEMA_VERSION:
        raise _newer(path, manifest.schema, SCHEMA_VERSION)
    if SQLITE_MEMBER not in manifest.files:
        raise InputError(f"{path} is damaged: its manifest names no {SQLITE_MEMBER}")
    for existing in (db_path, db_path.with_name(db_path.name + "-wal")):
        if existing.exists():
            raise InputError(
                f"{db_path.parent} already holds a database ({existing.name}): restore fills an"
                " empty data folder; move that one away first, or name another --data-dir"
            )
    db_path.parent.mkdir(parents=True, exist_ok=True)
    partial = db_path.with_name(db_path.name + ".restoring")
    try:
        for name, member in _members(tar, manifest, path):
            if name != SQLITE_MEMBER:
                continue
            if progress:
                progress(f"reading {name}")
            with partial.open("wb") as out:
                _copy_checked(member, out, manifest.files[name], f"{path} ({name})")
                out.flush()
                os.fsync(out.fileno())
        with closing(sqlite3.connect(partial)) as db:
            schema = db.execute("PRAGMA user_version").fetchone()[0]
            counts = _sqlite_counts(db)
        if schema != manifest.schema or counts != manifest.counts:
            raise InputError(f"{path} is damaged: its database does not match its manifest")
        if db_path.exists():  # made meanwhile by another process
            raise InputError(f"{db_path} appeared while restoring; nothing was changed")
        os.replace(partial, db_path)
    finally:
        with suppress(OSError):
            partial.unlink()
    return _opened(SqliteStore(db_path), manifest, str(db_path))


def _restore_postgres(
    tar: tarfile.TarFile, manifest: Manifest, path: Path, url: str, progress: Progress | None
) -> Restored:
    import psycopg

    from .postgres import LOCK_MIGRATE, SCHEMA_VERSION, PostgresStore, migrate, safe_url

    name = safe_url(url)
    if manifest.schema > SCHEMA_VERSION:
        raise _newer(path, manifest.schema, SCHEMA_VERSION)
    columns = {t["name"]: list(t["columns"]) for t in manifest.tables}
    try:
        conn = psycopg.connect(url, connect_timeout=30)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to the database {name}: {exc}") from None
    try:
        with conn:  # one transaction: committed at its end, rolled back on any exception
            # Other newsbot processes starting now wait here rather than migrate under us.
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_MIGRATE,))
            if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0]:
                version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                version = int(version or 0)
                held = [
                    t
                    for t in columns  # in the manifest's order
                    if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0]
                    and conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0]
                ]
                if held:
                    raise InputError(
                        f"{name} already holds data ({', '.join(held[:3])}): restore fills an"
                        " empty database; create a new one (createdb) and point"
                        " NEWSBOT_DATABASE_URL at it"
                    )
                if version != manifest.schema:
                    raise InputError(
                        f"{name} already has newsbot's schema {version} (empty), and {path} is"
                        f" of schema {manifest.schema}: restore it into a new empty database"
                    )
            else:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                migrate(conn, 0, manifest.schema)
            for member, data in _members(tar, manifest, path):
                table = member.removeprefix("tables/").removesuffix(".copy")
                if table not in columns:
                    raise InputError(f"{path} is damaged: {member} is not in its manifest")
                if progress:
                    progress(f"loading {table}")
                cols = ", ".join(f'"{c}"' for c in columns[table])
                with conn.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as cp:
                    _copy_checked(data, cp, manifest.files[member], f"{path} ({member})")
            for seq, value in manifest.sequences.items():
                conn.execute("SELECT setval(%s::regclass, %s, true)", (seq, value))
    except psycopg.Error as exc:
        raise StoreError(f"restoring into {name} failed (nothing was kept): {exc}") from exc
    restored = _opened(PostgresStore(url), manifest, name)
    if restored.counts != manifest.counts:
        raise StoreError(f"the restored {name} does not hold the rows its backup counted")
    return restored


def _opened(store: Any, manifest: Manifest, target: str) -> Restored:
    """The restored store, opened (which brings an older schema up to date), checked sound and
    the rows of the tables the manifest counts counted, from one snapshot; then closed."""
    try:
        problems = store.integrity_problems()
        with store.snapshot():
            counts = {t: int(store.value(f'SELECT COUNT(*) FROM "{t}"')) for t in manifest.counts}
    finally:
        store.close()
    if problems:
        raise StoreError(f"the restored {store.name} has problems: {'; '.join(problems[:3])}")
    return Restored(manifest, target, counts)
