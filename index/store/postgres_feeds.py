"""Feed state in PostgreSQL (``FeedStateStore``): due feeds are leased to one process at a time
(``FOR UPDATE SKIP LOCKED``), so several processes poll each feed once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import DuplicateError, NotFoundError
from .base import FEED_FIELDS, Feed
from .sqlite_articles import now_iso

if TYPE_CHECKING:
    from .postgres import PostgresStore


# How long a feed handed out by ``due`` stays claimed by the process polling it (seconds): its
# poll sets the real next time; a process that died mid-poll leaves it due again after this.
FEED_LEASE = 600.0


_FEED_COLUMNS = (
    "f.id, c.name, f.url, f.title, f.etag, f.last_modified, f.interval_seconds, f.next_poll_at,"
    " f.last_polled_at, f.last_status, f.failures, f.paused, f.added_by, f.last_success_at,"
    " f.last_error, f.last_error_at, f.articles_added, f.notice"
)
_FEED_SELECT = f"SELECT {_FEED_COLUMNS} FROM feeds f JOIN collections c ON c.id = f.collection_id"


def _feed(row: tuple) -> Feed:
    return Feed(int(row[0]), *row[1:11], bool(row[11]), *row[12:])


class PgFeeds:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def add(
        self, collection_id: int, url: str, *, added_by: str | None, interval_seconds: int
    ) -> Feed:
        with self._store.transaction() as db:
            row = db.execute(
                """INSERT INTO feeds (collection_id, url, interval_seconds, added_by, added_at)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (collection_id, url) DO NOTHING
                   RETURNING id""",
                (collection_id, url, interval_seconds, added_by, now_iso()),
            ).fetchone()
            if row is None:
                old = db.execute(
                    "SELECT id, url FROM feeds WHERE collection_id = %s AND url = %s",
                    (collection_id, url),
                ).fetchone()
                raise DuplicateError(
                    f"that feed is already followed as feed {old[0]}", int(old[0]), old[1]
                )
        return self.get(int(row[0]))

    def get(self, feed_id: int, collection_id: int | None = None) -> Feed:
        sql = f"{_FEED_SELECT} WHERE f.id = %s"
        params: tuple = (feed_id,)
        if collection_id is not None:
            sql += " AND f.collection_id = %s"
            params += (collection_id,)
        row = self._store.one(sql, params)
        if row is None:
            raise NotFoundError(f"no feed {feed_id} here")
        return _feed(row)

    def of_collection(self, collection_id: int) -> list[Feed]:
        rows = self._store.execute(
            f"{_FEED_SELECT} WHERE f.collection_id = %s ORDER BY f.id", (collection_id,)
        )
        return [_feed(r) for r in rows]

    def due(
        self, now: float, limit: int = 20, collections: Sequence[int] | None = None
    ) -> list[Feed]:
        """Due feeds, each handed to one process only: claimed (``FOR UPDATE SKIP LOCKED``) and
        leased for ``FEED_LEASE`` seconds, until its poll records the next time. The feeds are
        returned as they were before the claim."""
        only = None if collections is None else [int(c) for c in collections]
        with self._store.transaction() as db:
            rows = db.execute(
                f"""{_FEED_SELECT} WHERE f.id IN (
                        SELECT id FROM feeds WHERE NOT paused AND next_poll_at <= %s
                          AND (%s::bigint[] IS NULL OR collection_id = ANY(%s::bigint[]))
                        ORDER BY next_poll_at LIMIT %s FOR UPDATE SKIP LOCKED)
                    ORDER BY f.next_poll_at, f.id""",
                (now, only, only, limit),
            ).fetchall()
            if rows:
                db.execute(
                    "UPDATE feeds SET next_poll_at = %s WHERE id = ANY(%s)",
                    (max(now, time.time()) + FEED_LEASE, [int(r[0]) for r in rows]),
                )
        return [_feed(r) for r in rows]

    def next_due(self) -> float | None:
        row = self._store.one("SELECT MIN(next_poll_at) FROM feeds WHERE NOT paused")
        return None if row is None or row[0] is None else float(row[0])

    def update(self, feed_id: int, **fields: object) -> None:
        unknown = set(fields) - FEED_FIELDS
        if unknown:
            raise ValueError(f"unknown feed fields {unknown}")
        if not fields:
            return
        values = [bool(v) if k == "paused" else v for k, v in fields.items()]
        sets = ", ".join(f"{k} = %s" for k in fields)
        with self._store.transaction() as db:
            db.execute(f"UPDATE feeds SET {sets} WHERE id = %s", (*values, feed_id))

    def remove(self, collection_id: int, feed_id: int) -> Feed:
        feed = self.get(feed_id, collection_id)
        with self._store.transaction() as db:
            db.execute("DELETE FROM feed_entries WHERE feed_id = %s", (feed_id,))
            db.execute("DELETE FROM feeds WHERE id = %s", (feed_id,))
        return feed

    def entry(self, feed_id: int, guid: str) -> tuple[int | None, str | None] | None:
        row = self._store.one(
            "SELECT article_id, content_hash FROM feed_entries WHERE feed_id = %s AND guid = %s",
            (feed_id, guid),
        )
        if row is None:
            return None
        return (None if row[0] is None else int(row[0])), row[1]

    def mark_entry(
        self, feed_id: int, guid: str, article_id: int | None, stamp: str | None
    ) -> None:
        with self._store.transaction() as db:
            db.execute(
                """INSERT INTO feed_entries (feed_id, guid, article_id, content_hash, seen_at)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (feed_id, guid) DO UPDATE SET
                   article_id = EXCLUDED.article_id, content_hash = EXCLUDED.content_hash,
                   seen_at = EXCLUDED.seen_at""",
                (feed_id, guid, article_id, stamp, now_iso()),
            )

    def notice_channel(self, collection_id: int) -> int | None:
        row = self._store.one(
            "SELECT channel_id FROM feed_notices WHERE collection_id = %s", (collection_id,)
        )
        return None if row is None else int(row[0])

    def set_notice_channel(
        self, collection_id: int, channel_id: int | None, *, set_by: str | None = None
    ) -> None:
        with self._store.transaction() as db:
            if channel_id is None:
                db.execute("DELETE FROM feed_notices WHERE collection_id = %s", (collection_id,))
                return
            db.execute(
                """INSERT INTO feed_notices (collection_id, channel_id, set_by, set_at)
                   VALUES (%s, %s, %s, %s) ON CONFLICT (collection_id) DO UPDATE SET
                   channel_id = EXCLUDED.channel_id, set_by = EXCLUDED.set_by,
                   set_at = EXCLUDED.set_at""",
                (collection_id, int(channel_id), set_by, now_iso()),
            )
