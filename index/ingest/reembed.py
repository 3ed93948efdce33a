"""Re-embedding: when the configured model is not the one the stored vectors come from, every
stored chunk is embedded again, its text read back from the store and made exactly as the ingest
made it (``chunk.fit_prefix``, ``chunk.embedded_text``), on the ingest's bulk lane. The indexes
are then rebuilt from the new vectors (``IndexRegistry.rebuild`` runs this first)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..search.embed import BackgroundLane, Embedder
from ..store import ChunkText, Store
from .chunk import embedded_text, fit_prefix

StepFn = Callable[[str, int, int], None]  # (what, done, total)


def embedded_texts(rows: Sequence[ChunkText], embedder: Embedder, chunk_tokens: int) -> list[str]:
    """What the model reads for stored chunks: each article's prefix fitted as the ingest
    fitted it, counted once an article."""
    prefixes: dict[tuple[str, str | None, str | None], str] = {}
    texts = []
    for row in rows:
        key = (row.title, row.source, row.published_at)
        if key not in prefixes:
            prefixes[key], _ = fit_prefix(
                *key, embedder.count_tokens, embedder.max_tokens, chunk_tokens
            )
        texts.append(embedded_text(prefixes[key], row.text))
    return texts


def reembed(
    store: Store,
    embedder: Embedder,
    bulk: BackgroundLane,
    chunk_tokens: int,
    progress: StepFn | None = None,
) -> None:
    """Every collection's chunks embedded again, a batch a transaction (each bumps the
    collection's version and logs its chunks as re-embedded)."""
    for cid, name in store.collections.all():
        total = store.chunks.count(cid)
        done = 0
        for rows in store.chunks.iter_texts(cid):
            vectors = bulk.embed(embedder, embedded_texts(rows, embedder, chunk_tokens))
            store.chunks.replace_vectors(cid, [r.id for r in rows], vectors)
            done += len(rows)
            if progress:
                progress(f"re-embed {name}", done, total)
