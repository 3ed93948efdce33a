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
remove_diacritics 2`` makes them: by FTS5 itself (``_Fts5Tokens``).
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence

import numpy as np

K1, B = 1.2, 0.75
TOKENIZER = "porter unicode61 remove_diacritics 2"  # the SQLite store's (schema.py)
_KNOWN_MAX = 500_000  # pieces remembered (corpus-small's 8,882 chunks hold 49,508)
# A piece: a run of characters between separators of FTS5 (every ASCII character but letters
# and digits, and news's typographic quotes, dashes and spaces; checked against FTS5, which
# splits whatever else it takes for a separator itself).
_SEPARATORS = (
    r"\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f"
    r"\xa0\xab\xb7\xbb\u2009\u200a\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u202f"
)
_PIECE = re.compile(f"[^{_SEPARATORS}]+")


class _Fts5Tokens:
    """SQLite FTS5's own tokenizer, asked through an in-memory table, a batch of new pieces of
    text at a time, and remembered. An imitation (Snowball's Porter over Python's letters) did
    not rank alike: it made "us" "u" (FTS5 stems no token under three letters), "technology"
    "technologi" and "½" "1⁄2", so the two backends answered some questions differently."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE p USING fts5 (piece, tokenize = '{TOKENIZER}')")
        self._db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab (main, p, 'instance')")
        self._lock = threading.Lock()
        # A piece's token; a tuple of its tokens for the few pieces (``_odd``) not one token.
        self._known: dict[str, str | tuple[str, ...]] = {}
        self._odd: set[str] = set()

    def clear(self) -> None:
        """Forget every piece (a benchmark's cold start)."""
        self._known, self._odd = {}, set()

    def __call__(self, text: str) -> list[str]:
        """The text's tokens in order."""
        return self.many([text])[0]

    def many(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's tokens, a piece at a time (no token spans a separator); the pieces not
        met before are asked of FTS5 in one batch (a batch a text cost 4× more)."""
        known, odd = self._known, self._odd
        runs = [_PIECE.findall(text) for text in texts]
        out = [list(map(known.get, run)) for run in runs]
        unknown = [i for i, found in enumerate(out) if None in found]
        if unknown:
            need = {p for i in unknown for p in runs[i]}
            if len(known) + len(need) > _KNOWN_MAX:  # new ones: callers reading these go on
                self.clear()
                known, odd = self._known, self._odd
            self._learn([p for p in need if p not in known], known, odd)
            for i in unknown:
                out[i] = list(map(known.get, runs[i]))
        for i, run in enumerate(runs):
            if not odd.isdisjoint(run):
                out[i] = [
                    t for p, f in zip(run, out[i], strict=True) for t in (f if p in odd else (f,))
                ]
        return out  # type: ignore[return-value]

    def _learn(
        self, pieces: list[str], known: dict[str, str | tuple[str, ...]], odd: set[str]
    ) -> None:
        made: dict[int, list[str]] = {}
        with self._lock:
            self._db.execute("DELETE FROM p")
            self._db.executemany("INSERT INTO p (rowid, piece) VALUES (?, ?)", enumerate(pieces))
            for doc, term in self._db.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
                made.setdefault(doc, []).append(term)
        for i, piece in enumerate(pieces):
            found = made.get(i, [])
            if len(found) == 1:
                known[piece] = found[0]
            else:
                known[piece] = tuple(found)
                odd.add(piece)


tokens = _Fts5Tokens()  # tokens(text): FTS5's tokens of the text, in order


def query_terms(words: Sequence[str]) -> list[str]:
    """One term a query word, as FTS5 makes each quoted word one phrase: its token, or the
    pair of its first two (a longer phrase is matched by its first pair). Words that stem alike
    count once each, as FTS5 sums each phrase."""
    out = []
    for toks in tokens.many(list(words)):  # words not met before: one batch, not one each
        if toks:
            out.append(toks[0] if len(toks) == 1 else f"{toks[0]} {toks[1]}")
    return out


_Postings = tuple[np.ndarray, np.ndarray, np.ndarray]  # rows, frequency in title, in text
_PAIR = np.int64(1 << 32)  # a pair's key: (first token's id + 1) · 2³² + the second's id


class _Segment:
    """Postings of rows added together, sorted by term key: one term's are a slice."""

    __slots__ = ("f_text", "f_title", "keys", "rows")

    def __init__(
        self, keys: np.ndarray, rows: np.ndarray, f_title: np.ndarray, f_text: np.ndarray
    ) -> None:
        self.keys, self.rows, self.f_title, self.f_text = keys, rows, f_title, f_text

    def __len__(self) -> int:
        return len(self.keys)

    @staticmethod
    def merged(a: _Segment, b: _Segment) -> _Segment:
        """One segment of two, in linear time: ``b``'s postings go after ``a``'s of the same key."""
        at = np.searchsorted(a.keys, b.keys, side="right") + np.arange(len(b))
        rest = np.ones(len(a) + len(b), dtype=bool)
        rest[at] = False
        parts = {}
        for name in _Segment.__slots__:
            x, y = getattr(a, name), getattr(b, name)
            parts[name] = out = np.empty(len(rest), dtype=x.dtype)
            out[at] = y
            out[rest] = x
        return _Segment(**parts)


class LexicalIndex:
    """One collection's BM25 postings, in memory, as numpy arrays; rows added and removed in
    place.

    A term is a token or a pair of adjacent tokens, keyed by token ids. The rows added together
    are tokenized in Python and everything after — pairs, counts per row and column, postings
    sorted by key — is array work, one segment per add; segments of like size are merged (a
    posting is merged O(log n) times). So following a few hundred rows of the chunk log, which
    an ask does while others ingest, costs about what tokenizing them does, and so does building
    the index of a whole collection."""

    def __init__(self, version: int = 0) -> None:
        self.version = version  # the collection version it holds
        self._row: dict[int, int] = {}  # chunk id -> row
        self._n = 0  # rows, removed ones included
        self._ids = np.zeros(0, dtype=np.int64)  # by row; capacity grows by doubling
        self._len = np.zeros(0, dtype=np.float64)
        self._alive = np.zeros(0, dtype=bool)
        self._token: dict[str, int] = {}  # token -> id
        # The postings and the arrays made of them for queries, replaced together (a search
        # running meanwhile keeps the pair it took; the rows it names are below ``_n``).
        self._state: tuple[list[_Segment], dict[int, _Postings]] = ([], {})
        self._live = 0
        self._total_len = 0

    @property
    def count(self) -> int:
        return self._live

    def add(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """(chunk id, title, text) rows; a chunk already held is replaced."""
        text: list[str] = []  # every row's tokens, one after another
        title: list[str] = []
        text_n: list[int] = []  # tokens a row
        title_n: list[int] = []
        ids: list[int] = []
        row = self._n
        rows = list(rows)
        titles = list({t or "" for _, t, _ in rows})  # an article's chunks share its title
        made = tokens.many([body or "" for _, _, body in rows] + titles)  # new words: one batch
        of_title = dict(zip(titles, made[len(rows) :], strict=True))
        for (chunk_id, title_text, _), toks in zip(rows, made[: len(rows)], strict=True):
            if chunk_id in self._row:
                self.remove([chunk_id])
            head = of_title[title_text or ""]
            text += toks
            title += head
            text_n.append(len(toks))
            title_n.append(len(head))
            self._row[chunk_id] = row
            ids.append(chunk_id)
            row += 1
        if not ids:
            return
        start = self._n
        numbered = np.arange(start, row, dtype=np.int32)
        keys, at, in_title = [], [], []
        for toks, counts, flag in ((text, text_n, False), (title, title_n, True)):
            token_ids = self._token_ids(toks)
            rows_of = np.repeat(numbered, counts)
            same = rows_of[1:] == rows_of[:-1]  # adjacent tokens of one row make a pair
            pairs = (token_ids[:-1][same] + 1) * _PAIR + token_ids[1:][same]
            keys += [token_ids, pairs]
            at += [rows_of, rows_of[1:][same]]
            in_title.append(np.full(len(token_ids) + len(pairs), flag))
        key = np.concatenate(keys)
        where = np.concatenate(at)
        is_title = np.concatenate(in_title)
        order = np.lexsort((where, key))
        key, where, is_title = key[order], where[order], is_title[order]
        first = np.flatnonzero(
            np.r_[True, (key[1:] != key[:-1]) | (where[1:] != where[:-1])]
        )  # one posting a (term, row): its entries counted by column
        f_title = np.add.reduceat(is_title.astype(np.int32), first)
        f_text = np.diff(np.r_[first, len(key)]).astype(np.int32) - f_title
        segment = _Segment(key[first], where[first], f_title, f_text)
        lengths = np.asarray(text_n, dtype=np.float64) + np.asarray(title_n, dtype=np.float64)
        self._grow(row)
        self._ids[start:row] = ids
        self._len[start:row] = lengths
        self._alive[start:row] = True
        self._live += len(ids)
        self._total_len += int(lengths.sum())
        self._n = row
        segments = [*self._state[0], segment]
        while len(segments) > 1 and 2 * len(segments[-1]) >= len(segments[-2]):
            segments[-2:] = [_Segment.merged(*segments[-2:])]
        self._state = (segments, {})

    def _token_ids(self, toks: list[str]) -> np.ndarray:
        known = self._token
        for token in set(toks).difference(known):
            known[token] = len(known)
        return np.fromiter(map(known.__getitem__, toks), dtype=np.int64, count=len(toks))

    def _grow(self, rows: int) -> None:
        if rows <= len(self._ids):
            return
        size = max(rows, 2 * len(self._ids), 1024)
        for name in ("_ids", "_len", "_alive"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def remove(self, chunk_ids: Iterable[int]) -> None:
        for chunk_id in chunk_ids:
            row = self._row.pop(int(chunk_id), None)
            if row is None:
                continue
            self._alive[row] = False
            self._live -= 1
            self._total_len -= int(self._len[row])

    def _key(self, term: str) -> int | None:
        first, _, second = term.partition(" ")
        a = self._token.get(first)
        if not second or a is None:
            return a
        b = self._token.get(second)
        return None if b is None else (a + 1) * int(_PAIR) + b

    def _postings(
        self, term: str, segments: list[_Segment], cache: dict[int, _Postings]
    ) -> _Postings | None:
        """The rows holding ``term`` and its frequency in each column."""
        key = self._key(term)
        if key is None:
            return None
        found = cache.get(key)
        if found is None:
            parts = []
            for seg in segments:
                lo, hi = np.searchsorted(seg.keys, [key, key + 1])
                if hi > lo:
                    parts.append((seg.rows[lo:hi], seg.f_title[lo:hi], seg.f_text[lo:hi]))
            if not parts:
                return None
            found = cache[key] = (
                np.concatenate([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]).astype(np.float64),
                np.concatenate([p[2] for p in parts]).astype(np.float64),
            )
        return found

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
        segments, cache = self._state
        n_rows = self._n
        ids, lengths, alive = self._ids[:n_rows], self._len[:n_rows], self._alive[:n_rows]
        terms = query_terms(words)
        if allowed is not None:
            mask = alive & np.isin(ids, np.asarray(allowed, dtype=np.int64))
        else:
            mask = alive
        n = self._live
        avgdl = self._total_len / n if n else 1.0
        scores: np.ndarray | None = None
        for term in terms:
            post = self._postings(term, segments, cache)
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
