"""Calibrate and measure the watch alert bar on the dev set.

  python -m bench.watch --store DATA_DIR_OR_SQLITE [--queries queries.jsonl] [--out FILE.json]

A watch is a quiz question's topic. Its week is the seven days up to the quiz date (``as_of``);
its positives are that week's articles holding a whole sentence (six words or more) of a gold
evidence excerpt (score.py's rule), its negatives the week's other articles. An article alerts
when its best passage's cosine with the topic reaches the bar (``index.alerts.match``): the
same score the bot uses, from the vectors stored at ingest. Prints precision, recall and F1
for a range of bars and the chosen one (best F0.5: a wrong alert costs more than a missed one).

The store is opened read-only (copy the dev store first if another process may write it).
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from index.features.watches import ALERT_BAR, score_passages

EVAL = Path("/work/shared/eval/realtimeqa-2023q4")
WEEK = 7


def normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def evidence_sentences(evidence: list[str]) -> list[str]:
    out = []
    for excerpt in evidence:
        for s in re.split(r"(?<=[.!?])\s+", excerpt):
            n = normal(s)
            if len(n.split()) >= 6:
                out.append(n)
    return out


def load_articles(path: Path) -> tuple[list[tuple[int, str, str]], dict[int, np.ndarray]]:
    """(id, date, normalized text) of dated articles, and each one's passage vectors."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    articles = [
        (int(r[0]), r[1], normal(r[2]))
        for r in db.execute(
            "SELECT id, published_at, title || ' ' || text FROM articles"
            " WHERE published_at IS NOT NULL"
        )
    ]
    vectors: dict[int, list[np.ndarray]] = defaultdict(list)
    for article_id, blob in db.execute("SELECT article_id, vector FROM chunks"):
        vectors[int(article_id)].append(np.frombuffer(blob, dtype=np.float32))
    db.close()
    return articles, {k: np.vstack(v) for k, v in vectors.items()}


def measure(scored: list[tuple[float, bool]], bar: float) -> dict:
    tp = sum(1 for s, pos in scored if s >= bar and pos)
    fp = sum(1 for s, pos in scored if s >= bar and not pos)
    fn = sum(1 for s, pos in scored if s < bar and pos)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    f05 = 1.25 * p * r / (0.25 * p + r) if p + r else 0.0
    return {
        "bar": round(bar, 3),
        "precision": p,
        "recall": r,
        "f1": f1,
        "f05": f05,
        "alerts": tp + fp,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.watch")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--queries", type=Path, default=EVAL / "queries.jsonl")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    path = args.store / "newsbot.sqlite3" if args.store.is_dir() else args.store
    from index.search.embed import SentenceTransformerEmbedder

    started = time.perf_counter()
    articles, vectors = load_articles(path)
    queries = [json.loads(line) for line in args.queries.read_text().splitlines() if line]
    embedder = SentenceTransformerEmbedder(threads=2)
    topics = embedder.embed([q["question"] for q in queries])
    scored: list[tuple[float, bool]] = []
    covered = 0
    for q, topic in zip(queries, topics, strict=True):
        as_of = date.fromisoformat(q["as_of"])
        since = (as_of - timedelta(days=WEEK - 1)).isoformat()
        until = (as_of + timedelta(days=1)).isoformat()  # published the day after: same news
        gold = evidence_sentences(q["evidence"])
        week = [(i, t) for i, d, t in articles if since <= d <= until and i in vectors]
        labels = [(i, any(g in t for g in gold)) for i, t in week]
        covered += any(pos for _, pos in labels)
        scored += [(score_passages(topic, vectors[i])[0], pos) for i, pos in labels]
    bars = [round(0.30 + 0.025 * k, 3) for k in range(17)]
    table = [measure(scored, b) for b in bars]
    chosen = max(table, key=lambda m: m["f05"])
    result = {
        "queries": len(queries),
        "queries_with_a_positive_in_their_week": covered,
        "pairs": len(scored),
        "positives": sum(1 for _, pos in scored if pos),
        "shipped_bar": measure(scored, ALERT_BAR),
        "best_f05": chosen,
        "table": table,
        "seconds": round(time.perf_counter() - started, 1),
    }
    for m in table:
        print(
            f"bar {m['bar']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}"
            f"  F1 {m['f1']:.3f}  F0.5 {m['f05']:.3f}  alerts {m['alerts']}",
            file=sys.stderr,
        )
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
