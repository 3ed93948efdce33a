"""The synthetic collection ``bench.scale`` measures: deterministic vectors and texts, generated
batch by batch (never all at once) and stored through the real write path.

Vector distributions:

* ``news`` — anisotropic Gaussian article centres (power-law spectrum i^-0.7 around a common
  offset, like sentence embeddings), ten chunks around each. Calibrated on MiniLM vectors of
  the eval corpus-small (10k chunks): at that size it needs the same inverted-list share for
  the same recall as the real vectors (e.g. 8 % of lists → 0.97 vs 0.97).
* ``uniform`` — uniform random unit vectors: the worst case for any approximate index (every
  point is about as far from a query as every other), kept as a bound, not a forecast.

Queries: ``near`` = a stored chunk plus noise (cosine ≈ 0.89 to it), ``fresh`` = a new draw
from the same distribution (for ``uniform``: a random unit vector).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
MODEL = "synthetic"
COLLECTION = "synthetic"
CHUNKS_PER_ARTICLE = 10
WORDS_PER_CHUNK = 20
SOURCES = 20
FILL_ARTICLES = 2_000  # articles a transaction: 20k chunks, ~30 MB of vectors


class Synth:
    """Deterministic vectors and texts; generated batch by batch, never all at once."""

    def __init__(self, dist: str, seed: int = 0) -> None:
        if dist not in ("news", "uniform"):
            raise ValueError(f"unknown distribution {dist!r}")
        self.dist = dist
        self.rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(self.rng.standard_normal((DIM, DIM)))
        lam = np.arange(1, DIM + 1, dtype=np.float64) ** -0.7
        self.spread = (basis * np.sqrt(lam / lam.sum())).astype(np.float32)
        self.offset = (0.3 * basis[:, -1]).astype(np.float32)
        syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
        pick = self.rng.integers(len(syllables), size=(5_000, 3))
        self.words = np.array(["".join(syllables[i] for i in row) for row in pick])

    def vectors(self, articles: int, per_article: int = CHUNKS_PER_ARTICLE) -> np.ndarray:
        n = articles * per_article
        if self.dist == "uniform":
            return _unit(self.rng.standard_normal((n, DIM), dtype=np.float32))
        centres = self.offset + self.rng.standard_normal((articles, DIM), dtype=np.float32) @ (
            self.spread.T
        )
        noise = self.rng.standard_normal((n, DIM), dtype=np.float32) @ self.spread.T
        return _unit(np.repeat(centres, per_article, axis=0) + 0.5 * noise)

    def text(self, words: int) -> str:
        return " ".join(self.words[self.rng.integers(len(self.words), size=words)])


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _article(synth: Synth, number: int, vecs: np.ndarray, row: int) -> Any:
    """Article ``number``: ten random chunks, their vectors rows ``row``×10 onwards of vecs."""
    from index.ingest.dedup import content_hash
    from index.models import ChunkSpan
    from index.store import NewArticle

    spans, pos, parts = [], 0, []
    for o in range(CHUNKS_PER_ARTICLE):
        chunk = synth.text(WORDS_PER_CHUNK)
        spans.append(ChunkSpan(o, pos, pos + len(chunk), chunk))
        parts.append(chunk)
        pos += len(chunk) + 1
    text = " ".join(parts)
    return NewArticle(
        title=f"Article {number}: {synth.text(6)}",
        source=f"source-{number % SOURCES:02d}",
        published_at=f"2023-{1 + number % 12:02d}-{1 + number % 28:02d}",
        url=None,
        author=None,
        text=text,
        content_hash=content_hash(text),
        chunks=spans,
        vectors=vecs[row * CHUNKS_PER_ARTICLE : (row + 1) * CHUNKS_PER_ARTICLE],
    )


def fill(db: Path, n: int, dist: str, n_queries: int) -> dict[str, Any]:
    """Store n chunks through the real write path; returns timings and the query vectors."""
    from index.store.sqlite import SqliteStore

    synth = Synth(dist)
    articles = -(-n // CHUNKS_PER_ARTICLE)
    near_rows = np.sort(synth.rng.choice(articles * CHUNKS_PER_ARTICLE, n_queries, replace=False))
    near = np.empty((n_queries, DIM), np.float32)
    store = SqliteStore(db)
    cid = store.collections.id_of(COLLECTION, create=True)
    store.set_meta("embedding_model", MODEL)
    store.set_meta("embedding_dim", str(DIM))
    started = time.perf_counter()
    done = 0
    for first in range(0, articles, FILL_ARTICLES):
        count = min(FILL_ARTICLES, articles - first)
        vecs = synth.vectors(count)
        lo, hi = np.searchsorted(near_rows, [done, done + len(vecs)])
        near[lo:hi] = vecs[near_rows[lo:hi] - done]
        batch = [_article(synth, first + a, vecs, a) for a in range(count)]
        store.articles.add(cid, batch)
        done += len(vecs)
    seconds = time.perf_counter() - started
    chunks = store.chunks.count(cid)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    noise = synth.rng.standard_normal((n_queries, DIM), dtype=np.float32) / np.sqrt(DIM)
    queries = {
        "near": _unit(near + 0.5 * noise),
        "fresh": synth.vectors(n_queries, per_article=1),
    }
    return {
        "chunks": chunks,
        "seconds": round(seconds, 1),
        "chunks_per_s": round(chunks / seconds),
        "db_bytes": db.stat().st_size,
        "queries": queries,
    }
