"""The one facade the bot, the command line and the benchmarks use: collection names, input
checks, and delegation to the stages that do the work.

Synchronous on purpose: callers on an event loop run it in a thread. Documents become articles in
the ingest pipeline (``index.ingest.pipeline``); each collection's vector index lives in the
registry (``index.search.registry``); questions go through ``when`` (the time they name), the
retriever and ``compose``, with the bars of ``index.search.answer``. What members do with answers
beyond reading them is behind the small facades of ``index.features``, attributes of the
service: ``feedback`` (answers kept, votes, follow-ups), ``watches`` (standing questions and
their alerts) and ``digests`` (daily digests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path

from .errors import InputError, NotFoundError
from .features.digests import Digests
from .features.feedback import Feedback
from .features.watches import Watches
from .ingest import web
from .ingest.fetch import FetchResult, fetch_sync
from .ingest.pipeline import IngestPipeline, IngestReport, Progress, ProgressFn
from .ingest.sources import Failed, documents_from_bytes, documents_from_path
from .models import Answer, Article, Document, Found, Hit
from .search.answer import (
    Answerer,
    AnswerPolicy,
    check_question,
    days_between,
    understand,
)
from .search.embed import BackgroundLane, Embedder, make_embedder, model_cache_dir
from .search.registry import Change, IndexRegistry
from .search.retrieve import Filters, RetrievalParams, Retriever
from .search.timeline import Timeline
from .search.vectors import VectorIndex
from .search.when import Window, find_window
from .settings import CoreSettings
from .store import Feed, open_store

# Names callers import from here (the bot, the command line, the benchmarks, tests).
__all__ = [
    "IngestReport",
    "NewsService",
    "Progress",
    "ProgressFn",
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
        embedder = embedder or make_embedder(
            settings.embed_backend,
            cache_dir=model_cache_dir(settings.model_cache, settings.data_dir),
            path=Path(settings.model_path) if settings.model_path else None,
            batch_size=settings.embed_batch_size,
            threads=settings.torch_threads,
        )
        self.store = open_store(settings.data_dir, settings.database_url)
        self.bulk = BackgroundLane(settings.ingest_nice)
        self.indexes = IndexRegistry(self.store, embedder, settings.data_dir)
        self.pipeline = IngestPipeline(self.store, embedder, self.indexes, self.bulk, settings)
        params = params or RetrievalParams(recency_days=float(settings.recent_days))
        self.retriever = Retriever(
            self.store, embedder, self.indexes, params, query_threads=settings.query_threads
        )
        self.answers = Answerer(self.store, self.retriever, AnswerPolicy(settings))
        # What members do with answers beyond reading them (``index.features``).
        self.feedback = Feedback(
            self.store.feedback, self._collection, keep=settings.answers_kept_per_channel
        )
        self.watches = Watches(self.store, self._collection, self.indexes, self.retriever, settings)
        self.digests = Digests(self.store, self._collection, settings)
        self._embedder = embedder
        # Whether ``warm_up`` loaded the model: None until it has run (a health check says
        # "loading"), False when it failed.
        self.model_loaded: bool | None = None

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
        try:
            self.retriever.queries.embed_one("warm up")
            find_window("in May 2020", date.today())
        except BaseException:
            self.model_loaded = False
            raise
        self.model_loaded = True

    def close(self) -> None:
        self.bulk.close()
        self.retriever.close()
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
        question = check_question(question)
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
        question = check_question(question)
        filters = filters or Filters()
        self.indexes.require_current_model()
        try:
            cid = self._collection(collection)
        except NotFoundError:
            cid = None
        return self.answers.ask(cid, question, filters)

    def timeline(self, collection: str, topic: str, *, filters: Filters | None = None) -> Timeline:
        """One story's developments, newest first (``Answerer.timeline``)."""
        topic = check_question(topic)
        self.indexes.require_current_model()
        try:
            cid = self._collection(collection)
        except NotFoundError:
            cid = None
        return self.answers.timeline(cid, topic, filters or Filters())

    def is_recent(self, published_at: str | None, as_of: str | None) -> bool | None:
        """Is the article from the last days before the question? None when either is undated."""
        return self.answers.policy.is_recent(published_at, as_of)

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
        """Pause or resume a feed; resumed, it starts over (polled now, its failures and the
        notice told of them forgotten: new trouble is told again)."""
        feed = self.store.feeds.get(feed_id, self._collection(collection))
        fields: dict[str, object] = {"paused": paused, "next_poll_at": 0}
        if not paused:
            fields.update(failures=0, notice=None)
        self.store.feeds.update(feed.id, **fields)
        return self.store.feeds.get(feed.id)

    def set_feed_notices(
        self, collection: str, channel_id: int | None, *, set_by: str | None = None
    ) -> None:
        """Where feed trouble of this collection is told (a Discord channel; None: nowhere)."""
        cid = self._collection(collection, create=channel_id is not None)
        self.store.feeds.set_notice_channel(cid, channel_id, set_by=set_by)

    def feed_notice_channel(self, collection: str) -> int | None:
        try:
            return self.store.feeds.notice_channel(self._collection(collection))
        except NotFoundError:
            return None

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
        counts = self.indexes.rebuild(targets, progress, self.pipeline.reembed)
        if collection is None:  # vectors a concurrent sweep had to leave (``store/vectors.py``)
            self.store.vectors.sweep_orphans()
        return counts

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
            **self._runtime(),
            "vectors_in_store": self.store.vectors.count(),  # every collection's, each once
            "database_bytes": db_bytes + wal_bytes,  # the log holds recent writes until merged
            "wal_bytes": wal_bytes,
            "data_dir": str(self.settings.data_dir),
        }

    def _runtime(self) -> dict[str, object]:
        """The model's runtime, and when it was chosen by measurement, what was measured."""
        describe = getattr(self.embedder, "describe", None)
        if describe is not None:
            return describe()
        return {"runtime": getattr(self.embedder, "runtime", type(self.embedder).__name__)}

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
