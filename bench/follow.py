"""An ask right after another process wrote: what following the store costs a bot.

  python -m bench.follow [--chunks 100000] [--rounds 7] [--before REV] [--out FILE]

A synthetic SQLite collection of N chunks (random unit vectors of MiniLM's dimension, 384, the
fake embedder's at that size; ten 20-word chunks an article, stored through the real write
path, full-text index included) is opened by a "bot": a ``NewsService`` in one process that has
answered before, its FAISS index in memory. Then, each round, another process — a real ``newsbot
ingest`` (the command line with the fake embedder, as ``tests/fakecli.py`` runs it, so the store
is measured, not the model) — adds one article, and the bot is asked a question at once. Reported:
p50 of a normal ask (nothing written since the last one, asked just before each write) against
p50 of the asks right after another process's write, and their ratio.

``--before REV`` measures the same on that revision's code (``git archive`` into a temp folder)
beside this checkout's, in one run: main's SQLite rebuilt the whole index from the stored vectors
after any outside write; this one follows the store's chunk log.
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
COLLECTION = "synthetic"
DIM = 384
# About the stored synthetic articles, not the one added: the answer is composed from the same
# passages each time, so what differs is what following the other process's write costs.
QUESTION = "What about w17 w404 w1999 w3070?"


def _embedder(code: Path) -> object:
    """The fake embedder of ``code``, at MiniLM's dimension (the index files' real size)."""
    sys.path.insert(0, str(code / "tests"))
    try:
        from index.search.embed import FakeEmbedder  # the code before issue 20
    except ImportError:
        from fake_embedder import FakeEmbedder
    return FakeEmbedder(dim=DIM, name=f"fake-hash-{DIM}")


def _settings(data: Path) -> object:
    from index.settings import CoreSettings

    return CoreSettings(data_dir=data, chunk_tokens=60, min_answer_score=0.1)


def ingest(code: Path, data: Path, argv: list[str]) -> int:
    """``newsbot ARGV`` in this process: the real command line, with the fake embedder."""
    from index import cli
    from index.service import NewsService

    return cli.main(argv, service=lambda _args: NewsService(_settings(data), _embedder(code)))


def worker(code: Path, data: Path, chunks: int, rounds: int) -> dict:
    """Runs in a process whose ``index`` is ``code``'s: fill, then measure."""
    from index.service import NewsService

    started = time.perf_counter()
    _fill(data, chunks, _embedder(code))
    filled = time.perf_counter() - started
    with NewsService(_settings(data), _embedder(code)) as bot:
        for _ in range(3):  # the bot has answered before: its index is in memory
            bot.ask(COLLECTION, QUESTION)
        cid = bot.store.collections.id_of(COLLECTION)
        normal, after, ingest = [], [], []
        for n in range(rounds):
            t = time.perf_counter()
            bot.ask(COLLECTION, QUESTION)  # nothing written since the last ask
            normal.append(time.perf_counter() - t)
            article = data.parent / f"news-{n}.txt"
            article.write_text(_news(n))
            version = bot.store.collections.version(cid)
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--ingest",
                    str(code),
                    str(data),
                    "--",
                    "--data-dir",
                    str(data),
                    "-c",
                    COLLECTION,
                    "-q",
                    "ingest",
                    str(article),
                ],
                check=True,
                capture_output=True,
                timeout=300,
                env=dict(os.environ, PYTHONPATH=str(code)),
            )
            ingest.append(time.perf_counter() - t)
            if bot.store.collections.version(cid) == version:
                raise RuntimeError(f"the other process added nothing: {article.read_text()[:80]}")
            t = time.perf_counter()
            bot.ask(COLLECTION, QUESTION)
            after.append(time.perf_counter() - t)
        count = bot.stats(COLLECTION)["chunks"]
    return {
        "chunks": count,
        "fill_s": round(filled, 1),
        "ask_p50_ms": _ms(normal),
        "ask_after_write_p50_ms": _ms(after),
        "ask_after_write_max_ms": round(max(after) * 1000, 1),
        "ratio": round(statistics.median(after) / statistics.median(normal), 2),
        "other_process_ingest_p50_s": round(statistics.median(ingest), 2),
    }


def _news(n: int) -> str:
    """A new article each round, unlike the others (a near-duplicate would be merged, not
    added), and about none of the question's words."""
    import random

    rng = random.Random(n)
    vocabulary = [f"harbour{i}" for i in range(2000)]
    body = " ".join(
        " ".join(rng.choice(vocabulary) for _ in range(12)).capitalize() + "." for _ in range(30)
    )
    return f"Harbour report {n}\n\n{body}"


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def _fill(data: Path, chunks: int, embedder: object) -> None:
    """``chunks`` passages of random unit vectors, ten an article, through the store's own
    write path (2,000 articles a transaction)."""
    import numpy as np

    from index.models import ChunkSpan
    from index.store import NewArticle, open_store

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(5000)]
    store = open_store(data)
    try:
        store.set_meta("embedding_model", embedder.name)  # type: ignore[attr-defined]
        store.set_meta("embedding_dim", str(embedder.dim))  # type: ignore[attr-defined]
        cid = store.collections.id_of(COLLECTION, create=True)
        articles = -(-chunks // 10)
        for first in range(0, articles, 2000):
            batch = []
            for a in range(first, min(articles, first + 2000)):
                texts = [" ".join(rng.choice(words, 20)) for _ in range(10)]
                text, spans, at = "", [], 0
                for i, t in enumerate(texts):
                    spans.append(ChunkSpan(i, at, at + len(t), t))
                    text += t + " "
                    at += len(t) + 1
                vectors = rng.standard_normal((10, embedder.dim)).astype(np.float32)  # type: ignore[attr-defined]
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                batch.append(
                    NewArticle(
                        title=f"article {a}",
                        source=f"source-{a % 20}",
                        published_at=f"2023-{1 + a % 12:02d}-{1 + a % 28:02d}",
                        url=None,
                        author=None,
                        text=text,
                        content_hash=f"synthetic-{a}",
                        chunks=spans,
                        vectors=vectors,
                    )
                )
            store.articles.add(cid, batch)
    finally:
        store.close()


def measure(code: Path, chunks: int, rounds: int) -> dict:
    """One measurement in a fresh process running ``code``."""
    with tempfile.TemporaryDirectory(prefix="newsbot-follow-") as tmp:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                str(code),
                str(Path(tmp) / "data"),
                "--chunks",
                str(chunks),
                "--rounds",
                str(rounds),
            ],
            capture_output=True,
            text=True,
            timeout=3600,
            env=dict(os.environ, PYTHONPATH=str(code)),
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.follow worker failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def run(chunks: int = 100_000, rounds: int = 7, before: str | None = None) -> dict:
    out: dict = {}
    if before:
        from bench.revision import extract

        with tempfile.TemporaryDirectory(prefix="newsbot-before-") as tmp:
            out["before"] = measure(extract(before, Path(tmp)), chunks, rounds) | {"code": before}
    out["after"] = measure(REPO, chunks, rounds)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", nargs=2, metavar=("CODE", "DATA"), help=argparse.SUPPRESS)
    ap.add_argument("--ingest", nargs=2, metavar=("CODE", "DATA"), help=argparse.SUPPRESS)
    ap.add_argument("argv", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--before", help="also measure this revision's code (e.g. main)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.ingest:
        return ingest(*(Path(p) for p in args.ingest), args.argv)
    if args.worker:
        code, data = (Path(p) for p in args.worker)
        print(json.dumps(worker(code, data, args.chunks, args.rounds)))
        return 0
    result = run(args.chunks, args.rounds, args.before)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
