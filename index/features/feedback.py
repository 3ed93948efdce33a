"""Answers given on Discord kept for their 👍/👎 votes and for follow-ups (``service.feedback``),
in one place: what the store keeps (``FeedbackStore``: answers, votes), follow-ups (a reply to
an answer continues its question) and the facade the service exposes (``Feedback``).

A kept answer remembers its question, the window it searched and what it cited. A follow-up — a
short reply to an answer, or one that points back at it ("and what did Russia say?", "when did
it start?") — continues the earlier question: it inherits that question's time window and its
subject words; a question that stands on its own is asked as it is.

Several PostgreSQL processes write at once; keys and row locks hold the contract there as
SQLite's one writer does: a vote is an upsert on (answer, voter); recording an answer (and
pruning its channel's unvoted ones) and a vote take the channel's lock, and a vote holds its
answer's row (``FOR KEY SHARE``), so an answer being voted on is never pruned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

from ..errors import NotFoundError
from ..models import Answer
from ..search.answer import check_question, understand
from ..search.retrieve import Filters
from ..search.when import find_window, without_phrase
from ..store.sql import Part, SqlStore, now_iso, select
from ..text import STOPWORDS, words
from . import CollectionIds

LOCK_ANSWERS = 7004  # a channel's kept answers: recording (and pruning) them, votes on them


# Words that point back at the earlier question's subject.
_POINTERS = """it its they them their theirs he him his she her hers this that these those there
then such same other"""
POINTERS = frozenset(_POINTERS.split())
# Openings that continue a conversation rather than start one.
OPENERS = ("and ", "but ", "also ", "what about ", "how about ", "so ", "then ")
# Words of a question that are not its subject.
_QUESTION_WORDS = """what who whom whose when where why how which did does do is are was were will
would can could should say said tell told news latest happen happened happening"""
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
# A follow-up with at most this many subject words of its own is too short to stand alone.
SHORT = 3


@dataclass(frozen=True)
class Continued:
    """The question to ask, the window to search, and whether anything was inherited."""

    question: str
    since: str | None
    until: str | None
    inherited: bool


def subject_words(question: str) -> list[str]:
    """The words a question is about, in order, once each: no stopwords, no question words,
    no date phrase (the window does that work)."""
    window = find_window(question, date.today())
    text = without_phrase(question, window) if window is not None else question
    out: dict[str, None] = {}
    for w in words(text):
        if w in STOPWORDS or w in QUESTION_WORDS or w in POINTERS or len(w) < 2:
            continue
        out.setdefault(w, None)
    return list(out)


def is_continuation(followup: str) -> bool:
    """Short, opened like a continuation, or pointing back with a pronoun."""
    text = " ".join(followup.lower().split())
    if text.startswith(OPENERS):
        return True
    if any(w in POINTERS for w in words(text)):
        return True
    return len(subject_words(followup)) <= SHORT


def continue_question(
    followup: str,
    earlier: str,
    since: str | None,
    until: str | None,
    asked_on: date,
) -> Continued:
    """``followup`` as it is asked after ``earlier`` (searched in ``since``..``until``)."""
    followup = " ".join(followup.split())
    if not is_continuation(followup):
        return Continued(followup, None, None, False)
    own = set(subject_words(followup))
    inherited = [w for w in subject_words(earlier) if w not in own]
    question = f"{followup} ({' '.join(inherited)})" if inherited else followup
    if find_window(followup, asked_on) is not None:  # it names its own time
        return Continued(question, None, None, bool(inherited))
    return Continued(question, since, until, bool(inherited) or bool(since or until))


# -- what the store keeps ----------------------------------------------------------------------


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


class FeedbackStore(Part):
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


# -- the facade -------------------------------------------------------------------------------


class Feedback:
    """Answers kept, votes on them, the worst-voted, and follow-ups to them."""

    def __init__(self, answers: FeedbackStore, collection_id: CollectionIds, *, keep: int) -> None:
        self.answers = answers
        self._collection = collection_id
        self.keep = keep  # records a channel keeps that nobody voted on

    def record(
        self,
        collection: str,
        answer: Answer,
        filters: Filters | None = None,
        *,
        asked_by: str | None = None,
        channel_id: int | None = None,
    ) -> int:
        """Keep an answer given on Discord (its question, the window it searched, what it
        cited) so votes and follow-ups can find it; returns its id (what its buttons carry)."""
        _, searched, _ = understand(answer.question, filters or Filters())
        cited = [
            CitedRef(c.article_id, c.title, c.source, c.url, c.published_at)
            for c in answer.citations
        ]
        return self.answers.record(
            self._collection(collection, create=True),
            answer.question,
            citations=cited,
            asked_by=asked_by,
            channel_id=channel_id,
            since=searched.since,
            until=searched.until,
            as_of=searched.as_of,
            keep=self.keep,
        )

    def shown(self, answer_id: int, message_id: int) -> None:
        """The message that shows the answer: a reply to it continues the question."""
        self.answers.set_message(answer_id, message_id)

    def get(self, answer_id: int) -> AnswerRecord:
        return self.answers.get(answer_id)

    def in_message(self, message_id: int) -> AnswerRecord | None:
        return self.answers.by_message(message_id)

    def vote(self, collection: str, answer_id: int, voter: str, value: int) -> AnswerRecord:
        """One vote a member an answer (+1 or -1), changeable; only on this collection's."""
        record = self.answers.get(answer_id)
        if record.collection != collection:
            raise NotFoundError(f"no answer {answer_id} here")
        return self.answers.vote(answer_id, voter, value)

    def worst(self, collection: str | None = None, limit: int = 20) -> list[AnswerRecord]:
        """The answers with the most 👎 net of 👍, in one collection or all."""
        if collection is None:
            return self.answers.worst(None, limit)
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return []
        return self.answers.worst(cid, limit)

    @staticmethod
    def continue_from(
        earlier: AnswerRecord, followup: str, filters: Filters | None = None
    ) -> tuple[Continued, Filters]:
        """A follow-up to an earlier answer as it is asked: short or pointing back, it inherits
        the earlier question's subject words and window (``index.search.followup``)."""
        followup = check_question(followup)
        filters = filters or Filters()
        asked = date.fromisoformat(filters.as_of) if filters.as_of else date.today()
        continued = continue_question(
            followup, earlier.question, earlier.since, earlier.until, asked
        )
        if continued.since or continued.until:
            filters = Filters(
                source=filters.source,
                since=continued.since,
                until=continued.until,
                as_of=filters.as_of,
            )
        return continued, filters
