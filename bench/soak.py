"""`make soak`: several processes ingest, ask, rebuild and forget on one data folder at once.

  python -m bench.soak [--minutes 5] [--workers 3] [--cli-share 0.2] [--out bench/results]

Each worker is a long-lived process with its own service (as the bot is), and runs a share of
its operations as a fresh ``newsbot`` command-line process instead (as an admin's shell does),
all with the fake embedder so that storage, not the model, is what is exercised. Workers add
articles of their own and, now and then, articles from a pool every worker draws from (so
the same article arrives from several processes at once); they ask about, and forget, only
their own, so every answer can be checked. At the end: no unexpected error, ``check`` finds
nothing, and every article reported added is stored exactly once (forgotten ones not at all),
with nothing stored that nobody reported. Writes ``soak.json`` and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake embedder

if TYPE_CHECKING:
    from index.search.retrieve import Filters

ROOT = Path(__file__).resolve().parent.parent
POOL = 300  # shared articles any worker may ingest
WORDS = [
    "harbor", "council", "budget", "river", "bridge", "school", "vaccine", "election", "court",
    "miners", "railway", "drought", "festival", "museum", "satellite", "reactor", "glacier",
    "orchard", "tunnel", "airport",
]  # fmt: skip


def _town(tag: str, n: int, j: int) -> int:
    """A town number no other article mentions: what a question about this one asks."""
    base = 900_000 if tag == "pool" else int(tag[1:]) * 100_000
    return base + n * 17 + j


def article(tag: str, n: int) -> dict:
    """A distinct article whose title and phrases name ``tag`` and ``n``."""
    rng = random.Random(f"{tag}-{n}")
    w = rng.sample(WORDS, 4)
    body = " ".join(
        f"Sentence {j} of the {tag} dispatch {n} says the {w[j % 4]} near town"
        f" {_town(tag, n, j)} changed on day {j}."
        for j in range(12)
    )
    return {
        "title": f"{tag} dispatch {n} on the {w[0]}",
        "body": body,
        "source": f"soak {tag} {n}",  # one article a source: a question can name it
        "published_at": "2023-10-01",
    }


def question(title: str) -> tuple[str, Filters]:
    """A question about the article titled so, limited to its source: ranking among thousands of
    look-alike articles (a hashing fake embedder) is not what the soak measures, whether each
    article can be found and cited is."""
    from index.search.retrieve import Filters

    tag, _, rest = title.partition(" dispatch ")
    n = int(rest.split()[0])
    text = f"What does the {tag} dispatch {n} say about town {_town(tag, n, 3)}?"
    return text, Filters(source=f"soak {tag} {n}")


# -- the command line with the fake embedder ----------------------------------------------------
def cli_main() -> int:
    from fake_embedder import FakeEmbedder
    from index import cli
    from index.service import NewsService
    from index.settings import CoreSettings, load_settings

    def service(args):
        settings = load_settings(
            CoreSettings, data_dir=args.data_dir, chunk_tokens=60, min_answer_score=0.1
        )
        return NewsService(settings, FakeEmbedder())

    return cli.main(sys.argv[2:], service=service)


# -- one worker ------------------------------------------------------------------------------
class Worker:
    def __init__(self, number: int, data: Path, work: Path, until: float, cli_share: float):
        from fake_embedder import FakeEmbedder
        from index.service import NewsService
        from index.settings import CoreSettings

        self.number = number
        self.tag = f"w{number}"
        self.data = data
        self.work = work
        self.until = until
        self.cli_share = cli_share
        self.rng = random.Random(number)
        settings = CoreSettings(data_dir=data, chunk_tokens=60, min_answer_score=0.1)
        self.service = NewsService(settings, FakeEmbedder())
        self.mine: dict[int, str] = {}  # live articles this worker added: id → title
        self.next = 0
        self.log = (work / f"worker-{number}.jsonl").open("w")

    def run(self) -> None:
        ops = {"ingest": 35, "ask": 20, "search": 10, "forget": 12, "rebuild": 8, "check": 10}
        ops["stats"] = 5
        names, weights = list(ops), list(ops.values())
        while time.time() < self.until:
            op = self.rng.choices(names, weights)[0]
            via = "cli" if self.rng.random() < self.cli_share else "service"
            event = {"op": op, "via": via, "t": round(time.time(), 3)}
            started = time.perf_counter()
            try:
                getattr(self, f"{op}_{via}" if hasattr(self, f"{op}_{via}") else op)(event)
            except Exception as exc:
                event["error"] = f"{type(exc).__name__}: {exc}"
            event["ms"] = round((time.perf_counter() - started) * 1000, 1)
            self.log.write(json.dumps(event) + "\n")
            self.log.flush()
        self.service.close()
        self.log.close()

    # each operation fills `event`; a wrong result is an "error", as an exception is
    def _docs(self) -> tuple[list[dict], Path]:
        # At most 10: the command line lists each article only for small ingests.
        docs = [article(self.tag, self.next + i) for i in range(self.rng.randint(2, 7))]
        self.next += len(docs)
        if self.rng.random() < 0.4:
            docs += [article("pool", self.rng.randrange(POOL)) for _ in range(3)]
        path = self.work / f"in-{self.number}.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in docs))
        return docs, path

    def _added(self, event: dict, added: list[tuple[int, str]], duplicates: int) -> None:
        event["added"] = added
        event["duplicates"] = duplicates
        for article_id, title in added:
            if title.startswith(self.tag + " "):
                self.mine[article_id] = title

    def ingest_service(self, event: dict) -> None:
        _, path = self._docs()
        report = self.service.ingest_paths("default", [path])
        if report.failed:
            raise RuntimeError(f"failed: {[f.reason for f in report.failed]}")
        self._added(event, [(r.article_id, r.title) for r in report.added], len(report.duplicates))

    def ingest_cli(self, event: dict) -> None:
        docs, path = self._docs()
        out = self._cli(event, "ingest", str(path))
        added = [(int(i), t) for i, t in re.findall(r"^added #(\d+) “(.*?)”", out, re.M)]
        dups = len(re.findall(r"^already indexed: ", out, re.M))
        if len(added) + dups != len(docs):
            raise RuntimeError(f"{len(docs)} sent, {len(added)} added, {dups} duplicates")
        self._added(event, added, dups)

    def _own(self) -> tuple[int, str] | None:
        return self.rng.choice(sorted(self.mine.items())) if self.mine else None

    def ask_service(self, event: dict) -> None:
        if (own := self._own()) is None:
            return
        text, only = question(own[1])
        answer = self.service.ask("default", text, filters=only)
        cited = [c.article_id for c in answer.citations]
        if not answer.found or own[0] not in cited:
            raise RuntimeError(f"asked about #{own[0]}, cited {cited}")

    def ask_cli(self, event: dict) -> None:
        if (own := self._own()) is None:
            return
        text, only = question(own[1])
        answer = json.loads(self._cli(event, "ask", text, "--source", only.source, "--json"))
        cited = [c["article_id"] for c in answer["citations"]]
        if not answer["found"] or own[0] not in cited:
            raise RuntimeError(f"asked about #{own[0]}, cited {cited}")

    def search(self, event: dict) -> None:
        if (own := self._own()) is None:
            return
        text, only = question(own[1])
        hits = self.service.search("default", text, top_k=3, filters=only)
        if own[0] not in [h.article_id for h in hits]:
            raise RuntimeError(f"searched for #{own[0]}, found {[h.article_id for h in hits]}")

    def forget_service(self, event: dict) -> None:
        if (own := self._own()) is None:
            return
        self.service.forget("default", own[0])
        del self.mine[own[0]]
        event["forgot"] = own

    def forget_cli(self, event: dict) -> None:
        if (own := self._own()) is None:
            return
        self._cli(event, "forget", str(own[0]))
        del self.mine[own[0]]
        event["forgot"] = own

    def rebuild_service(self, event: dict) -> None:
        from index.errors import BusyError

        try:
            self.service.rebuild()
        except BusyError:  # only one thread here: never
            raise

    def rebuild_cli(self, event: dict) -> None:
        self._cli(event, "rebuild")

    def check_service(self, event: dict) -> None:
        if problems := self.service.check():
            raise RuntimeError(f"check: {problems}")

    def check_cli(self, event: dict) -> None:
        out = self._cli(event, "check")
        if out.strip() != "ok":
            raise RuntimeError(f"check: {out.strip()}")

    def stats_service(self, event: dict) -> None:
        stats = self.service.stats("default")
        if stats["indexed_vectors"] < 0:
            raise RuntimeError("impossible")

    def stats_cli(self, event: dict) -> None:
        json.loads(self._cli(event, "stats", "--json"))

    def _cli(self, event: dict, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.soak", "cli", "--data-dir", str(self.data), "-q", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[:300]}")
        return proc.stdout


# -- the coordinator -------------------------------------------------------------------------
def verify(data: Path, events: list[dict]) -> dict:
    """Exactly once: every article reported added and not forgotten is stored, under its id,
    once; nothing else is stored; check finds nothing. An article is its (id, title): SQLite
    hands the id of a forgotten newest article to the next one."""
    from fake_embedder import FakeEmbedder
    from index.service import NewsService
    from index.settings import CoreSettings

    reported = Counter(tuple(a) for e in events for a in e.get("added", []))
    forgotten = Counter(tuple(e["forgot"]) for e in events if "forgot" in e)
    titles = Counter(t for _, t in reported.elements())
    ids = Counter(i for i, _ in reported.elements())  # twice: a forgotten id handed out again
    con = sqlite3.connect(data / "newsbot.sqlite3")
    rows = con.execute("SELECT id, title FROM articles").fetchall()
    con.close()
    stored = Counter(rows)
    expected = reported - forgotten
    with NewsService(CoreSettings(data_dir=data, chunk_tokens=60), FakeEmbedder()) as svc:
        problems = svc.check()
        stats = svc.stats("default")
    return {
        "articles_reported_added": sum(reported.values()),
        "reported_added_twice": sum(n - 1 for n in titles.values() if n > 1),
        "forgotten": sum(forgotten.values()),
        "forgotten_not_reported_added": sum((forgotten - reported).values()),
        "ids_reused_after_forget": sum(1 for n in ids.values() if n > 1),
        "stored": len(rows),
        "stored_twice": len(rows) - len({t for _, t in rows}),
        "reported_but_missing": sum((expected - stored).values()),
        "stored_but_not_reported": sum((stored - expected).values()),
        "check_problems": problems,
        "chunks": stats["chunks"],
        "indexed_vectors": stats["indexed_vectors"],
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "cli":
        return cli_main()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--cli-share", type=float, default=0.2, help="share of ops run as a CLI")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        Worker(args.worker, args.data_dir, args.work, args.until, args.cli_share).run()
        return 0

    work = Path(tempfile.mkdtemp(prefix="newsbot-soak-"))
    data = work / "data"
    started = time.time()
    crashed = run_workers(args, data, work, started + args.minutes * 60)
    result = summarize(work, data, args.workers, time.time() - started, crashed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    for key, value in result.items():
        print(f"{key}: {value}")
    if args.keep:
        print(f"data kept in {data}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if result["ok"] else 1


def run_workers(args: argparse.Namespace, data: Path, work: Path, until: float) -> list[str]:
    """Start the worker processes, wait for them; what crashed or hung."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.soak",
                "--worker",
                str(i),
                "--data-dir",
                str(data),
                "--work",
                str(work),
                "--until",
                str(until),
                "--cli-share",
                str(args.cli_share),
            ],
            cwd=ROOT,
        )
        for i in range(args.workers)
    ]
    print(f"soak: {args.workers} processes on {data} for {args.minutes:g} min …", flush=True)
    crashed = []
    for i, proc in enumerate(procs):
        try:
            code = proc.wait(timeout=max(1.0, until - time.time()) + 240)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
            code = "hung"
        if code != 0:
            crashed.append(f"worker {i}: exit {code}")
    return crashed


