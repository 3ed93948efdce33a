"""The truth of a data folder (``Store``; ``base.py``: its contract and records) whose parts are
written once for both databases (``sql.py``, ``articles.py``, ``chunks.py``, ``feeds.py``, and
each feature's in ``index.features``): SQLite (``sqlite.py``, ``schema.py``, the embedded default)
and PostgreSQL (``postgres.py``, ``pg_migrations/``), shared by several processes when
``NEWSBOT_DATABASE_URL`` names it."""

from __future__ import annotations

from pathlib import Path

from .articles import ArticleStore, CollectionStore
from .base import FEED_FIELDS, ArticleVersion, ChunkText, Feed, NewArticle, StoredRef
from .chunks import ChunkStore
from .feeds import FeedStateStore
from .sql import Passages
from .sql import SqlStore as Store

__all__ = [
    "FEED_FIELDS",
    "ArticleStore",
    "ArticleVersion",
    "ChunkStore",
    "ChunkText",
    "CollectionStore",
    "Feed",
    "FeedStateStore",
    "NewArticle",
    "Passages",
    "Store",
    "StoredRef",
    "is_postgres",
    "open_store",
]

DATABASE_NAME = "newsbot.sqlite3"


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def open_store(data_dir: Path, database_url: str = "") -> Store:
    """The store (its schema brought up to date): PostgreSQL when ``database_url`` names one,
    else the SQLite file of the data folder."""
    if database_url:
        if not is_postgres(database_url):
            from ..errors import StoreError

            raise StoreError("NEWSBOT_DATABASE_URL must start with postgresql://")
        from .postgres import PostgresStore

        return PostgresStore(database_url)
    from .sqlite import SqliteStore

    return SqliteStore(data_dir / DATABASE_NAME)
