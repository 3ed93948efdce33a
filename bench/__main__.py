"""`make bench`: quality, answers, ingest throughput, latency, rebuild and scale, side by side.

  python -m bench [--full] [--quick] [--skip-scale] [--out bench/results]

Writes ``latest.json`` (with machine, versions and commit), ``latest.md`` and PNG charts. Every
ratio is measured in this one run, against its baseline or physical limit run next to it: these
machines are noisy, so absolute numbers from different runs are not compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench import follow
from bench.baselines import BM25Baseline, DenseBaseline, corpus_windows
from bench.collections import run as same_news
from bench.load import sweep
from bench.quality import EVAL, MODES, evaluate, load_scorer, read_jsonl
from bench.report import charts, markdown
from bench.rss import measure as peak_rss
from bench.runtime import ingest_side_by_side, query_side_by_side, torch_copy
from bench.speed import latency, rebuild_ratio
from bench.tokens import accounting as tokens_accounting
from index.feeds import FeedPoller
from index.ingest.sources import document_from_record
from index.search.embed import Embedder, make_embedder
from index.service import NewsService
from index.settings import CoreSettings

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    import faiss
    import onnxruntime
    import sentence_transformers
    import torch

    from bench.revision import head
    from index.search.cpu import cpu, cpu_line

    return {
        "commit": head(),
        "cpu": cpu_line(),  # beside every speed figure: the vector units decide the runtime
        "cpu_model": cpu()["model"],
        "cpu_flags": cpu()["flags"],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sentence_transformers": sentence_transformers.__version__,
        "faiss": faiss.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def stage(name: str) -> None:
    print(f"[bench] {time.strftime('%H:%M:%S')} {name}", file=sys.stderr, flush=True)


def baseline_quality(
    articles: list[dict], queries: list[dict], scorer, embedder, cache: Path
) -> dict:
    passages = corpus_windows(articles)
    out = {"passages": len(passages)}
    for name, system in (
        ("bm25", BM25Baseline(passages)),
        ("tutorial_dense", DenseBaseline(passages, embedder, cache)),
    ):
        run = {q["id"]: [{"text": t} for t in system.search(q["question"])] for q in queries}
        out[name] = scorer.score(queries, run)
    return out


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="score retrieval on the full corpus")
    ap.add_argument("--quick", action="store_true", help="200 articles, 60 questions (smoke)")
    ap.add_argument("--fresh", action="store_true", help="re-ingest the kept full-corpus store")
    ap.add_argument("--skip-scale", action="store_true", help="skip the 1 M-chunk run")
    ap.add_argument("--follow-before", help="bench.follow: also measure this revision's code")
    ap.add_argument("--scale-from", type=Path, help="report this bench.scale JSON instead")
    ap.add_argument(
        "--render",
        type=Path,
        metavar="LATEST.json",
        help="only rewrite latest.md from an earlier run's JSON",
    )
    ap.add_argument(
        "--backend",
        default=CoreSettings().embed_backend,
        help="the embedding runtime measured (auto, onnx-int8, onnx or torch); PyTorch beside it",
    )
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return ap.parse_args(argv)


@dataclass
class Inputs:
    """What a run reads from the eval folder (shortened by --quick)."""

    rtq: Path
    small: list[dict]
    queries: list[dict]
    offperiod: list[dict]


def inputs(a: argparse.Namespace) -> Inputs:
    rtq = a.eval_dir / "realtimeqa-2023q4"
    small = read_jsonl(rtq / "corpus-small.jsonl")
    queries = read_jsonl(rtq / "queries.jsonl")
    offperiod = read_jsonl(a.eval_dir / "offperiod-2024.jsonl")
    if a.quick:  # the short gold excerpts plus a few full articles: a smoke run of every stage
        short = [x for x in small if len((x.get("body") or "").split()) < 150]
        small = short + [x for x in small if x not in short][:30]
        queries, offperiod = queries[:100], offperiod[:50]
    return Inputs(rtq, small, queries, offperiod)


def full_corpus(
    a: argparse.Namespace, data: Inputs, embedder, work: Path, result: dict
) -> tuple[NewsService, list[dict]]:
    """The full-corpus store, kept between runs (its ingest takes ~35 min here): articles
    already stored are recognised and skipped, never re-embedded. --fresh starts it over."""
    stage("ingest: the full corpus (for quality)")
    full_dir = work / "full"
    if a.fresh:
        shutil.rmtree(full_dir, ignore_errors=True)
    service = NewsService(CoreSettings(data_dir=full_dir), embedder)
    corpus = read_jsonl(data.rtq / "corpus.jsonl")
    report = service.ingest(
        "default", [document_from_record(x, f"c:{i}") for i, x in enumerate(corpus)]
    )
    result["full_corpus"] = {
        "added": len(report.added),
        "already_stored": len(report.duplicates),
        "chunks": service.stats("default")["chunks"],
    }
    return service, corpus


def quality(
    quality_service: NewsService,
    small_service: NewsService,
    data: Inputs,
    scorer,
    work: Path,
) -> tuple[dict[str, dict], dict[str, dict] | None]:
    """Every way a question is asked, on the quality store (its answers kept) and, when that
    is the full corpus, on corpus-small as well."""
    stage("quality and answers: newsbot, each way a question is asked")
    today = date.today().isoformat()
    answers: list[dict] = []

    def modes(svc: NewsService, label: str) -> dict[str, dict]:
        out = {}
        for mode in MODES:
            stage(f"  {label}: {mode}")
            m = evaluate(
                svc,
                "default",
                data.queries,
                data.offperiod,
                scorer,
                mode=mode,
                today=today,
                answers_out=answers if svc is quality_service else None,
            )
            m.pop("_in_scores"), m.pop("_off_scores")
            out[mode] = m
        return out

    name = "corpus-small.jsonl" if quality_service is small_service else "corpus.jsonl"
    by_mode = modes(quality_service, name)
    small = None
    if quality_service is not small_service:  # the targets on corpus-small, from the same run
        small = modes(small_service, "corpus-small.jsonl")
    (work / "answers.jsonl").write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in answers)
    )
    return by_mode, small


def modes_on(svc: NewsService, data: Inputs, scorer) -> dict[str, dict]:
    """Every way a question is asked, on one more store (figures only)."""
    today = date.today().isoformat()
    out = {}
    for mode in MODES:
        m = evaluate(svc, "default", data.queries, data.offperiod, scorer, mode=mode, today=today)
        m.pop("_in_scores"), m.pop("_off_scores")
        out[mode] = m
    return out


def summary(by_mode: dict[str, dict], baselines: dict, corpus_name: str, n: int) -> dict:
    """The quality and answers sections of the result, from each mode's full figures."""
    keys = ("hits@1", "hits@4", "hits@10", "mrr@10")
    tutorial = baselines["tutorial_dense"]["mrr@10"]
    answer_keys = (
        "gold_first_sentence",
        "gold_anywhere",
        "ceiling_top10",
        "first_over_ceiling",
        "gold_in_answer",
        "phrase_questions",
        "answered_in_period",
        "abstained_off_period",
        "off_period_answers_marked_old",
    )
    return {
        "quality": {
            "corpus": corpus_name,
            "questions": n,
            "asked_today": date.today().isoformat(),
            "newsbot": {mode: {k: by_mode[mode][k] for k in keys} for mode in MODES},
            "baselines": baselines,
            "mrr_ratio_vs_tutorial": {
                mode: ratio(by_mode[mode]["mrr@10"], tutorial) for mode in MODES
            },
        },
        "answers": {mode: {k: by_mode[mode][k] for k in answer_keys} for mode in MODES},
    }


