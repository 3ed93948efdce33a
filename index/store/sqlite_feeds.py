"""Feed state in SQLite (``FeedStateStore``): the feeds a collection follows, their polling
schedule and conditional-request headers, and the entries already handled."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import DuplicateError, NotFoundError
from .base import FEED_FIELDS, Feed
from .sqlite_articles import now_iso

if TYPE_CHECKING:
    from .sqlite import SqliteStore

_COLUMNS = (
    "f.id, c.name, f.url, f.title, f.etag, f.last_modified, f.interval_seconds, f.next_poll_at,"
    " f.last_polled_at, f.last_status, f.failures, f.paused, f.added_by, f.last_success_at,"
    " f.last_error, f.last_error_at, f.articles_added, f.notice"
)
_SELECT = f"SELECT {_COLUMNS} FROM feeds f JOIN collections c ON c.id = f.collection_id"


def _feed(row: sqlite3.Row) -> Feed:
    return Feed(*row[:11], bool(row[11]), *row[12:])


class SqliteFeeds:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def add(
        self, collection_id: int, url: str, *, added_by: str | None, interval_seconds: int
    ) -> Feed:
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT id, url FROM feeds WHERE collection_id = ? AND url = ?",
                (collection_id, url),
            ).fetchone()
            if row:
                raise DuplicateError(
                    f"that feed is already followed as feed {row[0]}", int(row[0]), row[1]
                )
            cur = db.execute(
                """INSERT INTO feeds (collection_id, url, interval_seconds, added_by, added_at)
                   VALUES (?, ?, ?, ?, ?)""",
                (collection_id, url, interval_seconds, added_by, now_iso()),
            )
        return self.get(int(cur.lastrowid))

    def get(self, feed_id: int, collection_id: int | None = None) -> Feed:
        sql = f"{_SELECT} WHERE f.id = ?"
        params: tuple = (feed_id,)
        if collection_id is not None:
            sql += " AND f.collection_id = ?"
            params += (collection_id,)
        row = self._store.db.execute(sql, params).fetchone()
        if row is None:
            raise NotFoundError(f"no feed {feed_id} here")
        return _feed(row)

    def of_collection(self, collection_id: int) -> list[Feed]:
        rows = self._store.db.execute(
            f"{_SELECT} WHERE f.collection_id = ? ORDER BY f.id", (collection_id,)
        )
        return [_feed(r) for r in rows]

    def due(
        self, now: float, limit: int = 20, collections: Sequence[int] | None = None
    ) -> list[Feed]:
        only, params = "", []
        if collections is not None:
            only = f" AND f.collection_id IN ({','.join('?' * len(collections))})"
            params = [int(c) for c in collections]
        rows = self._store.db.execute(
            f"{_SELECT} WHERE f.paused = 0 AND f.next_poll_at <= ?{only}"
            " ORDER BY f.next_poll_at LIMIT ?",
            (now, *params, limit),
        )
        return [_feed(r) for r in rows]

    def next_due(self) -> float | None:
        row = self._store.db.execute(
            "SELECT MIN(next_poll_at) FROM feeds WHERE paused = 0"
        ).fetchone()
        return row[0]

    def update(self, feed_id: int, **fields: object) -> None:
        unknown = set(fields) - FEED_FIELDS
        if unknown:
            raise ValueError(f"unknown feed fields {unknown}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._store.transaction() as db:
            db.execute(f"UPDATE feeds SET {sets} WHERE id = ?", (*fields.values(), feed_id))

    def remove(self, collection_id: int, feed_id: int) -> Feed:
        feed = self.get(feed_id, collection_id)
        with self._store.transaction() as db:
            db.execute("DELETE FROM feed_entries WHERE feed_id = ?", (feed_id,))
            db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,))
        return feed

    def entry(self, feed_id: int, guid: str) -> tuple[int | None, str | None] | None:
        row = self._store.db.execute(
            "SELECT article_id, content_hash FROM feed_entries WHERE feed_id = ? AND guid = ?",
            (feed_id, guid),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def mark_entry(
        self, feed_id: int, guid: str, article_id: int | None, stamp: str | None
    ) -> None:
        with self._store.transaction() as db:
            db.execute(
                """INSERT OR REPLACE INTO feed_entries (feed_id, guid, article_id, content_hash,
                       seen_at) VALUES (?, ?, ?, ?, ?)""",
                (feed_id, guid, article_id, stamp, now_iso()),
            )

    def notice_channel(self, collection_id: int) -> int | None:
        row = self._store.db.execute(
            "SELECT channel_id FROM feed_notices WHERE collection_id = ?", (collection_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def set_notice_channel(
        self, collection_id: int, channel_id: int | None, *, set_by: str | None = None
    ) -> None:
        with self._store.transaction() as db:
            if channel_id is None:
                db.execute("DELETE FROM feed_notices WHERE collection_id = ?", (collection_id,))
                return
            db.execute(
                """INSERT OR REPLACE INTO feed_notices (collection_id, channel_id, set_by, set_at)
                   VALUES (?, ?, ?, ?)""",
                (collection_id, int(channel_id), set_by, now_iso()),
            )
