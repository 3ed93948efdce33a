"""The report of a benchmark run: ``latest.md`` and the PNG charts, from its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.quality import MODES


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


def follow_markdown(follow: dict, cpu: str = "") -> list[str]:
    """bench.follow: an ask right after another process's write, against a normal ask."""
    lines = [
        f"## An ask right after another process's write (bench.follow){on(cpu)}",
        "",
        "| code | chunks | ask p50 | right after a write p50 (max) | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, run in follow.items():
        lines.append(
            f"| {run.get('code', name)} | {run['chunks']:,} | {run['ask_p50_ms']} ms"
            f" | {run['ask_after_write_p50_ms']} ({run['ask_after_write_max_ms']}) ms"
            f" | {run['ratio']}× |"
        )
    return lines


def scale_markdown(scale: dict, cpu: str = "") -> list[str]:
    """The 1 M-chunk run (bench.scale) as a table: exact flat vs the IVF index newsbot uses."""
    lines = [
        f"## Scale: {scale.get('n', 0):,} synthetic chunks ({scale.get('dim')}-d), "
        f"load average at start {scale.get('loadavg_at_start', [0.0])[0]:.1f}{on(cpu)}",
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


def on(cpu: str) -> str:
    """What a speed heading says of the machine: speeds differ with the CPU's vector units."""
    return f" — CPU: {cpu}" if cpu else ""


def markdown(r: dict) -> str:
    """The whole report of a run (``latest.md``)."""
    cpu = r["machine"].get("cpu", "")
    lines = [
        "# newsbot benchmark",
        "",
        f"commit {r['machine']['commit']} · {r['machine']['date']} · CPU: {cpu or '?'}"
        f" · torch {r['machine']['torch']} · faiss {r['machine']['faiss']}"
        f" · onnxruntime {r['machine'].get('onnxruntime')}",
        "",
        *_quality_markdown(r),
        *_answers_markdown(r),
        *_speed_markdown(r),
    ]
    if r.get("collections"):
        from bench.collections import markdown as collections_markdown

        lines += ["", *collections_markdown(r["collections"])]
    if r.get("tokens"):
        lines += ["", *tokens_markdown(r["tokens"])]
    if r.get("scale"):
        lines += ["", *scale_markdown(r["scale"], cpu)]
    if r.get("follow"):
        lines += ["", *follow_markdown(r["follow"], cpu)]
    lines += ["", "Charts: " + ", ".join(f"`{f}`" for f in r.get("charts", []))]
    return "\n".join(lines) + "\n"


def _quality_markdown(r: dict) -> list[str]:
    """Retrieval quality, each way a question is asked, beside the baselines."""
    q = r["quality"]
    b = q["baselines"]
    lines = [
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
    return lines


def _answers_markdown(r: dict) -> list[str]:
    """The answers: the gold answer in what a member reads first, in the answer, and in any
    top-10 passage (the ceiling of an extractive answer); in-period answered, off-period refused
    and marked old; and the answer model's cross-validated figures (bench/fit_answers.py)."""
    q, a = r["quality"], r["answers"]
    lines = [
        "",
        f"## Answers ({q['corpus']}; off-period: offperiod-2024.jsonl, asked the same way)",
        "",
        "| asked | gold in the first sentence | gold in the answer | ceiling (gold in a top-10"
        ' passage) | first / ceiling | in-period answered | off-period "nothing relevant" |'
        " off-period answers marked old |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, x in a.items():
        lines.append(
            f"| {mode} | {x.get('gold_first_sentence')} | {x.get('gold_anywhere')} | "
            f"{x.get('ceiling_top10')} | {x.get('first_over_ceiling')} | "
            f"{x['answered_in_period']} | {x['abstained_off_period']} | "
            f"{x['off_period_answers_marked_old']} |"
        )
    lines += _fitted_markdown()
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
    ]
    return lines


def _fitted_markdown(path: Path = Path("bench/results/answer_model.json")) -> list[str]:
    """The answer model's own figures: out of fold, 5-fold by question, on the dev set it was
    fitted on (bench/fit_answers.py writes them with the model)."""
    if not path.exists():
        return []
    fitted = json.loads(path.read_text(encoding="utf-8"))
    cv = fitted.get("cross_validated", {})
    lines = [
        "",
        "The answer model, cross-validated (5 folds by question, out of fold;"
        f" {fitted.get('data', 'dev')}; `python -m bench.fit_answers`, commit"
        f" {fitted.get('commit', '?')}):",
        "",
        "| asked | gold in the first sentence | gold in the answer | ceiling | first / ceiling"
        ' | in-period answered | off-period "nothing relevant" |',
        "|---|---|---|---|---|---|---|",
    ]
    for mode, x in cv.get("by_mode", {}).items():
        lines.append(
            f"| {mode} | {x['gold_first_sentence']} | {x['gold_in_answer']} |"
            f" {x['ceiling_top10']} | {x['first_over_ceiling']} | {x['answered_in_period']} |"
            f" {x['refused_off_period']} |"
        )
    return lines


def _speed_markdown(r: dict) -> list[str]:
    """The runtimes side by side, latency, load as servers see it, rebuild, memory."""
    t, lat, rb, qe = r["ingest"], r["latency"], r["rebuild"], r["query_embedding"]
    cpu = r["machine"].get("cpu", "")
    lines = [
        "",
        f"## Ingest throughput (corpus-small; newsbot on {t['runtime']}, raw embed of the same"
        f" chunk texts on both runtimes, slice by slice){on(cpu)}",
        "",
        f"- newsbot ingest end to end: {t['ingest_chunks_per_s']} chunks/s ({t['chunks']} chunks,"
        f" {t['ingest_seconds']} s)",
        f"- raw embed, {t['runtime']}: {t['raw_encode_chunks_per_s']} chunks/s; PyTorch"
        f" (SentenceTransformer.encode): {t['torch_encode_chunks_per_s']} chunks/s",
        f"- ingest / PyTorch raw: **{t['ingest_over_torch_raw']}×**"
        + (
            f" (median of the slices {t['median_slice_ingest_over_torch_raw']}×)"
            if "median_slice_ingest_over_torch_raw" in t
            else ""
        )
        + f"; ingest / {t['runtime']} raw:"
        f" **{t['ratio']}**; {t['runtime']} raw / PyTorch raw: {t['raw_over_torch_raw']}×",
        f"- question embedding (one thread, alternating): {t['runtime']} p50 {qe['runtime_p50_ms']}"
        f" ms, PyTorch {qe['torch_p50_ms']} ms: **{qe['ratio']}×**",
    ]
    lines += _runtime_quality(r)
    lines += [
        "",
        f"## Latency (warm, in-process, asked today){on(cpu)}",
        "",
        "| | p50 ms | p95 ms |",
        "|---|---|---|",
        f"| floor (query embedding + FAISS) | {lat['floor']['p50_ms']} | "
        f"{lat['floor']['p95_ms']} |",
        f"| search | {lat['search']['p50_ms']} | {lat['search']['p95_ms']} |",
        f"| ask | {lat['ask']['p50_ms']} | {lat['ask']['p95_ms']} |",
        "",
        f"ask p95 / floor p95: **{lat['ask_p95_over_floor_p95']}**.",
    ]
    lines += _load_markdown(r["load"], cpu)
    lines += _alerts_markdown(r)
    lines += [
        "",
        f"## Rebuild and memory{on(cpu)}",
        "",
        f"Rebuild from stored vectors {rb['rebuild_seconds']} s vs re-embedding with PyTorch "
        f"{rb['reembed_seconds']} s: **{rb['speedup']}×** faster ({rb['vectors']} vectors).",
        "",
        "Peak RSS of a bot process (its imports, the service, the model warmed up, 20 questions): "
        + ", ".join(f"{x['backend']} {x['peak_rss_mb']} MB" for x in r.get("peak_rss", [])),
    ]
    return lines


def _alerts_markdown(r: dict) -> list[str]:
    w, d = r.get("watch"), r.get("digest")
    if not w or not d or "error" in w or "error" in d:
        return []
    bar = w["shipped_bar"]
    return [
        "",
        "## Watches and digests",
        "",
        f"Watch alerts at the shipped bar {bar['bar']} (`bench.watch`: each dev question a watch,"
        f" its week's articles holding the gold evidence positive, {w['pairs']} pairs):"
        f" precision **{bar['precision']:.2f}**, recall **{bar['recall']:.2f}**"
        f" ({bar['alerts']} alerts). Digest of {d['day']} ({d['articles']} articles, {d['stories']}"
        f" stories, {d['watches']} watches): built in {d['build_seconds_median'] * 1000:.1f} ms"
        " (median).",
    ]


def _runtime_quality(r: dict) -> list[str]:
    ours, torch = r.get("quality_small_runtime"), r.get("quality_small_torch")
    if not ours or not torch:
        return []
    lines = [
        "",
        "Retrieval on corpus-small, the same chunks embedded by each runtime (this run):",
        "",
        "| asked | MRR@10 runtime / PyTorch | Hits@10 runtime / PyTorch | gold in answer"
        " runtime / PyTorch |",
        "|---|---|---|---|",
    ]
    for mode in ours:
        a, b = ours[mode], torch[mode]
        lines.append(
            f"| {mode} | {a['mrr@10']} / {b['mrr@10']} | {a['hits@10']} / {b['hits@10']} | "
            f"{a['gold_in_answer']} / {b['gold_in_answer']} |"
        )
    return lines


def _load_markdown(load: dict, cpu: str = "") -> list[str]:
    lines = [
        "",
        f"## Load: open-loop Poisson arrivals, {load['seconds_per_rate']} s a rate, latency from"
        f" each question's arrival{on(cpu)}",
        "",
        "| while | questions/s | asked | p50 ms | p95 ms | p99 ms | p95 / idle p95 | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [("idle", x) for x in load["idle"]]
    rows += [("bulk ingest", x) for x in load["during_ingest"]]
    rows.append(("feed poll", load["during_feed_poll"]))
    for label, x in rows:
        lines.append(
            f"| {label} | {x['rate_per_s']:g} | {x['asked']} | {x['p50_ms']} | {x['p95_ms']} | "
            f"{x['p99_ms']} | {x.get('p95_over_idle_p95', '—')} | {x['errors']} |"
        )
    breaks = load.get("breaks_at")
    where = f"{breaks:g}/s" if breaks else "none of the rates tried"
    lines += [
        "",
        f"p95 passes 1 s during the bulk ingest at: **{where}**."
        f" Bulk ingest meanwhile: {load['bulk_ingest'].get('chunks')} chunks"
        f"{' (finished early)' if load['bulk_ingest'].get('finished_early') else ''};"
        f" feed poll: {load['feed_poll'].get('new')} new entries.",
    ]
    return lines


def tokens_markdown(t: dict) -> list[str]:
    """bench.tokens: what the model reads, by where the word pieces come from."""
    share = t["share_of_model_pieces"]
    return [
        f"## Word pieces the model reads (corpus-small, {t['chunks']:,} chunks){on(t['cpu'])}",
        "",
        f"Of {t['pieces']['model_reads']:,} pieces: chunk text {share['text']:.1%} (of which the"
        f" overlap with the chunk before {share['overlap']:.1%}), title/source/date prefix"
        f" {share['prefix']:.1%}, padding {share['padding']:.1%}, special tokens"
        f" {share['special']:.1%}. The model on {t['runtime']}: {t['sample']['ms_per_1000_pieces']}"
        f" ms a thousand pieces ({t['sample']['chunks_per_s']} chunks/s on a sample).",
    ]
