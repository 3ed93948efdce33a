"""What members do with answers beyond reading them, each behind a small facade that
``NewsService`` exposes as an attribute: ``feedback`` (answers kept, votes, follow-ups),
``watches`` (standing questions and their alerts) and ``digests`` (daily digest schedules and
building).

Like the service, each is names, checks and delegation: the work is done by the stages they
call (``index.search.followup``, ``index.alerts.match``, ``index.search.digest``) and the
store's feature parts (``index.store.features``). Each takes what it uses in its constructor,
among them the service's collection-name resolver (``CollectionIds``).
"""

from __future__ import annotations

from typing import Protocol


class CollectionIds(Protocol):
    """A collection's id from its name (``NewsService``'s resolver): ``InputError`` for a bad
    name, ``NotFoundError`` for a missing collection unless ``create``."""

    def __call__(self, name: str, *, create: bool = False) -> int: ...
