"""User-safe exceptions: ``str(exc)`` is a short sentence a user may read as it is."""

from __future__ import annotations


class NewsbotError(Exception):
    """Base of every error whose message is safe to show a user."""


class InputError(NewsbotError):
    """The input cannot be ingested: empty, binary, not UTF-8, too large, unsupported."""


class NotAnArticleError(InputError):
    """The input decoded, but no article body could be found in it."""


class DuplicateError(NewsbotError):
    """The article is already indexed in this collection."""

    def __init__(self, message: str, article_id: int, title: str) -> None:
        super().__init__(message)
        self.article_id = article_id
        self.title = title


class NotFoundError(NewsbotError):
    """An article, feed or collection named by the user does not exist."""


class BusyError(NewsbotError):
    """An exclusive operation (a rebuild) is already running."""


class StoreError(NewsbotError):
    """The data directory cannot be used (wrong model, newer schema, corrupt file)."""