def speed(
    service: NewsService, data: Inputs, result: dict, torch_model: Embedder, quick: bool
) -> dict:
    """Question embedding on both runtimes, latency, rebuild against re-embedding, then load as
    servers see it (open-loop arrivals idle, during a bulk ingest and a feed poll)."""
    stage("question embedding: the runtime against PyTorch, one thread each")
    questions = [q["question"] for q in data.queries]
    result["query_embedding"] = query_side_by_side(service.embedder, torch_model, questions)
    stage("latency")
    lat = latency(service, data.queries)
    samples = lat.pop("_samples")
    result["latency"] = lat
    stage("rebuild from stored vectors")
    result["rebuild"] = rebuild_ratio(service, result["ingest"]["torch_encode_seconds"])
    stage("load: open-loop questions idle, during a bulk ingest, during a feed poll")
    seen = {x.get("id") for x in data.small}
    rest = [x for x in read_jsonl(data.rtq / "corpus.jsonl") if x.get("id") not in seen]
    bulk, feed = (rest[:150], rest[150:200]) if quick else (rest[:1500], rest[1500:1650])
    result["load"] = sweep(
        service,
        "default",
        questions,
        [document_from_record(x, f"bulk:{i}") for i, x in enumerate(bulk)],
        feed,
        lambda s: FeedPoller(s, max_entries=len(feed)),
        seconds=5.0 if quick else 20.0,
    )
    return samples


