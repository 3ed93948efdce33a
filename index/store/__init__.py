"""The truth of a data folder, behind an interface (``base.py``: the core protocols and their
contract; ``features.py``: the parts of answers kept, watches and digests) that SQLite implements
here (``sqlite.py``, ``schema.py`` and one module a part) and a second backend can implement
beside it."""

from __future__ import annotations

from pathlib import Path

from .base import (
    FEED_FIELDS,
    ArticleStore,
    ArticleVersion,
    ChunkStore,
    ChunkText,
    CollectionStore,
    Feed,
    FeedStateStore,
    NewArticle,
    Store,
    StoredRef,
)
from .features import (
    AnswerRecord,
    CitedRef,
    DigestSchedule,
    DigestStore,
    FeedbackStore,
    Watch,
    WatchStore,
)

__all__ = [
    "FEED_FIELDS",
    "AnswerRecord",
    "ArticleStore",
    "ArticleVersion",
    "ChunkStore",
    "ChunkText",
    "CitedRef",
    "CollectionStore",
    "DigestSchedule",
    "DigestStore",
    "Feed",
    "FeedStateStore",
    "FeedbackStore",
    "NewArticle",
    "Store",
    "StoredRef",
    "Watch",
    "WatchStore",
    "open_store",
]

DATABASE_NAME = "newsbot.sqlite3"


def open_store(data_dir: Path) -> Store:
    """The store of a data folder (its schema brought up to date)."""
    from .sqlite import SqliteStore

    return SqliteStore(data_dir / DATABASE_NAME)
