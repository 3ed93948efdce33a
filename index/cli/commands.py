"""One function a ``newsbot`` command: read the arguments, call the service's public methods,
print through ``output``. Each returns the exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NewsbotError
from ..models import long_date
from ..search.retrieve import Filters
from ..settings import CoreSettings
from .args import asked_on, query_filters, today
from .batch import run_batch
from .output import (
    answer_json,
    article_json,
    article_line,
    feed_line,
    feedback_json,
    feedback_lines,
    format_answer,
    format_timeline,
    hit_json,
    hit_lines,
    poll_line,
    print_ingest,
    timeline_json,
)

if TYPE_CHECKING:
    from ..service import NewsService, Progress

SAMPLE_ARTICLE = (
    Path(__file__).resolve().parent.parent.parent / "examples" / "capitalway-nk-shells.txt"
)
SAMPLE_QUESTION = "What does the NIS claim about satellite launches?"

Command = Callable[["NewsService", argparse.Namespace], int]


def _documents(service: NewsService, paths: list[str]) -> tuple[Any, int | None]:
    """What to ingest (stdin, or files and links) and how many documents, when counted."""
    from ..ingest.sources import count_documents, documents_from_bytes

    if "-" in paths and len(paths) > 1:
        raise NewsbotError("read either stdin (-) or files, not both")
    if paths == ["-"]:
        data = sys.stdin.buffer.read(service.settings.max_input_bytes * 10 + 1)
        return documents_from_bytes(data, "stdin", max_bytes=service.settings.max_input_bytes), None
    total = sum(count_documents(Path(p)) for p in paths if Path(p).is_file()) or None
    return service.documents(paths), total


def _progress_bar(total: int | None, quiet: bool) -> tuple[Any, Callable[[Progress], None]]:
    """A bar of documents with chunks/s beside it, for more than one document."""
    if quiet or (total or 0) <= 1:
        return None, lambda state: None
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit="doc",
        file=sys.stderr,
        dynamic_ncols=True,
        desc="ingest",
        smoothing=0.1,
        mininterval=0.5,
    )
    started = time.perf_counter()

    def progress(state: Progress) -> None:
        if state.docs_done == bar.n:
            return
        elapsed = max(time.perf_counter() - started, 1e-6)
        bar.set_postfix_str(
            f"{state.chunks_done} chunks, {state.chunks_done / elapsed:.1f} chunks/s", refresh=False
        )
        bar.update(state.docs_done - bar.n)

    return bar, progress


def cmd_ingest(service: NewsService, args: argparse.Namespace) -> int:
    docs, total = _documents(service, args.paths)
    bar, progress = _progress_bar(total, args.quiet)
    report = service.ingest(
        args.collection, docs, added_by=args.added_by, progress=progress, docs_total=total
    )
    if bar is not None:
        bar.close()
    print_ingest(report)
    return 1 if report.failed else 0


def cmd_ask(service: NewsService, args: argparse.Namespace) -> int:
    if args.batch is not None:
        if args.question:
            raise NewsbotError("give a question or --batch FILE.jsonl, not both")

        def one(question: str, filters: Filters) -> dict:
            return answer_json(service.ask(args.collection, question, filters=filters))

        return run_batch(args, one)
    if not args.question:
        raise NewsbotError("give a question, or --batch FILE.jsonl")
    answer = service.ask(args.collection, args.question, filters=query_filters(args))
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def cmd_search(service: NewsService, args: argparse.Namespace) -> int:
    if args.batch is not None:
        if args.query:
            raise NewsbotError("give a query or --batch FILE.jsonl, not both")

        def one(question: str, filters: Filters) -> dict:
            hits = service.search(args.collection, question, top_k=args.top_k, filters=filters)
            return {"hits": [hit_json(i, h) for i, h in enumerate(hits, 1)]}

        return run_batch(args, one)
    if not args.query:
        raise NewsbotError("give a query, or --batch FILE.jsonl")
    found = service.find(args.collection, args.query, top_k=args.top_k, filters=query_filters(args))
    if args.json:
        hits = [hit_json(i, h) for i, h in enumerate(found.hits, 1)]
        print(json.dumps(hits, ensure_ascii=False, indent=2))
        return 0
    if found.window is not None:
        print(
            f"(nothing in {found.window.description}; searched all news)"
            if found.outside_window
            else f"(searched {found.window.description})"
        )
    print("\n".join(hit_lines(found.hits)))
    return 0


def cmd_timeline(service: NewsService, args: argparse.Namespace) -> int:
    if not args.topic.strip():
        raise NewsbotError('give a topic, e.g. `newsbot timeline "harbour bridge"`')
    timeline = service.timeline(args.collection, args.topic, filters=Filters(as_of=asked_on(args)))
    if args.json:
        print(json.dumps(timeline_json(timeline), ensure_ascii=False, indent=2))
    else:
        print(format_timeline(timeline))
    return 0


def cmd_sources(service: NewsService, args: argparse.Namespace) -> int:
    arts = service.sources(
        args.collection, limit=args.per_page, offset=(args.page - 1) * args.per_page
    )
    if args.json:
        print(json.dumps([article_json(a) for a in arts], ensure_ascii=False, indent=2))
        return 0
    if not arts:
        print("No articles" + (" on this page." if args.page > 1 else " yet."))
    for a in arts:
        print(article_line(a))
    return 0


def cmd_forget(service: NewsService, args: argparse.Namespace) -> int:
    article = service.forget(args.collection, args.article_id)
    print(f"forgot #{article.id} “{article.title}” and its {article.chunk_count} chunks")
    return 0


def cmd_rebuild(service: NewsService, args: argparse.Namespace) -> int:
    bars: dict[str, Any] = {}

    def progress(label: str, done: int, total: int) -> None:
        if args.quiet:
            return
        from tqdm import tqdm

        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = tqdm(total=total, desc=label, unit="chunk", file=sys.stderr)
        bar.n = done
        bar.refresh()

    started = time.perf_counter()
    counts = service.rebuild(None if args.all_collections else args.collection, progress=progress)
    for bar in bars.values():
        bar.close()
    took = time.perf_counter() - started
    for name, n in counts.items():
        print(f"rebuilt {name}: {n} vectors")
    print(f"done in {took:.2f} s")
    return 0


def cmd_feeds(service: NewsService, args: argparse.Namespace) -> int:
    from ..feeds import FeedPoller

    action = args.feeds_command
    if action == "add":
        feed = service.add_feed(
            args.collection, args.url, added_by="cli", interval_minutes=args.every
        )
        print(f"following {feed_line(feed)}")
        report = asyncio.run(FeedPoller(service).poll_feed(feed))  # its entries, now
        print(poll_line(report, updated=False))
    elif action == "list":
        feeds = service.feeds(args.collection)
        if not feeds:
            print("No feeds yet: add one with `newsbot feeds add URL`.")
        for f in feeds:
            print(feed_line(f))
    elif action == "remove":
        feed = service.remove_feed(args.collection, args.feed_id)
        print(f"stopped following feed {feed.id} <{feed.url}>")
    elif action in ("pause", "resume"):
        feed = service.pause_feed(args.collection, args.feed_id, paused=action == "pause")
        print(feed_line(feed))
    else:
        poller = FeedPoller(service)
        every = service.feeds(args.collection) if args.all else []
        reports = asyncio.run(poller.poll_now(every))
        for r in reports:
            print(poll_line(r))
        if not reports:
            print("No feed is due.")
    return 0


def cmd_stats(service: NewsService, args: argparse.Namespace) -> int:
    stats = service.stats(args.collection)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for k, v in stats.items():
            if isinstance(v, dict):  # the runtime's choice: one line a thing measured
                for kk, vv in v.items():
                    shown = (
                        ", ".join(f"{a} {b}" for a, b in vv.items()) if isinstance(vv, dict) else vv
                    )
                    print(f"{k}.{kk}: {shown}")
            else:
                print(f"{k}: {v}")
    return 0


def cmd_check(service: NewsService, args: argparse.Namespace) -> int:
    """Problems (a damaged file, an index that disagrees with the database) fail the check;
    warnings (an index that cannot be saved, answered from memory) do not."""
    problems = service.check()
    for p in problems:
        print(f"problem: {p}")
    for w in service.warnings():
        print(f"warning: {w}")
    print("ok" if not problems else f"{len(problems)} problem{'s' if len(problems) > 1 else ''}")
    return 1 if problems else 0


def cmd_demo(service: NewsService, args: argparse.Namespace) -> int:
    collection = "demo"
    if not SAMPLE_ARTICLE.is_file():
        raise NewsbotError(f"the sample article is missing: {SAMPLE_ARTICLE}")
    print(f"Ingesting the sample article {SAMPLE_ARTICLE.name} into collection '{collection}'…")
    report = service.ingest_paths(collection, [SAMPLE_ARTICLE], added_by="demo")
    for r in report.added:
        print(f"  added #{r.article_id} “{r.title}” ({r.published_at}), {r.chunk_count} chunks")
    for r in report.duplicates:
        print(f"  already indexed as #{r.article_id} “{r.title}”")
    # Asked as its readers asked it, two days after it ran: a one-article archive asked today
    # has no other news to tell a match from, and the answer model is cautious there.
    ran = next((r.published_at for r in [*report.added, *report.duplicates] if r.published_at), "")
    asked = today()
    if ran:
        asked = min((date.fromisoformat(ran[:10]) + timedelta(days=2)).isoformat(), asked)
    print(f"\nQ: {SAMPLE_QUESTION}  (asked on {long_date(asked)})\n")
    print(format_answer(service.ask(collection, SAMPLE_QUESTION, filters=Filters(as_of=asked))))
    return 0


def cmd_feedback(service: NewsService, args: argparse.Namespace) -> int:
    """The answers members voted down most, for an admin to look into; ``--questions`` writes
    them as a batch ``ask --batch`` (and the benchmarks) replay."""
    collection = None if args.all_collections else args.collection
    worst = service.feedback.worst(collection, args.limit)
    if args.json:
        print(json.dumps([feedback_json(r) for r in worst], ensure_ascii=False, indent=2))
        return 0
    if args.questions:
        for r in worst:
            row = {"id": f"answer-{r.id}", "question": r.question, "as_of": r.as_of}
            print(json.dumps(row, ensure_ascii=False))
        return 0
    if not worst:
        print("No answer has been voted down yet.")
    for r in worst:
        print("\n".join(feedback_lines(r)))
    return 0


def cmd_copy_store(service: NewsService, args: argparse.Namespace) -> int:
    from ..store import is_postgres
    from ..store.copy import copy_sqlite_to_postgres

    if not is_postgres(args.to):
        raise NewsbotError("--to must be a postgresql:// URL")

    def step(table: str, rows: int) -> None:
        if args.quiet:
            return
        if table == "verifying":  # committed: a stop from here leaves a whole copy
            print("copy committed; verifying it", file=sys.stderr)
        else:
            print(f"copied {table}: {rows} rows", file=sys.stderr)

    report = copy_sqlite_to_postgres(service.store, args.to, step)
    counts = report.counts
    what = (
        f"{counts['collections']} collections, {counts['articles']} articles and"
        f" {counts['chunks']} chunks with their vectors"
    )
    sums = f"counts and checksums match (chunks sha256 {report.checksums['chunks'][:16]})"
    if report.already:  # a copy whose verification had been stopped
        print(f"{report.target} already holds this store's {what}; {sums}")
    else:
        print(f"copied {what}; {sums}")
    return 0


def _counted(counts: dict[str, int]) -> str:
    """The counts people look for first, in words."""
    what = [
        (counts.get(table, 0), word)
        for table, word in (
            ("collections", "collections"),
            ("articles", "articles"),
            ("chunks", "chunks"),
            ("feeds", "feeds"),
            ("watches", "watches"),
            ("answers", "answers"),
        )
    ]
    return ", ".join(f"{n} {word}" for n, word in what)


def cmd_backup(service: NewsService, args: argparse.Namespace) -> int:
    from ..store.backup import backup

    def step(what: str) -> None:
        if not args.quiet:
            print(what, file=sys.stderr)

    manifest = backup(service.store, args.file, step)
    print(
        f"backed up {manifest.source} (schema {manifest.schema}): {_counted(manifest.counts)}"
        f" to {args.file} ({args.file.stat().st_size:,} bytes; its manifest holds every"
        " table's rows and checksums)"
    )
    print("the search indexes are not in it: they are rebuilt from the stored vectors")
    return 0


def cmd_restore(settings: CoreSettings, args: argparse.Namespace) -> int:
    """Runs before any store is opened: opening one would make the empty database it fills."""
    from ..store.backup import restore

    def step(what: str) -> None:
        if not args.quiet:
            print(what, file=sys.stderr)

    done = restore(args.file, settings.data_dir, settings.database_url, step)
    m = done.manifest
    print(
        f"restored {args.file} (schema {m.schema}, made {m.created_at} from {m.source}) into"
        f" {done.target}: {_counted(done.counts)}; every table's rows match the backup"
    )
    print("the search indexes are rebuilt on first use (`newsbot rebuild` does it now)")
    return 0


COMMANDS: dict[str, Command] = {
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "search": cmd_search,
    "timeline": cmd_timeline,
    "sources": cmd_sources,
    "forget": cmd_forget,
    "rebuild": cmd_rebuild,
    "stats": cmd_stats,
    "check": cmd_check,
    "demo": cmd_demo,
    "feeds": cmd_feeds,
    "feedback": cmd_feedback,
    "copy-store": cmd_copy_store,
    "backup": cmd_backup,
}
# Commands that must run before the store is opened (on the settings alone).
BEFORE_THE_STORE: dict[str, Callable[[CoreSettings, argparse.Namespace], int]] = {
    "restore": cmd_restore,
}
