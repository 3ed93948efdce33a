"""Where the model's time goes in an ingest, counted in word pieces: the text itself, the
title/source/date prefix every chunk repeats, the sentences neighbouring chunks share (the
overlap) and the padding a batch adds (each batch is padded to its longest text), as the ingest
groups and batches them; and the model's time per piece measured on the same texts.

  python -m bench.tokens --data-dir D [--backend auto] [--sample 512]

Reads the store only (its chunks in ingest order); a model pass costs about the same per word
piece at these lengths (MiniLM's matrix products grow with the pieces, attention is ~10 %).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def accounting(
    data_dir: Path, backend: str, sample: int, batch: int, group: int, cache: Path | None = None
) -> dict:
    from index.ingest.chunk import embedded_text, fit_prefix
    from index.search.cpu import cpu_line
    from index.search.embed import make_embedder, model_cache_dir
    from index.service import NewsService
    from index.settings import CoreSettings

    settings = CoreSettings(data_dir=data_dir)
    embedder = make_embedder(backend, cache_dir=cache or model_cache_dir("", data_dir))
    svc = NewsService(settings, embedder)
    counts = {"chunks": 0, "text": 0, "prefix": 0, "overlap": 0, "special": 0, "padding": 0}
    lengths: list[int] = []
    texts: list[str] = []
    for cid, _ in svc.store.collections.all():
        prev: tuple[int, int, int] | None = None  # article, start, end of the chunk before
        prefixes: dict[int, str] = {}
        for rows in svc.store.chunks.iter_texts(cid):
            arts = {r.id: r for r in rows}
            cond, params = svc.store.in_("id", list(arts))
            spans = svc.store.rows(
                f'SELECT id, article_id, start, "end" FROM chunks WHERE {cond}', params
            )
            where = {r[0]: r[1:] for r in spans}
            for r in rows:
                article, start, end = where[r.id]
                if article not in prefixes:
                    prefixes[article], _ = fit_prefix(
                        r.title,
                        r.source,
                        r.published_at,
                        embedder.count_tokens,
                        embedder.max_tokens,
                        settings.chunk_tokens,
                    )
                prefix = prefixes[article]
                text = embedded_text(prefix, r.text)
                n_text, n_prefix = embedder.count_tokens([r.text, prefix])
                counts["chunks"] += 1
                counts["text"] += n_text
                counts["prefix"] += n_prefix
                counts["special"] += 2
                if prev and prev[0] == article and start < prev[2]:
                    shared = svc.store.articles.text(article)[start : prev[2]]
                    counts["overlap"] += embedder.count_tokens([shared])[0]
                prev = (article, start, end)
                lengths.append(min(n_text + n_prefix + 2, embedder.max_tokens))
                texts.append(text)
    # padding as the ingest batches: groups of ``group`` chunks, sorted by length, batches
    for g in range(0, len(lengths), group):
        part = sorted(lengths[g : g + group])
        for b in range(0, len(part), batch):
            chunk = part[b : b + batch]
            counts["padding"] += max(chunk) * len(chunk) - sum(chunk)
    real = sum(lengths)
    total = real + counts["padding"]
    # the model's time per piece, on a sample of these texts, batched as the ingest does
    rng = np.random.default_rng(0)
    picked = [texts[i] for i in rng.choice(len(texts), min(sample, len(texts)), replace=False)]
    embedder.embed(picked[:32])
    started = time.perf_counter()
    for g in range(0, len(picked), group):
        svc.bulk.embed(embedder, picked[g : g + group])
    seconds = time.perf_counter() - started
    sample_tokens = sum(min(n + 2, embedder.max_tokens) for n in embedder.count_tokens(picked))
    svc.close()
    share = {k: round(counts[k] / total, 4) for k in ("text", "prefix", "overlap", "special")}
    share["padding"] = round(counts["padding"] / total, 4)
    return {
        "cpu": cpu_line(),
        "runtime": getattr(embedder, "runtime", "?"),
        "chunks": counts["chunks"],
        "pieces": {**{k: v for k, v in counts.items() if k != "chunks"}, "model_reads": total},
        "share_of_model_pieces": share,
        "pieces_per_chunk": round(real / max(counts["chunks"], 1), 1),
        "sample": {
            "texts": len(picked),
            "seconds": round(seconds, 2),
            "chunks_per_s": round(len(picked) / seconds, 2),
            "ms_per_1000_pieces": round(1000 * seconds / sample_tokens * 1000, 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--sample", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--group", type=int, default=256)
    a = ap.parse_args(argv)
    print(json.dumps(accounting(a.data_dir, a.backend, a.sample, a.batch, a.group), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
