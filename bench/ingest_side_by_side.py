"""Ingest latency of this code beside another revision's, alternating in one run: what the store
costs an ingest, the model left out.

  python -m bench.ingest_side_by_side --before REV [--rounds 3] [--articles 1000] [--out FILE]

Each round, each code (``git archive REV`` into a temp folder, and this checkout) runs the real
``newsbot ingest`` of the same corpus-small articles into a fresh data folder, as its own process,
with that code's deterministic fake embedder at MiniLM's dimension (so the store's write path —
SQLite, the FTS5 index, the FAISS index, the chunk log, the digest look-ups — is timed, not the
model). Both use the same chunking (``chunk_tokens`` and ``chunk_overlap_tokens`` set alike),
so both store the same passages. Reported: per code the median wall time and chunks/s, and the
ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "eval" / "realtimeqa-2023q4" / "corpus-small.jsonl"
DIM = 384
# The same chunks from both codes whatever their defaults (the overlap's default changed in #21).
CHUNKING = {"chunk_tokens": 200, "chunk_overlap_tokens": 40}


def ingest(code: Path, data: Path, corpus: Path) -> int:
    """``newsbot ingest CORPUS`` in this process, whose ``index`` is ``code``'s (this file runs
    as a script, so a revision without it is measured too)."""
    sys.path.insert(0, str(code / "tests"))
    try:
        from index.search.embed import FakeEmbedder  # the code before issue 20
    except ImportError:
        from fake_embedder import FakeEmbedder
    from index import cli
    from index.service import NewsService
    from index.settings import CoreSettings

    settings = CoreSettings(data_dir=data, **CHUNKING)
    embedder = FakeEmbedder(dim=DIM, name=f"fake-hash-{DIM}")
    argv = ["--data-dir", str(data), "-q", "ingest", str(corpus)]
    return cli.main(argv, service=lambda _args: NewsService(settings, embedder))


def once(code: Path, corpus: Path) -> tuple[float, int]:
    """Seconds of one ingest into a fresh folder, and the chunks it stored."""
    with tempfile.TemporaryDirectory(prefix="newsbot-ingest-") as tmp:
        data = Path(tmp) / "data"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--worker", str(code), str(data), "--corpus", str(corpus)],
            capture_output=True,
            text=True,
            timeout=1800,
            cwd=code,
            env=dict(os.environ, PYTHONPATH=str(code)),
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"the ingest of {code} failed:\n{done.stderr[-3000:]}")
        import sqlite3

        with sqlite3.connect(data / "newsbot.sqlite3") as db:
            chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return seconds, chunks


def run(before: str, rounds: int, corpus: Path) -> dict:
    times: dict[str, list[float]] = {before: [], "this": []}
    chunks: dict[str, int] = {}
    from bench.revision import extract

    with tempfile.TemporaryDirectory(prefix="newsbot-before-") as tmp:
        codes = {before: extract(before, Path(tmp)), "this": REPO}
        for n in range(rounds):
            order = list(codes) if n % 2 == 0 else list(reversed(codes))
            for name in order:
                seconds, chunks[name] = once(codes[name], corpus)
                times[name].append(seconds)
                print(f"[ingest] round {n + 1} {name}: {seconds:.1f} s", file=sys.stderr)
    from index.search.cpu import cpu_line  # this checkout's

    out: dict = {"cpu": cpu_line(), "corpus": corpus.name, "rounds": rounds, **CHUNKING}
    for name, values in times.items():
        median = statistics.median(values)
        out[name] = {
            "median_s": round(median, 2),
            "all_s": [round(v, 2) for v in values],
            "chunks": chunks[name],
            "chunks_per_s": round(chunks[name] / median, 1),
        }
    out["ratio_this_over_before"] = round(out["this"]["median_s"] / out[before]["median_s"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", nargs=2, metavar=("CODE", "DATA"), help=argparse.SUPPRESS)
    ap.add_argument("--before", help="the revision to measure beside this code")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    if a.worker:
        return ingest(Path(a.worker[0]), Path(a.worker[1]), a.corpus)
    if not a.before:
        ap.error("--before REV is required")
    result = run(a.before, a.rounds, a.corpus.resolve())
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
