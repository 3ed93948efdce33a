"""Fit the answer model on the dev set: which sentence leads, and whether to answer at all.

  python -m bench.fit_answers --data-dir DIR [--out index/search/answer_model.json]
                              [--report bench/results/answer_model.json] [--folds 5]

DIR is a data folder holding the dev corpus (``newsbot --data-dir DIR ingest
../shared/eval/realtimeqa-2023q4/corpus.jsonl``; corpus-small works too). Every dev question and
every off-period question is asked each way (``bench.quality.MODES``) through the service's own
evidence path; each candidate sentence gets the features ``index/search/sentences.py`` computes
in production, labelled by whether it holds the quiz answer.

1. The sentence scorer: a linear model fitted listwise (a softmax over one question's
   candidates; the candidates holding the answer should take the mass), L2-regularised.
2. The answer decision: a logistic regression over the evidence's features
   (``QUESTION_FEATURES``), dev questions (answerable) against off-period ones (not), on
   out-of-fold sentence scores.
3. The operating point: the lowest confidence at which, out of fold, at least ``--refuse`` of the
   off-period questions are refused asked on their date, asked today and month-phrased — the
   production sequence (the time named first, then all news) simulated.

Everything reported is cross-validated by question (all ways of asking one question in the
same fold): nothing is scored by a model that saw it. The shipped model is then fitted on all of
it. The figures go to ``--report`` and into the model file's ``fitted`` section.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from bench.quality import EVAL, MODES, asked, norm, read_jsonl
from bench.revision import head
from index.models import Found
from index.search.answer import WINDOW_FLOOR
from index.search.answer_model import MODEL_FILE, AnswerModel
from index.search.compose import ANSWER_HITS, chosen
from index.search.sentences import (
    FEATURES,
    QUESTION_FEATURES,
    candidates,
    feature_matrix,
    question_features,
    read_question,
)
from index.service import NewsService
from index.settings import CoreSettings

ROOT = Path(__file__).resolve().parent.parent
LAMBDA = 1.0  # L2 on the sentence weights (0.1–10 gave the same CV figures within a point)


@dataclass
class Ask:
    """One question asked one way: its evidence (the time it named, and all news), labels."""

    id: str
    kind: str  # dev | off
    mode: str
    answer: str | None
    ceiling: bool  # the answer in any top-10 search passage
    tries: list[dict] = field(default_factory=list)  # evidence in the order production tries it


def collect(service: NewsService, queries: list[dict], offperiod: list[dict], today: str):
    """Every question, every way, through the service's evidence path."""
    cid = service.store.collections.id_of("default")
    if cid is None:
        raise SystemExit("the data folder holds no 'default' collection: ingest the corpus")
    asks: list[Ask] = []
    answerer = service.answers
    for mode in MODES:
        started = time.monotonic()
        for kind, qs in (("dev", queries), ("off", offperiod)):
            for q in qs:
                question, filters = asked(q, mode, today)
                found = answerer.evidence(cid, question, filters, widen=False)
                tries = [(found, found.window is not None)]
                if found.window is not None and answerer._may_widen(cid, found.window, filters):
                    tries.append((answerer.evidence(cid, question, filters, widen=True), False))
                gold = q.get("answer")
                ceiling = False
                if kind == "dev":
                    top10 = service.search("default", question, top_k=10, filters=filters)
                    ceiling = any(norm(gold) in norm(h.text) for h in top10)
                item = Ask(q["id"], kind, mode, gold, ceiling)
                for f, window in tries:
                    item.tries.append(_evidence(service, f, window, filters.as_of, gold))
                asks.append(item)
        print(f"[fit] {mode}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return asks


def _evidence(service: NewsService, found: Found, window: bool, as_of, gold) -> dict:
    hits = found.hits[:ANSWER_HITS]
    floor = service.settings.min_answer_score
    hits = [h for h in hits if h.similarity >= floor]
    texts = {h.article_id: service.store.articles.text(h.article_id) for h in hits}
    return {
        "hits": hits,
        "texts": texts,
        "words": found.words,
        "window": window,
        "as_of": as_of,
        "gold": gold,
    }


def featurize(e: dict) -> None:
    """The candidates and their features, as production computes them (kept apart from the
    collection so a cache of evidence survives a change of features)."""
    q = read_question(e["words"])
    cands = candidates(q, e["hits"], e["texts"], as_of=e["as_of"])
    gold = e["gold"]
    e["q"], e["cands"], e["X"] = q, cands, feature_matrix(cands)
    e["y"] = np.array([bool(gold) and norm(gold) in norm(c.text) for c in cands], dtype=float)
    e["strong"] = any(h.similarity >= WINDOW_FLOOR for h in e["hits"])


def primary(a: Ask) -> dict:
    """The evidence an answer most likely rests on: the time named when it holds anything on
    the subject, else all news."""
    first = a.tries[0]
    if len(a.tries) > 1 and not first["strong"]:
        return a.tries[1]
    return first


# -- the sentence scorer ----------------------------------------------------------------------


def _listwise(w: np.ndarray, data: list[tuple[np.ndarray, np.ndarray]], lam: float):
    loss, grad = 0.0, np.zeros_like(w)
    for X, y in data:
        s = X @ w
        p = np.exp(s - s.max())
        p /= p.sum()
        held = (p * y).sum()
        loss -= np.log(held + 1e-12)
        grad += X.T @ (p - p * y / (held + 1e-12))
    loss += lam * (w[1:] @ w[1:])
    grad[1:] += 2 * lam * w[1:]
    return loss, grad


def fit_sentences(evidence: list[dict], mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    data = [((e["X"] - mean) / scale, e["y"]) for e in evidence if e["y"].any()]
    w0 = np.zeros(len(FEATURES))
    return minimize(_listwise, w0, args=(data, LAMBDA), jac=True, method="L-BFGS-B").x


# -- the answer decision ----------------------------------------------------------------------

C = 1.0  # inverse L2 strength of the answer decision (0.1 gave a point less out of fold)


def fit_decision(X: np.ndarray, y: np.ndarray):
    """A logistic regression on standardised features: as good out of fold as boosted trees
    were here (and without their appetite for the dev set's quirks: trees learned which ages of
    evidence the off-period questions happen to have)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(X, y)


def export_decision(model) -> dict:
    scaler, lr = model[0], model[-1]
    return {
        "features": list(QUESTION_FEATURES),
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "weights": [float(v) for v in lr.coef_[0]],
        "bias": float(lr.intercept_[0]),
        "threshold": None,
    }


# -- cross-validation ------------------------------------------------------------------------


def folds_of(asks: list[Ask], k: int) -> dict[str, int]:
    out = {}
    for kind in ("dev", "off"):
        ids = sorted({a.id for a in asks if a.kind == kind})
        order = np.random.default_rng(7).permutation(len(ids))
        out.update({ids[i]: n % k for n, i in enumerate(order)})
    return out


def standardise(asks: list[Ask]) -> tuple[np.ndarray, np.ndarray]:
    X = np.vstack([e["X"] for a in asks if a.kind == "dev" for e in a.tries if len(e["X"])])
    mean, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    mean[0], scale[0] = 0.0, 1.0  # the bias column stays 1
    return mean, scale


def qfeatures(e: dict, scores: np.ndarray) -> tuple[float, ...] | None:
    if not len(e["cands"]):
        return None
    return question_features(e["q"], e["cands"], scores, window=e["window"])


def cross_validate(asks: list[Ask], k: int, refuse: float) -> dict:
    """Out-of-fold sentence scores and confidences for every ask; the operating point; the
    figures a member would see, per way of asking."""
    folds = folds_of(asks, k)
    mean, scale = standardise(asks)
    for fold in range(k):
        train = [primary(a) for a in asks if a.kind == "dev" and folds[a.id] != fold]
        w = fit_sentences(train, mean, scale)
        for a in asks:
            if folds[a.id] == fold:
                for e in a.tries:
                    e["oof"] = ((e["X"] - mean) / scale) @ w if len(e["X"]) else np.zeros(0)
                    late = FEATURES.index("behind_newest")
                    recency = (e["X"][:, late] - mean[late]) / scale[late] * w[late]
                    e["topical"] = e["oof"] - recency if len(e["X"]) else np.zeros(0)
                    e["qf"] = qfeatures(e, e["oof"])
    for fold in range(k):
        rows = [(primary(a)["qf"], a.kind == "dev") for a in asks if folds[a.id] != fold]
        rows = [(f, y) for f, y in rows if f is not None]
        clf = fit_decision(np.array([f for f, _ in rows]), np.array([y for _, y in rows]))
        for a in asks:
            if folds[a.id] == fold:
                for e in a.tries:
                    e["p"] = float(clf.predict_proba(np.array([e["qf"]]))[0, 1]) if e["qf"] else 0.0
    threshold = operating_point(asks, refuse)
    return {"threshold": threshold, "by_mode": figures(asks, threshold)}


def answered_by(a: Ask, threshold: float) -> dict | None:
    """The evidence production would answer from: the time named, then all news."""
    return next((e for e in a.tries if e.get("p", 0.0) >= threshold), None)


def operating_point(asks: list[Ask], refuse: float) -> float:
    """The lowest confidence refusing ``refuse`` of the off-period questions every way that
    matters to members (asked on its date, today, month-phrased)."""
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        ok = True
        for mode in ("dated", "today", "month"):
            off = [a for a in asks if a.kind == "off" and a.mode == mode]
            refused = np.mean([answered_by(a, t) is None for a in off])
            ok &= refused >= refuse
        if ok:
            return float(t)
    return 0.95


def figures(asks: list[Ask], threshold: float) -> dict:
    out = {}
    for mode in MODES:
        dev = [a for a in asks if a.kind == "dev" and a.mode == mode]
        off = [a for a in asks if a.kind == "off" and a.mode == mode]
        first = anywhere = answered = 0
        for a in dev:
            e = answered_by(a, threshold)
            if e is None:
                continue
            answered += 1
            picked = chosen(e["q"], e["cands"], e["oof"], 3, e["texts"], e.get("topical"))
            gold = norm(a.answer)
            first += gold in norm(picked[0][0].text)
            anywhere += gold in norm(" ".join(c.text for c, _ in picked))
        n = len(dev)
        ceiling = sum(a.ceiling for a in dev) / n
        out[mode] = {
            "gold_first_sentence": round(first / n, 4),
            "gold_in_answer": round(anywhere / n, 4),
            "ceiling_top10": round(ceiling, 4),
            "first_over_ceiling": round(first / n / ceiling, 4) if ceiling else None,
            "answered_in_period": round(answered / n, 4),
            "refused_off_period": round(
                float(np.mean([answered_by(a, threshold) is None for a in off])), 4
            ),
        }
    return out


def fit_all(asks: list[Ask]) -> dict:
    """The shipped model: the sentence weights on every dev question, the decision on the
    out-of-fold question features (what the weights give questions they never saw)."""
    mean, scale = standardise(asks)
    w = fit_sentences([primary(a) for a in asks if a.kind == "dev"], mean, scale)
    rows = [(primary(a)["qf"], a.kind == "dev") for a in asks]
    rows = [(f, y) for f, y in rows if f is not None]
    X, y = np.array([f for f, _ in rows]), np.array([y for _, y in rows])
    clf = fit_decision(X, y)
    model = {
        "sentence": {
            "features": list(FEATURES),
            "mean": [float(v) for v in mean],
            "scale": [float(v) for v in scale],
            "weights": [float(v) for v in w],
        },
        "answer": export_decision(clf),
    }
    check = AnswerModel.from_dict({**model, "answer": {**model["answer"], "threshold": 0.5}})
    mine = np.array([check.confidence(tuple(f)) for f in X[:200]])
    if np.abs(mine - clf.predict_proba(X[:200])[:, 1]).max() > 1e-9:
        raise AssertionError("the exported decision disagrees with the fitted one")
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--out", type=Path, default=MODEL_FILE)
    ap.add_argument("--report", type=Path, default=ROOT / "bench" / "results" / "answer_model.json")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--refuse", type=float, default=0.87, help="off-period share refused")
    ap.add_argument("--today", default=date.today().isoformat())
    ap.add_argument("--cache", type=Path, help="keep the collected evidence here (a pickle)")
    a = ap.parse_args(argv)
    queries = read_jsonl(a.eval_dir / "realtimeqa-2023q4" / "queries.jsonl")
    offperiod = read_jsonl(a.eval_dir / "offperiod-2024.jsonl")
    if a.cache and a.cache.is_file():
        asks, chunks = pickle.loads(a.cache.read_bytes())
    else:
        with NewsService(CoreSettings(data_dir=a.data_dir)) as service:
            asks = collect(service, queries, offperiod, a.today)
            chunks = service.stats("default")["chunks"]
        if a.cache:
            a.cache.write_bytes(pickle.dumps((asks, chunks)))
    for ask in asks:
        for e in ask.tries:
            featurize(e)
    cv = cross_validate(asks, a.folds, a.refuse)
    model = fit_all(asks)
    model["answer"]["threshold"] = cv["threshold"]
    model["fitted"] = {
        "by": "bench/fit_answers.py",
        "commit": head(),
        "date": time.strftime("%Y-%m-%d"),
        "data": f"{a.data_dir.name}: {chunks} chunks; {len(queries)} dev and "
        f"{len(offperiod)} off-period questions, asked {', '.join(MODES)} (today = {a.today})",
        "cross_validated": cv,
    }
    a.out.write_text(json.dumps(model, indent=1) + "\n")
    a.report.parent.mkdir(parents=True, exist_ok=True)
    a.report.write_text(json.dumps(model["fitted"], indent=2) + "\n")
    print(json.dumps(model["fitted"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
