"""Daily digests (``service.digests``): where and when each collection's goes, which local day
is due, and building one (``index.search.digest``: stories grouped across outlets, ranked)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import InputError, NotFoundError
from ..search.digest import Digest, build_digest
from ..settings import CoreSettings
from ..store import DigestSchedule, Store
from . import CollectionIds


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
