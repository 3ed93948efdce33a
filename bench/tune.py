"""One-change-at-a-time retrieval tuning on the dev set, against an ingested data dir.

  python -m bench.tune --data-dir DIR name=value[,value…] [name=value…]

Query vectors are computed once and reused, so each setting costs only the search itself.
Prints Hits@1/4/10 and MRR@10 (score.py's definitions) for the baseline and for each value of
each parameter, every other parameter left at its default.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

from bench.quality import EVAL, MODES, asked, load_scorer, read_jsonl
from index.search.retrieve import RetrievalParams
from index.service import NewsService
from index.settings import CoreSettings, load_settings


class CachedEmbedder:
    """Wraps the real embedder so that repeated questions are embedded once."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cache: dict[str, object] = {}
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens

    def embed(self, texts):
        import numpy as np

        missing = [t for t in texts if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.embed(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])

    def count_tokens(self, texts):
        return self.inner.count_tokens(texts)


def run(
    service: NewsService, queries: list[dict], scorer, params: RetrievalParams, mode: str
) -> dict:
    service.retriever.params = params
    out = {}
    today = date.today().isoformat()
    for q in queries:
        question, filters = asked(q, mode, today)
        hits = service.search("default", question, top_k=10, filters=filters)
        out[q["id"]] = [{"text": h.text} for h in hits]
    return scorer.score(queries, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--mode", choices=MODES, default="dated", help="how questions are asked")
    ap.add_argument("grid", nargs="*")
    a = ap.parse_args(argv)
    queries = read_jsonl(a.eval_dir / "realtimeqa-2023q4" / "queries.jsonl")
    scorer = load_scorer(a.eval_dir)
    settings = load_settings(CoreSettings, data_dir=a.data_dir)
    kinds = {f.name: f.type for f in fields(RetrievalParams)}
    with NewsService(settings) as service:
        service.embedder = service.retriever.embedder = CachedEmbedder(service.embedder)
        base = RetrievalParams()
        print("baseline", json.dumps(run(service, queries, scorer, base, a.mode)))
        for spec in a.grid:
            name, values = spec.split("=", 1)
            cast = int if kinds[name] in ("int", int) else float
            for v in values.split(","):
                params = replace(base, **{name: cast(v)})
                result = run(service, queries, scorer, params, a.mode)
                print(f"{name}={v}", json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
