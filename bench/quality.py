"""Retrieval and answer quality on the shared eval set, against an already ingested data dir.

  python -m bench.quality --data-dir DIR [--mode dated|today|month|undated] [--param name=value ...]
  python -m bench.quality --data-dir DIR --database-url postgresql://…  (the store on PostgreSQL)

Scores retrieval with ../shared/eval/score.py (imported, not copied), then reports how often the
composed answer holds the gold answer, how many in-period questions get an answer, and how many
off-period questions are told "nothing relevant". Also prints the answer-score quantiles the
abstention threshold is calibrated from.
"""

from __future__ import annotations

import argparse
import calendar
import importlib.util
import json
import re
import sys
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import numpy as np

from index.search.retrieve import Filters, RetrievalParams
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


# How a dev question is asked (README, "Benchmarks"):
#   dated   – on its quiz date (as_of), as the data set intends;
#   today   – today, with no date given: what a member's /ask and a bare `newsbot ask` do;
#   month   – today, phrased "In October 2023, …" with the month of its as_of: dates in words;
#   undated – with no date at all (`--undated`): no recency preference, no stale bar.
MODES = ("dated", "today", "month", "undated")


def asked(q: dict, mode: str, today: str) -> tuple[str, Filters]:
    """The question as put in ``mode``, and the filters it is asked with."""
    if mode == "dated":
        return q["question"], Filters(as_of=q.get("as_of"))
    if mode == "today":
        return q["question"], Filters(as_of=today)
    if mode == "month":
        d = date.fromisoformat(q["as_of"])
        return f"In {calendar.month_name[d.month]} {d.year}, {q['question']}", Filters(as_of=today)
    return q["question"], Filters()


def evaluate(
    service: NewsService,
    collection: str,
    queries: list[dict],
    offperiod: list[dict],
    scorer,
    *,
    mode: str = "dated",
    today: str | None = None,
    top_k: int = 10,
    answers_out: list[dict] | None = None,
) -> dict:
    """Retrieval (score.py), and what the answers do: hold the gold answer, get given at all
    for in-period questions, are refused for off-period ones — and when an off-period one is
    answered anyway, whether the answer says its evidence is old."""
    from index.cli import answer_json

    today = today or date.today().isoformat()
    run: dict[str, list[dict]] = {}
    in_scores, answered, contains, phrase_total = [], 0, 0, 0
    first = anywhere = ceiling = 0
    for q in queries:
        question, filters = asked(q, mode, today)
        hits = service.search(collection, question, top_k=top_k, filters=filters)
        run[q["id"]] = [{"text": h.text} for h in hits]
        answer = service.ask(collection, question, filters=filters)
        if answers_out is not None:
            answers_out.append({"id": q["id"], "mode": mode, **answer_json(answer)})
        in_scores.append(answer.best_score)
        answered += answer.found
        gold = norm(q.get("answer") or "\0")
        said = " ".join(s.text for s in answer.sentences) if answer.found else ""
        first += bool(answer.sentences) and gold in norm(answer.sentences[0].text)
        anywhere += gold in norm(said)
        ceiling += any(gold in norm(h.text) for h in hits)
        if is_phrase_answer(q.get("answer", "")):
            phrase_total += 1
            contains += gold in norm(said)
    off_scores, abstained, marked = off_period(
        service, collection, offperiod, mode, today, answers_out
    )
    result = scorer.score(queries, run)
    off_answered = len(offperiod) - abstained
    n = len(queries)
    result.update(
        {
            "mode": mode,
            "answered_in_period": round(answered / n, 4),
            # The quiz answer's words (case-blind) in what a member reads first, in the whole
            # answer, and in any of the top-10 passages (the ceiling of an extractive answer).
            "gold_first_sentence": round(first / n, 4),
            "gold_anywhere": round(anywhere / n, 4),
            "ceiling_top10": round(ceiling / n, 4),
            "first_over_ceiling": round(first / ceiling, 4) if ceiling else None,
            "gold_in_answer": round(contains / max(phrase_total, 1), 4),
            "phrase_questions": phrase_total,
            "abstained_off_period": round(abstained / max(len(offperiod), 1), 4),
            "off_period_answers_marked_old": round(marked / off_answered, 4)
            if off_answered
            else None,
            "in_score_quantiles": np.quantile(in_scores, [0.05, 0.1, 0.25, 0.5]).round(3).tolist(),
            "off_score_quantiles": np.quantile(off_scores, [0.5, 0.75, 0.8, 0.9]).round(3).tolist()
            if off_scores
            else [],
        }
    )
    result["_in_scores"] = in_scores
    result["_off_scores"] = off_scores
    return result


def off_period(
    service: NewsService,
    collection: str,
    offperiod: list[dict],
    mode: str,
    today: str,
    answers_out: list[dict] | None,
) -> tuple[list[float], int, int]:
    """Questions whose news is not stored: their best scores, how many were refused, and how
    many of those answered anyway say their evidence is old."""
    from index.cli import answer_json

    off_scores, abstained, marked = [], 0, 0
    for q in offperiod:
        question, filters = asked(q, mode, today)
        answer = service.ask(collection, question, filters=filters)
        if answers_out is not None:
            answers_out.append({"id": q["id"], "mode": f"{mode}-offperiod", **answer_json(answer)})
        off_scores.append(answer.best_score)
        abstained += not answer.found
        marked += answer.found and bool(answer.lead or any(s.dated for s in answer.sentences))
    return off_scores, abstained, marked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument(
        "--database-url",
        default=None,
        help="postgresql://… : the store is there (derived indexes in --data-dir)",
    )
    ap.add_argument("--collection", default="default")
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--mode", choices=MODES, default="dated", help="how questions are asked")
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
    settings = load_settings(CoreSettings, data_dir=a.data_dir, database_url=a.database_url)
    with NewsService(settings, params=params) as service:
        result = evaluate(
            service,
            a.collection,
            queries,
            offperiod,
            load_scorer(a.eval_dir),
            mode=a.mode,
        )
    result.pop("_in_scores"), result.pop("_off_scores")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
