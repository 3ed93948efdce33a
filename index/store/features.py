"""The store's parts for what members do with answers beyond reading them (schema 4): the
answers kept and their votes (``FeedbackStore``), standing questions and their alerts
(``WatchStore``), and daily digest schedules (``DigestStore``). Part of the store interface
(``base.py``: its module docstring's contract holds here too: transactions, single calls, the
write lock); SQLite implements them in ``sqlite_feedback.py``, ``sqlite_watches.py`` and
``sqlite_digests.py``, PostgreSQL in ``postgres_features.py``, where several processes write at
once and the same keys hold each contract (one vote a voter, one alert a pair, one digest a day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..models import Article


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


class FeedbackStore(Protocol):
    """Answers given on Discord and the 👍/👎 votes on them (schema 4).

    Contract: ``record`` returns a new id, never reused. A voter has at most one vote an
    answer: voting again replaces it (``vote`` is an upsert on (answer, voter)). Records of a
    channel beyond ``keep`` that nobody voted on are pruned oldest first by ``record``, in the
    same transaction: that bounds the follow-up memory of a busy channel while every voted
    answer stays for ``worst``. Deleting a collection deletes its answers and their votes.
    """

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
        ...

    def set_message(self, answer_id: int, message_id: int) -> None:
        """The Discord message that shows the answer (what a reply points at)."""
        ...

    def get(self, answer_id: int) -> AnswerRecord:
        """With its vote counts; ``NotFoundError`` when there is no such answer (any more)."""
        ...

    def by_message(self, message_id: int) -> AnswerRecord | None:
        """The answer shown in that message, or None."""
        ...

    def vote(self, answer_id: int, voter: str, value: int) -> AnswerRecord:
        """``value`` +1 or -1 (else ``ValueError``), replacing the voter's earlier vote;
        returns the answer with its new counts. ``NotFoundError`` for an unknown answer."""
        ...

    def worst(self, collection_id: int | None, limit: int = 20) -> list[AnswerRecord]:
        """Answers with at least one 👎, most down-voted net first (down − up, then down,
        then newest); ``collection_id`` None: all collections."""
        ...


class WatchStore(Protocol):
    """Watches (standing questions) and the alerts they raised (schema 4).

    Contract: a watch keeps its topic's embedding (float32, normalized, the model's dimension)
    as given; ``remove`` takes its alerts with it. ``mark_alerted`` is idempotent on
    (watch, article) and returns whether the row is new: two processes scanning the same new
    article alert once. ``articles_after`` is what the alert scan reads: articles of the
    collection with an id above ``after_id``, oldest first, with their passages' texts and
    vectors (the ones stored at ingest: nothing is embedded again).
    """

    def add(
        self,
        collection_id: int,
        topic: str,
        vector: np.ndarray,
        *,
        owner: str,
        channel_id: int | None,
    ) -> Watch: ...

    def get(self, watch_id: int, collection_id: int | None = None) -> Watch:
        """``NotFoundError`` when there is no such watch (in that collection)."""
        ...

    def of_collection(self, collection_id: int, owner: str | None = None) -> list[Watch]:
        """Oldest first; only ``owner``'s when given."""
        ...

    def vectors(self, collection_id: int) -> list[tuple[Watch, np.ndarray]]:
        """Every watch of the collection with its topic vector."""
        ...

    def remove(self, collection_id: int, watch_id: int) -> Watch: ...

    def latest_article_id(self, collection_id: int) -> int:
        """The highest article id of the collection (0 when it has none)."""
        ...

    def articles_after(
        self, collection_id: int, after_id: int, limit: int
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        """Up to ``limit`` articles with id > ``after_id``, oldest first, each with its
        passages' texts and their vectors (rows in the same order)."""
        ...

    def recent_alerts(
        self, watch_id: int, since: str
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        """The articles the watch alerted at or after ``since`` (ISO time) that are still
        stored, oldest first, with their passages as ``articles_after``: what the same-story
        check compares a new match with."""
        ...

    def mark_alerted(self, watch_id: int, article_id: int, title: str, score: float) -> bool: ...


class DigestStore(Protocol):
    """Daily digest schedules (schema 4), one a collection, and the reads a digest is built
    from. ``sent`` records the local day a digest went out, so a restart within the hour does
    not send it twice (compare-and-set: returns False when that day was already recorded)."""

    def set(self, collection_id: int, channel_id: int, hour: int, timezone: str) -> None: ...

    def remove(self, collection_id: int) -> bool:
        """Stop the digest; False when there was none."""
        ...

    def get(self, collection_id: int) -> DigestSchedule | None: ...

    def all(self) -> list[DigestSchedule]: ...

    def sent(self, collection_id: int, day: str) -> bool: ...

    def published(
        self, collection_id: int, since: str, until: str, limit: int = 2000
    ) -> list[tuple[Article, list[str], np.ndarray]]:
        """Articles published ``since``..``until`` (inclusive dates), newest id first, each
        with its passages' texts and stored vectors (as ``WatchStore.articles_after``)."""
        ...
