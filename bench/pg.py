"""PostgreSQL with 1, 2 and 3 processes on one database (``make bench-pg``; not part of CI).

  python -m bench.pg [--admin-url postgresql://user@host/postgres] [--sqlite] [--articles N]

Without ``--admin-url`` it starts a throwaway PostgreSQL as the tests do (tests/pg_cluster.py).

For each N: a fresh database, the corpus split into N parts ingested at once by N ``newsbot``
processes (``tests/fakecli.py``: the real command line with the deterministic fake embedder, so
the store and its locks are measured, not the model), while this process asks the same
collection again and again through its own service (derived indexes following the others'
writes from the chunk log). Prints, per N: articles/s and chunks/s of the whole ingest, and the
ask (search) latency p50/p95 during it. With ``--sqlite`` the same on one SQLite data folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "eval" / "realtimeqa-2023q4" / "corpus-small.jsonl"
QUESTIONS = [
    "What did the central bank decide about interest rates?",
    "Who won the election?",
    "What happened after the earthquake?",
    "Which company announced layoffs?",
    "What did the court rule?",
]


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _with_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def run_one(n: int, lines: list[str], admin: str | None, work: Path) -> dict:
    url = ""
    if admin:
        name = f"bench_pg_{n}"
        _admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        _admin(admin, f"CREATE DATABASE {name}")
        url = _with_db(admin, name)
    data = work / f"n{n}-{'pg' if admin else 'sqlite'}"
    parts = [lines[i::n] for i in range(n)]
    files = []
    for i, part in enumerate(parts):
        f = work / f"part-{n}-{i}.jsonl"
        f.write_text("".join(part))
        files.append(f)
    sys.path.insert(0, str(REPO / "tests"))
    from fakecli import command
    from helpers import make_service

    env = {**os.environ, "NEWSBOT_DATABASE_URL": url}
    # the collection exists before the race; the asking service opens it
    subprocess.run(command(data, "stats"), env=env, check=True, capture_output=True, timeout=120)
    asker = make_service(work / f"asker-{n}", database_url=url) if url else make_service(data)
    latencies: list[float] = []
    stop = threading.Event()

    def ask() -> None:
        k = 0
        while not stop.is_set():
            start = time.perf_counter()
            with contextlib.suppress(Exception):
                asker.search("default", QUESTIONS[k % len(QUESTIONS)])
            latencies.append(time.perf_counter() - start)
            k += 1
            time.sleep(0.05)

    t = threading.Thread(target=ask)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            command(data if not url else work / f"p{n}-{i}", "ingest", str(f)),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, f in enumerate(files)
    ]
    t.start()
    for p in procs:
        p.communicate(timeout=3600)
    took = time.perf_counter() - started
    stop.set()
    t.join(60)
    articles, chunks = asker.store.collections.counts(asker.store.collections.id_of("default"))
    asker.close()
    lat = sorted(latencies) or [0.0]
    from index.search.cpu import cpu_line

    return {
        "cpu": cpu_line(),
        "backend": "postgresql" if url else "sqlite",
        "processes": n,
        "articles": articles,
        "chunks": chunks,
        "seconds": round(took, 2),
        "articles_per_s": round(articles / took, 1),
        "chunks_per_s": round(chunks / took, 1),
        "asks": len(latencies),
        "ask_p50_ms": round(1000 * statistics.median(lat), 1),
        "ask_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
        "failed_processes": sum(p.returncode != 0 for p in procs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--admin-url", help="a PostgreSQL database URL allowed to CREATE DATABASE")
    ap.add_argument("--sqlite", action="store_true", help="measure one SQLite folder as well")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--processes", default="1,2,3")
    a = ap.parse_args(argv)
    if not a.admin_url:  # a throwaway server, as the tests start one
        sys.path.insert(0, str(REPO / "tests"))
        import pg_cluster

        with pg_cluster.cluster() as url:
            return main([*(argv or sys.argv[1:]), "--admin-url", url])
    lines = [ln + "\n" for ln in a.corpus.read_text().splitlines() if ln.strip()][: a.articles]
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        for n in (int(x) for x in a.processes.split(",")):
            if a.admin_url:
                print(json.dumps(run_one(n, lines, a.admin_url, Path(tmp))), flush=True)
            if a.sqlite:
                print(json.dumps(run_one(n, lines, None, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
