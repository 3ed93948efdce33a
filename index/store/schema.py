"""The SQLite schema, as numbered migrations run once each, in order, under SQLite's write lock.

A migration is never edited once released: data folders at every earlier version open by running
the ones they miss (``PRAGMA user_version`` records how far a file is). A new table or column is
a new number.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from ..errors import StoreError

SCHEMA_VERSION = 4

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
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
        added_at TEXT NOT NULL,
        UNIQUE (collection_id, content_hash)
    );
    CREATE UNIQUE INDEX articles_url ON articles (collection_id, canonical_url)
        WHERE canonical_url IS NOT NULL;
    CREATE INDEX articles_published ON articles (collection_id, published_at);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX chunks_article ON chunks (article_id);
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (
        title, text, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
    END;
    """,
    2: """
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
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
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
        UNIQUE (collection_id, url)
    );
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
    4: """
    CREATE TABLE watches (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        topic TEXT NOT NULL,
        vector BLOB NOT NULL,
        owner TEXT NOT NULL,
        channel_id INTEGER,
        created_at TEXT NOT NULL
    );
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
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        question TEXT NOT NULL,
        citations TEXT NOT NULL DEFAULT '[]',
        asked_by TEXT,
        channel_id INTEGER,
        message_id INTEGER,
        since TEXT,
        until TEXT,
        as_of TEXT,
        asked_at TEXT NOT NULL
    );
    CREATE INDEX answers_channel ON answers (channel_id, id);
    CREATE UNIQUE INDEX answers_message ON answers (message_id) WHERE message_id IS NOT NULL;
    CREATE TABLE answer_votes (
        answer_id INTEGER NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
        voter TEXT NOT NULL,
        value INTEGER NOT NULL CHECK (value IN (-1, 1)),
        voted_at TEXT NOT NULL,
        PRIMARY KEY (answer_id, voter)
    );
    """,
}


def statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            out.append(joined)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf))
    return out


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
        raise _newer(name, version)
    if version == SCHEMA_VERSION:
        return
    with transaction() as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _newer(name, version)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in statements(MIGRATIONS[target]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {target}")


def _newer(name: str, version: int) -> StoreError:
    return StoreError(f"{name} has schema {version}, newer than this newsbot ({SCHEMA_VERSION})")
