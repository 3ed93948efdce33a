"""Feedback in SQLite (``FeedbackStore``): answers given on Discord and the votes on them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from ..errors import NotFoundError
from .features import AnswerRecord, CitedRef
from .sqlite_articles import now_iso

if TYPE_CHECKING:
    from .sqlite import SqliteStore

_SELECT = """
SELECT a.id, c.name, a.question, a.citations, a.asked_by, a.channel_id, a.message_id,
       a.since, a.until, a.as_of, a.asked_at,
       COALESCE(SUM(v.value = 1), 0) AS up, COALESCE(SUM(v.value = -1), 0) AS down
FROM answers a
JOIN collections c ON c.id = a.collection_id
LEFT JOIN answer_votes v ON v.answer_id = a.id
"""


def _record(row: sqlite3.Row) -> AnswerRecord:
    cited = tuple(CitedRef(**c) for c in json.loads(row[3] or "[]"))
    return AnswerRecord(
        row[0], row[1], row[2], cited, *row[4:11], up=int(row[11]), down=int(row[12])
    )


class SqliteFeedback:
    def __init__(self, store: SqliteStore) -> None:
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
            cur = db.execute(
                """INSERT INTO answers (collection_id, question, citations, asked_by, channel_id,
                       since, until, as_of, asked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                db.execute(
                    """DELETE FROM answers WHERE channel_id = ? AND id NOT IN (
                           SELECT id FROM answers WHERE channel_id = ? ORDER BY id DESC LIMIT ?)
                       AND NOT EXISTS (SELECT 1 FROM answer_votes v WHERE v.answer_id = id)""",
                    (channel_id, channel_id, max(1, keep)),
                )
        return int(cur.lastrowid)

    def set_message(self, answer_id: int, message_id: int) -> None:
        with self._store.transaction() as db:
            db.execute("UPDATE answers SET message_id = ? WHERE id = ?", (message_id, answer_id))

    def get(self, answer_id: int) -> AnswerRecord:
        row = self._store.db.execute(f"{_SELECT} WHERE a.id = ? GROUP BY a.id", (answer_id,))
        found = row.fetchone()
        if found is None:
            raise NotFoundError(f"no answer {answer_id} (it may have been removed)")
        return _record(found)

    def by_message(self, message_id: int) -> AnswerRecord | None:
        row = self._store.db.execute(
            f"{_SELECT} WHERE a.message_id = ? GROUP BY a.id", (message_id,)
        ).fetchone()
        return _record(row) if row else None

    def vote(self, answer_id: int, voter: str, value: int) -> AnswerRecord:
        if value not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        with self._store.transaction() as db:
            if db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                raise NotFoundError(f"no answer {answer_id} (it may have been removed)")
            db.execute(
                """INSERT INTO answer_votes (answer_id, voter, value, voted_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (answer_id, voter) DO UPDATE
                   SET value = excluded.value, voted_at = excluded.voted_at""",
                (answer_id, voter, value, now_iso()),
            )
        return self.get(answer_id)

    def worst(self, collection_id: int | None, limit: int = 20) -> list[AnswerRecord]:
        where, params = (
            ("WHERE a.collection_id = ?", (collection_id,))
            if collection_id is not None
            else ("", ())
        )
        rows = self._store.db.execute(
            f"""{_SELECT} {where} GROUP BY a.id HAVING down > 0
                ORDER BY down - up DESC, down DESC, a.id DESC LIMIT ?""",
            (*params, limit),
        )
        return [_record(r) for r in rows]
