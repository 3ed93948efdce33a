"""Documents → stored articles: prepare, match duplicates, embed in groups, flush.

Each document is cleaned, chunked and fingerprinted here; ``dedup`` decides whether it repeats
or updates a stored article. Chunks are embedded in groups across articles on the bulk lane (one
group is embedded while the next is read and chunked), each text once: a chunk whose embedded
text the store already holds a vector for (another collection following the same feed, an
unchanged passage of an updated article) takes that vector and the model does not run. A group
is stored in one
write transaction that checks duplicates again (another process may have stored the same article
meanwhile), so every article is stored whole, once, or not at all; the vector index follows the
write only from the state the write started from (``IndexRegistry.follow``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import DiskFullError, InputError, Interrupted, StoreError
from ..models import ChunkSpan, Document, IngestResult
from ..search.embed import BackgroundLane, Embedder
from ..search.registry import Change, IndexRegistry
from ..settings import CoreSettings
from ..store import ChunkText, NewArticle, Store
from .chunk import chunk_text, embedded_text, fit_prefix, vector_digest
from .dedup import Duplicates, Fingerprint, Match, fingerprint
from .reembed import StepFn, embedded_texts, key_stored_vectors, reembed
from .sources import Failed

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
    embedded: int = 0  # chunks the model ran on (the others' vectors were stored already)

    @property
    def chunks(self) -> int:
        return sum(r.chunk_count for r in self.added + self.updated)


ProgressFn = Callable[[Progress], None]


@dataclass
class _Pending:
    """A prepared document waiting to be embedded and stored."""

    doc: Document
    title: str
    fp: Fingerprint
    chunks: list[ChunkSpan]
    embedded: list[str]  # what the model reads for each chunk
    digests: list[bytes]  # the key each chunk's vector is stored and found under
    replaces: int | None = None  # the stored article this is a newer version of


_TEXT_FIELDS = ("text", "title", "source", "url", "author", "published_at")


def without_nul(doc: Document) -> Document:
    """Every document passes here before it is stored: NUL characters (from JSON escapes, a
    file past its sniffed head, a PDF) carry no news, break C tools and hide text, so they go."""
    changed = {
        name: value.replace("\x00", "")
        for name in _TEXT_FIELDS
        if isinstance(value := getattr(doc, name), str) and "\x00" in value
    }
    return replace(doc, **changed) if changed else doc


def kept(report: IngestReport) -> str:
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


@dataclass
class _Run:
    """One ingest's state: what is reported, the group being gathered, the group in flight."""

    collection_id: int
    added_by: str | None
    feed_id: int | None
    progress: ProgressFn | None
    report: IngestReport = field(default_factory=IngestReport)
    state: Progress = field(default_factory=Progress)
    group: list[_Pending] = field(default_factory=list)
    group_chunks: int = 0
    # One group is embedded (on the bulk lane) while the next is read and chunked; when that one
    # is sent, the one before is stored, so articles still land in order, group by group.
    inflight: tuple[list[_Pending], _Vectors] | None = None

    def waiting(self) -> list[_Pending]:
        return self.group + (self.inflight[0] if self.inflight else [])

    def tell(self) -> None:
        if self.progress:
            self.progress(self.state)


@dataclass
class _Vectors:
    """A group's vectors: those the store holds already, and the rest being embedded."""

    digests: list[bytes]
    known: dict[bytes, np.ndarray]
    missing: list[bytes]  # each text the model runs on, once
    future: Future[np.ndarray] | None

    def result(self) -> np.ndarray:
        found = dict(self.known)
        if self.future is not None:
            found.update(zip(self.missing, self.future.result(), strict=True))
        if not self.digests:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([found[d] for d in self.digests]).astype(np.float32, copy=False)

    def cancel(self) -> None:
        if self.future is not None:
            self.future.cancel()


