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


class DiskFullError(StoreError):
    """The disk holding the data directory is full: the change that needed room was not stored.

    ``outcome`` says what that leaves (an ingest stopped part-way says what it had stored).
    """

    def __init__(self, where: str, outcome: str = "this change was not stored") -> None:
        super().__init__(f"the disk holding {where} is full; free some space. {outcome}")
        self.where = where


class DamagedStoreError(StoreError):
    """The database file is damaged: only a backup or SQLite's ``.recover`` can bring it back."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during an ingest; ``str()`` says what had been stored by then."""


# SQLite's primary result codes for the conditions a user must hear about by name.
SQLITE_BUSY, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 5, 11, 13, 26


def damaged_message(name: str, detail: str) -> str:
    """What to tell a user whose database file is damaged, and what to do about it."""
    return (
        f"the database file {name} is damaged ({detail}): restore it from a backup, or recover"
        f" what is readable with `sqlite3 {name} .recover | sqlite3 recovered.sqlite3`"
    )


def from_sqlite(exc: BaseException, name: str = "newsbot.sqlite3") -> StoreError | None:
    """The user-facing error for a SQLite failure a user can act on (damage, a full disk)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    if code & 0xFF == SQLITE_FULL:
        return DiskFullError(name)
    if code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DamagedStoreError(damaged_message(name, str(exc)))
    if code & 0xFF == SQLITE_BUSY:
        return StoreError(f"{name} stayed busy: another process kept writing to it; try again")
    return None
