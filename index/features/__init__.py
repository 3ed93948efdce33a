"""What members do with answers beyond reading them, a module a feature holding all of it: what
the store keeps of it (its store part, over the store's statement calls, on both databases), its
own logic, and the small facade ``NewsService`` exposes as an attribute: ``feedback`` (answers
kept, votes, follow-ups), ``watches`` (standing questions, how an article matches one, the alert
scan) and ``digests`` (daily digest schedules, the day due, building one).

Each facade is names, checks and delegation, and takes what it uses in its constructor, among
them the service's collection-name resolver (``CollectionIds``).
"""

from __future__ import annotations

from typing import Protocol


class CollectionIds(Protocol):
    """A collection's id from its name (``NewsService``'s resolver): ``InputError`` for a bad
    name, ``NotFoundError`` for a missing collection unless ``create``."""

    def __call__(self, name: str, *, create: bool = False) -> int: ...
