"""Daily digest schedules in SQLite (``DigestStore``) and the day's articles they are built from."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .features import DigestSchedule
from .sqlite_watches import articles_with_passages

if TYPE_CHECKING:
    from ..models import Article
    from .sqlite import SqliteStore

_SELECT = (
    "SELECT c.name, d.channel_id, d.hour, d.timezone, d.last_day"
    " FROM digests d JOIN collections c ON c.id = d.collection_id"
)


class SqliteDigests:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def set(self, collection_id: int, channel_id: int, hour: int, timezone: str) -> None:
        with self._store.transaction() as db:
            db.execute(
                """INSERT INTO digests (collection_id, channel_id, hour, timezone)
                   VALUES (?, ?, ?, ?) ON CONFLICT (collection_id) DO UPDATE
                   SET channel_id = excluded.channel_id, hour = excluded.hour,
                       timezone = excluded.timezone""",
                (collection_id, channel_id, hour, timezone),
            )

    def remove(self, collection_id: int) -> bool:
        with self._store.transaction() as db:
            cur = db.execute("DELETE FROM digests WHERE collection_id = ?", (collection_id,))
        return cur.rowcount > 0

    def get(self, collection_id: int) -> DigestSchedule | None:
        row = self._store.db.execute(
            f"{_SELECT} WHERE d.collection_id = ?", (collection_id,)
        ).fetchone()
        return DigestSchedule(*row) if row else None

    def all(self) -> list[DigestSchedule]:
        return [DigestSchedule(*r) for r in self._store.db.execute(f"{_SELECT} ORDER BY c.id")]

    def sent(self, collection_id: int, day: str) -> bool:
        with self._store.transaction() as db:
            cur = db.execute(
                "UPDATE digests SET last_day = ? WHERE collection_id = ?"
                " AND (last_day IS NULL OR last_day < ?)",
                (day, collection_id, day),
            )
        return cur.rowcount == 1

    def published(
        self, collection_id: int, since: str, until: str, limit: int = 2000
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        with self._store.snapshot() as db:
            return articles_with_passages(
                db,
                "a.collection_id = ? AND a.published_at BETWEEN ? AND ? ORDER BY a.id DESC LIMIT ?",
                (collection_id, since, until, limit),
            )
