"""How long a daily digest takes to build on a day of the full dev corpus.

  python -m bench.digest --store DATA_DIR [--day YYYY-MM-DD] [--runs 5] [--out FILE.json]

Opens a *copy* of a data folder (opening brings its schema up to date: never point it at a
store another process uses read-only), picks the day with the most articles unless one is
given, and times what ``service.digests.build`` does: read the day's articles with their stored
passage vectors, group them into stories across outlets, rank them, extract a sentence each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from index.features.digests import build_digest
from index.store import open_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.digest")
    ap.add_argument("--store", type=Path, required=True, help="a data folder (a copy)")
    ap.add_argument("--collection", default="default")
    ap.add_argument("--day")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--watch-queries",
        type=int,
        default=0,
        metavar="N",
        help="also rank by N watches: the first N dev questions' topics (the real model)",
    )
    args = ap.parse_args(argv)
    store = open_store(args.store)
    cid = store.collections.id_of(args.collection)
    if cid is None:
        print(f"no collection {args.collection!r}", file=sys.stderr)
        return 2
    day = (
        args.day
        or store.db.execute(
            "SELECT published_at FROM articles WHERE collection_id = ? AND published_at IS NOT NULL"
            " GROUP BY published_at ORDER BY COUNT(*) DESC LIMIT 1",
            (cid,),
        ).fetchone()[0]
    )
    watches = [(w.topic, v) for w, v in store.watches.vectors(cid)]
    if args.watch_queries:
        from bench.watch import EVAL
        from index.search.embed import SentenceTransformerEmbedder

        lines = (EVAL / "queries.jsonl").read_text().splitlines()[: args.watch_queries]
        topics = [json.loads(line)["question"] for line in lines]
        vectors = SentenceTransformerEmbedder(threads=2).embed(topics)
        watches += list(zip(topics, vectors, strict=True))
    times, read_times = [], []
    digest = None
    for _ in range(max(1, args.runs)):
        started = time.perf_counter()
        articles = store.digests.published(cid, day, day)
        read = time.perf_counter()
        digest = build_digest(day, articles, store.articles.other_sources, watches)
        times.append(time.perf_counter() - started)
        read_times.append(read - started)
    assert digest is not None
    result = {
        "day": day,
        "articles": digest.articles,
        "stories": digest.total_stories,
        "watches": len(watches),
        "runs": len(times),
        "build_seconds_median": round(statistics.median(times), 4),
        "read_seconds_median": round(statistics.median(read_times), 4),
        "top": [
            {"title": s.title, "sources": s.sources, "also": s.also, "sentence": s.sentence[:160]}
            for s in digest.stories[:5]
        ],
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
