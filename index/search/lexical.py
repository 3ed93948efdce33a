"""BM25 derived per process from stored chunk texts, for a store whose database has no BM25 of
its own (PostgreSQL: ``ts_rank`` is not BM25 and loses quality, GIN cannot return a top-k; README
"PostgreSQL"). A derived index like the FAISS one beside it (``vectors.py``), hosted by the same
registry: labelled with the collection version it holds, built from one snapshot of the store,
and kept current from the store's chunk log (added rows in, removed rows out) instead of
rebuilt.

The scoring is SQLite FTS5's ``bm25()`` with its two columns (title, text), so both backends rank
alike: per query term, ``idf × f(k1+1) / (f + k1(1 - b + b·|D|/avgdl))`` with ``f`` the
column-weighted term frequency, ``|D|`` the row's tokens in both columns, ``idf =
ln((N - n + 0.5)/(n + 0.5))`` (at least 1e-6); tokens as FTS5's ``porter unicode61
remove_diacritics 2`` makes them (Porter stems of lower-cased, accent-free letter/digit runs).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

K1, B = 1.2, 0.75
_TOKEN = re.compile(r"[^\W_]+")

try:
    import Stemmer  # PyStemmer: Snowball's C stemmers

    _stem_words = Stemmer.Stemmer("porter").stemWords
except ImportError:  # pragma: no cover - without it, words match only as written
    _stem_words = None


@lru_cache(maxsize=200_000)
def _fold(token: str) -> str:
    if token.isascii():
        return token
    return "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """FTS5 ``porter unicode61 remove_diacritics 2`` tokens, near enough."""
    raw = [_fold(t) for t in _TOKEN.findall(text.lower())]
    return _stem_words(raw) if _stem_words else raw


def _terms(toks: list[str]) -> Counter[str]:
    """A column's terms: its tokens, and each pair of adjacent tokens (``"a b"``), which is how
    a query word of two tokens ("all-around") matches: as FTS5's phrase, adjacent."""
    out = Counter(toks)
    out.update(f"{a} {b}" for a, b in itertools.pairwise(toks))
    return out


@lru_cache(maxsize=4096)
def _title_terms(title: str) -> Counter[str]:
    """A title's terms, once for all the chunks of its article (do not change the result)."""
    return _terms(tokens(title))


def query_terms(words: Sequence[str]) -> list[str]:
    """One term a query word, as FTS5 makes each quoted word one phrase: its token, or the
    pair of its first two (a longer phrase is matched by its first pair). Words that stem alike
    count once each, as FTS5 sums each phrase."""
    out = []
    for w in words:
        toks = tokens(w)
        if toks:
            out.append(toks[0] if len(toks) == 1 else f"{toks[0]} {toks[1]}")
    return out


class LexicalIndex:
    """One collection's BM25 postings, in memory; rows added and removed in place."""

    def __init__(self, version: int = 0) -> None:
        self.version = version  # the collection version it holds
        self._row: dict[int, int] = {}  # chunk id -> row
        self._ids: list[int] = []
        self._len: list[int] = []
        self._alive: list[bool] = []
        self._post: dict[str, tuple[list[int], list[int], list[int]]] = {}  # rows, tf title, text
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._live = 0
        self._total_len = 0
        self._np: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def count(self) -> int:
        return self._live

    def add(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """(chunk id, title, text) rows; a chunk already held is replaced."""
        postings = self._post
        for chunk_id, title, text in rows:
            if chunk_id in self._row:
                self.remove([chunk_id])
            t_title, t_text = tokens(title or ""), tokens(text or "")
            row = len(self._ids)
            self._row[chunk_id] = row
            self._ids.append(chunk_id)
            n = len(t_title) + len(t_text)
            self._len.append(n)
            self._alive.append(True)
            self._live += 1
            self._total_len += n
            f_title, f_text = _title_terms(title or ""), _terms(t_text)
            for term, count in f_text.items():
                post = postings.get(term)
                if post is None:
                    post = postings[term] = ([], [], [])
                post[0].append(row)
                post[1].append(f_title.get(term, 0))
                post[2].append(count)
            for term, count in f_title.items():
                if term not in f_text:
                    post = postings.get(term)
                    if post is None:
                        post = postings[term] = ([], [], [])
                    post[0].append(row)
                    post[1].append(count)
                    post[2].append(0)
            if self._arrays:  # arrays cached for queries: those of these terms are stale
                for term in itertools.chain(f_text, f_title):
                    self._arrays.pop(term, None)
        self._np = None

    def remove(self, chunk_ids: Iterable[int]) -> None:
        for chunk_id in chunk_ids:
            row = self._row.pop(int(chunk_id), None)
            if row is None:
                continue
            self._alive[row] = False
            self._live -= 1
            self._total_len -= self._len[row]
        self._np = None

    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._np is None:
            self._np = (
                np.asarray(self._ids, dtype=np.int64),
                np.asarray(self._len, dtype=np.float64),
                np.asarray(self._alive, dtype=bool),
            )
        return self._np

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        arrays = self._arrays.get(term)
        if arrays is None:
            post = self._post.get(term)
            if post is None:
                return None
            arrays = self._arrays[term] = (
                np.asarray(post[0], dtype=np.int64),
                np.asarray(post[1], dtype=np.float64),
                np.asarray(post[2], dtype=np.float64),
            )
        return arrays

    def search(
        self,
        words: Sequence[str],
        limit: int,
        *,
        title_weight: float = 2.0,
        allowed: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The best ``limit`` chunk ids for any of ``words`` (higher is better), among
        ``allowed`` ids when given."""
        if not self._live or limit <= 0:
            return []
        ids, lengths, alive = self._columns()
        terms = query_terms(words)
        if allowed is not None:
            mask = alive & np.isin(ids, np.asarray(allowed, dtype=np.int64))
        else:
            mask = alive
        n = self._live
        avgdl = self._total_len / n if n else 1.0
        scores: np.ndarray | None = None
        for term in terms:
            post = self._postings(term)
            if post is None:
                continue
            rows, f_title, f_text = post
            live = alive[rows]
            hits = int(np.count_nonzero(live))
            if not hits:
                continue
            idf = math.log((n - hits + 0.5) / (hits + 0.5))
            idf = max(idf, 1e-6)
            f = title_weight * f_title + f_text
            part = idf * f * (K1 + 1) / (f + K1 * (1 - B + B * lengths[rows] / avgdl))
            if scores is None:
                scores = np.zeros(len(ids), dtype=np.float64)
            scores[rows] += part
        if scores is None:
            return []
        scores[~mask] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > limit:
            top = np.argpartition(-scores[candidates], limit - 1)[:limit]
            candidates = candidates[top]
        order = candidates[np.lexsort((ids[candidates], -scores[candidates]))]
        return [(int(ids[r]), float(scores[r])) for r in order]
