"""The feature parts of the PostgreSQL store (``features.py``): answers kept and their votes,
watches and their alerts, daily digest schedules; the same contracts as the SQLite modules
(``sqlite_feedback.py``, ``sqlite_watches.py``, ``sqlite_digests.py``), sharing
``PostgresStore``'s connections and transactions (``pg_migrations/002_features.sql``).

What SQLite gets from its one writer at a time, these get from keys and row locks, since several
processes write at once: a vote is an upsert on (answer, voter); an alert an insert that does
nothing on (watch, article) a second time; a digest's day a conditional update that a second
process re-checks after the first commits. A vote and the pruning of its channel's unvoted
answers take the channel's advisory lock, so an answer being voted on is never pruned.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError
from ..models import Article
from .features import AnswerRecord, CitedRef, DigestSchedule, Watch
from .postgres import LOCK_ANSWERS
from .postgres_articles import _ARTICLE_COLUMNS
from .sqlite_articles import now_iso

if TYPE_CHECKING:
    import psycopg

    from .postgres import PostgresStore

# Article ids a chunk query names at once.
ID_BATCH = 1000


def _vec(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def _floats(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32, copy=False)


# -- feedback ------------------------------------------------------------------------------------

_UP = "COUNT(v.answer_id) FILTER (WHERE v.value = 1)"
_DOWN = "COUNT(v.answer_id) FILTER (WHERE v.value = -1)"
_ANSWER_SELECT = f"""
SELECT a.id, c.name, a.question, a.citations, a.asked_by, a.channel_id, a.message_id,
       a.since, a.until, a.as_of, a.asked_at, {_UP} AS up, {_DOWN} AS down