def summarize(work: Path, data: Path, workers: int, took: float, crashed: list[str]) -> dict:
    """The workers' events counted and verified against the store; ``ok`` when all holds."""
    events = []
    for i in range(workers):
        path = work / f"worker-{i}.jsonl"
        if path.is_file():
            events += [json.loads(line) for line in path.read_text().splitlines() if line]
    errors = [e for e in events if "error" in e]
    ops = Counter(f"{e['op']} ({e['via']})" for e in events)
    result = {
        "minutes": round(took / 60, 2),
        "processes": workers,
        "operations": len(events),
        "operations_by_kind": dict(sorted(ops.items())),
        "cli_processes": sum(1 for e in events if e["via"] == "cli"),
        "unexpected_errors": len(errors) + len(crashed),
        "errors": [f"{e['op']} ({e['via']}): {e['error']}" for e in errors[:20]] + crashed,
        "duplicates_reported": sum(e.get("duplicates", 0) for e in events),
        **verify(data, events),
    }
    result["ok"] = (
        result["unexpected_errors"] == 0
        and not result["check_problems"]
        and result["chunks"] == result["indexed_vectors"]
        and all(
            result[k] == 0
            for k in (
                "reported_added_twice",
                "forgotten_not_reported_added",
                "stored_twice",
                "reported_but_missing",
                "stored_but_not_reported",
            )
        )
    )
    return result


if __name__ == "__main__":
    os.environ.setdefault("NEWSBOT_INGEST_NICE", "0")
    sys.exit(main())
