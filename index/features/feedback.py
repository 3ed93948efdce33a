"""Answers given on Discord kept for their 👍/👎 votes and for follow-ups (``service.feedback``).

A kept answer remembers its question, the window it searched and what it cited; a reply to the
message showing it continues the question (``index.search.followup``).
"""

from __future__ import annotations

from datetime import date

from ..errors import NotFoundError
from ..models import Answer
from ..search.answer import check_question, understand
from ..search.followup import Continued, continue_question
from ..search.retrieve import Filters
from ..store import AnswerRecord, CitedRef, FeedbackStore
from . import CollectionIds


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
