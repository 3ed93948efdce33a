"""Re-embedding: when the configured model is not the one the stored vectors come from, every
stored chunk is embedded again, its text read back from the store and made exactly as the ingest
made it (``chunk.fit_prefix``, ``chunk.embedded_text``), on the ingest's bulk lane — each text
once, however many collections hold it (the new vectors are keyed by the new model's digests).
The indexes are then rebuilt from the new vectors (``IndexRegistry.rebuild`` runs this first).

Vectors stored before they were keyed (schema 8) get their digests the same way, without
running the model (``key_stored_vectors``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ..errors import BusyError, StoreError
from ..search.embed import BackgroundLane, Embedder
from ..store import ChunkText, Store
from .chunk import embedded_text, fit_prefix, vector_digest

StepFn = Callable[[str, int, int], None]  # (what, done, total)

log = logging.getLogger(__name__)


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
    collection's version and logs its chunks as re-embedded); a text another collection's
    re-embedding already stored is not embedded again."""
    for cid, name in store.collections.all():
        total = store.chunks.count(cid)
        done = 0
        for rows in store.chunks.iter_texts(cid):
            texts = embedded_texts(rows, embedder, chunk_tokens)
            digests = [vector_digest(embedder.name, t) for t in texts]
            found = store.vectors.known(digests)
            missing = {d: t for d, t in zip(digests, texts, strict=True) if d not in found}
            if missing:
                found.update(
                    zip(missing, bulk.embed(embedder, list(missing.values())), strict=True)
                )
            vectors = [found[d] for d in digests]
            store.chunks.replace_vectors(cid, [r.id for r in rows], vectors, digests)
            done += len(rows)
            if progress:
                progress(f"re-embed {name}", done, total)


def key_stored_vectors(store: Store, embedder: Embedder, chunk_tokens: int) -> int:
    """Digests for the vectors stored before vectors were kept by digest (schema 8), made from
    their chunks' texts as the ingest made them — valid only for the model that embedded them
    (the caller checks it is the configured one). Two collections' copies of one text are merged
    into one vector. Batch by batch, each its own transaction; a batch that fails (another
    process keying the same ones) is left for the next ingest. Returns the vectors keyed."""
    keyed = after = 0
    if not store.vectors.unkeyed(limit=1):
        return 0
    try:
        with store.exclusive("vector keying"):
            while batch := store.vectors.unkeyed(after):
                if not keyed:
                    log.info("keying the vectors stored before schema 8 (once; no re-embedding)")
                texts = embedded_texts([row for _, row in batch], embedder, chunk_tokens)
                pairs = [
                    (vid, vector_digest(embedder.name, text))
                    for (vid, _), text in zip(batch, texts, strict=True)
                ]
                store.vectors.key(pairs)
                keyed += len(pairs)
                after = batch[-1][0]
    except (StoreError, BusyError) as exc:  # another process is at it
        log.info("stored vectors not keyed now: %s", exc)
    return keyed
