"""Watches in SQLite (``WatchStore``): standing questions, their topic vectors, their alerts,
and the reads of the alert scan (new articles with their passages' stored vectors)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NotFoundError
from ..models import Article
from .features import Watch
from .sqlite_articles import _ARTICLE_COLUMNS, _article, now_iso

if TYPE_CHECKING:
    from .sqlite import SqliteStore

_SELECT = (
    "SELECT w.id, c.name, w.topic, w.owner, w.channel_id, w.created_at, w.vector"
    " FROM watches w JOIN collections c ON c.id = w.collection_id"
)


def _watch(row: sqlite3.Row) -> Watch:
    return Watch(*row[:6])


class SqliteWatches:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def add(
        self,
        collection_id: int,
        topic: str,
        vector: np.ndarray,
        *,
        owner: str,
        channel_id: int | None,
    ) -> Watch:
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        with self._store.transaction() as db:
            cur = db.execute(
                """INSERT INTO watches (collection_id, topic, vector, owner, channel_id,
                       created_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (collection_id, topic, blob, owner, channel_id, now_iso()),
            )
        return self.get(int(cur.lastrowid))

    def get(self, watch_id: int, collection_id: int | None = None) -> Watch:
        sql, params = f"{_SELECT} WHERE w.id = ?", (watch_id,)
        if collection_id is not None:
            sql, params = sql + " AND w.collection_id = ?", (watch_id, collection_id)
        row = self._store.db.execute(sql, params).fetchone()
        if row is None:
            raise NotFoundError(f"there is no watch {watch_id} here")
        return _watch(row)

    def of_collection(self, collection_id: int, owner: str | None = None) -> list[Watch]:
        sql, params = f"{_SELECT} WHERE w.collection_id = ?", (collection_id,)
        if owner is not None:
            sql, params = sql + " AND w.owner = ?", (collection_id, owner)
        return [_watch(r) for r in self._store.db.execute(sql + " ORDER BY w.id", params)]

    def vectors(self, collection_id: int) -> list[tuple[Watch, np.ndarray]]:
        rows = self._store.db.execute(
            f"{_SELECT} WHERE w.collection_id = ? ORDER BY w.id", (collection_id,)
        )
        return [(_watch(r), np.frombuffer(r[6], dtype=np.float32)) for r in rows]

    def remove(self, collection_id: int, watch_id: int) -> Watch:
        watch = self.get(watch_id, collection_id)
        with self._store.transaction() as db:
            db.execute("DELETE FROM watches WHERE id = ?", (watch_id,))
        return watch

    def latest_article_id(self, collection_id: int) -> int:
        row = self._store.db.execute(
            "SELECT MAX(id) FROM articles WHERE collection_id = ?", (collection_id,)
        ).fetchone()
        return int(row[0] or 0)

    def articles_after(
        self, collection_id: int, after_id: int, limit: int
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        with self._store.snapshot() as db:
            return articles_with_passages(
                db,
                "a.collection_id = ? AND a.id > ? ORDER BY a.id LIMIT ?",
                (collection_id, after_id, limit),
            )

    def recent_alerts(
        self, watch_id: int, since: str
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        with self._store.snapshot() as db:
            return articles_with_passages(
                db,
                "a.id IN (SELECT article_id FROM watch_alerts WHERE watch_id = ?"
                " AND alerted_at >= ?) ORDER BY a.id",
                (watch_id, since),
            )

    def mark_alerted(self, watch_id: int, article_id: int, title: str, score: float) -> bool:
        with self._store.transaction() as db:
            cur = db.execute(
                """INSERT OR IGNORE INTO watch_alerts (watch_id, article_id, title, score,
                       alerted_at) VALUES (?, ?, ?, ?, ?)""",
                (watch_id, article_id, title, score, now_iso()),
            )
        return cur.rowcount == 1


def articles_with_passages(
    db: sqlite3.Connection, where: str, params: tuple[object, ...]
) -> list[tuple[Article, list[str], np.ndarray]]:
    """The articles ``where`` picks (a condition on ``a``, the articles, with its ``ORDER BY``
    and ``LIMIT``), each with its passages' texts and stored vectors, in passage order."""
    articles = [
        _article(r)
        for r in db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            f" JOIN collections c ON c.id = a.collection_id WHERE {where}",
            params,
        )
    ]
    if not articles:
        return []
    texts: dict[int, list[str]] = defaultdict(list)
    vecs: dict[int, list[np.ndarray]] = defaultdict(list)
    ids = [a.id for a in articles]
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        for article_id, text, blob in db.execute(
            f"SELECT article_id, text, vector FROM chunks WHERE article_id IN"
            f" ({','.join('?' * len(part))}) ORDER BY article_id, ordinal",
            part,
        ):
            texts[article_id].append(text)
            vecs[article_id].append(np.frombuffer(blob, dtype=np.float32))
    return [
        (
            a,
            texts[a.id],
            np.vstack(vecs[a.id]) if vecs[a.id] else np.zeros((0, 0), dtype=np.float32),
        )
        for a in articles
    ]
