"""The store's parts for what members do with answers beyond reading them (schema 4): the
answers kept and their votes (``FeedbackStore``), standing questions and their alerts
(``WatchStore``), and daily digest schedules (``DigestStore``), on both backends, under the
contract of ``base.py`` (transactions, single calls, the write lock).

Several PostgreSQL processes write at once; keys and row locks hold each contract there as
SQLite's one writer does: a vote is an upsert on (answer, voter); an alert an insert that does
nothing on (watch, article) a second time; a digest's day a conditional update that a second
process re-checks after the first commits. Recording an answer (and pruning its channel's
unvoted ones) and a vote take the channel's lock, and a vote holds its answer's row (``FOR KEY
SHARE``), so an answer being voted on is never pruned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NotFoundError
from .sql import Passages, now_iso, select, vector_bytes, vector_of

if TYPE_CHECKING:
    from .sql import SqlStore

LOCK_ANSWERS = 7004  # a channel's kept answers: recording (and pruning) them, votes on them


@dataclass(frozen=True)
class CitedRef:
    """One article an answer cited, as feedback keeps it (the article may be forgotten later)."""

    article_id: int
    title: str
    source: str | None = None
    url: str | None = None
    published_at: str | None = None


@dataclass(frozen=True)
class AnswerRecord:
    """An answer given on Discord: what was asked, in which window, what it cited, and the
    votes on it so far (one per voter, the latest counting)."""

    id: int
    collection: str
    question: str
    citations: tuple[CitedRef, ...]
    asked_by: str | None
    channel_id: int | None
    message_id: int | None
    since: str | None  # the window the question was searched in (YYYY-MM-DD, inclusive)
    until: str | None
    as_of: str | None  # the day it was asked
    asked_at: str
    up: int = 0
    down: int = 0

    @property
    def score(self) -> int:
        return self.up - self.down


@dataclass(frozen=True)
class Watch:
    """A standing question: alerts go to ``channel_id``, or to the owner by DM when None."""

    id: int
    collection: str
    topic: str
    owner: str  # the member's user id, as text
    channel_id: int | None
    created_at: str


@dataclass(frozen=True)
class DigestSchedule:
    """Where and when a collection's daily digest goes: ``hour`` (0-23) in ``timezone`` (an
    IANA name); ``last_day`` the local day of the last one sent (None: never)."""

    collection: str
    channel_id: int
    hour: int
    timezone: str
    last_day: str | None


_VOTES = (
    "COUNT(v.answer_id) FILTER (WHERE v.value = 1)",
    "COUNT(v.answer_id) FILTER (WHERE v.value = -1)",
)
_ANSWER_SELECT = (
    f"SELECT {select(AnswerRecord, 'a', collection='c.name', up=_VOTES[0], down=_VOTES[1])}"
    " FROM answers a JOIN collections c ON c.id = a.collection_id"
    " LEFT JOIN answer_votes v ON v.answer_id = a.id"
)
_ANSWER_GROUP = " GROUP BY a.id, c.name"


def _answer(row: tuple) -> AnswerRecord:
    cited = tuple(CitedRef(**c) for c in json.loads(row[3] or "[]"))
    return AnswerRecord(*row[:3], cited, *row[4:])


class FeedbackStore:
    """Answers given on Discord and the 👍/👎 votes on them (schema 4).

    Contract: ``record`` returns a new id, never reused. A voter has at most one vote an
    answer: voting again replaces it (``vote`` is an upsert on (answer, voter)). Records of a
    channel beyond ``keep`` that nobody voted on are pruned oldest first by ``record``, in the
    same transaction: that bounds the follow-up memory of a busy channel while every voted
    answer stays for ``worst``. Deleting a collection deletes its answers and their votes.
    """

    def __init__(self, store: SqlStore) -> None:
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
        """Store an answer (its message id is set once sent) and return its id."""
        blob = json.dumps([asdict(c) for c in citations])
        store = self._store
        with store.transaction():
            if channel_id is not None:
                _lock_channel(store, channel_id)
            answer_id = store.value(
                """INSERT INTO answers (collection_id, question, citations, asked_by, channel_id,
                       since, until, as_of, asked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   RETURNING id""",
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
            )
            if channel_id is not None:
                store.run(
                    """DELETE FROM answers WHERE channel_id = ? AND id NOT IN (
                           SELECT id FROM answers WHERE channel_id = ? ORDER BY id DESC LIMIT ?)
                       AND NOT EXISTS (
                           SELECT 1 FROM answer_votes v WHERE v.answer_id = answers.id)""",
                    (channel_id, channel_id, max(1, keep)),
                )
        return answer_id

    def set_message(self, answer_id: int, message_id: int) -> None:
        """The Discord message that shows the answer (what a reply points at)."""
        with self._store.transaction():
            self._store.run(
                "UPDATE answers SET message_id = ? WHERE id = ?", (message_id, answer_id)
            )

    def get(self, answer_id: int) -> AnswerRecord:
        """With its vote counts; ``NotFoundError`` when there is no such answer (any more)."""
        row = self._store.row(f"{_ANSWER_SELECT} WHERE a.id = ?{_ANSWER_GROUP}", (answer_id,))
        if row is None:
            raise NotFoundError(f"no answer {answer_id} (it may have been removed)")
        return _answer(row)

    def by_message(self, message_id: int) -> AnswerRecord | None:
        """The answer shown in that message, or None."""
        row = self._store.row(
            f"{_ANSWER_SELECT} WHERE a.message_id = ?{_ANSWER_GROUP}", (message_id,)
        )
        return _answer(row) if row else None

    def vote(self, answer_id: int, voter: str, value: int) -> AnswerRecord:
        """``value`` +1 or -1 (else ``ValueError``), replacing the voter's earlier vote;
        returns the answer with its new counts. ``NotFoundError`` for an unknown answer. The
        answer's channel is locked, and its row held, until the vote commits, so neither
        another process's pruning nor a deletion takes it meanwhile."""
        if value not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        gone = NotFoundError(f"no answer {answer_id} (it may have been removed)")
        store = self._store
        with store.transaction():
            row = store.row("SELECT channel_id FROM answers WHERE id = ?", (answer_id,))
            if row is None:
                raise gone
            if row[0] is not None:
                _lock_channel(store, row[0])
            if (
                store.row(f"SELECT 1 FROM answers WHERE id = ?{store.KEY_SHARE}", (answer_id,))
                is None
            ):
                raise gone  # pruned or deleted while the lock was awaited
            store.run(
                """INSERT INTO answer_votes (answer_id, voter, value, voted_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (answer_id, voter) DO UPDATE
                   SET value = excluded.value, voted_at = excluded.voted_at""",
                (answer_id, voter, value, now_iso()),
            )
        return self.get(answer_id)

    def worst(self, collection_id: int | None, limit: int = 20) -> list[AnswerRecord]:
        """Answers with at least one 👎, most down-voted net first (down − up, then down,
        then newest); ``collection_id`` None: all collections."""
        where, params = (
            ("", ()) if collection_id is None else ("WHERE a.collection_id = ?", (collection_id,))
        )
        up, down = _VOTES
        rows = self._store.rows(
            f"""{_ANSWER_SELECT} {where}{_ANSWER_GROUP} HAVING {down} > 0
                ORDER BY {down} - {up} DESC, {down} DESC, a.id DESC LIMIT ?""",
            (*params, limit),
        )
        return [_answer(r) for r in rows]


def _lock_channel(store: SqlStore, channel_id: int) -> None:
    """Until the transaction ends: no other process records into (and prunes) this channel or
    votes on its answers. Channel ids are 64-bit: folded into the lock's 31 bits (a shared key
    only makes two channels wait for each other)."""
    store.lock_key(LOCK_ANSWERS, int(channel_id) % (1 << 31))


_WATCH_SELECT = (
    f"SELECT {select(Watch, 'w', collection='c.name')}, w.vector FROM watches w"
    " JOIN collections c ON c.id = w.collection_id"
)


class WatchStore:
    """Watches (standing questions) and the alerts they raised (schema 4).

    Contract: a watch keeps its topic's embedding (float32, normalized, the model's dimension)
    as given; ``remove`` takes its alerts with it. ``mark_alerted`` is idempotent on
    (watch, article) and returns whether the row is new: two processes scanning the same new
    article alert once. ``articles_after`` is what the alert scan reads: articles of the
    collection with an id above ``after_id``, oldest first, with their passages' texts and
    vectors (the ones stored at ingest: nothing is embedded again). Article ids of a collection
    commit in order (its writers hold its lock until they commit), so the scan misses no article
    another process was still adding.
    """

    def __init__(self, store: SqlStore) -> None:
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
        with self._store.transaction():
            watch_id = self._store.value(
                """INSERT INTO watches (collection_id, topic, vector, owner, channel_id,
                       created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (collection_id, topic, vector_bytes(vector), owner, channel_id, now_iso()),
            )
        return self.get(watch_id)

    def get(self, watch_id: int, collection_id: int | None = None) -> Watch:
        """``NotFoundError`` when there is no such watch (in that collection)."""
        sql, params = f"{_WATCH_SELECT} WHERE w.id = ?", (watch_id,)
        if collection_id is not None:
            sql, params = sql + " AND w.collection_id = ?", (watch_id, collection_id)
        row = self._store.row(sql, params)
        if row is None:
            raise NotFoundError(f"there is no watch {watch_id} here")
        return Watch(*row[:-1])

    def of_collection(self, collection_id: int, owner: str | None = None) -> list[Watch]:
        """Oldest first; only ``owner``'s when given."""
        return [w for w, _ in self.vectors(collection_id, owner)]

    def vectors(
        self, collection_id: int, owner: str | None = None
    ) -> list[tuple[Watch, np.ndarray]]:
        """Every watch of the collection (``owner``'s) with its topic vector."""
        sql, params = f"{_WATCH_SELECT} WHERE w.collection_id = ?", (collection_id,)
        if owner is not None:
            sql, params = sql + " AND w.owner = ?", (collection_id, owner)
        rows = self._store.rows(sql + " ORDER BY w.id", params)
        return [(Watch(*r[:-1]), vector_of(r[-1])) for r in rows]

    def remove(self, collection_id: int, watch_id: int) -> Watch:
        watch = self.get(watch_id, collection_id)
        with self._store.transaction():
            self._store.run("DELETE FROM watches WHERE id = ?", (watch_id,))
        return watch

    def latest_article_id(self, collection_id: int) -> int:
        """The highest article id of the collection (0 when it has none)."""
        return self._store.value(
            "SELECT MAX(id) FROM articles WHERE collection_id = ?", (collection_id,), 0
        )

    def articles_after(self, collection_id: int, after_id: int, limit: int) -> Passages:
        """Up to ``limit`` articles with id > ``after_id``, oldest first, each with its
        passages' texts and their vectors (rows in the same order)."""
        return self._store.with_passages(
            "a.collection_id = ? AND a.id > ? ORDER BY a.id LIMIT ?",
            (collection_id, after_id, limit),
        )

    def recent_alerts(self, watch_id: int, since: str) -> Passages:
        """The articles the watch alerted at or after ``since`` (ISO time) that are still
        stored, oldest first, with their passages as ``articles_after``: what the same-story
        check compares a new match with."""
        return self._store.with_passages(
            "a.id IN (SELECT article_id FROM watch_alerts WHERE watch_id = ?"
            " AND alerted_at >= ?) ORDER BY a.id",
            (watch_id, since),
        )

    def mark_alerted(self, watch_id: int, article_id: int, title: str, score: float) -> bool:
        """True for the one call (of every process) that recorded the pair; False after, and
        for a watch removed meanwhile (its row is held until the alert commits)."""
        store = self._store
        with store.transaction():
            if (
                store.row(f"SELECT 1 FROM watches WHERE id = ?{store.KEY_SHARE}", (watch_id,))
                is None
            ):
                return False
            return (
                store.run(
                    """INSERT INTO watch_alerts (watch_id, article_id, title, score, alerted_at)
                       VALUES (?, ?, ?, ?, ?) ON CONFLICT (watch_id, article_id) DO NOTHING""",
                    (watch_id, article_id, title, float(score), now_iso()),
                )
                == 1
            )


_DIGEST_SELECT = (
    f"SELECT {select(DigestSchedule, 'd', collection='c.name')} FROM digests d"
    " JOIN collections c ON c.id = d.collection_id"
)


class DigestStore:
    """Daily digest schedules (schema 4), one a collection, and the reads a digest is built
    from. ``sent`` records the local day a digest went out, so a restart within the hour does
    not send it twice: a compare-and-set (a second process updating the same row waits for the
    first to commit, then finds its condition false), False when that day was already recorded."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def set(self, collection_id: int, channel_id: int, hour: int, timezone: str) -> None:
        with self._store.transaction():
            self._store.run(
                """INSERT INTO digests (collection_id, channel_id, hour, timezone)
                   VALUES (?, ?, ?, ?) ON CONFLICT (collection_id) DO UPDATE
                   SET channel_id = excluded.channel_id, hour = excluded.hour,
                       timezone = excluded.timezone""",
                (collection_id, channel_id, hour, timezone),
            )

    def remove(self, collection_id: int) -> bool:
        """Stop the digest; False when there was none."""
        with self._store.transaction():
            return (
                self._store.run("DELETE FROM digests WHERE collection_id = ?", (collection_id,)) > 0
            )

    def get(self, collection_id: int) -> DigestSchedule | None:
        row = self._store.row(f"{_DIGEST_SELECT} WHERE d.collection_id = ?", (collection_id,))
        return DigestSchedule(*row) if row else None

    def all(self) -> list[DigestSchedule]:
        return [DigestSchedule(*r) for r in self._store.rows(f"{_DIGEST_SELECT} ORDER BY c.id")]

    def sent(self, collection_id: int, day: str) -> bool:
        with self._store.transaction():
            return (
                self._store.run(
                    "UPDATE digests SET last_day = ? WHERE collection_id = ?"
                    " AND (last_day IS NULL OR last_day < ?)",
                    (day, collection_id, day),
                )
                == 1
            )

    def published(self, collection_id: int, since: str, until: str, limit: int = 2000) -> Passages:
        """Articles published ``since``..``until`` (inclusive dates), newest id first, each
        with its passages' texts and stored vectors (as ``WatchStore.articles_after``)."""
        return self._store.with_passages(
            "a.collection_id = ? AND a.published_at BETWEEN ? AND ? ORDER BY a.id DESC LIMIT ?",
            (collection_id, since, until, limit),
        )
