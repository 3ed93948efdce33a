"""Daily digests (``service.digests``), in one place: where and when each collection's goes
(``DigestStore``, the store's part: one schedule a collection, the day last sent), which local day
is due, and building one (``build_digest``).

A digest is the day's stories, each once however many outlets ran it ("also in X, Y"), ranked by
how many sources ran it, then by how many of the server's watches it matches; each with one
sentence extracted from it (verbatim) and its link. Stories: articles merged as near-duplicates
at ingest are one already (their other outlets are ``other_sources``); beyond that, articles
whose lead passages are close (cosine of their first passage vectors at least ``SAME_STORY``) or
whose titles share most words are grouped, greedily, newest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from ..errors import InputError, NotFoundError
from ..settings import CoreSettings
from ..store import Store
from ..store.sql import Part, Passages, select
from . import CollectionIds
from .watches import ALERT_BAR, matching_sentence, same_story, score_passages, sentences

SAME_STORY = 0.8  # cosine of two articles' first passages (all-MiniLM-L6-v2)
TOP = 10


@dataclass
class Story:
    """One story of the digest: its lead article, the sentence shown, every outlet."""

    title: str
    url: str | None
    source: str | None
    published_at: str | None
    sentence: str
    also: list[str] = field(default_factory=list)  # other outlets (names)
    articles: list[int] = field(default_factory=list)
    watches: int = 0  # watches whose topic it matches

    @property
    def sources(self) -> int:
        return 1 + len(self.also)


@dataclass
class Digest:
    day: str
    articles: int
    stories: list[Story]
    total_stories: int


def _lead_sentence(texts: list[str]) -> str:
    for text in texts:
        for s in sentences(text):
            if len(s.split()) >= 6:
                return s
    return texts[0].strip() if texts else ""


def build_digest(
    day: str,
    articles: Sequence[Passages],
    other_sources: Callable[[int], list[tuple[str | None, str | None]]],
    watches: Sequence[tuple[str, np.ndarray]] = (),
    *,
    watch_bar: float = ALERT_BAR,
    top: int = TOP,
) -> Digest:
    """The digest of ``articles`` (the day's, newest first) for ``day``."""
    stories = [_story(group, other_sources, watches, watch_bar) for group in _stories_of(articles)]
    stories.sort(key=lambda s: (-s.sources, -s.watches, -max(s.articles)))
    return Digest(day, len(articles), stories[:top], len(stories))


def _stories_of(articles: Sequence[Passages]) -> list[list[Passages]]:
    """The articles grouped into stories: an article joins the first group whose lead passage
    is close to its own, or whose lead title tells the same story; else it starts one."""
    groups: list[list[Passages]] = []
    leads: list[np.ndarray] = []
    for item in articles:
        article, _, vectors = item
        first = vectors[0] if vectors.size else None
        placed = False
        for g, group in enumerate(groups):
            close = (
                first is not None
                and leads[g].size
                and first.shape == leads[g].shape
                and float(first @ leads[g]) >= SAME_STORY
            )
            if close or same_story(article.title, [group[0][0].title]):
                group.append(item)
                placed = True
                break
        if not placed:
            groups.append([item])
            leads.append(first if first is not None else np.zeros(0, dtype=np.float32))
    return groups


def _story(
    group: list[Passages],
    other_sources: Callable[[int], list[tuple[str | None, str | None]]],
    watches: Sequence[tuple[str, np.ndarray]],
    watch_bar: float,
) -> Story:
    """One story: its lead article, every outlet that ran it, how many watches it matches and
    the sentence to quote (the first matching watch's, else the lead's)."""
    lead, texts, _ = group[0]
    outlets: dict[str, None] = {}
    for article, _, _ in group:
        for name in [article.source, *(s for s, _ in other_sources(article.id))]:
            if name:
                outlets.setdefault(name, None)
    matched = 0
    sentence = ""
    for topic, vector in watches:
        scored = [(*score_passages(vector, v), t) for _, t, v in group if v.size and t]
        best_score, best, best_texts = max(scored, key=lambda x: x[0], default=(0.0, -1, []))
        if best_score >= watch_bar:
            matched += 1
            if not sentence and 0 <= best < len(best_texts):
                sentence = matching_sentence(topic, best_texts[best])
    names = list(outlets)
    main = lead.source or (names[0] if names else None)
    return Story(
        title=lead.title,
        url=lead.url,
        source=main,
        published_at=lead.published_at,
        sentence=sentence or _lead_sentence(texts),
        also=[n for n in names if n != main],
        articles=[a.id for a, _, _ in group],
        watches=matched,
    )


# -- what the store keeps ----------------------------------------------------------------------


@dataclass(frozen=True)
class DigestSchedule:
    """Where and when a collection's daily digest goes: ``hour`` (0-23) in ``timezone`` (an
    IANA name); ``last_day`` the local day of the last one sent (None: never)."""

    collection: str
    channel_id: int
    hour: int
    timezone: str
    last_day: str | None


_DIGEST_SELECT = (
    f"SELECT {select(DigestSchedule, 'd', collection='c.name')} FROM digests d"
    " JOIN collections c ON c.id = d.collection_id"
)


class DigestStore(Part):
    """Daily digest schedules (schema 4), one a collection, and the reads a digest is built
    from. ``sent`` records the local day a digest went out, so a restart within the hour does
    not send it twice: a compare-and-set (a second process updating the same row waits for the
    first to commit, then finds its condition false), False when that day was already recorded."""

    def set(self, collection_id: int, channel_id: int, hour: int, timezone: str) -> None:
        with self._store.transaction():
            self._store.run(
                """INSERT INTO digests (collection_id, channel_id, hour, timezone)
                   VALUES (?, ?, ?, ?) ON CONFLICT (collection_id) DO UPDATE
                   SET channel_id = excluded.channel_id, hour = excluded.hour,
                       timezone = excluded.timezone""",
                (collection_id, channel_id, hour, timezone),
            )

    def remove(self, collection_id: int) -> bool:
        """Stop the digest; False when there was none."""
        with self._store.transaction():
            return (
                self._store.run("DELETE FROM digests WHERE collection_id = ?", (collection_id,)) > 0
            )

    def get(self, collection_id: int) -> DigestSchedule | None:
        row = self._store.row(f"{_DIGEST_SELECT} WHERE d.collection_id = ?", (collection_id,))
        return DigestSchedule(*row) if row else None

    def all(self) -> list[DigestSchedule]:
        return [DigestSchedule(*r) for r in self._store.rows(f"{_DIGEST_SELECT} ORDER BY c.id")]

    def sent(self, collection_id: int, day: str) -> bool:
        with self._store.transaction():
            return (
                self._store.run(
                    "UPDATE digests SET last_day = ? WHERE collection_id = ?"
                    " AND (last_day IS NULL OR last_day < ?)",
                    (day, collection_id, day),
                )
                == 1
            )

    def published(
        self, collection_id: int, since: str, until: str, limit: int = 2000
    ) -> list[Passages]:
        """Articles published ``since``..``until`` (inclusive dates), newest id first, each
        with its passages' texts and stored vectors (as ``WatchStore.articles_after``)."""
        return self._store.with_passages(
            "a.collection_id = ? AND a.published_at BETWEEN ? AND ? ORDER BY a.id DESC LIMIT ?",
            (collection_id, since, until, limit),
        )


# -- the facade -------------------------------------------------------------------------------


class Digests:
    """Digest schedules, the day logic (due when, covering which day) and the digest itself."""

    def __init__(self, store: Store, collection_id: CollectionIds, settings: CoreSettings) -> None:
        self.store = store  # its schedules, and the day's articles, their outlets, the watches
        self._collection = collection_id
        self.settings = settings

    def set(self, collection: str, channel_id: int, hour: int, timezone: str) -> DigestSchedule:
        """Post the collection's digest in ``channel_id`` daily at ``hour`` in ``timezone``."""
        if not 0 <= hour <= 23:
            raise InputError("the hour is 0 to 23")
        try:
            zone = ZoneInfo(timezone.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(
                f"{timezone!r} is not a time zone I know: use a name like Europe/Paris or UTC"
            ) from None
        cid = self._collection(collection, create=True)
        self.store.digests.set(cid, channel_id, hour, str(zone))
        schedule = self.store.digests.get(cid)
        assert schedule is not None
        return schedule

    def stop(self, collection: str) -> bool:
        try:
            return self.store.digests.remove(self._collection(collection))
        except NotFoundError:
            return False

    def schedules(self) -> list[DigestSchedule]:
        return self.store.digests.all()

    @staticmethod
    def due_day(schedule: DigestSchedule, now: datetime) -> str | None:
        """The local day whose digest is due at ``now`` (aware), or None: due from its hour on
        (a restart later that day still sends it), once a day. A digest before noon covers
        the day before (a morning briefing); from noon on, the day itself."""
        local = now.astimezone(ZoneInfo(schedule.timezone))
        if local.hour < schedule.hour or schedule.last_day == local.date().isoformat():
            return None
        return local.date().isoformat()

    @staticmethod
    def covers(schedule: DigestSchedule | None, day: str) -> str:
        """The publication day a digest sent on ``day`` covers."""
        if schedule is not None and schedule.hour < 12:
            return (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        return day

    def sent(self, collection: str, day: str) -> bool:
        """Record that the digest of local ``day`` went out; False when it already had."""
        return self.store.digests.sent(self._collection(collection), day)

    def build(self, collection: str, day: str, *, top: int = 10) -> Digest:
        """The stories published on ``day``, grouped across outlets and ranked."""
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return Digest(day, 0, [], 0)
        articles = self.store.digests.published(cid, day, day)
        watches = [(w.topic, v) for w, v in self.store.watches.vectors(cid)]
        return build_digest(
            day,
            articles,
            self.store.articles.other_sources,
            watches,
            watch_bar=self.settings.alert_bar,
            top=top,
        )
