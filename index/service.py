"""The one facade the bot, the command line and the benchmarks use.

Synchronous on purpose: callers on an event loop run it in a thread. Embedding happens outside
the write lock, so questions are answered while an ingest runs; the store transaction and the
FAISS update happen together under it, so the two never disagree for a reader.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from .errors import (
    BusyError,
    DiskFullError,
    InputError,
    Interrupted,
    NotFoundError,
    StoreError,
)
from .ingest import web
from .ingest.chunk import chunk_text, embedding_prefix
from .ingest.dedup import Duplicates, Fingerprint, Match, fingerprint
from .ingest.fetch import FetchResult, fetch_sync
from .ingest.sources import Failed, documents_from_bytes, documents_from_path
from .models import Answer, Article, Document, Found, Hit, IngestResult
from .search.compose import compose
from .search.embed import BackgroundLane, Embedder, SentenceTransformerEmbedder
from .search.retrieve import Filters, RetrievalParams, Retriever
from .search.vectors import DAMAGED, VectorIndex, sweep_temp_files
from .search.when import Window, find_window, without_phrase
from .settings import CoreSettings
from .store import Feed, NewArticle, open_store
from .text import content_terms

log = logging.getLogger(__name__)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def days_between(published_at: str | None, as_of: str) -> int | None:
    try:
        return (date.fromisoformat(as_of) - date.fromisoformat((published_at or "")[:10])).days
    except ValueError:
        return None


# The stricter bar for old news, when the question did not ask for its time, is on the
# similarity plus this share of the question's content words the passage (with its title)
# holds. Calibrated on the dev set (README, "Saying nothing relevant"): it tells an old story on
# the question's very subject from one merely near it better than similarity alone.
COVERAGE_WEIGHT = 0.3


def coverage(terms: Sequence[str], hit: Hit) -> float:
    if not terms:
        return 0.0
    held = set(content_terms(f"{hit.title}\n{hit.text}"))
    return sum(1 for t in terms if t in held) / len(terms)


# A question's time window is searched alone unless nothing in it reaches this similarity: then
# the window holds nothing on the subject, and all news is searched (measured on the dev set:
# higher floors gave up the window's gain on questions whose answer is in it but phrased apart).
WINDOW_FLOOR = 0.3

# Chunks gathered across articles before one model call: big enough for full batches (short
# articles alone would give tiny ones), small enough that a kill loses little work.
EMBED_GROUP = 256


@dataclass
class Progress:
    docs_done: int = 0
    chunks_done: int = 0
    docs_total: int | None = None


@dataclass
class IngestReport:
    added: list[IngestResult] = field(default_factory=list)
    updated: list[IngestResult] = field(default_factory=list)
    duplicates: list[IngestResult] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def chunks(self) -> int:
        return sum(r.chunk_count for r in self.added + self.updated)


@dataclass
class _Pending:
    doc: Document
    title: str
    fp: Fingerprint
    chunks: list
    prefixed: list[str]
    replaces: int | None = None  # the stored article this is a newer version of


ProgressFn = Callable[[Progress], None]

_TEXT_FIELDS = ("text", "title", "source", "url", "author", "published_at")


def _without_nul(doc: Document) -> Document:
    """Every document passes here before it is stored: NUL characters (from JSON escapes, a
    file past its sniffed head, a PDF) carry no news, break C tools and hide text, so they go."""
    changed = {
        name: value.replace("\x00", "")
        for name in _TEXT_FIELDS
        if isinstance(value := getattr(doc, name), str) and "\x00" in value
    }
    return replace(doc, **changed) if changed else doc


def _kept(report: IngestReport) -> str:
    """What an ingest stopped part-way had stored, for its error message."""
    done = [r.article_id for r in report.added]
    parts = []
    if done:
        which = " ".join(f"#{i}" for i in done) if len(done) <= 3 else f"#{done[0]} … #{done[-1]}"
        parts.append(f"{len(done)} article{'s' if len(done) != 1 else ''} added ({which})")
    if report.updated:
        parts.append(f"{len(report.updated)} updated")
    if not parts:
        return "nothing was stored"
    return (
        " and ".join(parts) + " before it are stored, the rest are not: run the same ingest"
        " again to add them (what is stored is skipped)"
    )


class NewsService:
    def __init__(
        self,
        settings: CoreSettings,
        embedder: Embedder | None = None,
        params: RetrievalParams | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or SentenceTransformerEmbedder(
            Path(settings.model_path) if settings.model_path else None,
            batch_size=settings.embed_batch_size,
            threads=settings.torch_threads,
        )
        self.store = open_store(settings.data_dir)
        self.duplicates = Duplicates(self.store.articles)
        self.bulk = BackgroundLane(settings.ingest_nice)
        self._indexes: dict[int, VectorIndex] = {}
        # What `check` reports about each collection's derived index: damage found on load
        # (since repaired), and why the last save failed (answers then come from memory).
        self._index_damage: dict[int, str] = {}
        self._index_unsaved: dict[int, str] = {}
        self._rebuild_lock = threading.Lock()
        params = params or RetrievalParams(recency_days=float(settings.recent_days))
        self.retriever = Retriever(
            self.store, self.embedder, self._index, params, query_threads=settings.query_threads
        )
        stored_model = self.store.get_meta("embedding_model")
        if stored_model is None:
            self.store.set_meta("embedding_model", self.embedder.name)
            self.store.set_meta("embedding_dim", str(self.embedder.dim))
            stored_model = self.embedder.name
        self.stored_model = stored_model

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for: the model (seconds) and the
        date parser's English data (~0.2 s)."""
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
    def model_changed(self) -> bool:
        """True when stored vectors come from another model than the one configured."""
        return self.stored_model != self.embedder.name

    def _collection(self, name: str, *, create: bool = False) -> int:
        name = name.strip()
        if not name or len(name) > 100:
            raise InputError("a collection name is 1 to 100 characters")
        cid = self.store.collections.id_of(name, create=create)
        if cid is None:
            raise NotFoundError(f"there is no collection named {name!r} yet")
        return cid

    def _index_path(self, collection_id: int) -> Path:
        return self.settings.data_dir / "faiss" / f"collection-{collection_id}.faiss"

    def _require_current_model(self) -> None:
        if self.model_changed:
            raise StoreError(
                f"stored vectors were made with {self.stored_model}, not {self.embedder.name}:"
                " run `newsbot rebuild` to re-embed them"
            )

    def _index(self, collection_id: int) -> VectorIndex:
        """The collection's FAISS index, loaded or rebuilt when it does not match SQLite.

        A file that is stale (another process wrote since) or damaged (its checksum does not
        match) is rebuilt from the stored vectors; a rebuilt index that cannot be saved (a full
        disk) still answers, from memory.
        """
        self._require_current_model()
        with self.store.write_lock:
            version = self.store.collections.version(collection_id)
            index = self._indexes.get(collection_id)
            if index is not None and index.version == version:
                return index
            path = self._index_path(collection_id)
            index, why = VectorIndex.open(
                path, dim=self.embedder.dim, model=self.embedder.name, version=version
            )
            if index is None:
                if why.startswith(DAMAGED):
                    self._index_damage[collection_id] = (
                        f"the index file {path.name} was {why}; rebuilt from the stored vectors"
                    )
                    log.warning("%s", self._index_damage[collection_id])
                index = self._build_index(collection_id)
                self._try_save(collection_id, index)
            self._indexes[collection_id] = index
            return index

    def _build_index(
        self, collection_id: int, progress: Callable[[int, int], None] | None = None
    ) -> VectorIndex:
        """Stream stored vectors into a new index; its kind (exact or IVF) follows the size.

        Everything is read from one snapshot of the database, so the index holds exactly the
        collection version it is labelled with, whatever other processes write meanwhile.
        """
        with self.store.snapshot():
            version = self.store.collections.version(collection_id)
            total = self.store.chunks.count(collection_id)

            def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
                done = 0
                for ids, vectors in self.store.chunks.iter_vectors(collection_id):
                    if vectors.shape[1] != self.embedder.dim:
                        raise StoreError(
                            "stored vectors have another dimension; run `newsbot rebuild`"
                        )
                    yield ids, vectors
                    done += len(ids)
                    if progress:
                        progress(done, total)

            index = VectorIndex.build(
                batches(), dim=self.embedder.dim, model=self.embedder.name, total=total
            )
        index.version = version
        return index

    def _try_save(self, collection_id: int, index: VectorIndex) -> bool:
        """Save the derived index, or keep answering from memory when that fails (a full disk):
        SQLite holds the truth and the next start rebuilds the index from it."""
        try:
            index.save(self._index_path(collection_id), index.version)
        except (OSError, RuntimeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            said = self._index_unsaved.get(collection_id)
            self._index_unsaved[collection_id] = (
                f"the index could not be saved ({reason}): questions are answered from memory"
                " and the index is rebuilt from the stored vectors on each start"
            )
            if said != self._index_unsaved[collection_id]:
                log.warning("%s", self._index_unsaved[collection_id])
            return False
        self._index_unsaved.pop(collection_id, None)
        return True

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
        started = time.perf_counter()
        self._require_current_model()
        cid = self._collection(collection, create=True)
        report = IngestReport()
        state = Progress(docs_total=docs_total)
        group: list[_Pending] = []
        group_chunks = 0
        # One group is embedded (on the bulk lane) while the next is read and chunked here; it is
        # stored before the next one is sent, so articles still land in order, group by group.
        inflight: tuple[list[_Pending], Future[np.ndarray]] | None = None

        def send(batch: list[_Pending]) -> None:
            nonlocal inflight
            if inflight is not None:
                self._flush(
                    cid, inflight[0], inflight[1].result(), report, state, added_by, feed_id
                )
                if progress:
                    progress(state)
            inflight = None
            if batch:
                texts = [t for p in batch for t in p.prefixed]
                inflight = (batch, self.bulk.submit(self.embedder, texts))

        try:
            for item in documents:
                pending = None
                if isinstance(item, Failed):
                    report.failed.append(item)
                else:
                    try:
                        pending = self._prepare(item)
                    except InputError as exc:
                        report.failed.append(Failed(item.origin, str(exc)))
                if pending is not None:
                    waiting = group + (inflight[0] if inflight else [])
                    verdict = self.duplicates.check(
                        cid,
                        pending.fp,
                        [(p.fp, p.title) for p in waiting],
                        fetched_url=pending.doc.fetched_url,
                        feed_id=feed_id,
                    )
                    pending.replaces = verdict.replaces
                    match = verdict.match
                    if match is None:
                        group.append(pending)
                        group_chunks += len(pending.chunks)
                    else:
                        self._record_duplicate(cid, pending, match, report)
                        pending = None
                if pending is None:
                    state.docs_done += 1
                if group_chunks >= EMBED_GROUP:
                    send(group)
                    group, group_chunks = [], 0
                if progress:
                    progress(state)
            send(group)
            send([])
        except KeyboardInterrupt:
            raise Interrupted(_kept(report)) from None
        except DiskFullError as exc:  # the groups stored before it stay stored: say which
            raise DiskFullError(exc.where, _kept(report)) from exc
        except StoreError as exc:
            if report.added or report.updated:
                raise StoreError(f"{exc}; {_kept(report)}") from exc
            raise
        finally:
            if inflight is not None:  # stopped part-way: nothing half-stored, the rest dropped
                inflight[1].cancel()
        if report.added or report.updated:
            self._save_index(cid)
        report.seconds = time.perf_counter() - started
        return report

    def _record_duplicate(
        self, cid: int, pending: _Pending, match: Match, report: IngestReport
    ) -> None:
        doc = pending.doc
        notes: tuple[str, ...] = ()
        if match.by == "url":
            notes = (
                "different text under the same address; not replaced: only the site or "
                "feed it came from can update it",
            )
        if match.by == "near":
            notes = (f"the same story as “{match.title}” ({match.similarity:.0%} alike)",)
            if match.article_id > 0 and (doc.source or doc.url):
                self.store.articles.add_source(
                    match.article_id,
                    source=doc.source,
                    url=doc.url,
                    title=pending.title,
                    published_at=doc.published_at,
                )
        report.duplicates.append(
            IngestResult(
                doc.origin, match.article_id, match.title, doc.published_at, 0, True, notes
            )
        )

    def _prepare(self, doc: Document) -> _Pending:
        doc = _without_nul(doc)
        text = doc.text.strip("\n")
        if not text.strip():
            raise InputError(f"{doc.origin or 'the input'} has no text")
        if len(text) > self.settings.max_article_chars:
            raise InputError(
                f"{doc.origin or 'the article'} is too long ({len(text):,} characters;"
                f" the limit is {self.settings.max_article_chars:,})"
            )
        if text != doc.text:
            doc = Document(**{**doc.__dict__, "text": text})
        title = (doc.title or doc.origin or "Untitled").strip()[:300]
        prefix = embedding_prefix(title, doc.source, doc.published_at)
        prefix_tokens = self.embedder.count_tokens([prefix])[0] if prefix else 0
        budget = min(self.settings.chunk_tokens, self.embedder.max_tokens - 3 - prefix_tokens)
        if budget < 32:  # an absurd title must not starve the text of room
            prefix = prefix[:120]
            budget = min(self.settings.chunk_tokens, self.embedder.max_tokens - 3 - 48)
        chunks = chunk_text(
            text,
            self.embedder.count_tokens,
            budget=budget,
            overlap=self.settings.chunk_overlap_tokens,
        )
        if not chunks:
            raise InputError(f"{doc.origin or 'the input'} has no sentences to index")
        prefixed = [f"{prefix}\n{c.text}" if prefix else c.text for c in chunks]
        return _Pending(doc, title, fingerprint(text, doc.url), chunks, prefixed)

    def _flush(
        self,
        cid: int,
        group: list[_Pending],
        vectors: np.ndarray,
        report: IngestReport,
        state: Progress,
        added_by: str | None,
        feed_id: int | None = None,
    ) -> None:
        new: list[NewArticle] = []
        offset = 0
        for p in group:
            n = len(p.chunks)
            new.append(
                NewArticle(
                    title=p.title,
                    source=p.doc.source,
                    published_at=p.doc.published_at,
                    url=p.doc.url,
                    author=p.doc.author,
                    text=p.doc.text,
                    content_hash=p.fp.text_hash,
                    chunks=p.chunks,
                    vectors=vectors[offset : offset + n],
                    canonical_url=p.fp.url,
                    added_by=added_by,
                    minhash=p.fp.minhash,
                    bands=p.fp.bands,
                    fetched_url=p.doc.fetched_url,
                    feed_id=feed_id,
                )
            )
            offset += n
        # The duplicate checks, the writes and the collection version they start from are one
        # IMMEDIATE transaction: no other process can store the same article in between. The
        # FAISS index follows only when it held exactly the state the writes started from;
        # otherwise (another process wrote meanwhile) it is rebuilt from SQLite on next use.
        with self.store.write_lock:
            index = self._index(cid)  # outside the transaction: a rebuild reads for a while
            done = IngestReport()
            changes: list[tuple[list[int], list[int], np.ndarray]] = []  # (removed, added, vectors)
            with self.store.transaction():
                start = self.store.collections.version(cid)
                keep: list[tuple[_Pending, NewArticle]] = []
                updates: list[tuple[_Pending, NewArticle]] = []
                for p, art in zip(group, new, strict=True):
                    # Another writer may have stored the same article while we were embedding.
                    verdict = self.duplicates.recheck(cid, p.fp, p.replaces)
                    if verdict.replaces is not None:
                        updates.append((p, art))
                    elif verdict.match is not None:
                        self._record_duplicate(cid, p, verdict.match, done)
                    else:
                        keep.append((p, art))
                stored = self.store.articles.add(cid, [a for _, a in keep]) if keep else []
                for (p, art), (article_id, chunk_ids) in zip(keep, stored, strict=True):
                    changes.append(([], chunk_ids, art.vectors))
                    done.added.append(
                        IngestResult(
                            p.doc.origin,
                            article_id,
                            art.title,
                            art.published_at,
                            len(chunk_ids),
                            notes=p.doc.notes,
                        )
                    )
                for p, art in updates:
                    new_ids, old_ids, version = self.store.articles.replace(cid, p.replaces, art)
                    changes.append((old_ids, new_ids, art.vectors))
                    done.updated.append(
                        IngestResult(
                            p.doc.origin,
                            p.replaces,
                            art.title,
                            art.published_at,
                            len(new_ids),
                            notes=(*p.doc.notes, f"updated: version {version}"),
                        )
                    )
                end = self.store.collections.version(cid)
            if index.version == start:
                for removed, added, vecs in changes:
                    index.remove(removed)
                    index.add(np.asarray(added, dtype=np.int64), vecs)
                index.version = end
            elif changes:
                self._indexes.pop(cid, None)
        report.added += done.added
        report.updated += done.updated
        report.duplicates += done.duplicates
        state.docs_done += len(group)
        state.chunks_done += len(vectors)

    def _save_index(self, cid: int) -> None:
        """Save after an ingest. It never fails the ingest, whose articles are committed: an
        index that is not saved is rebuilt from them on the next start. An index another
        process has moved past is left for the next use to load or rebuild."""
        with self.store.write_lock:
            index = self._indexes.get(cid)
            if index is not None and index.version == self.store.collections.version(cid):
                self._try_save(cid, index)

    def ingest_paths(self, collection: str, paths: Iterable[str | Path], **kw) -> IngestReport:
        return self.ingest(collection, self.documents(paths), **kw)

    # -- questions ---------------------------------------------------------------------------
    def understand(
        self, question: str, filters: Filters | None = None
    ) -> tuple[str, Filters, Window | None]:
        """The words to search for, the filters to search with, and the time the question
        names ("in 2023", "last week"), read relative to the day it is asked (``as_of``; today
        when the question is asked undated). The date words leave the query: the window does
        their work, both sides, before ranking."""
        filters = filters or Filters()
        asked = date.fromisoformat(filters.as_of) if filters.as_of else date.today()
        window = find_window(question, asked)
        if window is None:
            return question, filters, None
        since = max(filter(None, (filters.since, _iso(window.since))), default=None)
        until = min(filter(None, (filters.until, _iso(window.until))), default=None)
        return without_phrase(question, window), replace(filters, since=since, until=until), window

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
        """The passages for a question, searched in the time it names. When nothing there
        even resembles the question (the news of that time is not stored, or the date was the
        story's subject rather than when it ran: "the fires in August"), all news is searched
        instead and the result says so. ``widen``: True searches all news at once, False
        never does."""
        question = self._check_question(question)
        filters = filters or Filters()
        self._require_current_model()
        try:
            cid = self._collection(collection)
        except NotFoundError:
            return Found([], None, False, question)
        words, searched, window = self.understand(question, filters)
        if window is not None and widen is not True:
            hits = self.retriever.search(
                cid, words, top_k=top_k, filters=searched, per_article=per_article
            )
            if widen is False or any(h.similarity >= WINDOW_FLOOR for h in hits):
                return Found(hits, window, False, words)
        hits = self.retriever.search(
            cid, words, top_k=top_k, filters=filters, per_article=per_article
        )
        return Found(hits, window, window is not None, words)

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

    @staticmethod
    def _check_question(query: str) -> str:
        query = query.strip()
        if not query:
            raise InputError("the question is empty")
        if len(query) > 1000:
            raise InputError("the question is too long (1,000 characters at most)")
        return query

    def ask(self, collection: str, question: str, *, filters: Filters | None = None) -> Answer:
        """An answer whose every sentence is cited, or "nothing relevant". Asked with ``as_of``
        (the day it is asked), old evidence must match better than the last days' news, and an
        answer from it says how old it is. A question naming a time is answered from that
        time's news. When nothing there answers it and the time is not the last weeks (a
        month or year ago, where the date may be the story's subject rather than when it ran),
        from all news, with a lead saying nothing in that time matched; a question about the
        last weeks with no news from them is told so."""
        question = self._check_question(question)
        filters = filters or Filters()
        # Several passages of one article may each hold part of the answer: a looser cap than
        # search's, which spreads its ten results over ten stories.
        found = self.find(
            collection, question, top_k=6, filters=filters, per_article=3, widen=False
        )
        answer = self._compose(question, found, filters.as_of)
        window = found.window
        if not answer.found and window is not None and not self._about_now(window, filters):
            wider = self.find(
                collection, question, top_k=6, filters=filters, per_article=3, widen=True
            )
            fallback = self._compose(question, wider, filters.as_of)
            answer = fallback if fallback.found else replace(answer, outside_window=True)
        for i, c in enumerate(answer.citations):  # the same story, also run by other outlets
            others = [src for src, _ in self.store.articles.other_sources(c.article_id) if src]
            if others:
                also = ", ".join(dict.fromkeys(o for o in others if o != c.source))
                if also:
                    answer.citations[i] = replace(c, source=f"{c.source or '?'} (also {also})")
        return answer

    def _about_now(self, window: Window, filters: Filters) -> bool:
        """Does the window reach into the last days before the question ("this week",
        "yesterday", "this month")? Old news is no answer to it."""
        asked = date.fromisoformat(filters.as_of) if filters.as_of else date.today()
        return window.until is None or (asked - window.until).days <= self.settings.recent_days

    def _compose(self, question: str, found: Found, as_of: str | None) -> Answer:
        asked_for = None if found.outside_window else found.window
        texts = {h.article_id: self.store.articles.text(h.article_id) for h in found.hits}
        terms = content_terms(found.words)
        bars = [self._bar(h, as_of, asked_for, terms) for h in found.hits]
        answer = compose(found.words, found.hits, texts, min_score=bars)
        answer = replace(
            answer, question=question, window=found.window, outside_window=found.outside_window
        )
        return self._dated(answer, as_of, asked_for)

    def is_recent(self, published_at: str | None, as_of: str | None) -> bool | None:
        """Is the article from the last days before the question? None when either is undated."""
        age = days_between(published_at, as_of) if as_of else None
        if age is None:
            return None
        return 0 <= age <= self.settings.recent_days

    def _bar(
        self,
        hit: Hit,
        as_of: str | None,
        window: Window | None = None,
        terms: Sequence[str] = (),
    ) -> float:
        """The similarity a passage needs to be cited: a question is about the news of its
        days, so an older passage must match it better than one from the days before —
        unless the question asked for that time ("in 2023"). The stricter bar counts the
        question's words the passage holds as well (``COVERAGE_WEIGHT``): an old story about
        the same subject is "clear" when it also names what the question names."""
        s = self.settings
        recent = self.is_recent(hit.published_at, as_of)
        if recent is None:  # an undated question, or an undated article
            return s.min_answer_score
        if recent:
            return s.min_answer_score_recent
        if window is not None:
            return s.min_answer_score
        return s.min_answer_score_stale - COVERAGE_WEIGHT * coverage(terms, hit)

    def _dated(self, answer: Answer, as_of: str | None, window: Window | None) -> Answer:
        """Mark what is old: each sentence from before the last days shows its date, and an
        answer resting only on old news, when the question did not ask for that time, says so
        first ("The latest I have on this is from …"). ``window``: the time asked for, if the
        evidence comes from it."""
        sentences = [
            replace(s, dated=bool(s.published_at) and not self.is_recent(s.published_at, as_of))
            for s in answer.sentences
        ]
        dates = [c.published_at for c in answer.citations if c.published_at]
        newest = max(dates, default=None)
        stale = (
            answer.found
            and as_of is not None
            and window is None
            and newest is not None
            and not any(self.is_recent(d, as_of) for d in dates)
        )
        return replace(answer, sentences=sentences, as_of=as_of, stale=stale, evidence_date=newest)

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
        with self.store.write_lock:
            index = self._index(cid)
            with self.store.transaction():
                start = self.store.collections.version(cid)
                article, chunk_ids = self.store.articles.delete(cid, article_id)
                end = self.store.collections.version(cid)
            if index.version == start:
                index.remove(chunk_ids)
                index.version = end
                self._try_save(cid, index)
            else:
                self._indexes.pop(cid, None)
        return article

    def rebuild(
        self,
        collection: str | None = None,
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, int]:
        """Rebuild FAISS from stored vectors; re-embed only when the model changed."""
        if not self._rebuild_lock.acquire(blocking=False):
            raise BusyError("a rebuild is already running; try again when it has finished")
        try:
            if self.model_changed:
                self._reembed(progress)
            targets = (
                [(self._collection(collection), collection)]
                if collection
                else self.store.collections.all()
            )
            counts = {}
            for cid, name in targets:

                def step(done: int, total: int, name: str = name) -> None:
                    if progress:
                        progress(f"index {name}", done, total)

                fresh = self._build_index(cid, step)  # while this process still answers
                with self.store.write_lock:
                    if fresh.version != self.store.collections.version(cid):
                        fresh = self._build_index(cid)  # written meanwhile: again, writers held
                    self._try_save(cid, fresh)
                    self._indexes[cid] = fresh
                    self._index_damage.pop(cid, None)
                counts[name] = fresh.count
            return counts
        finally:
            self._rebuild_lock.release()

    def _reembed(self, progress: Callable[[str, int, int], None] | None) -> None:
        """New model: every stored chunk is embedded again, its text read back from SQLite."""
        for cid, name in self.store.collections.all():
            total = self.store.chunks.count(cid)
            done = 0
            for rows in self.store.chunks.iter_texts(cid):
                texts = []
                for row in rows:
                    prefix = embedding_prefix(row.title, row.source, row.published_at)
                    texts.append(f"{prefix}\n{row.text}" if prefix else row.text)
                vectors = self.bulk.embed(self.embedder, texts)
                self.store.chunks.replace_vectors([r.id for r in rows], vectors)
                done += len(rows)
                if progress:
                    progress(f"re-embed {name}", done, total)
            self.store.collections.bump(cid)
        self.store.set_meta("embedding_model", self.embedder.name)
        self.store.set_meta("embedding_dim", str(self.embedder.dim))
        self.stored_model = self.embedder.name
        self._indexes.clear()

    def stats(self, collection: str) -> dict[str, object]:
        try:
            cid = self._collection(collection)
        except NotFoundError:
            articles = chunks = 0
            indexed = 0
        else:
            articles, chunks = self.store.collections.counts(cid)
            indexed = self._index(cid).count if not self.model_changed else 0
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
            for path in sweep_temp_files(self._index_path(cid)):
                log.info("removed %s, left by a process that stopped while saving", path.name)
            try:
                for _ in range(5):  # other processes may write between the two reads
                    index = self._index(cid)
                    with self.store.snapshot():
                        version = self.store.collections.version(cid)
                        stored = self.store.chunks.ids(cid)
                    if index.version == version:
                        break
                else:  # busy: every look found a newer state; nothing to compare with
                    log.info("collection %s changed on every look; index not compared", name)
                    continue
            except (sqlite3.DatabaseError, StoreError) as exc:
                problems.append(f"collection {name}: {exc}")
                continue
            if damage := self._index_damage.get(cid):
                problems.append(f"collection {name}: {damage}")
            held = index.ids()
            if len(held) != len(stored) or not np.array_equal(np.sort(held), np.sort(stored)):
                problems.append(
                    f"collection {name}: index holds {index.count} vectors for {len(stored)}"
                    " stored chunks"
                )
        return problems

    def warnings(self) -> list[str]:
        """What `check` reports without failing: an index answering from memory, unsaved."""
        names = dict(self.store.collections.all())
        return [f"collection {names.get(c, c)}: {w}" for c, w in self._index_unsaved.items()]
