"""The one facade the bot, the command line and the benchmarks use: collection names, input
checks, and delegation to the stages that do the work.

Synchronous on purpose: callers on an event loop run it in a thread. Documents become articles in
the ingest pipeline (``index.ingest.pipeline``); each collection's vector index lives in the
registry (``index.search.registry``); questions go through ``when`` (the time they name), the
retriever and ``compose``, with the bars of ``index.search.answer``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .alerts.match import Alert, matching_sentence, same_story, score_passages
from .errors import InputError, NotFoundError
from .ingest import web
from .ingest.fetch import FetchResult, fetch_sync
from .ingest.pipeline import IngestPipeline, IngestReport, Progress, ProgressFn
from .ingest.sources import Failed, documents_from_bytes, documents_from_path
from .models import Answer, Article, Document, Found, Hit
from .search.answer import Answerer, AnswerPolicy, coverage, days_between, understand
from .search.digest import Digest, build_digest
from .search.embed import BackgroundLane, Embedder, SentenceTransformerEmbedder
from .search.followup import Continued, continue_question
from .search.registry import Change, IndexRegistry
from .search.retrieve import Filters, RetrievalParams, Retriever
from .search.vectors import VectorIndex
from .search.when import Window, find_window
from .settings import CoreSettings
from .store import AnswerRecord, CitedRef, DigestSchedule, Feed, Watch, open_store

# Names callers import from here (the bot, the command line, the benchmarks, tests).
__all__ = [
    "IngestReport",
    "NewsService",
    "Progress",
    "ProgressFn",
    "coverage",
    "days_between",
]


class NewsService:
    """Names (collection name → id), checks, and delegation: the stages do the work."""

    def __init__(
        self,
        settings: CoreSettings,
        embedder: Embedder | None = None,
        params: RetrievalParams | None = None,
    ) -> None:
        self.settings = settings
        embedder = embedder or SentenceTransformerEmbedder(
            Path(settings.model_path) if settings.model_path else None,
            batch_size=settings.embed_batch_size,
            threads=settings.torch_threads,
        )
        self.store = open_store(settings.data_dir)
        self.bulk = BackgroundLane(settings.ingest_nice)
        self.indexes = IndexRegistry(
            self.store,
            embedder,
            settings.data_dir,
            bulk=self.bulk,
            chunk_tokens=settings.chunk_tokens,
        )
        self.pipeline = IngestPipeline(self.store, embedder, self.indexes, self.bulk, settings)
        params = params or RetrievalParams(recency_days=float(settings.recent_days))
        self.retriever = Retriever(
            self.store, embedder, self.indexes, params, query_threads=settings.query_threads
        )
        self.answers = Answerer(self.store, self.retriever, AnswerPolicy(settings))
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @embedder.setter
    def embedder(self, embedder: Embedder) -> None:
        """Swap the model (tests, benchmarks): ingest and the indexes use it from now on; the
        retriever's question lane is set on its own (``retriever.embedder``)."""
        self._embedder = self.pipeline.embedder = self.indexes.embedder = embedder

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for: the model (seconds) and the
        date parser's English data."""
        self.retriever.queries.embed_one("warm up")
        find_window("in May 2020", date.today())

    def close(self) -> None:
        self.bulk.close()
        self.store.close()

    def __enter__(self) -> NewsService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- collections and indexes -------------------------------------------------------------
    @property
    def stored_model(self) -> str:
        return self.indexes.stored_model

    @property
    def model_changed(self) -> bool:
        """True when stored vectors come from another model than the one configured."""
        return self.indexes.model_changed

    def _collection(self, name: str, *, create: bool = False) -> int:
        name = name.strip()
        if not name or len(name) > 100:
            raise InputError("a collection name is 1 to 100 characters")
        cid = self.store.collections.id_of(name, create=create)
        if cid is None:
            raise NotFoundError(f"there is no collection named {name!r} yet")
        return cid

    def vector_index(self, collection: str) -> VectorIndex:
        """The collection's vector index as searches use it (loaded or rebuilt when stale)."""
        return self.indexes.index_for(self._collection(collection))

    # -- ingestion ---------------------------------------------------------------------------
    def documents(self, paths: Iterable[str | Path]) -> Iterator[Document | Failed]:
        """Files, or web addresses fetched through the safe fetcher, one after another."""
        for p in paths:
            if isinstance(p, str) and web.is_url(p):
                yield self.document_from_url(p)
            else:
                yield from documents_from_path(Path(p), max_bytes=self.settings.max_input_bytes)

    def document_from_url(self, url: str) -> Document | Failed:
        """Fetch (refusing non-public addresses, huge or slow pages) and extract one article."""
        url = web.strip_url(url)
        try:
            result = fetch_sync(url, web.policy_for(self.settings))
            return web.document_from_fetch(result)
        except InputError as exc:
            return Failed(url, f"{url}: {exc}")

    def document_from_fetched(self, result: FetchResult) -> Document | Failed:
        try:
            return web.document_from_fetch(result)
        except InputError as exc:
            return Failed(result.requested_url, f"{result.requested_url}: {exc}")

    def documents_from_bytes(
        self, data: bytes, name: str, url: str | None = None
    ) -> Iterator[Document | Failed]:
        yield from documents_from_bytes(
            data, name, max_bytes=self.settings.max_input_bytes, url=url
        )

    def ingest(
        self,
        collection: str,
        documents: Iterable[Document | Failed],
        *,
        added_by: str | None = None,
        feed_id: int | None = None,
        progress: ProgressFn | None = None,
        docs_total: int | None = None,
    ) -> IngestReport:
        """Chunk, embed and store documents; each article is stored whole or not at all.

        ``added_by`` and ``feed_id`` (with each document's ``fetched_url``) are recorded with
        every version stored; they decide whether "same URL, new text" may replace an article.
        """
        self.indexes.require_current_model()
        return self.pipeline.run(
            self._collection(collection, create=True),
            documents,
            added_by=added_by,
            feed_id=feed_id,
            progress=progress,
            docs_total=docs_total,
        )

    def ingest_paths(self, collection: str, paths: Iterable[str | Path], **kw) -> IngestReport:
        return self.ingest(collection, self.documents(paths), **kw)

    # -- questions ---------------------------------------------------------------------------
    def understand(
        self, question: str, filters: Filters | None = None
    ) -> tuple[str, Filters, Window | None]:
        """The words to search for, the filters to search with and the time the question names
        (``index.search.answer.understand``)."""
        return understand(question, filters or Filters())

    def find(
        self,
        collection: str,
        question: str,
        *,
        top_k: int = 10,
        filters: Filters | None = None,
        per_article: int | None = None,
        widen: bool | None = None,
    ) -> Found:
        """The passages for a question, searched in the time it names (``Answerer.find``);
        ``widen``: True searches all news at once, False never does."""
        question = self._check_question(question)
        filters = filters or Filters()
        self.indexes.require_current_model()
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return Found([], None, False, question)
        return self.answers.find(
            cid, question, top_k=top_k, filters=filters, per_article=per_article, widen=widen
        )

    def search(
        self,
        collection: str,
        query: str,
        *,
        top_k: int = 10,
        filters: Filters | None = None,
        per_article: int | None = None,
    ) -> list[Hit]:
        return self.find(
            collection, query, top_k=top_k, filters=filters, per_article=per_article
        ).hits

    def ask(self, collection: str, question: str, *, filters: Filters | None = None) -> Answer:
        """An answer whose every sentence is cited, or "nothing relevant" (``Answerer.ask``)."""
        question = self._check_question(question)
        filters = filters or Filters()
        self.indexes.require_current_model()
        try:
            cid = self._collection(collection)
        except NotFoundError:
            cid = None
        return self.answers.ask(cid, question, filters)

    @staticmethod
    def _check_question(query: str) -> str:
        query = query.strip()
        if not query:
            raise InputError("the question is empty")
        if len(query) > 1000:
            raise InputError("the question is too long (1,000 characters at most)")
        return query

    def is_recent(self, published_at: str | None, as_of: str | None) -> bool | None:
        """Is the article from the last days before the question? None when either is undated."""
        return self.answers.policy.is_recent(published_at, as_of)

    # -- feedback and follow-ups -------------------------------------------------------------
    def record_answer(
        self,
        collection: str,
        answer: Answer,
        filters: Filters | None = None,
        *,
        asked_by: str | None = None,
        channel_id: int | None = None,
    ) -> int:
        """Keep an answer given on Discord (its question, the window it searched, what it
        cited) so votes and follow-ups can find it; returns its id (what its buttons carry)."""
        _, searched, _ = self.understand(answer.question, filters)
        cited = [
            CitedRef(c.article_id, c.title, c.source, c.url, c.published_at)
            for c in answer.citations
        ]
        return self.store.feedback.record(
            self._collection(collection, create=True),
            answer.question,
            citations=cited,
            asked_by=asked_by,
            channel_id=channel_id,
            since=searched.since,
            until=searched.until,
            as_of=searched.as_of,
            keep=self.settings.answers_kept_per_channel,
        )

    def answer_shown(self, answer_id: int, message_id: int) -> None:
        """The message that shows the answer: a reply to it continues the question."""
        self.store.feedback.set_message(answer_id, message_id)

    def answer_record(self, answer_id: int) -> AnswerRecord:
        return self.store.feedback.get(answer_id)

    def answer_in_message(self, message_id: int) -> AnswerRecord | None:
        return self.store.feedback.by_message(message_id)

    def vote(self, collection: str, answer_id: int, voter: str, value: int) -> AnswerRecord:
        """One vote a member an answer (+1 or -1), changeable; only on this collection's."""
        record = self.store.feedback.get(answer_id)
        if record.collection != collection:
            raise NotFoundError(f"no answer {answer_id} here")
        return self.store.feedback.vote(answer_id, voter, value)

    def worst_answers(self, collection: str | None = None, limit: int = 20) -> list[AnswerRecord]:
        """The answers with the most 👎 net of 👍, in one collection or all."""
        if collection is None:
            return self.store.feedback.worst(None, limit)
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return []
        return self.store.feedback.worst(cid, limit)

    def continue_from(
        self, earlier: AnswerRecord, followup: str, filters: Filters | None = None
    ) -> tuple[Continued, Filters]:
        """A follow-up to an earlier answer as it is asked: short or pointing back, it inherits
        the earlier question's subject words and window (``index.search.followup``)."""
        followup = self._check_question(followup)
        filters = filters or Filters()
        asked = date.fromisoformat(filters.as_of) if filters.as_of else date.today()
        continued = continue_question(
            followup, earlier.question, earlier.since, earlier.until, asked
        )
        if continued.since or continued.until:
            filters = Filters(
                source=filters.source,
                since=continued.since,
                until=continued.until,
                as_of=filters.as_of,
            )
        return continued, filters

    # -- watches -----------------------------------------------------------------------------
    def add_watch(
        self, collection: str, topic: str, *, owner: str, channel_id: int | None
    ) -> Watch:
        """A standing question: new articles matching ``topic`` alert ``channel_id`` (None: the
        owner, by DM). Limited a collection and a member (settings); refused when full."""
        topic = " ".join(topic.split())
        if not 3 <= len(topic) <= 200:
            raise InputError("a watch's topic is 3 to 200 characters")
        self.indexes.require_current_model()
        cid = self._collection(collection, create=True)
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
        vector = self.retriever.queries.embed_one(topic)
        with self.store.transaction():
            key = _seen_key(cid)
            if self.store.get_meta(key) is None:  # alerts start with the news added from now
                self.store.set_meta(key, str(self.store.watches.latest_article_id(cid)))
            return self.store.watches.add(cid, topic, vector, owner=owner, channel_id=channel_id)

    def watches(self, collection: str, owner: str | None = None) -> list[Watch]:
        try:
            return self.store.watches.of_collection(self._collection(collection), owner)
        except NotFoundError:
            return []

    def remove_watch(self, collection: str, watch_id: int, *, by: str, admin: bool) -> Watch:
        """A member removes their own watches; an admin any of the server's."""
        cid = self._collection(collection)
        watch = self.store.watches.get(watch_id, cid)
        if watch.owner != by and not admin:
            raise InputError("that watch is another member's; only they or an admin remove it")
        return self.store.watches.remove(cid, watch_id)

    def scan_alerts(self, collection: str, *, limit: int = 200) -> tuple[list[Alert], int]:
        """The alerts of the articles added since the last scan, and how many articles that
        was. Each (watch, article) alerts once, and not for a story the watch was alerted to in
        the last three days by another outlet (near-duplicates are one article already; titles
        sharing most words are one story)."""
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
        for article, texts, vectors in batch:
            for watch, topic in watches:
                if vectors.size == 0 or vectors.shape[1] != topic.shape[0]:
                    continue
                score, best = score_passages(topic, vectors)
                if score < self.settings.alert_bar:
                    continue
                if same_story(
                    article.title, self.store.watches.recent_alerts(watch.id, recent_since)
                ):
                    continue
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

    def watch(self, watch_id: int) -> Watch:
        return self.store.watches.get(watch_id)

    # -- daily digests -----------------------------------------------------------------------
    def set_digest(
        self, collection: str, channel_id: int, hour: int, timezone: str
    ) -> DigestSchedule:
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

    def stop_digest(self, collection: str) -> bool:
        try:
            return self.store.digests.remove(self._collection(collection))
        except NotFoundError:
            return False

    def digest_schedules(self) -> list[DigestSchedule]:
        return self.store.digests.all()

    @staticmethod
    def digest_day(schedule: DigestSchedule, now: datetime) -> str | None:
        """The local day whose digest is due at ``now`` (aware), or None: due from its hour on
        (a restart later that day still sends it), once a day. A digest before noon covers
        the day before (a morning briefing); from noon on, the day itself."""
        local = now.astimezone(ZoneInfo(schedule.timezone))
        if local.hour < schedule.hour or schedule.last_day == local.date().isoformat():
            return None
        return local.date().isoformat()

    @staticmethod
    def digest_covers(schedule: DigestSchedule | None, day: str) -> str:
        """The publication day a digest sent on ``day`` covers."""
        if schedule is not None and schedule.hour < 12:
            return (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        return day

    def digest_sent(self, collection: str, day: str) -> bool:
        """Record that the digest of local ``day`` went out; False when it already had."""
        return self.store.digests.sent(self._collection(collection), day)

    def digest(self, collection: str, day: str, *, top: int = 10) -> Digest:
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

    # -- feeds -------------------------------------------------------------------------------
    def add_feed(
        self,
        collection: str,
        url: str,
        *,
        added_by: str | None = None,
        fetched: FetchResult | None = None,
        interval_minutes: int | None = None,
    ) -> Feed:
        """Follow a feed: it is fetched and parsed once now, so a wrong link fails at once."""
        from . import feeds

        url = web.web_address(url)
        result = fetched or fetch_sync(url, web.policy_for(self.settings))
        title, _ = feeds.parse_feed(result.body, url=result.url, headers=result.headers)
        cid = self._collection(collection, create=True)
        minutes = interval_minutes or self.settings.feed_interval_minutes
        feed = self.store.feeds.add(
            cid, result.url, added_by=added_by, interval_seconds=max(5, minutes) * 60
        )
        self.store.feeds.update(feed.id, title=title)
        return self.store.feeds.get(feed.id)

    def feeds(self, collection: str) -> list[Feed]:
        try:
            return self.store.feeds.of_collection(self._collection(collection))
        except NotFoundError:
            return []

    def remove_feed(self, collection: str, feed_id: int) -> Feed:
        return self.store.feeds.remove(self._collection(collection), feed_id)

    def pause_feed(self, collection: str, feed_id: int, paused: bool = True) -> Feed:
        feed = self.store.feeds.get(feed_id, self._collection(collection))
        self.store.feeds.update(feed.id, paused=int(paused), next_poll_at=0)
        return self.store.feeds.get(feed.id)

    # -- administration ----------------------------------------------------------------------
    def sources(self, collection: str, *, limit: int = 50, offset: int = 0) -> list[Article]:
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return []
        return self.store.articles.page(cid, limit=limit, offset=offset)

    def article(self, collection: str, article_id: int) -> Article:
        return self.store.articles.get(self._collection(collection), article_id)

    def forget(self, collection: str, article_id: int) -> Article:
        """Delete an article and its vectors. The index follows the deletion only when it held
        exactly the state the deletion started from (else it is rebuilt on next use); when it
        cannot be saved, the deletion still stands."""
        cid = self._collection(collection)
        with self.indexes.writing(cid, save=True) as changes:
            article, chunk_ids = self.store.articles.delete(cid, article_id)
            changes.append(Change(removed=chunk_ids))
        return article

    def rebuild(
        self,
        collection: str | None = None,
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, int]:
        """Rebuild FAISS from stored vectors; re-embed only when the model changed."""
        targets = (
            [(self._collection(collection), collection)]
            if collection
            else self.store.collections.all()
        )
        return self.indexes.rebuild(targets, progress)

    def stats(self, collection: str) -> dict[str, object]:
        try:
            cid = self._collection(collection)
        except NotFoundError:
            articles = chunks = 0
            indexed = 0
        else:
            articles, chunks = self.store.collections.counts(cid)
            indexed = self.indexes.index_for(cid).count if not self.model_changed else 0
        db_bytes, wal_bytes = self.store.size_bytes()
        return {
            "collection": collection,
            "articles": articles,
            "chunks": chunks,
            "indexed_vectors": indexed,
            "model": self.embedder.name,
            "dimension": self.embedder.dim,
            "database_bytes": db_bytes + wal_bytes,  # the log holds recent writes until merged
            "wal_bytes": wal_bytes,
            "data_dir": str(self.settings.data_dir),
        }

    def check(self) -> list[str]:
        """Problems found in the store and its indexes; empty when all is consistent.

        The database first (a damaged file is named, with what to do); then each collection's
        index against the stored chunk ids of the same database state. An index file found
        damaged is a problem even though it was rebuilt: the disk changed bytes behind newsbot's
        back. One that cannot be saved is a warning (``warnings()``): answers are still right.
        When the database itself has problems only those are reported: indexes derive from it.
        """
        problems = self.store.integrity_problems()
        if problems or self.model_changed:
            return problems
        for cid, name in self.store.collections.all():
            problems += self.indexes.problems(cid, name)
        return problems

    def warnings(self) -> list[str]:
        """What `check` reports without failing: an index answering from memory, unsaved."""
        return self.indexes.warnings()


def _seen_key(collection_id: int) -> str:
    """Where the alert scan keeps the last article id it looked at, a collection."""
    return f"alerts.seen.{collection_id}"
