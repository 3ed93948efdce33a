"""Retrieval and answer quality on the shared eval set, against an already ingested data dir.

  python -m bench.quality --data-dir DIR [--no-as-of] [--param name=value ...]

Scores retrieval with ../shared/eval/score.py (imported, not copied), then reports how often the
composed answer holds the gold answer, how many in-period questions get an answer, and how many
off-period questions are told "nothing relevant". Also prints the answer-score quantiles the
abstention threshold is calibrated from.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from index.retrieve import Filters, RetrievalParams
from index.service import NewsService
from index.settings import CoreSettings, load_settings

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def load_scorer(eval_dir: Path):
    spec = importlib.util.spec_from_file_location("newsbot_eval_score", eval_dir / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def is_phrase_answer(answer: str) -> bool:
    """Gold answers that are names or phrases, not bare numbers (those are too easy to hit)."""
    return bool(re.search(r"[A-Za-z]{3,}", answer or ""))


def norm(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("’", "'"))) + " "


def evaluate(
    service: NewsService,
    collection: str,
    queries: list[dict],
    offperiod: list[dict],
    scorer,
    *,
    use_as_of: bool = True,
    top_k: int = 10,
) -> dict:
    run: dict[str, list[dict]] = {}
    in_scores, answered, contains, phrase_total = [], 0, 0, 0
    for q in queries:
        filters = Filters(as_of=q.get("as_of") if use_as_of else None)
        hits = service.search(collection, q["question"], top_k=top_k, filters=filters)
        run[q["id"]] = [{"text": h.text} for h in hits]
        answer = service.ask(collection, q["question"], filters=filters)
        in_scores.append(answer.best_score)
        answered += answer.found
        if is_phrase_answer(q.get("answer", "")):
            phrase_total += 1
            if answer.found and norm(q["answer"]) in norm(
                " ".join(s.text for s in answer.sentences)
            ):
                contains += 1
    off_scores, abstained = [], 0
    for q in offperiod:
        filters = Filters(as_of=q.get("as_of") if use_as_of else None)
        answer = service.ask(collection, q["question"], filters=filters)
        off_scores.append(answer.best_score)
        abstained += not answer.found
    result = scorer.score(queries, run)
    result.update(
        {
            "answered_in_period": round(answered / len(queries), 4),
            "gold_in_answer": round(contains / max(phrase_total, 1), 4),
            "phrase_questions": phrase_total,
            "abstained_off_period": round(abstained / max(len(offperiod), 1), 4),
            "in_score_quantiles": np.quantile(in_scores, [0.05, 0.1, 0.25, 0.5]).round(3).tolist(),
            "off_score_quantiles": np.quantile(off_scores, [0.5, 0.75, 0.8, 0.9]).round(3).tolist()
            if off_scores
            else [],
        }
    )
    result["_in_scores"] = in_scores
    result["_off_scores"] = off_scores
    return result


def calibrate(in_scores: list[float], off_scores: list[float], answer_share: float = 0.92) -> float:
    """The highest threshold that still answers ``answer_share`` of in-period questions."""
    return float(np.quantile(np.asarray(in_scores), 1 - answer_share))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--collection", default="default")
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--no-as-of", action="store_true")
    ap.add_argument("--param", action="append", default=[], help="RetrievalParams name=value")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args(argv)
    params = RetrievalParams()
    types = {f.name: f.type for f in fields(RetrievalParams)}
    for kv in a.param:
        k, v = kv.split("=", 1)
        params = replace(params, **{k: (int if types[k] in ("int", int) else float)(v)})
    queries = read_jsonl(a.eval_dir / "realtimeqa-2023q4" / "queries.jsonl")
    offperiod = read_jsonl(a.eval_dir / "offperiod-2024.jsonl")
    if a.limit:
        queries, offperiod = queries[: a.limit], offperiod[: a.limit]
    settings = load_settings(CoreSettings, data_dir=a.data_dir)
    with NewsService(settings, params=params) as service:
        result = evaluate(
            service,
            a.collection,
            queries,
            offperiod,
            load_scorer(a.eval_dir),
            use_as_of=not a.no_as_of,
        )
    in_scores, off_scores = result.pop("_in_scores"), result.pop("_off_scores")
    threshold = calibrate(in_scores, off_scores)
    result["calibrated_threshold"] = round(threshold, 3)
    result["at_threshold"] = {
        "answered_in_period": round(float(np.mean(np.asarray(in_scores) >= threshold)), 4),
        "abstained_off_period": round(float(np.mean(np.asarray(off_scores) < threshold)), 4),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
