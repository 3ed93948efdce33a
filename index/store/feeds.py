"""Feed state (``FeedStateStore``), on both backends: the feeds a collection follows, their polling
schedule and conditional-request headers, the entries already handled, and where feed trouble is
told. Due feeds are leased to one caller at a time, so several processes poll each feed once."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..errors import DuplicateError, NotFoundError
from .base import FEED_FIELDS, Feed
from .sql import Part, now_iso, select

# How long a feed handed out by ``due`` stays claimed by the process polling it (seconds): its
# poll sets the real next time; a process that died mid-poll leaves it due again after this.
FEED_LEASE = 600.0

_SELECT = (
    f"SELECT {select(Feed, 'f', collection='c.name')} FROM feeds f"
    " JOIN collections c ON c.id = f.collection_id"
)


class FeedStateStore(Part):
    """Followed feeds and what their polls saw, so polling survives restarts."""

    def add(
        self, collection_id: int, url: str, *, added_by: str | None, interval_seconds: int
    ) -> Feed:
        """``DuplicateError`` when the collection already follows that URL."""
        with self._store.transaction():
            feed_id = self._store.value(
                """INSERT INTO feeds (collection_id, url, interval_seconds, added_by, added_at)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection_id, url) DO NOTHING
                   RETURNING id""",
                (collection_id, url, interval_seconds, added_by, now_iso()),
            )
            if feed_id is None:
                old, url = self._store.row(
                    "SELECT id, url FROM feeds WHERE collection_id = ? AND url = ?",
                    (collection_id, url),
                )
                raise DuplicateError(f"that feed is already followed as feed {old}", old, url)
        return self.get(feed_id)

    def get(self, feed_id: int, collection_id: int | None = None) -> Feed:
        """``NotFoundError`` when there is no such feed (in that collection)."""
        sql, params = f"{_SELECT} WHERE f.id = ?", (feed_id,)
        if collection_id is not None:
            sql, params = sql + " AND f.collection_id = ?", (feed_id, collection_id)
        row = self._store.row(sql, params)
        if row is None:
            raise NotFoundError(f"no feed {feed_id} here")
        return Feed(*row)

    def of_collection(self, collection_id: int) -> list[Feed]:
        rows = self._store.rows(
            f"{_SELECT} WHERE f.collection_id = ? ORDER BY f.id", (collection_id,)
        )
        return [Feed(*r) for r in rows]

    def due(
        self, now: float, limit: int = 20, collections: Sequence[int] | None = None
    ) -> list[Feed]:
        """Due feeds, each handed to one caller only: claimed (PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``; SQLite: its write lock) and leased for ``FEED_LEASE`` seconds, until its poll
        records the next time. The feeds are returned as they were before the claim."""
        only, params = "", []
        if collections is not None:
            only, params = self._store.in_("collection_id", list(collections) or [0])
            only = " AND " + only
        store = self._store
        with store.transaction():
            rows = store.rows(
                f"""{_SELECT} WHERE f.id IN (
                        SELECT id FROM feeds WHERE NOT paused AND next_poll_at <= ?{only}
                        ORDER BY next_poll_at LIMIT ?{store.SKIP_LOCKED})
                    ORDER BY f.next_poll_at, f.id""",
                (now, *params, limit),
            )
            if rows:
                cond, ids = store.in_("id", [r[0] for r in rows])
                store.run(
                    f"UPDATE feeds SET next_poll_at = ? WHERE {cond}",
                    (max(now, time.time()) + FEED_LEASE, *ids),
                )
        return [Feed(*r) for r in rows]

    def next_due(self) -> float | None:
        """When the next unpaused feed is due (None: no feed)."""
        return self._store.value("SELECT MIN(next_poll_at) FROM feeds WHERE NOT paused")

    def update(self, feed_id: int, **fields: object) -> None:
        """Change some of ``FEED_FIELDS`` atomically; other names raise ``ValueError``."""
        unknown = set(fields) - FEED_FIELDS
        if unknown:
            raise ValueError(f"unknown feed fields {unknown}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._store.transaction():
            self._store.run(f"UPDATE feeds SET {sets} WHERE id = ?", (*fields.values(), feed_id))

    def remove(self, collection_id: int, feed_id: int) -> Feed:
        """Stop following a feed (its entries' memory goes with it)."""
        feed = self.get(feed_id, collection_id)
        with self._store.transaction():
            self._store.run("DELETE FROM feed_entries WHERE feed_id = ?", (feed_id,))
            self._store.run("DELETE FROM feeds WHERE id = ?", (feed_id,))
        return feed

    def entry(self, feed_id: int, guid: str) -> tuple[int | None, str | None] | None:
        """What was remembered of an entry: (article id, stamp), or None when never seen."""
        return self._store.row(
            "SELECT article_id, content_hash FROM feed_entries WHERE feed_id = ? AND guid = ?",
            (feed_id, guid),
        )

    def mark_entry(
        self, feed_id: int, guid: str, article_id: int | None, stamp: str | None
    ) -> None:
        """Remember an entry (replacing what was remembered)."""
        with self._store.transaction():
            self._store.run(
                """INSERT INTO feed_entries (feed_id, guid, article_id, content_hash, seen_at)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (feed_id, guid) DO UPDATE SET
                   article_id = excluded.article_id, content_hash = excluded.content_hash,
                   seen_at = excluded.seen_at""",
                (feed_id, guid, article_id, stamp, now_iso()),
            )

    def notice_channel(self, collection_id: int) -> int | None:
        """The channel feed trouble is posted in (``/feeds notify``), or None."""
        return self._store.value(
            "SELECT channel_id FROM feed_notices WHERE collection_id = ?", (collection_id,)
        )

    def set_notice_channel(
        self, collection_id: int, channel_id: int | None, *, set_by: str | None = None
    ) -> None:
        """Post feed trouble in this channel from now on (None: nowhere)."""
        with self._store.transaction():
            if channel_id is None:
                self._store.run(
                    "DELETE FROM feed_notices WHERE collection_id = ?", (collection_id,)
                )
                return
            self._store.run(
                """INSERT INTO feed_notices (collection_id, channel_id, set_by, set_at)
                   VALUES (?, ?, ?, ?) ON CONFLICT (collection_id) DO UPDATE SET
                   channel_id = excluded.channel_id, set_by = excluded.set_by,
                   set_at = excluded.set_at""",
                (collection_id, int(channel_id), set_by, now_iso()),
            )
