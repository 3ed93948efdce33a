"""Standing questions ("watches") and the alerts they raise (``service.watches``).

A watch keeps its topic's embedding; the alert scan scores the articles added since its last
look against every watch with their stored passage vectors (``index.alerts.match``: nothing is
embedded again).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..alerts.match import Alert, Passages, matching_sentence, same_story_as, score_passages
from ..errors import InputError, NotFoundError
from ..search.registry import IndexRegistry
from ..search.retrieve import Retriever
from ..settings import CoreSettings
from ..store import Store, Watch
from ..text import hidden_characters
from . import CollectionIds


class Watches:
    """Watches added, listed and removed a collection, and the scan that finds their alerts."""

    def __init__(
        self,
        store: Store,
        collection_id: CollectionIds,
        indexes: IndexRegistry,
        retriever: Retriever,
        settings: CoreSettings,
    ) -> None:
        self.store = store  # its watches, and the scan's place in its meta (in one transaction)
        self._collection = collection_id
        self.indexes = indexes  # the model check: a topic is embedded as the stored vectors
        self.retriever = retriever  # its question lane embeds a topic
        self.settings = settings

    def add(self, collection: str, topic: str, *, owner: str, channel_id: int | None) -> Watch:
        """A standing question: new articles matching ``topic`` alert ``channel_id`` (None: the
        owner, by DM). Limited a collection and a member (settings); refused when full."""
        topic = " ".join(topic.split())
        if hidden := hidden_characters(topic):
            raise InputError(
                "a watch's topic can't hold invisible or text-direction characters"
                f" ({', '.join(hidden[:3])}): type it as plain words"
            )
        if not 3 <= len(topic) <= 200:
            raise InputError("a watch's topic is 3 to 200 characters")
        if not any(c.isalnum() for c in topic):
            raise InputError("a watch's topic needs words to watch for")
        self.indexes.require_current_model()
        cid = self._collection(collection, create=True)
        self._check_room(cid, topic, owner, channel_id)
        vector = self.retriever.queries.embed_one(topic)
        with self.store.transaction():
            key = _seen_key(cid)
            if self.store.get_meta(key) is None:  # alerts start with the news added from now
                self.store.set_meta(key, str(self.store.watches.latest_article_id(cid)))
            return self.store.watches.add(cid, topic, vector, owner=owner, channel_id=channel_id)

    def _check_room(self, cid: int, topic: str, owner: str, channel_id: int | None) -> None:
        watches = self.store.watches.of_collection(cid)
        if len(watches) >= self.settings.watches_per_collection:
            raise InputError(
                f"this server already has {len(watches)} watches, the most it may have; "
                "remove one first"
            )
        mine = [w for w in watches if w.owner == owner]
        if len(mine) >= self.settings.watches_per_member:
            raise InputError(
                f"you already have {len(mine)} watches here, the most a member may have; "
                "remove one first"
            )
        if any(w.topic.lower() == topic.lower() and w.channel_id == channel_id for w in mine):
            raise InputError("you already watch that topic there")

    def of_collection(self, collection: str, owner: str | None = None) -> list[Watch]:
        try:
            return self.store.watches.of_collection(self._collection(collection), owner)
        except NotFoundError:
            return []

    def get(self, watch_id: int) -> Watch:
        return self.store.watches.get(watch_id)

    def remove(self, collection: str, watch_id: int, *, by: str, admin: bool) -> Watch:
        """A member removes their own watches; an admin any of the server's."""
        cid = self._collection(collection)
        watch = self.store.watches.get(watch_id, cid)
        if watch.owner != by and not admin:
            raise InputError("that watch is another member's; only they or an admin remove it")
        return self.store.watches.remove(cid, watch_id)

    def forget_member(self, collection: str, owner: str) -> list[Watch]:
        """A member no longer in the server: their personal watches there go (their alerts
        would be DMs to someone outside it). Their channel watches stay: those alert the
        server's own channel, and its admins may remove them."""
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return []
        removed = []
        for watch in self.store.watches.of_collection(cid, owner):
            if watch.channel_id is None:
                try:
                    removed.append(self.store.watches.remove(cid, watch.id))
                except NotFoundError:  # removed meanwhile (another process, the member)
                    continue
        return removed

    def scan(self, collection: str, *, limit: int = 200) -> tuple[list[Alert], int]:
        """The alerts of the articles added since the last scan, and how many articles that
        was. Each (watch, article) alerts once, and not for a story the watch was alerted to in
        the last three days by another outlet (near-duplicates are one article already; beyond
        that the texts decide, ``same_story_as``)."""
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return [], 0
        key = _seen_key(cid)
        seen = self.store.get_meta(key)
        if seen is None:
            return [], 0  # no watch ever: nothing to look at
        batch = self.store.watches.articles_after(cid, int(seen), limit)
        if not batch:
            return [], 0
        watches = self.store.watches.vectors(cid)
        alerts: list[Alert] = []
        recent_since = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0).isoformat()
        recent: dict[int, list[Passages]] = {}  # a watch's alerted articles, read once a scan
        for item in batch:
            article, texts, vectors = item
            for watch, topic in watches:
                if vectors.size == 0 or vectors.shape[1] != topic.shape[0]:
                    continue
                score, best = score_passages(topic, vectors)
                if score < self.settings.alert_bar:
                    continue
                if watch.id not in recent:
                    recent[watch.id] = self.store.watches.recent_alerts(watch.id, recent_since)
                if same_story_as(item, recent[watch.id]):
                    continue
                recent[watch.id].append(item)
                if self.store.watches.mark_alerted(watch.id, article.id, article.title, score):
                    alerts.append(
                        Alert(
                            watch.id,
                            article.id,
                            article.title,
                            article.source,
                            article.published_at,
                            article.url,
                            matching_sentence(watch.topic, texts[best]),
                            score,
                        )
                    )
        self.store.set_meta(key, str(batch[-1][0].id))
        return alerts, len(batch)


def _seen_key(collection_id: int) -> str:
    """Where the alert scan keeps the last article id it looked at, a collection."""
    return f"alerts.seen.{collection_id}"