def alerts_and_digest(quality_dir: Path, work: Path, out: Path) -> dict:
    """Watch alerts' precision and recall at the shipped bar on the dev set (``bench.watch``) and
    the digest's build time on the busiest day (``bench.digest``), each in its own process on a
    copy of the quality store (opening a store may write to it)."""
    copy = work / "quality-copy"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    shutil.copy2(quality_dir / "newsbot.sqlite3", copy / "newsbot.sqlite3")
    found = {}
    for name, extra in (("watch", []), ("digest", ["--watch-queries", "100"])):
        target = out / f"{name}.json"
        argv = [sys.executable, "-m", f"bench.{name}", "--store", str(copy), "--out", str(target)]
        proc = subprocess.run(
            [*argv, *extra], cwd=ROOT, capture_output=True, text=True, timeout=3600
        )
        if proc.returncode == 0 and target.is_file():
            found[name] = json.loads(target.read_text())
        else:
            found[name] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    shutil.rmtree(copy, ignore_errors=True)
    return found


def scale(a: argparse.Namespace, out: Path) -> dict | None:
    """The 1 M-chunk run: read from --scale-from, or run bench.scale in its own process."""
    if a.scale_from and a.scale_from.is_file():
        return json.loads(a.scale_from.read_text())
    if a.skip_scale or a.quick:
        return None
    stage("scale: 1 M synthetic chunks (bench.scale, separate process)")
    scale_out = out / "scale.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--out", str(scale_out)], cwd=ROOT, timeout=3600
    )
    if proc.returncode == 0 and scale_out.is_file():
        return json.loads(scale_out.read_text())
    return None


def main(argv: list[str] | None = None) -> int:
    a = arguments(argv)
    out = a.out
    if a.render:
        (out / "latest.md").write_text(markdown(json.loads(a.render.read_text())))
        return 0
    work = out / "work"
    out.mkdir(parents=True, exist_ok=True)
    data = inputs(a)
    scorer = load_scorer(a.eval_dir)
    result: dict = {"machine": machine()}
    models = work / "models"
    embedder = make_embedder(a.backend, cache_dir=models)
    torch_model = make_embedder("torch", cache_dir=models)

    stage(f"ingest throughput: corpus-small end to end on {a.backend}, raw encode on both runtimes")
    small_dir = work / "small"
    shutil.rmtree(small_dir, ignore_errors=True)
    service = NewsService(CoreSettings(data_dir=small_dir, fetch_allow="127.0.0.1"), embedder)
    docs = [document_from_record(x, f"corpus:{i}") for i, x in enumerate(data.small)]
    result["ingest"], torch_vectors = ingest_side_by_side(service, docs, torch_model)
    torch_small = torch_copy(service, torch_vectors, work / "small-torch", torch_model)
    quality_service, corpus = service, data.small
    if a.full:
        quality_service, corpus = full_corpus(a, data, embedder, work, result)
    corpus_name = "corpus.jsonl" if a.full else "corpus-small.jsonl"

    by_mode, small = quality(quality_service, service, data, scorer, work)
    if small is not None:
        result["quality_small"] = small
    stage("quality: corpus-small embedded by PyTorch (the same chunks, the same run)")
    result["quality_small_torch"] = modes_on(torch_small, data, scorer)
    result["quality_small_runtime"] = small or by_mode
    torch_small.close()
    stage("quality: baselines (BM25, tutorial dense)")
    baselines = baseline_quality(corpus, data.queries, scorer, embedder, work / "cache")
    result.update(summary(by_mode, baselines, corpus_name, len(data.queries)))
    stage("watches and digests: alert precision/recall, digest build time")
    result.update(alerts_and_digest(quality_service.settings.data_dir, work, out))
    stage("peak memory of a bot process with the model loaded, per runtime")
    result["peak_rss"] = [
        peak_rss(b, small_dir, [q["question"] for q in data.queries[:20]], models)
        for b in ("torch", a.backend)
    ]
    samples = speed(service, data, result, torch_model, a.quick)
    stage("word pieces the model reads: text, prefix, overlap, padding (bench.tokens)")
    result["tokens"] = tokens_accounting(
        small_dir, a.backend, 128 if a.quick else 512, 32, 256, models
    )
    stage("the same news in ten collections (bench.collections)")
    result["collections"] = same_news(
        30 if a.quick else 150,
        3 if a.quick else 10,
        a.backend,
        a.eval_dir,
        work / "collections",
        models,
    )
    (out / "collections.json").write_text(json.dumps(result["collections"], indent=2) + "\n")
    if (scaled := scale(a, out)) is not None:
        result["scale"] = scaled
    stage("an ask right after another process's write (bench.follow, separate processes)")
    result["follow"] = follow.run(
        chunks=5_000 if a.quick else 100_000, rounds=3 if a.quick else 7, before=a.follow_before
    )
    (out / "follow.json").write_text(json.dumps(result["follow"], indent=2) + "\n")
    result["charts"] = charts(result, out, samples)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "latest.md").write_text(markdown(result))
    print(markdown(result))
    stage(f"wrote {out / 'latest.md'}")
    service.close()
    if quality_service is not service:
        quality_service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