FROM answers a
JOIN collections c ON c.id = a.collection_id
LEFT JOIN answer_votes v ON v.answer_id = a.id
"""
_ANSWER_GROUP = " GROUP BY a.id, c.id"


def _answer(row: tuple) -> AnswerRecord:
    cited = tuple(CitedRef(**c) for c in json.loads(row[3] or "[]"))
    channel, message = row[5], row[6]
    return AnswerRecord(
        int(row[0]),
        row[1],
        row[2],
        cited,
        row[4],
        None if channel is None else int(channel),
        None if message is None else int(message),
        *row[7:11],
        up=int(row[11]),
        down=int(row[12]),
    )


def _lock_channel(db: psycopg.Connection, channel_id: int) -> None:
    """Until the transaction ends: no other process records into (and prunes) this channel or
    votes on its answers. Channel ids are 64-bit: folded into the lock's 31 bits (a shared key
    only makes two channels wait for each other)."""
    db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_ANSWERS, int(channel_id) % (1 << 31)))


class PgFeedback:
    """``FeedbackStore`` on PostgreSQL."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def record(
        self,
        collection_id: int,
        question: str,
        *,
        citations: Sequence[CitedRef],
        asked_by: str | None,
        channel_id: int | None,
        since: str | None,
        until: str | None,
        as_of: str | None,
        keep: int = 200,
    ) -> int:
        blob = json.dumps([asdict(c) for c in citations])
        with self._store.transaction() as db:
            if channel_id is not None:
                _lock_channel(db, channel_id)
            row = db.execute(
                """INSERT INTO answers (collection_id, question, citations, asked_by, channel_id,
                       since, until, as_of, asked_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (
                    collection_id,
                    question,
                    blob,
                    asked_by,
                    channel_id,
                    since,
                    until,
                    as_of,
                    now_iso(),
                ),
            ).fetchone()
            if channel_id is not None:
                db.execute(
                    """DELETE FROM answers a WHERE a.channel_id = %s AND a.id NOT IN (
                           SELECT id FROM answers WHERE channel_id = %s ORDER BY id DESC LIMIT %s)
                       AND NOT EXISTS (SELECT 1 FROM answer_votes v WHERE v.answer_id = a.id)""",
                    (channel_id, channel_id, max(1, keep)),
                )
        return int(row[0])

    def set_message(self, answer_id: int, message_id: int) -> None:
        with self._store.transaction() as db:
            db.execute("UPDATE answers SET message_id = %s WHERE id = %s", (message_id, answer_id))

    def get(self, answer_id: int) -> AnswerRecord:
        row = self._store.one(f"{_ANSWER_SELECT} WHERE a.id = %s{_ANSWER_GROUP}", (answer_id,))
        if row is None:
            raise NotFoundError(f"no answer {answer_id} (it may have been removed)")
        return _answer(row)

    def by_message(self, message_id: int) -> AnswerRecord | None:
        row = self._store.one(
            f"{_ANSWER_SELECT} WHERE a.message_id = %s{_ANSWER_GROUP}", (message_id,)
        )
        return _answer(row) if row else None

    def vote(self, answer_id: int, voter: str, value: int) -> AnswerRecord:
        """The answer's row is locked (FOR KEY SHARE) until the vote commits, and its channel
        too, so neither the pruning of another process nor a deletion takes it meanwhile."""
        if value not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        gone = NotFoundError(f"no answer {answer_id} (it may have been removed)")
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT channel_id FROM answers WHERE id = %s", (answer_id,)
            ).fetchone()
            if row is None:
                raise gone
            if row[0] is not None:
                _lock_channel(db, row[0])
            if (
                db.execute(
                    "SELECT 1 FROM answers WHERE id = %s FOR KEY SHARE", (answer_id,)
                ).fetchone()
                is None
            ):
                raise gone  # pruned or deleted while the lock was awaited
            db.execute(
                """INSERT INTO answer_votes (answer_id, voter, value, voted_at)
                   VALUES (%s, %s, %s, %s) ON CONFLICT (answer_id, voter) DO UPDATE
                   SET value = EXCLUDED.value, voted_at = EXCLUDED.voted_at""",
                (answer_id, voter, value, now_iso()),
            )
        return self.get(answer_id)

    def worst(self, collection_id: int | None, limit: int = 20) -> list[AnswerRecord]:
        where, params = (
            ("WHERE a.collection_id = %s", (collection_id,))
            if collection_id is not None
            else ("", ())
        )
        rows = self._store.execute(
            f"""{_ANSWER_SELECT} {where}{_ANSWER_GROUP} HAVING {_DOWN} > 0
                ORDER BY {_DOWN} - {_UP} DESC, {_DOWN} DESC, a.id DESC LIMIT %s""",
            (*params, limit),
        )
        return [_answer(r) for r in rows]


# -- watches -------------------------------------------------------------------------------------

_WATCH_SELECT = (
    "SELECT w.id, c.name, w.topic, w.owner, w.channel_id, w.created_at, w.vector"
    " FROM watches w JOIN collections c ON c.id = w.collection_id"
)


def _watch(row: tuple) -> Watch:
    return Watch(
        int(row[0]), row[1], row[2], row[3], None if row[4] is None else int(row[4]), row[5]
    )


class PgWatches:
    """``WatchStore`` on PostgreSQL. Article ids of a collection commit in order (its writers
    hold its advisory lock until they commit), so the alert scan's "ids above the last one
    seen" misses no article another process was still adding."""

    def __init__(self, store: PostgresStore) -> None:
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
        with self._store.transaction() as db:
            row = db.execute(
                """INSERT INTO watches (collection_id, topic, vector, owner, channel_id,
                       created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
                (collection_id, topic, _vec(vector), owner, channel_id, now_iso()),
            ).fetchone()
        return self.get(int(row[0]))

    def get(self, watch_id: int, collection_id: int | None = None) -> Watch:
        sql, params = f"{_WATCH_SELECT} WHERE w.id = %s", (watch_id,)
        if collection_id is not None:
            sql, params = sql + " AND w.collection_id = %s", (watch_id, collection_id)
        row = self._store.one(sql, params)
        if row is None:
            raise NotFoundError(f"there is no watch {watch_id} here")
        return _watch(row)

    def of_collection(self, collection_id: int, owner: str | None = None) -> list[Watch]:
        sql, params = f"{_WATCH_SELECT} WHERE w.collection_id = %s", (collection_id,)
        if owner is not None:
            sql, params = sql + " AND w.owner = %s", (collection_id, owner)
        return [_watch(r) for r in self._store.execute(sql + " ORDER BY w.id", params)]

    def vectors(self, collection_id: int) -> list[tuple[Watch, np.ndarray]]:
        rows = self._store.execute(
            f"{_WATCH_SELECT} WHERE w.collection_id = %s ORDER BY w.id", (collection_id,)
        )
        return [(_watch(r), _floats(r[6])) for r in rows]

    def remove(self, collection_id: int, watch_id: int) -> Watch:
        watch = self.get(watch_id, collection_id)
        with self._store.transaction() as db:
            db.execute("DELETE FROM watches WHERE id = %s", (watch_id,))
        return watch

    def latest_article_id(self, collection_id: int) -> int:
        row = self._store.one(
            "SELECT MAX(id) FROM articles WHERE collection_id = %s", (collection_id,)
        )
        return int(row[0] or 0) if row else 0

    def articles_after(
        self, collection_id: int, after_id: int, limit: int
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        with self._store.snapshot() as db:
            return articles_with_passages(
                db,
                "a.collection_id = %s AND a.id > %s ORDER BY a.id LIMIT %s",
                (collection_id, after_id, limit),
            )

    def recent_alerts(
        self, watch_id: int, since: str
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        with self._store.snapshot() as db:
            return articles_with_passages(
                db,
                "a.id IN (SELECT article_id FROM watch_alerts WHERE watch_id = %s"
                " AND alerted_at >= %s) ORDER BY a.id",
                (watch_id, since),
            )

    def mark_alerted(self, watch_id: int, article_id: int, title: str, score: float) -> bool:
        """True for the one call (of every process) that recorded the pair; False after, and
        for a watch removed meanwhile (its row is locked until the alert commits)."""
        with self._store.transaction() as db:
            if (
                db.execute(
                    "SELECT 1 FROM watches WHERE id = %s FOR KEY SHARE", (watch_id,)
                ).fetchone()
                is None
            ):
                return False
            cur = db.execute(
                """INSERT INTO watch_alerts (watch_id, article_id, title, score, alerted_at)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (watch_id, article_id) DO NOTHING""",
                (watch_id, article_id, title, float(score), now_iso()),
            )
            return cur.rowcount == 1


def articles_with_passages(
    db: psycopg.Connection, where: str, params: tuple[Any, ...]
) -> list[tuple[Article, list[str], np.ndarray]]:
    """The articles ``where`` picks (a condition on ``a``, the articles, with its ``ORDER BY``
    and ``LIMIT``), each with its passages' texts and stored vectors, in passage order: what
    the alert scan and the digest read (as ``sqlite_watches.articles_with_passages``)."""
    articles = [
        Article(*r)
        for r in db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a"
            f" JOIN collections c ON c.id = a.collection_id WHERE {where}",
            params,
        ).fetchall()
    ]
    if not articles:
        return []
    texts: dict[int, list[str]] = defaultdict(list)
    vecs: dict[int, list[np.ndarray]] = defaultdict(list)
    ids = [a.id for a in articles]
    for start in range(0, len(ids), ID_BATCH):
        rows = db.execute(
            "SELECT article_id, text, vector FROM chunks WHERE article_id = ANY(%s)"
            " ORDER BY article_id, ordinal",
            (ids[start : start + ID_BATCH],),
        ).fetchall()
        for article_id, text, blob in rows:
            texts[article_id].append(text)
            vecs[article_id].append(_floats(blob))
    return [
        (
            a,
            texts[a.id],
            np.vstack(vecs[a.id]) if vecs[a.id] else np.zeros((0, 0), dtype=np.float32),
        )
        for a in articles
    ]


# -- digests -------------------------------------------------------------------------------------

_DIGEST_SELECT = (
    "SELECT c.name, d.channel_id, d.hour, d.timezone, d.last_day"
    " FROM digests d JOIN collections c ON c.id = d.collection_id"
)


def _schedule(row: tuple) -> DigestSchedule:
    return DigestSchedule(row[0], int(row[1]), int(row[2]), row[3], row[4])


class PgDigests:
    """``DigestStore`` on PostgreSQL."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def set(self, collection_id: int, channel_id: int, hour: int, timezone: str) -> None:
        with self._store.transaction() as db:
            db.execute(
                """INSERT INTO digests (collection_id, channel_id, hour, timezone)
                   VALUES (%s, %s, %s, %s) ON CONFLICT (collection_id) DO UPDATE
                   SET channel_id = EXCLUDED.channel_id, hour = EXCLUDED.hour,
                       timezone = EXCLUDED.timezone""",
                (collection_id, channel_id, hour, timezone),
            )

    def remove(self, collection_id: int) -> bool:
        with self._store.transaction() as db:
            cur = db.execute("DELETE FROM digests WHERE collection_id = %s", (collection_id,))
            return cur.rowcount > 0

    def get(self, collection_id: int) -> DigestSchedule | None:
        row = self._store.one(f"{_DIGEST_SELECT} WHERE d.collection_id = %s", (collection_id,))
        return _schedule(row) if row else None

    def all(self) -> list[DigestSchedule]:
        return [_schedule(r) for r in self._store.execute(f"{_DIGEST_SELECT} ORDER BY c.id")]

    def sent(self, collection_id: int, day: str) -> bool:
        """A compare-and-set: a second process updating the same row waits for the first to
        commit, then finds its condition false (READ COMMITTED re-checks the new row)."""
        with self._store.transaction() as db:
            cur = db.execute(
                "UPDATE digests SET last_day = %s WHERE collection_id = %s"
                " AND (last_day IS NULL OR last_day < %s)",
                (day, collection_id, day),
            )
            return cur.rowcount == 1

    def published(
        self, collection_id: int, since: str, until: str, limit: int = 2000
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        with self._store.snapshot() as db:
            return articles_with_passages(
                db,
                "a.collection_id = %s AND a.published_at BETWEEN %s AND %s"
                " ORDER BY a.id DESC LIMIT %s",
                (collection_id, since, until, limit),
            )
