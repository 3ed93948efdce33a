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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np

from bench.baselines import BM25Baseline, DenseBaseline, corpus_windows
from bench.quality import EVAL, MODES, evaluate, load_scorer, read_jsonl
from index.ingest.sources import document_from_record
from index.search.embed import SentenceTransformerEmbedder
from index.search.retrieve import Filters
from index.service import NewsService
from index.settings import CoreSettings

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def ms(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "n": len(values),
    }


def machine() -> dict:
    import faiss
    import sentence_transformers
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", False
    return {
        "commit": commit + ("-dirty" if dirty else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sentence_transformers": sentence_transformers.__version__,
        "faiss": faiss.__version__,
    }


def stage(name: str) -> None:
    print(f"[bench] {time.strftime('%H:%M:%S')} {name}", file=sys.stderr, flush=True)


def ingest_throughput(service: NewsService, articles: list[dict], slices: int = 4) -> dict:
    """End-to-end ingest against raw ``encode`` of exactly the texts it embedded.

    The two alternate slice by slice (ingest a quarter, encode its chunks, next quarter…) so
    that both see the same machine: a neighbour's load lands on both sides of the ratio.
    """
    docs = [document_from_record(a, f"corpus:{i}") for i, a in enumerate(articles)]
    cid = None
    ingest_seconds = raw_seconds = 0.0
    chunks = added = duplicates = encoded = 0
    last_id = 0
    step = -(-len(docs) // slices)
    for start in range(0, len(docs), step):
        report = service.ingest("default", docs[start : start + step])
        ingest_seconds += report.seconds
        chunks += report.chunks
        added += len(report.added)
        duplicates += len(report.duplicates)
        cid = cid or service.store.collections.id_of("default")
        texts = []
        for rows in service.store.chunks.iter_texts(cid):
            fresh = [r for r in rows if r.id > last_id]
            texts += service.indexes.embedded_texts(fresh)  # what the ingest embedded
            last_id = max([last_id, *(r.id for r in fresh)])
        started = time.perf_counter()
        for i in range(0, len(texts), 256):
            service.embedder.embed(texts[i : i + 256])
        raw_seconds += time.perf_counter() - started
        encoded += len(texts)
    newsbot_rate = chunks / ingest_seconds
    raw_rate = encoded / raw_seconds
    return {
        "articles": added,
        "duplicates": duplicates,
        "chunks": chunks,
        "ingest_seconds": round(ingest_seconds, 1),
        "ingest_chunks_per_s": round(newsbot_rate, 2),
        "raw_encode_seconds": round(raw_seconds, 1),
        "raw_encode_chunks_per_s": round(raw_rate, 2),
        "ratio": round(newsbot_rate / raw_rate, 3),
        "slices": slices,
    }


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


def latency(service: NewsService, queries: list[dict], repeats: int = 1) -> dict:
    """Questions asked as members ask them: today, no date given."""
    questions = [q["question"] for q in queries]
    now = Filters(as_of=date.today().isoformat())
    index = service.vector_index("default")
    for q in questions[:20]:  # warm caches, the model and SQLite pages
        service.ask("default", q, filters=now)
    ask, search, floor = [], [], []
    for _ in range(repeats):
        for q in questions:
            t = time.perf_counter()
            vec = service.retriever.queries.embed_one(q)  # the question's own lane, as in search
            index.search(vec, 50)
            floor.append(time.perf_counter() - t)
            t = time.perf_counter()
            service.search("default", q, filters=now)
            search.append(time.perf_counter() - t)
            t = time.perf_counter()
            service.ask("default", q, filters=now)
            ask.append(time.perf_counter() - t)
    out = {"ask": ms(ask), "search": ms(search), "floor": ms(floor)}
    out["ask_p95_over_floor_p95"] = round(percentile(ask, 95) / percentile(floor, 95), 3)
    out["_samples"] = {"ask": ask, "search": search, "floor": floor}
    return out


def ask_under_load(
    service: NewsService,
    queries: list[dict],
    extra: list[dict],
    idle_p95: float,
    askers: int = 8,
    seconds: float = 60.0,
) -> dict:
    """8 threads asking while another thread ingests new articles: p95 and errors."""
    done = threading.Event()
    ingest_info: dict = {}

    def ingest() -> None:
        docs = [document_from_record(a, f"extra:{i}") for i, a in enumerate(extra)]
        ingest_info["report"] = service.ingest("default", docs)
        done.set()

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def asker(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline and not (done.is_set() and i > offset + 20):
            q = queries[i % len(queries)]["question"]
            t = time.perf_counter()
            try:
                service.ask("default", q, filters=Filters(as_of=date.today().isoformat()))
            except Exception as exc:  # counted, not raised: the point is to see them
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            with lock:
                latencies.append(time.perf_counter() - t)
            i += askers

    writer = threading.Thread(target=ingest, daemon=True)
    writer.start()
    with ThreadPoolExecutor(askers) as pool:
        list(pool.map(asker, range(askers)))
    writer.join(timeout=max(1.0, deadline - time.monotonic() + 120))
    report = ingest_info.get("report")
    return {
        "askers": askers,
        "asks": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:3],
        **ms(latencies),
        "p95_over_idle_p95": round(percentile(latencies, 95) / idle_p95, 3) if idle_p95 else None,
        "ingested_chunks_meanwhile": report.chunks if report else None,
    }


def rebuild_ratio(service: NewsService, raw_encode_seconds: float) -> dict:
    started = time.perf_counter()
    counts = service.rebuild("default")
    seconds = time.perf_counter() - started
    return {
        "vectors": sum(counts.values()),
        "rebuild_seconds": round(seconds, 3),
        "reembed_seconds": round(raw_encode_seconds, 1),
        "speedup": round(raw_encode_seconds / seconds, 1),
    }


def charts(result: dict, out: Path, samples: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    q = result["quality"]
    systems = {
        **{f"newsbot ({mode})": q["newsbot"][mode] for mode in MODES},
        "tutorial dense": q["baselines"]["tutorial_dense"],
        "BM25": q["baselines"]["bm25"],
    }
    fig, ax = plt.subplots(figsize=(8, 4))
    metrics = ["hits@1", "hits@4", "hits@10", "mrr@10"]
    width = 0.8 / len(systems)
    for i, (name, m) in enumerate(systems.items()):
        ax.bar(
            [j + i * width for j in range(len(metrics))], [m[k] for k in metrics], width, label=name
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.set_title(f"Retrieval quality, {q['corpus']} ({q['questions']} questions)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "quality.png", dpi=110)
    files.append("quality.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    for name in ("floor", "search", "ask"):
        values = np.asarray(samples[name]) * 1000
        ax.hist(
            values,
            bins=60,
            alpha=0.5,
            label=f"{name} (p95 {np.percentile(values, 95):.1f} ms)",
            range=(0, float(np.percentile(np.asarray(samples["ask"]) * 1000, 99.5))),
        )
    ax.set_xlabel("ms")
    ax.set_title("Latency, warm, in-process")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    files.append("latency.png")
    plt.close(fig)
    return files


def scale_markdown(scale: dict) -> list[str]:
    """The 1 M-chunk run (bench.scale) as a table: exact flat vs the IVF index newsbot uses."""
    lines = [
        f"## Scale: {scale.get('n', 0):,} synthetic chunks ({scale.get('dim')}-d), "
        f"load average at start {scale.get('loadavg_at_start', [0.0])[0]:.1f}",
        "",
    ]
    for run in scale.get("runs", []):
        ex, ap = run.get("exact", {}), run.get("approx", {})
        chosen = next((x for x in ap.get("sweep", []) if x.get("nprobe") == ap.get("nprobe")), {})
        raw = run.get("raw_vector_bytes", 1)
        lines += [
            f"**{run.get('distribution')} vectors** (raw vector bytes {raw / 1e9:.2f} GB)",
            "",
            "| | exact flat | IVF (newsbot above 200k) |",
            "|---|---|---|",
            f"| build from SQLite | {ex.get('build_s')} s | {ap.get('build_s')} s |",
            f"| load | {ex.get('load_s')} s | {ap.get('load_s')} s |",
            f"| peak RSS (÷ raw vectors) | {ex.get('peak_rss', 0) / 1e9:.2f} GB "
            f"({ex.get('peak_rss', 0) / raw:.2f}) | {ap.get('peak_rss_build', 0) / 1e9:.2f} GB "
            f"({ap.get('peak_rss_build', 0) / raw:.2f}) |",
            f"| search p50 / p95 | {ex.get('search', {}).get('p50_ms')} / "
            f"{ex.get('search', {}).get('p95_ms')} ms | {chosen.get('near', {}).get('p50_ms')} / "
            f"{chosen.get('near', {}).get('p95_ms')} ms |",
            f"| recall@10 vs exact (near / fresh queries) | 1 | "
            f"{chosen.get('near', {}).get('recall@10')} / "
            f"{chosen.get('fresh', {}).get('recall@10')} |",
            "",
        ]
    return lines


def markdown(r: dict) -> str:
    q, a, t, lat, load, rb = (
        r["quality"],
        r["answers"],
        r["ingest"],
        r["latency"],
        r["under_load"],
        r["rebuild"],
    )
    b = q["baselines"]
    lines = [
        "# newsbot benchmark",
        "",
        f"commit {r['machine']['commit']} · {r['machine']['date']} · {r['machine']['cpus']} CPUs"
        f" · torch {r['machine']['torch']} · faiss {r['machine']['faiss']}",
        "",
        f"## Retrieval quality ({q['corpus']}, {q['questions']} questions, score.py)",
        "",
    ]
    if r.get("full_corpus"):
        fc = r["full_corpus"]
        lines += [
            f"Stored: {fc['chunks']:,} chunks ({fc['added']} articles added in this run, "
            f"{fc['already_stored']} already stored or duplicates).",
            "",
        ]
    lines += [
        f'Asked on {q["asked_today"]} for the "today" and "month" rows. dated: on each'
        " question's quiz date (`--as-of`); today: no date given, as `/ask` and a bare `newsbot"
        ' ask` do; month: "In October 2023, …" (the month of its quiz date) asked today;'
        " undated: `--undated`.",
        "",
        "| system | Hits@1 | Hits@4 | Hits@10 | MRR@10 | MRR / tutorial |",
        "|---|---|---|---|---|---|",
    ]
    for mode, m in q["newsbot"].items():
        lines.append(
            f"| newsbot, {mode} | {m['hits@1']} | {m['hits@4']} | {m['hits@10']} | "
            f"{m['mrr@10']} | {q['mrr_ratio_vs_tutorial'][mode]}× |"
        )
    for name, m in (("tutorial dense bot", b["tutorial_dense"]), ("BM25 alone", b["bm25"])):
        lines.append(
            f"| {name} | {m['hits@1']} | {m['hits@4']} | {m['hits@10']} | {m['mrr@10']} | |"
        )
    lines += [
        "",
        f"## Answers ({q['corpus']}; off-period: offperiod-2024.jsonl, asked the same way)",
        "",
        '| asked | gold answer in the answer | in-period answered | off-period "nothing'
        ' relevant" | off-period answers marked old |',
        "|---|---|---|---|---|",
    ]
    for mode, x in a.items():
        lines.append(
            f"| {mode} | {x['gold_in_answer']} ({x['phrase_questions']} questions) | "
            f"{x['answered_in_period']} | {x['abstained_off_period']} | "
            f"{x['off_period_answers_marked_old']} |"
        )
    if r.get("quality_small"):
        lines += [
            "",
            "Same run, corpus-small.jsonl (its store is the one the ingest stage builds):",
            "",
            "| asked | Hits@1 | Hits@10 | MRR@10 | gold in answer | in-period answered |"
            ' off-period "nothing relevant" | off-period answers marked old |',
            "|---|---|---|---|---|---|---|---|",
        ]
        for mode, x in r["quality_small"].items():
            lines.append(
                f"| {mode} | {x['hits@1']} | {x['hits@10']} | {x['mrr@10']} | "
                f"{x['gold_in_answer']} | {x['answered_in_period']} | "
                f"{x['abstained_off_period']} | {x['off_period_answers_marked_old']} |"
            )
    lines += [
        "",
        "Every answer of the run is in `work/answers.jsonl` (`ask --json` fields, `id`, `mode`).",
        "",
        "## Ingest throughput (corpus-small, end to end vs raw encode of the same texts)",
        "",
        f"- newsbot ingest: {t['ingest_chunks_per_s']} chunks/s ({t['chunks']} chunks, "
        f"{t['ingest_seconds']} s)",
        f"- raw SentenceTransformer.encode: {t['raw_encode_chunks_per_s']} chunks/s",
        f"- ratio: **{t['ratio']}**",
        "",
        "## Latency (warm, in-process)",
        "",
        "| | p50 ms | p95 ms |",
        "|---|---|---|",
        f"| floor (query embedding + FAISS) | {lat['floor']['p50_ms']} | "
        f"{lat['floor']['p95_ms']} |",
        f"| search | {lat['search']['p50_ms']} | {lat['search']['p95_ms']} |",
        f"| ask | {lat['ask']['p50_ms']} | {lat['ask']['p95_ms']} |",
        f"| ask, {load['askers']} concurrent askers during an ingest | {load['p50_ms']} | "
        f"{load['p95_ms']} |",
        "",
        f"ask p95 / floor p95: **{lat['ask_p95_over_floor_p95']}**; under load p95 / idle p95: "
        f"**{load['p95_over_idle_p95']}**, errors: {load['errors']}.",
        "",
        "## Rebuild",
        "",
        f"Rebuild from stored vectors {rb['rebuild_seconds']} s vs re-embedding "
        f"{rb['reembed_seconds']} s: **{rb['speedup']}×** faster ({rb['vectors']} vectors).",
    ]
    if r.get("scale"):
        lines += ["", *scale_markdown(r["scale"])]
    lines += ["", "Charts: " + ", ".join(f"`{f}`" for f in r.get("charts", []))]
    return "\n".join(lines) + "\n"


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="score retrieval on the full corpus")
    ap.add_argument("--quick", action="store_true", help="200 articles, 60 questions (smoke)")
    ap.add_argument("--fresh", action="store_true", help="re-ingest the kept full-corpus store")
    ap.add_argument("--skip-scale", action="store_true", help="skip the 1 M-chunk run")
    ap.add_argument("--scale-from", type=Path, help="report this bench.scale JSON instead")
    ap.add_argument(
        "--render",
        type=Path,
        metavar="LATEST.json",
        help="only rewrite latest.md from an earlier run's JSON",
    )
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    a = ap.parse_args(argv)
    out = a.out
    if a.render:
        (out / "latest.md").write_text(markdown(json.loads(a.render.read_text())))
        return 0
    work = out / "work"
    out.mkdir(parents=True, exist_ok=True)
    rtq = a.eval_dir / "realtimeqa-2023q4"
    small = read_jsonl(rtq / "corpus-small.jsonl")
    queries = read_jsonl(rtq / "queries.jsonl")
    offperiod = read_jsonl(a.eval_dir / "offperiod-2024.jsonl")
    if a.quick:  # the short gold excerpts plus a few full articles: a smoke run of every stage
        short = [x for x in small if len((x.get("body") or "").split()) < 150]
        small = short + [x for x in small if x not in short][:30]
        queries, offperiod = queries[:100], offperiod[:50]
    scorer = load_scorer(a.eval_dir)
    result: dict = {"machine": machine()}
    embedder = SentenceTransformerEmbedder()

    stage("ingest throughput: corpus-small end to end, then raw encode")
    small_dir = work / "small"
    shutil.rmtree(small_dir, ignore_errors=True)
    service = NewsService(CoreSettings(data_dir=small_dir), embedder)
    result["ingest"] = ingest_throughput(service, small)

    if a.full:
        # Kept between runs (its ingest takes ~35 min here): articles already stored are
        # recognised and skipped, never re-embedded. --fresh starts it over.
        stage("ingest: the full corpus (for quality)")
        full_dir = work / "full"
        if a.fresh:
            shutil.rmtree(full_dir, ignore_errors=True)
        quality_service = NewsService(CoreSettings(data_dir=full_dir), embedder)
        corpus = read_jsonl(rtq / "corpus.jsonl")
        report = quality_service.ingest(
            "default", [document_from_record(x, f"c:{i}") for i, x in enumerate(corpus)]
        )
        result["full_corpus"] = {
            "added": len(report.added),
            "already_stored": len(report.duplicates),
            "chunks": quality_service.stats("default")["chunks"],
        }
        corpus_name = "corpus.jsonl"
    else:
        quality_service, corpus, corpus_name = service, small, "corpus-small.jsonl"

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
                queries,
                offperiod,
                scorer,
                mode=mode,
                today=today,
                answers_out=answers if svc is quality_service else None,
            )
            m.pop("_in_scores"), m.pop("_off_scores")
            out[mode] = m
        return out

    by_mode = modes(quality_service, corpus_name)
    if quality_service is not service:  # the targets on corpus-small, from the same run
        result["quality_small"] = modes(service, "corpus-small.jsonl")
    (work / "answers.jsonl").write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in answers)
    )
    stage("quality: baselines (BM25, tutorial dense)")
    baselines = baseline_quality(corpus, queries, scorer, embedder, work / "cache")
    keys = ("hits@1", "hits@4", "hits@10", "mrr@10")
    tutorial = baselines["tutorial_dense"]["mrr@10"]
    result["quality"] = {
        "corpus": corpus_name,
        "questions": len(queries),
        "asked_today": today,
        "newsbot": {mode: {k: by_mode[mode][k] for k in keys} for mode in MODES},
        "baselines": baselines,
        "mrr_ratio_vs_tutorial": {mode: ratio(by_mode[mode]["mrr@10"], tutorial) for mode in MODES},
    }
    result["answers"] = {
        mode: {
            k: by_mode[mode][k]
            for k in (
                "gold_in_answer",
                "phrase_questions",
                "answered_in_period",
                "abstained_off_period",
                "off_period_answers_marked_old",
            )
        }
        for mode in MODES
    }

    stage("latency")
    lat = latency(service, queries)
    samples = lat.pop("_samples")
    result["latency"] = lat
    stage("latency: 8 askers during an ingest")
    seen = {x.get("id") for x in small}
    extra = [x for x in read_jsonl(rtq / "corpus.jsonl") if x.get("id") not in seen][:40]
    result["under_load"] = ask_under_load(
        service, queries, extra, idle_p95=percentile(samples["ask"], 95)
    )
    stage("rebuild from stored vectors")
    result["rebuild"] = rebuild_ratio(service, result["ingest"]["raw_encode_seconds"])

    if a.scale_from and a.scale_from.is_file():
        result["scale"] = json.loads(a.scale_from.read_text())
    elif not a.skip_scale and not a.quick:
        stage("scale: 1 M synthetic chunks (bench.scale, separate process)")
        scale_out = out / "scale.json"
        proc = subprocess.run(
            [sys.executable, "-m", "bench.scale", "--out", str(scale_out)], cwd=ROOT, timeout=3600
        )
        if proc.returncode == 0 and scale_out.is_file():
            result["scale"] = json.loads(scale_out.read_text())
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
