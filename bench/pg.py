"""PostgreSQL with 1, 2 and 3 writing processes on one database (``make bench-pg``; not part of
CI): a question's latency while the others ingest, against the same asker's while no one writes.

  python -m bench.pg [--admin-url postgresql://user@host/postgres] [--sqlite] [--articles N]
                     [--embed-delay S] [--out FILE]

Without ``--admin-url`` it starts a throwaway PostgreSQL as the tests do (tests/pg_cluster.py).

For each N: a fresh database holding a third of the articles; this process searches the
collection through its own service every 50 ms — for ``--idle`` seconds while no one writes,
then while N ``newsbot`` processes ingest the rest (``tests/fakecli.py``: the real command line
with the deterministic fake embedder, so the store and its locks are measured, not the model;
``--embed-delay`` seconds a text give it a model's pace), then idle again. Its derived indexes
follow the others' writes from the chunk log. Prints, per N: the ingest's articles/s, the busy
searches' p50/p95 and the idle ones', and their ratio; a failed search is counted apart, never
timed. With ``--sqlite`` the same on one SQLite data folder, after each PostgreSQL run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p95 in ms."""
    lat = sorted(latencies) or [0.0]
    return round(1000 * statistics.median(lat), 1), round(1000 * lat[int(0.95 * (len(lat) - 1))], 1)


def _ask_until(asker, done: Callable[[], bool], latencies: list[float], errors: list[str]) -> None:
    """Search the collection every 50 ms until ``done()``; a failed search is an error, not a
    latency."""
    k = 0
    while not done():
        start = time.perf_counter()
        try:
            asker.search("default", QUESTIONS[k % len(QUESTIONS)])
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            latencies.append(time.perf_counter() - start)
        k += 1
        time.sleep(0.05)


def _idle(asker, seconds: float, latencies: list[float], errors: list[str]) -> None:
    """Searches while no one writes (after one untimed search: the index current)."""
    asker.search("default", QUESTIONS[0])
    until = time.perf_counter() + seconds
    _ask_until(asker, lambda: time.perf_counter() >= until, latencies, errors)


def run_one(
    n: int, lines: list[str], admin: str | None, work: Path, idle: float = 5.0, delay: float = 0.0
) -> dict:
    """A third of the articles stored first; searches while no one writes, then while ``n``
    processes ingest the rest, then idle again: the same asking process, one run."""
    url = ""
    if admin:
        name = f"bench_pg_{n}"
        _admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        _admin(admin, f"CREATE DATABASE {name}")
        url = _with_db(admin, name)
    data = work / f"n{n}-{'pg' if admin else 'sqlite'}"
    seed, rest = lines[: len(lines) // 3], lines[len(lines) // 3 :]
    parts = [rest[i::n] for i in range(n)]
    files = []
    for i, part in enumerate([seed, *parts]):
        f = work / f"part-{n}-{i}.jsonl"
        f.write_text("".join(part))
        files.append(f)
    sys.path.insert(0, str(REPO / "tests"))
    from fakecli import command
    from helpers import make_service

    env = {**os.environ, "NEWSBOT_DATABASE_URL": url, "FAKE_EMBED_DELAY": "0"}
    subprocess.run(
        command(data if not url else work / f"p{n}-seed", "ingest", str(files[0])),
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    asker = make_service(work / f"asker-{n}", database_url=url) if url else make_service(data)
    idle_lat: list[float] = []
    busy_lat: list[float] = []
    errors: list[str] = []
    _idle(asker, idle, idle_lat, errors)
    started = time.perf_counter()
    env["FAKE_EMBED_DELAY"] = str(delay)
    procs = [
        subprocess.Popen(
            command(data if not url else work / f"p{n}-{i}", "ingest", str(f)),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, f in enumerate(files[1:])
    ]
    t = threading.Thread(
        target=_ask_until,
        args=(asker, lambda: all(p.poll() is not None for p in procs), busy_lat, errors),
    )
    t.start()
    for p in procs:
        p.communicate(timeout=3600)
    took = time.perf_counter() - started
    t.join(60)
    _idle(asker, idle, idle_lat, errors)
    articles, chunks = asker.store.collections.counts(asker.store.collections.id_of("default"))
    asker.close()
    from index.search.cpu import cpu_line

    idle_p50, idle_p95 = _percentiles(idle_lat)
    p50, p95 = _percentiles(busy_lat)
    return {
        "cpu": cpu_line(),
        "backend": "postgresql" if url else "sqlite",
        "processes": n,
        "embed_delay_s": delay,
        "articles": articles,
        "chunks": chunks,
        "seconds": round(took, 2),
        "articles_per_s": round(len(rest) / took, 1),
        "asks": len(busy_lat),
        "ask_p50_ms": p50,
        "ask_p95_ms": p95,
        "idle_asks": len(idle_lat),
        "idle_p50_ms": idle_p50,
        "idle_p95_ms": idle_p95,
        "p95_over_idle": round(p95 / idle_p95, 2) if idle_p95 else None,
        "ask_errors": errors[:3] + ([f"… {len(errors) - 3} more"] if len(errors) > 3 else []),
        "failed_processes": sum(p.returncode != 0 for p in procs),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--admin-url", help="a PostgreSQL database URL allowed to CREATE DATABASE")
    ap.add_argument("--sqlite", action="store_true", help="measure one SQLite folder as well")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--processes", default="1,2,3")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of searches before and after")
    ap.add_argument(
        "--embed-delay",
        type=float,
        default=0.0,
        help="seconds a text the ingesting processes' fake model takes (0: as fast as it goes)",
    )
    ap.add_argument("--out", type=Path, help="write the results here as well (JSON)")
    a = ap.parse_args(argv)
    if not a.admin_url:  # a throwaway server, as the tests start one
        sys.path.insert(0, str(REPO / "tests"))
        import pg_cluster

        with pg_cluster.cluster() as url:
            return main([*(argv or sys.argv[1:]), "--admin-url", url])
    lines = [ln + "\n" for ln in a.corpus.read_text().splitlines() if ln.strip()][: a.articles]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        for n in (int(x) for x in a.processes.split(",")):
            for admin in [a.admin_url] + ([None] if a.sqlite else []):
                results.append(run_one(n, lines, admin, Path(tmp), a.idle, a.embed_delay))
                print(json.dumps(results[-1]), flush=True)
    if a.out:
        command = "python -m bench.pg " + " ".join(
            x for x in (argv or sys.argv[1:]) if not x.startswith("postgresql://")
        )
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"command": command, "runs": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
