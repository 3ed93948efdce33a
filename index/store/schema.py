"""The SQLite schema, as numbered migrations run once each, in order, under SQLite's write lock.

A migration is never edited once released: data folders at every earlier version open by running
the ones they miss (``PRAGMA user_version`` records how far a file is). A new table or column is
a new number.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from ..errors import StoreError

SCHEMA_VERSION = 8
# The versions that rewrite whole tables (the chunks' vectors too): an existing store is told
# why its first start takes a while.
REWRITES = (5, 8)

log = logging.getLogger(__name__)

# The columns (but the id) of the tables schema 5 rebuilds, as they were created: written once for
# the creation and the rebuilds. Released migrations use them, so they never change either: a new
# column is a new migration's ALTER TABLE. Schema 2 added two to articles, before the table's key.
ARTICLES = """
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        source TEXT,
        published_at TEXT,
        url TEXT,
        canonical_url TEXT,
        author TEXT,
        text TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        chunk_count INTEGER NOT NULL,
        added_by TEXT,
        added_at TEXT NOT NULL,"""
ARTICLES_2 = """
        guid TEXT,
        version INTEGER NOT NULL DEFAULT 1,"""
ARTICLES_KEY = """
        UNIQUE (collection_id, content_hash)"""
CHUNKS = """
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL"""
FEEDS = """
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        title TEXT,
        etag TEXT,
        last_modified TEXT,
        interval_seconds INTEGER NOT NULL DEFAULT 1800,
        next_poll_at REAL NOT NULL DEFAULT 0,
        last_polled_at REAL,
        last_status TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        paused INTEGER NOT NULL DEFAULT 0,
        added_by TEXT,
        added_at TEXT NOT NULL,
        UNIQUE (collection_id, url)"""
WATCHES = """
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        topic TEXT NOT NULL,
        vector BLOB NOT NULL,
        owner TEXT NOT NULL,
        channel_id INTEGER,
        created_at TEXT NOT NULL"""
ANSWERS = """
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        question TEXT NOT NULL,
        citations TEXT NOT NULL DEFAULT '[]',
        asked_by TEXT,
        channel_id INTEGER,
        message_id INTEGER,
        since TEXT,
        until TEXT,
        as_of TEXT,
        asked_at TEXT NOT NULL"""
# What indexes the articles, the chunks and the answers, dropped with the table each time it is
# rebuilt.
ARTICLES_INDEXED = """
    CREATE UNIQUE INDEX articles_url ON articles (collection_id, canonical_url)
        WHERE canonical_url IS NOT NULL;
    CREATE INDEX articles_published ON articles (collection_id, published_at);"""
ANSWERS_INDEXED = """
    CREATE INDEX answers_channel ON answers (channel_id, id);
    CREATE UNIQUE INDEX answers_message ON answers (message_id) WHERE message_id IS NOT NULL;"""
CHUNKS_INDEXED = """
    CREATE INDEX chunks_article ON chunks (article_id);
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
    END;"""


def create_table(name: str, columns: str, *, counted: bool = False) -> str:
    """``CREATE TABLE`` of a table with an id; ``counted``: an id never given out twice
    (AUTOINCREMENT, schema 5)."""
    key = "INTEGER PRIMARY KEY AUTOINCREMENT" if counted else "INTEGER PRIMARY KEY"
    return f"CREATE TABLE {name} (\n        id {key},{columns}\n    );"


def rebuild(name: str, columns: str, rows: str = "") -> str:
    """A table made again with counted ids and ``columns`` (one a line), holding ``rows`` (a
    ``SELECT``; by default its own rows, in those columns). Its indexes and triggers go with it."""
    names = ["id"] + [c.split()[0] for c in columns.strip().splitlines() if "UNIQUE" not in c]
    return f"""{create_table(name + "_new", columns, counted=True)}
    INSERT INTO {name}_new ({", ".join(names)}) {rows or f"SELECT {', '.join(names)} FROM {name}"};
    DROP TABLE {name};
    ALTER TABLE {name}_new RENAME TO {name};"""


MIGRATIONS: dict[int, str] = {
    1: f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    {create_table("articles", ARTICLES + ARTICLES_KEY)}{ARTICLES_INDEXED}
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (
        title, text, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    {create_table("chunks", CHUNKS)}{CHUNKS_INDEXED}
    """,
    2: f"""
    ALTER TABLE articles ADD COLUMN guid TEXT;
    ALTER TABLE articles ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX articles_guid ON articles (collection_id, guid) WHERE guid IS NOT NULL;
    CREATE TABLE article_sources (
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        source TEXT,
        url TEXT,
        title TEXT,
        published_at TEXT,
        added_at TEXT NOT NULL
    );
    CREATE INDEX article_sources_article ON article_sources (article_id);
    CREATE TABLE article_minhash (
        article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
        signature BLOB NOT NULL
    );
    CREATE TABLE minhash_bands (
        collection_id INTEGER NOT NULL,
        band INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE
    );
    CREATE INDEX minhash_bands_lookup ON minhash_bands (collection_id, band, bucket);
    CREATE INDEX minhash_bands_article ON minhash_bands (article_id);
    {create_table("feeds", FEEDS)}
    CREATE TABLE feed_entries (
        feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        guid TEXT NOT NULL,
        article_id INTEGER,
        content_hash TEXT,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (feed_id, guid)
    );
    """,
    # Provenance of every version of an article: who added it, the address its text was fetched
    # from, the feed that carried it. An update is allowed only from the same feed or site.
    # Stores from before know only the current version: its first adder (for version 1), and
    # the feed that added it when that feed's entry still holds the current text.
    3: """
    CREATE TABLE article_versions (
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        added_by TEXT,
        added_at TEXT NOT NULL,
        fetched_url TEXT,
        feed_id INTEGER,
        PRIMARY KEY (article_id, version)
    );
    INSERT INTO article_versions
        (article_id, version, content_hash, added_by, added_at, fetched_url, feed_id)
    SELECT a.id, a.version, a.content_hash,
           CASE WHEN a.version = 1 OR f.feed_id IS NOT NULL THEN a.added_by END,
           a.added_at, NULL, f.feed_id
    FROM articles a LEFT JOIN (
        SELECT e.article_id, MIN(e.feed_id) AS feed_id
        FROM feed_entries e JOIN articles x ON x.id = e.article_id
        WHERE x.added_by = 'feed ' || e.feed_id
          AND (e.content_hash = x.content_hash OR e.content_hash LIKE x.content_hash || '@%')
        GROUP BY e.article_id
    ) f ON f.article_id = a.id;
    """,
    # Answers given on Discord and the votes on them (👍/👎): feedback, and what a reply to an
    # answer continues from (its question and time window). Watches (standing questions) with
    # their topic's vector, and the alerts they raised. A server's daily digest schedule.
    # Nothing before existed to carry over.
    4: f"""
    {create_table("watches", WATCHES)}
    CREATE INDEX watches_collection ON watches (collection_id, id);
    CREATE TABLE watch_alerts (
        watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
        article_id INTEGER NOT NULL,
        title TEXT NOT NULL,
        score REAL NOT NULL,
        alerted_at TEXT NOT NULL,
        PRIMARY KEY (watch_id, article_id)
    );
    CREATE TABLE digests (
        collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
        channel_id INTEGER NOT NULL,
        hour INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
        timezone TEXT NOT NULL,
        last_day TEXT
    );
    {create_table("answers", ANSWERS)}{ANSWERS_INDEXED}
    CREATE TABLE answer_votes (
        answer_id INTEGER NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
        voter TEXT NOT NULL,
        value INTEGER NOT NULL CHECK (value IN (-1, 1)),
        voted_at TEXT NOT NULL,
        PRIMARY KEY (answer_id, voter)
    );
    """,
    # Ids are never reused. A plain INTEGER PRIMARY KEY takes the highest id left plus one, so
    # forgetting the newest article gave its id (and its chunks') to the next one: a watch that
    # had alerted for it never alerted again, and feedback named another article under it.
    # Every table whose ids members see or other rows, meta and the FAISS indexes hold is
    # rebuilt with AUTOINCREMENT (same rows, same ids: the derived indexes stay valid), with
    # foreign keys off for the rebuild (``migrate``). The counters start past the highest id
    # still known anywhere, so an id forgotten before this upgrade is not given out again
    # either when something still refers to it.
    5: f"""
    {rebuild("articles", ARTICLES + ARTICLES_2 + ARTICLES_KEY)}{ARTICLES_INDEXED}
    CREATE INDEX articles_guid ON articles (collection_id, guid) WHERE guid IS NOT NULL;
    {rebuild("chunks", CHUNKS)}{CHUNKS_INDEXED}
    {rebuild("feeds", FEEDS)}
    {rebuild("watches", WATCHES)}
    CREATE INDEX watches_collection ON watches (collection_id, id);
    {rebuild("answers", ANSWERS)}{ANSWERS_INDEXED}
    DELETE FROM sqlite_sequence;
    INSERT INTO sqlite_sequence (name, seq) SELECT 'articles', COALESCE(MAX(id), 0) FROM (
        SELECT MAX(id) AS id FROM articles
        UNION ALL SELECT MAX(article_id) FROM feed_entries
        UNION ALL SELECT MAX(article_id) FROM watch_alerts
        UNION ALL SELECT MAX(CAST(json_extract(c.value, '$.article_id') AS INTEGER))
            FROM answers a, json_each(a.citations) c WHERE json_valid(a.citations)
        UNION ALL SELECT MAX(CAST(value AS INTEGER)) FROM meta
            WHERE key GLOB 'alerts.seen.*' AND value GLOB '[0-9]*'
    );
    INSERT INTO sqlite_sequence (name, seq) SELECT 'chunks', COALESCE(MAX(id), 0) FROM (
        SELECT MAX(id) AS id FROM chunks UNION ALL SELECT MAX(rowid) FROM chunks_fts
    );
    INSERT INTO sqlite_sequence (name, seq) SELECT 'feeds', COALESCE(MAX(id), 0) FROM (
        SELECT MAX(id) AS id FROM feeds
        UNION ALL SELECT MAX(feed_id) FROM feed_entries
        UNION ALL SELECT MAX(feed_id) FROM article_versions
        UNION ALL SELECT MAX(CAST(substr(added_by, 6) AS INTEGER)) FROM articles
            WHERE added_by GLOB 'feed [0-9]*'
    );
    INSERT INTO sqlite_sequence (name, seq) SELECT 'watches', COALESCE(MAX(id), 0) FROM watches;
    INSERT INTO sqlite_sequence (name, seq) SELECT 'answers', COALESCE(MAX(id), 0) FROM (
        SELECT MAX(id) AS id FROM answers UNION ALL SELECT MAX(answer_id) FROM answer_votes
    );
    """,
    # Feed trouble told to admins: each feed's last success, last error and the articles it
    # added (stores from before count them from their versions), which notice its current run
    # of failures was told (none, "failing", "paused": told once, kept across restarts); and
    # a server's channel for those notices (/feeds notify).
    6: """
    ALTER TABLE feeds ADD COLUMN last_success_at REAL;
    ALTER TABLE feeds ADD COLUMN last_error TEXT;
    ALTER TABLE feeds ADD COLUMN last_error_at REAL;
    ALTER TABLE feeds ADD COLUMN articles_added INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN notice TEXT;
    UPDATE feeds SET articles_added = (
        SELECT COUNT(*) FROM article_versions v WHERE v.feed_id = feeds.id AND v.version = 1);
    UPDATE feeds SET last_success_at = last_polled_at
        WHERE failures = 0 AND last_status IS NOT NULL AND last_status NOT LIKE 'error: %';
    UPDATE feeds SET last_error = substr(last_status, 8), last_error_at = last_polled_at
        WHERE last_status LIKE 'error: %';
    CREATE TABLE IF NOT EXISTS feed_notices (
        collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
        channel_id INTEGER NOT NULL,
        set_by TEXT,
        set_at TEXT NOT NULL
    );
    """,
    # Derived indexes follow other processes' writes instead of rebuilding (PostgreSQL's
    # chunk_log, pg_migrations/001): what each collection version added, removed or re-embedded,
    # written in the same transaction; a collection logs from the version it is at now. An
    # outlet is listed once an article (a unique key, as PostgreSQL's: ON CONFLICT on both).
    7: """
    ALTER TABLE collections ADD COLUMN logged_from INTEGER NOT NULL DEFAULT 0;
    UPDATE collections SET logged_from = version;
    CREATE TABLE chunk_log (
        collection_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        chunk_id INTEGER NOT NULL,
        op TEXT NOT NULL,
        PRIMARY KEY (collection_id, version, chunk_id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX article_sources_once ON article_sources
        (article_id, COALESCE(source, ''), COALESCE(url, ''));
    """,
    # Each text embedded once: a vector is kept once by the digest of (model, embedded text)
    # and chunks refer to it, so a second collection (server) following the same feed, or an
    # article re-ingested, reuses it instead of running the model. Stored vectors move over as
    # they are (ids equal to their chunk's: nothing re-embedded, the FAISS indexes stay valid),
    # unkeyed until the first ingest keys them (``index.ingest.vector_keys``).
    8: f"""
    CREATE TABLE vectors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest BLOB UNIQUE,
        vector BLOB NOT NULL
    );
    INSERT INTO vectors (id, vector) SELECT id, vector FROM chunks ORDER BY id;
    CREATE TEMP TABLE counted AS SELECT name, seq FROM sqlite_sequence WHERE name = 'chunks';
    {
        rebuild(
            "chunks",
            CHUNKS.replace(
                "vector BLOB NOT NULL", "vector_id INTEGER NOT NULL REFERENCES vectors(id)"
            ),
            'SELECT id, article_id, ordinal, start, "end", text, id FROM chunks',
        )
    }
    CREATE INDEX chunks_vector ON chunks (vector_id);{CHUNKS_INDEXED}
    UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM counted), 0))
        WHERE name = 'chunks';
    INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM counted
        WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'chunks');
    UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'chunks')
        WHERE name = 'vectors';
    DROP TABLE counted;
    """,
}

