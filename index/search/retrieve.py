"""Hybrid retrieval: dense (FAISS) and lexical (FTS5 BM25) candidates fused by reciprocal rank.

Dense finds paraphrases, BM25 finds names and numbers the small model blurs; rank fusion needs
no score calibration between the two. Filters (source, dates) apply to both sides before
ranking, so a filtered question never comes back empty just because the top 50 were filtered.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

import numpy as np

from ..models import Hit
from ..store import Store
from ..text import query_words
from .embed import Embedder, QueryBatcher
from .vectors import VectorIndex

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsbot-bm25")


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None  # YYYY-MM-DD, inclusive
    as_of: str | None = None  # the date a question is asked: news after it is excluded

    @property
    def active(self) -> bool:
        return bool(self.source or self.since or self.until or self.as_of)


@dataclass(frozen=True)
class RetrievalParams:
    """Knobs measured on the dev set (see README, "How retrieval works")."""

    candidates: int = 50  # per side
    dated_candidates: int = 300  # per side, when a dated question re-ranks the pool by date
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 0.5
    title_weight: float = 1.0
    per_article: int = 1
    recency_days: float = 14.0  # how far before the question date a story counts as recent
    recency_weight: float = 1.0


class Indexes(Protocol):
    """Where the retriever gets a collection's current vector index and its BM25 ranking
    (``IndexRegistry``)."""

    def index_for(self, collection_id: int) -> VectorIndex: ...

    def lexical(
        self,
        collection_id: int,
        words: Sequence[str],
        limit: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
        title_weight: float = 2.0,
    ) -> list[tuple[int, float]]: ...


class Retriever:
    """Dense and lexical candidates for a question, fused; reads only through the store's
    protocol and the index registry."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        indexes: Indexes,
        params: RetrievalParams | None = None,
        *,
        query_threads: int = 1,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.indexes = indexes
        self.params = params or RetrievalParams()
        self.query_threads = query_threads
        self.queries = QueryBatcher(embedder, threads=query_threads)

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @embedder.setter
    def embedder(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self.queries.close()
        self.queries = QueryBatcher(embedder, threads=self.query_threads)

    def close(self) -> None:
        self.queries.close()

    def search(
        self,
        collection_id: int,
        query: str,
        *,
        top_k: int = 10,
        filters: Filters | None = None,
        per_article: int | None = None,
    ) -> list[Hit]:
        """Best chunks first; at most ``per_article`` from one article (default: the params')."""
        asked_on = (filters or Filters()).as_of
        filters, recent = self._effective(collection_id, filters or Filters())
        p = self.params
        cap = per_article or p.per_article
        dated = bool(recent and p.recency_weight > 0)
        pool = p.dated_candidates if dated else p.candidates
        # BM25 runs while the model embeds the question (both release the GIL); on 2 busy
        # cores they still share CPU, so the BM25 query itself is kept cheap (see
        # ChunkStore.lexical).
        words = query_words(query)
        lexical_job = (
            _POOL.submit(
                self.indexes.lexical,
                collection_id,
                words,
                pool,
                source=filters.source,
                since=filters.since,
                until=filters.until,
                as_of=filters.as_of,
                title_weight=p.title_weight,
            )
            if words
            else None
        )
        qvec = self.queries.embed_one(query)
        allowed = None
        if filters.active:
            allowed = self.store.chunks.ids(
                collection_id,
                source=filters.source,
                since=filters.since,
                until=filters.until,
                as_of=filters.as_of,
            )
        dense = self.indexes.index_for(collection_id).search(qvec, pool, allowed)
        lexical: list[tuple[int, float]] = lexical_job.result() if lexical_job else []
        ranked = _fuse(dense, lexical, p)
        if not ranked:
            return []
        meta = self.store.chunks.dates([cid for cid, _ in ranked])
        if dated:
            ranked = _recency(ranked, meta, asked_on, p)
        out = self.store.chunks.hits(_capped(ranked, meta, cap, top_k))
        similarity = dict(dense)
        missing = [h.chunk_id for h in out if h.chunk_id not in similarity]
        if missing:
            similarity.update(self._similarities(missing, qvec))
        return [_with(h, similarity=similarity.get(h.chunk_id, 0.0)) for h in out]

    def _effective(self, collection_id: int, filters: Filters) -> tuple[Filters, bool]:
        """The filters that can change anything here, and whether the date re-rank can.

        Asked on a day, a question leaves out news from after it and favours the days before
        it. When the collection holds nothing after that day the cut-off excludes nothing, and
        when it holds nothing recent enough for the bonus (an archive asked today) the re-rank
        moves nothing: each is dropped then, with the larger pool and the slower filtered BM25
        they cost. The ranking is the same."""
        if not filters.as_of:
            return filters, False
        newest = self.store.collections.newest_date(collection_id)
        try:
            asked = date.fromisoformat(filters.as_of)
            latest = date.fromisoformat(newest[:10]) if newest else None
        except ValueError:
            return filters, True
        recent = latest is not None and (asked - latest).days <= self.params.recency_days
        if latest is None or latest <= asked:
            filters = replace(filters, as_of=None)
        return filters, recent

    def _similarities(self, chunk_ids: list[int], qvec: np.ndarray) -> dict[int, float]:
        vectors = self.store.chunks.vectors(chunk_ids)
        return {cid: float(vector @ qvec) for cid, vector in vectors.items()}


def _fuse(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], p: RetrievalParams
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of the two sides, best first."""
    fused: dict[int, float] = {}
    for rank, (cid, _) in enumerate(dense):
        fused[cid] = fused.get(cid, 0.0) + p.dense_weight / (p.rrf_k + rank + 1)
    for rank, (cid, _) in enumerate(lexical):
        fused[cid] = fused.get(cid, 0.0) + p.lexical_weight / (p.rrf_k + rank + 1)
    return sorted(fused.items(), key=lambda kv: kv[1], reverse=True)


def _capped(
    ranked: list[tuple[int, float]],
    meta: dict[int, tuple[int, str | None]],
    cap: int,
    top_k: int,
) -> list[tuple[int, float]]:
    """The best ``top_k`` chunks, at most ``cap`` from one article."""
    chosen: list[tuple[int, float]] = []
    per_article: dict[int, int] = {}
    for cid, score in ranked:
        if cid not in meta:  # removed since the index was built
            continue
        article_id = meta[cid][0]
        if per_article.get(article_id, 0) >= cap:
            continue
        per_article[article_id] = per_article.get(article_id, 0) + 1
        chosen.append((cid, score))
        if len(chosen) >= top_k:
            break
    return chosen


def _with(hit: Hit, **changes: float) -> Hit:
    return Hit(**{**hit.__dict__, **changes})


def _recency(
    ranked: list[tuple[int, float]],
    meta: dict[int, tuple[int, str | None]],
    as_of: str,
    p: RetrievalParams,
) -> list[tuple[int, float]]:
    """Nudge chunks published shortly before the question's date above older ones."""
    ref = date.fromisoformat(as_of)
    scored = []
    for cid, score in ranked:
        bonus = 0.0
        published = meta.get(cid, (0, None))[1]
        if published:
            try:
                age = (ref - date.fromisoformat(published[:10])).days
            except ValueError:
                age = None
            if age is not None and age >= 0:
                bonus = p.recency_weight * max(0.0, 1.0 - age / p.recency_days)
        scored.append((cid, score + bonus / (p.rrf_k + 1)))
    scored.sort(key=lambda kv: kv[1], reverse=True)
    return scored