class IngestPipeline:
    """Chunk, embed and store documents into a collection; see the module docstring."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        registry: IndexRegistry,
        bulk: BackgroundLane,
        settings: CoreSettings,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.registry = registry
        self.bulk = bulk
        self.settings = settings
        self.duplicates = Duplicates(store.articles)
        self._keyed = False  # stored vectors from before digests were keyed (once a process)

    def reembed(self, progress: StepFn | None = None) -> None:
        """Every stored chunk embedded again by this model (``reembed.py``)."""
        reembed(self.store, self.embedder, self.bulk, self.settings.chunk_tokens, progress)

    def embedded_texts(self, rows: Sequence[ChunkText]) -> list[str]:
        """The embedded text of stored chunks, made as this pipeline made it."""
        return embedded_texts(rows, self.embedder, self.settings.chunk_tokens)

    def run(
        self,
        collection_id: int,
        documents: Iterable[Document | Failed],
        *,
        added_by: str | None = None,
        feed_id: int | None = None,
        progress: ProgressFn | None = None,
        docs_total: int | None = None,
    ) -> IngestReport:
        """Each article is stored whole or not at all; a stop part-way (Ctrl-C, a full disk)
        says what was stored before it."""
        started = time.perf_counter()
        self._key_stored_vectors()
        run = _Run(
            collection_id, added_by, feed_id, progress, state=Progress(docs_total=docs_total)
        )
        report = run.report
        try:
            for item in documents:
                self._take(run, item)
                if run.group_chunks >= EMBED_GROUP:
                    self._send(run)
                run.tell()
            self._send(run)  # the last group …
            self._send(run)  # … stored once it is embedded
        except KeyboardInterrupt:
            raise Interrupted(kept(report)) from None
        except DiskFullError as exc:  # the groups stored before it stay stored: say which
            raise DiskFullError(exc.where, kept(report)) from exc
        except StoreError as exc:
            if report.added or report.updated:
                raise StoreError(f"{exc}; {kept(report)}") from exc
            raise
        finally:
            if run.inflight is not None:  # stopped part-way: nothing half-stored, the rest dropped
                run.inflight[1].cancel()
        if report.added or report.updated:
            self.registry.save_current(collection_id)
        report.seconds = time.perf_counter() - started
        return report

    def _take(self, run: _Run, item: Document | Failed) -> None:
        """Prepare one document and add it to the group, unless it failed or repeats one."""
        if isinstance(item, Failed):
            run.report.failed.append(item)
            run.state.docs_done += 1
            return
        try:
            pending = self.prepare(item)
        except InputError as exc:
            run.report.failed.append(Failed(item.origin, str(exc)))
            run.state.docs_done += 1
            return
        verdict = self.duplicates.check(
            run.collection_id,
            pending.fp,
            [(p.fp, p.title) for p in run.waiting()],
            fetched_url=pending.doc.fetched_url,
            feed_id=run.feed_id,
        )
        if verdict.match is not None:
            self._record_duplicate(pending, verdict.match, run.report)
            run.state.docs_done += 1
            return
        pending.replaces = verdict.replaces
        run.group.append(pending)
        run.group_chunks += len(pending.chunks)

    def _send(self, run: _Run) -> None:
        """Send the gathered group to the bulk lane, then store the group in flight before it:
        queued behind that one, the model never waits for a store to finish."""
        previous, run.inflight = run.inflight, None
        if run.group:
            run.inflight = (run.group, self._vectors(run.group, run.report))
        run.group, run.group_chunks = [], 0
        if previous is not None:  # a failure here drops the later group too (``run``'s finally)
            batch, vectors = previous
            self._flush(run, batch, vectors.result())
            run.tell()

    def _vectors(self, group: list[_Pending], report: IngestReport) -> _Vectors:
        """The group's vectors: each text the store holds a vector for is not embedded again,
        and a text repeated in the group is embedded once; the rest go to the bulk lane."""
        digests = [d for p in group for d in p.digests]
        known = self.store.vectors.known(digests)
        texts: dict[bytes, str] = {}
        for p in group:
            for digest, text in zip(p.digests, p.embedded, strict=True):
                if digest not in known:
                    texts.setdefault(digest, text)
        report.embedded += len(texts)
        future = self.bulk.submit(self.embedder, list(texts.values())) if texts else None
        return _Vectors(digests, known, list(texts), future)

    def _key_stored_vectors(self) -> None:
        """Vectors stored before they were keyed by digest get their keys (once; ``reembed``)."""
        if self._keyed or self.registry.model_changed:
            return
        key_stored_vectors(self.store, self.embedder, self.settings.chunk_tokens)
        self._keyed = True

    def prepare(self, doc: Document) -> _Pending:
        """Clean, check, chunk and fingerprint a document; ``InputError`` when it cannot be
        stored (no text, too long, no sentences)."""
        doc = without_nul(doc)
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
        prefix, budget = fit_prefix(
            title,
            doc.source,
            doc.published_at,
            self.embedder.count_tokens,
            self.embedder.max_tokens,
            self.settings.chunk_tokens,
        )
        chunks = chunk_text(
            text,
            self.embedder.count_tokens,
            budget=budget,
            overlap=self.settings.chunk_overlap_tokens,
        )
        if not chunks:
            raise InputError(f"{doc.origin or 'the input'} has no sentences to index")
        embedded = [embedded_text(prefix, c.text) for c in chunks]
        digests = [vector_digest(self.embedder.name, t) for t in embedded]
        return _Pending(doc, title, fingerprint(text, doc.url), chunks, embedded, digests)

    def _record_duplicate(self, pending: _Pending, match: Match, report: IngestReport) -> None:
        """Report a repeat; the same story from another outlet is listed beside the first."""
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

    def _flush(self, run: _Run, group: list[_Pending], vectors: np.ndarray) -> None:
        """Store an embedded group. The duplicate checks, the writes and the collection version
        they start from are one write transaction: no other process can store the same article
        in between."""
        new = self._articles(group, vectors, run)
        cid = run.collection_id
        done = IngestReport()
        with self.registry.writing(cid) as changes:
            changes += self._write(cid, list(zip(group, new, strict=True)), done)
        run.report.added += done.added
        run.report.updated += done.updated
        run.report.duplicates += done.duplicates
        run.state.docs_done += len(group)
        run.state.chunks_done += len(vectors)

    def _write(
        self, cid: int, group: list[tuple[_Pending, NewArticle]], done: IngestReport
    ) -> list[Change]:
        """Inside the transaction: check again, add the new, replace the updated."""
        keep: list[tuple[_Pending, NewArticle]] = []
        updates: list[tuple[_Pending, NewArticle]] = []
        for p, art in group:
            # Another writer may have stored the same article while we were embedding.
            verdict = self.duplicates.recheck(cid, p.fp, p.replaces)
            if verdict.replaces is not None:
                updates.append((p, art))
            elif verdict.match is not None:
                self._record_duplicate(p, verdict.match, done)
            else:
                keep.append((p, art))
        changes: list[Change] = []
        stored = self.store.articles.add(cid, [a for _, a in keep]) if keep else []
        for (p, art), (article_id, chunk_ids) in zip(keep, stored, strict=True):
            changes.append(Change(added=chunk_ids, vectors=art.vectors))
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
            changes.append(Change(removed=old_ids, added=new_ids, vectors=art.vectors))
            notes = (*p.doc.notes, f"updated: version {version}")
            done.updated.append(
                IngestResult(
                    p.doc.origin, p.replaces, art.title, art.published_at, len(new_ids), notes=notes
                )
            )
        return changes

    def _articles(self, group: list[_Pending], vectors: np.ndarray, run: _Run) -> list[NewArticle]:
        """The group as the store takes it, each article with its slice of the vectors."""
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
                    digests=p.digests,
                    canonical_url=p.fp.url,
                    added_by=run.added_by,
                    minhash=p.fp.minhash,
                    bands=p.fp.bands,
                    fetched_url=p.doc.fetched_url,
                    feed_id=run.feed_id,
                )
            )
            offset += n
        return new