# Tables whose ids AUTOINCREMENT keeps from being reused (schema 5); copy-store carries their
# counters (``sqlite_sequence``) over to PostgreSQL's sequences.
COUNTED = ("articles", "chunks", "feeds", "watches", "answers", "vectors")


def statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    out, buf = [], ""
    for line in script.strip().splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return [*out, buf] if buf.strip() else out


def migrate(
    read: sqlite3.Connection,
    transaction: Callable[[], AbstractContextManager[sqlite3.Connection]],
    name: str,
) -> None:
    """Bring the schema up to date, once, however many processes open a new file at once:
    the version is read again under SQLite's write lock and every step runs in that one
    transaction, so a second process finds the work done (or none of it, after a crash)."""
    try:
        version = read.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{name} is not a newsbot database: {exc}") from None
    if version > SCHEMA_VERSION:
        raise newer(name, version)
    if version == SCHEMA_VERSION:
        return
    # A table rebuilt (schema 5) is dropped and its copy renamed into place: with foreign keys
    # on, the drop would first delete the rows referring to it. Before commit, no row may have
    # lost what it refers to (rows a recovered file had orphaned already are left as they were).
    # (Only outside a transaction does SQLite change this setting.)
    read.execute("PRAGMA foreign_keys=OFF")
    try:
        with transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise newer(name, version)
            orphans = _orphans(db)
            if version and any(version < v <= SCHEMA_VERSION for v in REWRITES):
                log.warning(
                    "upgrading %s from schema %d to %d: its tables are rewritten once"
                    " (a few minutes for a million passages)",
                    name,
                    version,
                    SCHEMA_VERSION,
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in statements(MIGRATIONS[target]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")
            if _orphans(db) > orphans:
                raise StoreError(f"{name} could not be migrated: rows lost what they refer to")
    finally:
        read.execute("PRAGMA foreign_keys=ON")


def _orphans(db: sqlite3.Connection) -> int:
    """Rows whose foreign key names no row."""
    return db.execute("SELECT COUNT(*) FROM pragma_foreign_key_check").fetchone()[0]


def newer(name: str, version: int, ours: int = SCHEMA_VERSION) -> StoreError:
    return StoreError(f"{name} has schema {version}, newer than this newsbot ({ours})")
