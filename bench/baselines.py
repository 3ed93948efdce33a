"""The two systems newsbot is measured against, built the way their usual tutorials build them.

Both split articles into ≈200-word windows with a 20-word overlap and know nothing of titles or
dates: BM25 alone (SQLite FTS5, English stopwords removed from the query) and the "tutorial
dense bot" (all-MiniLM-L6-v2 on the bare window, a flat inner-product FAISS index, top 10).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import faiss
import numpy as np

from index.store.sqlite import fts_match
from index.text import query_words


def windows(text: str, size: int = 200, overlap: int = 20) -> list[str]:
    words = text.split()
    if not words:
        return []
    step = size - overlap
    return [" ".join(words[i : i + size]) for i in range(0, max(len(words) - overlap, 1), step)]


def corpus_windows(articles: list[dict]) -> list[str]:
    out = []
    for a in articles:
        out.extend(windows(a.get("body") or a.get("text") or ""))
    return out


class BM25Baseline:
    def __init__(self, passages: list[str]) -> None:
        self.passages = passages
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE p USING fts5(text, tokenize='porter unicode61')")
        self.db.executemany("INSERT INTO p (rowid, text) VALUES (?, ?)", enumerate(passages))

    def search(self, query: str, k: int = 10) -> list[str]:
        match = fts_match(query_words(query))
        if not match:
            return []
        rows = self.db.execute(
            "SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?", (match, k)
        ).fetchall()
        return [self.passages[r[0]] for r in rows]


class DenseBaseline:
    """Vectors are cached on disk by content hash: the tutorial bot pays its embedding once."""

    def __init__(self, passages: list[str], embedder, cache_dir: Path) -> None:
        self.passages = passages
        self.embedder = embedder
        digest = hashlib.sha256("\n\x00".join(passages).encode()).hexdigest()[:16]
        cache = cache_dir / f"tutorial-{digest}.npy"
        if cache.is_file():
            vectors = np.load(cache)
        else:
            vectors = embedder.embed(passages)
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, vectors)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, query: str, k: int = 10) -> list[str]:
        q = self.embedder.embed([query])
        _, ids = self.index.search(q, k)
        return [self.passages[i] for i in ids[0] if i >= 0]
