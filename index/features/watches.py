"""Standing questions ("watches") and the alerts they raise (``service.watches``), in one place:
what the store keeps (``WatchStore``: watches, their topic vectors, their alerts, and the scan's
reads), how a new article matches a watch and which sentence an alert quotes (the matching
below), and the facade the service exposes (``Watches``: added, listed, removed, the scan).

A watch keeps its topic's embedding; the alert scan scores the articles added since its last
look against every watch with their stored passage vectors: nothing is embedded again. The
score is the best cosine similarity between the topic embedding and the article's passage
vectors (both normalized, as stored). ``ALERT_BAR`` is calibrated on the dev set with ``python
-m bench.watch`` (README, "Watches"): a watch is a quiz question's topic; its positives are the
articles of the quiz's week that hold a gold evidence sentence, its negatives that week's other
articles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, NotFoundError
from ..ingest.minhash import shingles
from ..settings import CoreSettings
from ..store import Store
from ..store.sql import Part, Passages, now_iso, select, vector_bytes, vector_of
from ..text import content_terms, hidden_characters
from . import CollectionIds

if TYPE_CHECKING:
    from ..search.registry import IndexRegistry
    from ..search.retrieve import Retriever

# all-MiniLM-L6-v2 cosine a new article must reach to alert (bench.watch, full dev corpus).
ALERT_BAR = 0.525
# Titles sharing this share of their content words may tell one story: the digest groups them;
# for an alert they only lower the bar of the text (SAME_LEAD_TITLED): a series' titles ("Harbour
# report 2" after "Harbour report 1") share as many words.
SAME_STORY = 0.5
# An article tells the story of one a watch was already alerted to when their first passages
# (what the store keeps: the text, and its vector with the title in front) say so: half their
# 5-word shingles shared (a wire story under another outlet's headline), or their vectors this
# close (a rewrite), or SAME_LEAD_TITLED close with titles sharing SAME_STORY of their words.
# Measured on the dev set (README, "Watches"): of the 50 pairs of articles at most three days
# apart whose titles share half their words, 27 tell one story; titles alone merged all 50,
# this merges 17 of the 27 and 5 of the others (templated lists whose first passages match).
SAME_TEXT = 0.5
SAME_LEAD = 0.93
SAME_LEAD_TITLED = 0.8


_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]?[A-Z0-9])")


@dataclass(frozen=True)
class Alert:
    """One alert: a watch, the article that matched it, how well, and the sentence to quote."""

    watch_id: int
    article_id: int
    title: str
    source: str | None
    published_at: str | None
    url: str | None
    sentence: str
    score: float


def score_passages(topic: np.ndarray, vectors: np.ndarray) -> tuple[float, int]:
    """(best cosine, index of that passage); (0.0, -1) without passages."""
    if vectors.size == 0:
        return 0.0, -1
    sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(topic, dtype=np.float32)
    best = int(np.argmax(sims))
    return float(sims[best]), best


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def matching_sentence(topic: str, passage: str, limit: int = 300) -> str:
    """The passage's sentence holding most of the topic's words (the first on a tie), whole
    when it fits in ``limit`` characters; verbatim either way."""
    terms = set(content_terms(topic))
    best, best_count = "", -1
    for s in sentences(passage):
        count = len(terms & set(content_terms(s)))
        if count > best_count:
            best, best_count = s, count
    if len(best) <= limit:
        return best
    cut = best[: limit - 1]
    return cut[: cut.rfind(" ")].rstrip() + "…" if " " in cut else cut + "…"


def same_story(title: str, others: Sequence[str], bar: float = SAME_STORY) -> bool:
    """Whether ``title`` tells one of ``others``' stories: their content words overlap by
    ``bar`` (Jaccard) or more."""
    mine = set(content_terms(title))
    if not mine:
        return False
    for other in others:
        theirs = set(content_terms(other))
        if theirs and len(mine & theirs) / len(mine | theirs) >= bar:
            return True
    return False


def same_story_as(article: Passages, others: Sequence[Passages]) -> bool:
    """Whether ``article`` tells the story of one of ``others`` (see ``SAME_TEXT``): decided by
    their first passages, never by the titles alone."""
    new, texts, vectors = article
    if not texts:
        return False
    mine = shingles(texts[0])
    lead = vectors[0] if vectors.size else None
    for other, other_texts, other_vectors in others:
        if not other_texts:
            continue
        theirs = shingles(other_texts[0])
        if mine and theirs and len(mine & theirs) / len(mine | theirs) >= SAME_TEXT:
            return True
        if lead is None or other_vectors.size == 0 or other_vectors.shape[1] != lead.shape[0]:
            continue
        cosine = float(np.dot(lead, other_vectors[0]))
        if cosine >= SAME_LEAD or (
            cosine >= SAME_LEAD_TITLED and same_story(new.title, [other.title])
        ):
            return True
    return False


# -- what the store keeps ----------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """A standing question: alerts go to ``channel_id``, or to the owner by DM when None."""

    id: int
    collection: str
    topic: str
    owner: str  # the member's user id, as text
    channel_id: int | None
    created_at: str


_WATCH_SELECT = (
    f"SELECT {select(Watch, 'w', collection='c.name')}, w.vector FROM watches w"
    " JOIN collections c ON c.id = w.collection_id"
)


class WatchStore(Part):
    """Watches (standing questions) and the alerts they raised (schema 4).

    Contract: a watch keeps its topic's embedding (float32, normalized, the model's dimension)
    as given; ``remove`` takes its alerts with it. ``mark_alerted`` is idempotent on
    (watch, article) and returns whether the row is new: two processes scanning the same new
    article alert once. ``articles_after`` is what the alert scan reads: articles of the
    collection with an id above ``after_id``, oldest first, with their passages' texts and
    vectors (the ones stored at ingest: nothing is embedded again). Article ids of a collection
    commit in order (its writers hold its lock until they commit), so the scan misses no article
    another process was still adding.
    """

    def add(
        self,
        collection_id: int,
        topic: str,
        vector: np.ndarray,
        *,
        owner: str,
        channel_id: int | None,
    ) -> Watch:
        with self._store.transaction():
            watch_id = self._store.value(
                """INSERT INTO watches (collection_id, topic, vector, owner, channel_id,
                       created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (collection_id, topic, vector_bytes(vector), owner, channel_id, now_iso()),
            )
        return self.get(watch_id)

    def get(self, watch_id: int, collection_id: int | None = None) -> Watch:
        """``NotFoundError`` when there is no such watch (in that collection)."""
        sql, params = f"{_WATCH_SELECT} WHERE w.id = ?", (watch_id,)
        if collection_id is not None:
            sql, params = sql + " AND w.collection_id = ?", (watch_id, collection_id)
        row = self._store.row(sql, params)
        if row is None:
            raise NotFoundError(f"there is no watch {watch_id} here")
        return Watch(*row[:-1])

    def of_collection(self, collection_id: int, owner: str | None = None) -> list[Watch]:
        """Oldest first; only ``owner``'s when given."""
        return [w for w, _ in self.vectors(collection_id, owner)]

    def vectors(
        self, collection_id: int, owner: str | None = None
    ) -> list[tuple[Watch, np.ndarray]]:
        """Every watch of the collection (``owner``'s) with its topic vector."""
        sql, params = f"{_WATCH_SELECT} WHERE w.collection_id = ?", (collection_id,)
        if owner is not None:
            sql, params = sql + " AND w.owner = ?", (collection_id, owner)
        rows = self._store.rows(sql + " ORDER BY w.id", params)
        return [(Watch(*r[:-1]), vector_of(r[-1])) for r in rows]

    def remove(self, collection_id: int, watch_id: int) -> Watch:
        watch = self.get(watch_id, collection_id)
        with self._store.transaction():
            self._store.run("DELETE FROM watches WHERE id = ?", (watch_id,))
        return watch

    def latest_article_id(self, collection_id: int) -> int:
        """The highest article id of the collection (0 when it has none)."""
        return self._store.value(
            "SELECT MAX(id) FROM articles WHERE collection_id = ?", (collection_id,), 0
        )

    def articles_after(self, collection_id: int, after_id: int, limit: int) -> list[Passages]:
        """Up to ``limit`` articles with id > ``after_id``, oldest first, each with its
        passages' texts and their vectors (rows in the same order)."""
        return self._store.with_passages(
            "a.collection_id = ? AND a.id > ? ORDER BY a.id LIMIT ?",
            (collection_id, after_id, limit),
        )

    def recent_alerts(self, watch_id: int, since: str) -> list[Passages]:
        """The articles the watch alerted at or after ``since`` (ISO time) that are still
        stored, oldest first, with their passages as ``articles_after``: what the same-story
        check compares a new match with."""
        return self._store.with_passages(
            "a.id IN (SELECT article_id FROM watch_alerts WHERE watch_id = ?"
            " AND alerted_at >= ?) ORDER BY a.id",
            (watch_id, since),
        )

    def mark_alerted(self, watch_id: int, article_id: int, title: str, score: float) -> bool:
        """True for the one call (of every process) that recorded the pair; False after, and
        for a watch removed meanwhile (its row is held until the alert commits)."""
        store = self._store
        with store.transaction():
            if (
                store.row(f"SELECT 1 FROM watches WHERE id = ?{store.KEY_SHARE}", (watch_id,))
                is None
            ):
                return False
            return (
                store.run(
                    """INSERT INTO watch_alerts (watch_id, article_id, title, score, alerted_at)
                       VALUES (?, ?, ?, ?, ?) ON CONFLICT (watch_id, article_id) DO NOTHING""",
                    (watch_id, article_id, title, float(score), now_iso()),
                )
                == 1
            )


# -- the facade -------------------------------------------------------------------------------


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
