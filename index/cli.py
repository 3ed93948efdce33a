"""The ``newsbot`` command line: the same service the bot uses, for people and scripts.

Bad input ends in one line on stderr and a non-zero exit; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import asdict
from datetime import date
from pathlib import Path

from .errors import Interrupted, NewsbotError, from_sqlite
from .models import Answer, Hit
from .search.retrieve import Filters
from .settings import CoreSettings, load_settings
from .store import Feed

SAMPLE_ARTICLE = Path(__file__).resolve().parent.parent / "examples" / "capitalway-nk-shells.txt"
SAMPLE_QUESTION = "What does the NIS claim about satellite launches?"


def today() -> str:
    return date.today().isoformat()


def _date(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2023-10-26") from None


# SQLite keeps integers in 64 bits: no id or count above this names anything.
SQLITE_MAX_INT = 2**63 - 1


def _whole(most: int = SQLITE_MAX_INT) -> Callable[[str], int]:
    """An argument type: a whole number from 1 to ``most``."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
        if n > most:
            raise argparse.ArgumentTypeError(f"{value!r} is too large (at most {most:,})")
        return n

    return parse


_positive = _whole()
# Pages times their size must still fit SQLite's OFFSET; a feed polled less than once a year
# is not followed.
_page = _whole(10**9)
_per_page = _whole(10**6)
_minutes = _whole(525_600)


def _collection_name(value: str) -> str:
    """An argument type: "" is refused like "   " (it used to mean the default collection)."""
    name = value.strip()
    if not name or len(name) > 100:
        raise argparse.ArgumentTypeError("a collection name is 1 to 100 characters")
    return name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Ingest news articles and answer questions with citations."
    )
    parser.add_argument(
        "--data-dir", type=Path, help="data folder (default ./data or $NEWSBOT_DATA_DIR)"
    )
    parser.add_argument(
        "--collection", "-c", type=_collection_name, help="collection to use (default: default)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest", help="add articles: .txt .md .html .pdf .jsonl files, or - for stdin"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--added-by", help="who added them (recorded with each article)")

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--source", help="only articles from this source")
        p.add_argument("--since", type=_date, help="only articles published on or after")
        p.add_argument("--until", type=_date, help="only articles published on or before")
        when = p.add_mutually_exclusive_group()
        when.add_argument(
            "--as-of", type=_date, help="the day the question is asked (default: today)"
        )
        when.add_argument(
            "--undated",
            action="store_true",
            help="ask with no date: no preference for recent news (archives, scripts)",
        )

    def batch(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument(
            "--batch",
            type=Path,
            metavar="FILE.jsonl",
            help=f'questions, one {{"id", "question", "as_of"?}} a line; {what}',
        )
        p.add_argument("--output", "-o", type=Path, help="write the batch here, not stdout")

    p = sub.add_parser("ask", help="answer a question with cited snippets")
    p.add_argument("question", nargs="?")
    p.add_argument("--json", action="store_true", help="print JSON")
    batch(p, "one JSON answer a line out")
    filters(p)

    p = sub.add_parser("search", help="the passages that best match a query")
    p.add_argument("query", nargs="?")
    p.add_argument("--top-k", type=_positive, default=10)
    p.add_argument("--json", action="store_true", help="print JSON")
    batch(p, "the run format score.py reads out")
    filters(p)

    p = sub.add_parser("sources", help="the articles in the collection, newest first")
    p.add_argument("--page", type=_page, default=1)
    p.add_argument("--per-page", type=_per_page, default=20)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("forget", help="remove an article and its vectors")
    p.add_argument("article_id", type=_positive)

    p = sub.add_parser(
        "feeds", help="follow RSS/Atom feeds: add, list, remove, pause, resume, poll"
    )
    feeds = p.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    fp = feeds.add_parser("add", help="follow a feed (fetched once now to check it)")
    fp.add_argument("url")
    fp.add_argument("--every", type=_minutes, metavar="MINUTES", help="poll interval")
    feeds.add_parser("list", help="the feeds this collection follows")
    for action in ("remove", "pause", "resume"):
        feeds.add_parser(action, help=f"{action} a feed").add_argument("feed_id", type=_positive)
    fp = feeds.add_parser("poll", help="poll the feeds that are due now, and ingest new entries")
    fp.add_argument("--all", action="store_true", help="poll every unpaused feed, due or not")

    sub.add_parser("rebuild", help="rebuild the vector index from stored vectors")
    p = sub.add_parser("stats", help="counts and sizes")
    p.add_argument("--json", action="store_true")
    sub.add_parser("check", help="verify the database and indexes are consistent")
    sub.add_parser(
        "env-example",
        help="print the core's settings (python -m bot env-example adds the bot's: .env.example)",
    )
    sub.add_parser("demo", help="ingest the bundled sample article and answer a question")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_to_stderr()
    try:
        return _run(args)
    except NewsbotError as exc:
        print(f"newsbot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        kept = str(exc) if isinstance(exc, Interrupted) else "everything stored before it is kept"
        print(f"newsbot: interrupted: {kept}", file=sys.stderr)
        _exit_now(130)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if args.debug:
            raise
        known = from_sqlite(exc) if isinstance(exc, sqlite3.Error) else None
        if known is not None:  # a damaged file or a full disk, named with what to do
            print(f"newsbot: error: {known}", file=sys.stderr)
            return 1
        print(
            f"newsbot: unexpected error: {type(exc).__name__}: {exc} (run with --debug "
            "for the traceback)",
            file=sys.stderr,
        )
        return 1


def _exit_now(code: int) -> None:
    """Leave at once after Ctrl-C. A worker thread still embedding a group would otherwise hold
    the interpreter's exit until it finished (20 s and more); everything committed is already
    in SQLite, and the derived index is rebuilt from it on the next start."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not any(t.is_alive() and not t.daemon for t in others):
        return
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code)


class _StderrHandler(logging.StreamHandler):
    """Warnings (an index that could not be saved, say) as ``newsbot: warning: …`` lines on
    whatever ``sys.stderr`` is when they happen."""

    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass

    def format(self, record: logging.LogRecord) -> str:
        return f"newsbot: {record.levelname.lower()}: {record.getMessage()}"


def _log_to_stderr() -> None:
    logger = logging.getLogger("index")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())


def _service(args: argparse.Namespace):
    from .service import NewsService

    settings = load_settings(CoreSettings, data_dir=args.data_dir)
    return NewsService(settings)


def _as_of(args: argparse.Namespace) -> str | None:
    """The day a question is asked: --as-of, else today, unless --undated."""
    if args.undated:
        return None
    return args.as_of or today()


def _filters(args: argparse.Namespace, as_of: str | None = None) -> Filters:
    return Filters(
        source=args.source,
        since=args.since,
        until=args.until,
        as_of=as_of if as_of is not None else _as_of(args),
    )


def _run(args: argparse.Namespace) -> int:
    if args.command == "env-example":
        from .settings import env_example

        print(env_example(CoreSettings), end="")
        return 0
    args.all_collections = args.collection is None and args.command == "rebuild"
    if args.collection is None:
        args.collection = "default"
    with _service(args) as service:
        return COMMANDS[args.command](service, args)


def cmd_ingest(service, args: argparse.Namespace) -> int:
    from .ingest.sources import count_documents, documents_from_bytes

    paths = args.paths
    if "-" in paths and len(paths) > 1:
        raise NewsbotError("read either stdin (-) or files, not both")
    if paths == ["-"]:
        data = sys.stdin.buffer.read(service.settings.max_input_bytes * 10 + 1)
        docs = documents_from_bytes(data, "stdin", max_bytes=service.settings.max_input_bytes)
        total = None
    else:
        total = sum(count_documents(Path(p)) for p in paths if Path(p).is_file()) or None
        docs = service.documents(paths)
    bar = None
    if not args.quiet and (total or 0) > 1:
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

    def progress(state) -> None:
        if bar is None or state.docs_done == bar.n:
            return
        elapsed = max(time.perf_counter() - started, 1e-6)
        bar.set_postfix_str(
            f"{state.chunks_done} chunks, {state.chunks_done / elapsed:.1f} chunks/s", refresh=False
        )
        bar.update(state.docs_done - bar.n)

    report = service.ingest(
        args.collection, docs, added_by=args.added_by, progress=progress, docs_total=total
    )
    if bar is not None:
        bar.close()
    few = len(report.added) + len(report.updated) + len(report.duplicates) <= 10
    if few:
        for verb, results in (("added", report.added), ("updated", report.updated)):
            for r in results:
                notes = f" ({'; '.join(r.notes)})" if r.notes else ""
                print(
                    f"{verb} #{r.article_id} “{r.title}” ({r.published_at or 'no date'}), "
                    f"{r.chunk_count} chunks{notes}"
                )
        for r in report.duplicates:
            where = f"#{r.article_id} " if r.article_id > 0 else ""
            notes = f" ({'; '.join(r.notes)})" if r.notes else ""
            print(f"already indexed: {r.origin} is {where}“{r.title}”{notes}")
    for f in report.failed:
        print(
            f"newsbot: skipped {f.reason}"
            if f.origin in f.reason
            else f"newsbot: skipped {f.origin}: {f.reason}",
            file=sys.stderr,
        )
    rate = report.chunks / report.seconds if report.seconds > 0 else 0.0
    print(
        f"{len(report.added)} added, {len(report.updated)} updated "
        f"({report.chunks} chunks, {rate:.1f} chunks/s, "
        f"{report.seconds:.1f} s), {len(report.duplicates)} already indexed, "
        f"{len(report.failed)} failed",
        file=sys.stderr if few else sys.stdout,
    )
    if report.failed and not (report.added or report.updated or report.duplicates):
        return 1
    return 1 if report.failed else 0


def answer_json(answer: Answer) -> dict:
    return {
        "question": answer.question,
        "found": answer.found,
        "answer": answer.text,
        "as_of": answer.as_of,
        "window": answer.window.as_json() if answer.window else None,
        "stale": answer.stale,
        "evidence_date": answer.evidence_date if answer.found else None,
        "sentences": [
            {
                "text": s.text,
                "citations": list(s.citations),
                "headline": s.headline,
                "published_at": s.published_at,
                "dated": s.dated,
            }
            for s in answer.sentences
        ],
        "citations": [
            {
                "n": c.n,
                "article_id": c.article_id,
                "title": c.title,
                "source": c.source,
                "published_at": c.published_at,
                "url": c.url,
                "snippet": c.snippet,  # the first passage, for scripts that read one
                "snippets": [asdict(x) for x in c.snippets],
            }
            for c in answer.citations
        ],
        "best_score": round(answer.best_score, 4),
    }


def format_answer(answer: Answer) -> str:
    if not answer.found:
        where = f" in {answer.window.description}" if answer.window else ""
        return (
            f"Nothing relevant found{where} in this collection. Add articles about it with "
            "`newsbot ingest`."
        )
    searched = answer.window and not answer.outside_window
    lines = [
        answer.text,
        "",
        f"Sources (searched {answer.window.description}):" if searched else "Sources:",
    ]
    for c in answer.citations:
        meta = ", ".join(x for x in (c.source, c.published_at) if x)
        lines.append(
            f"[{c.n}] {c.title}" + (f" — {meta}" if meta else "") + f"  (article #{c.article_id})"
        )
        if c.url:
            lines.append(f"    {c.url}")
        for snip in c.snippets:
            lines.append(f"    “{' '.join(snip.text.split())}”")
    return "\n".join(lines)


def cmd_ask(service, args: argparse.Namespace) -> int:
    if args.batch is not None:
        if args.question:
            raise NewsbotError("give a question or --batch FILE.jsonl, not both")

        def one(question: str, filters: Filters) -> dict:
            return answer_json(service.ask(args.collection, question, filters=filters))

        return _run_batch(args, one)
    if not args.question:
        raise NewsbotError("give a question, or --batch FILE.jsonl")
    answer = service.ask(args.collection, args.question, filters=_filters(args))
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def hit_json(rank: int, hit: Hit) -> dict:
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "chunk_id": hit.chunk_id,
        "article_id": hit.article_id,
        "title": hit.title,
        "source": hit.source,
        "published_at": hit.published_at,
        "url": hit.url,
        "text": hit.text,
    }


def _batch_lines(path: Path) -> Iterator[tuple[int, object, str | None, str | None, str | None]]:
    """(line number, id, question, as_of, error) for each non-blank line: a bad line is an
    error for that line only, never for the batch."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                query = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield number, None, None, None, "the line is not UTF-8 text"
                continue
            except (ValueError, RecursionError):
                yield number, None, None, None, 'expected a JSON object {"id", "question"}'
                continue
            if not isinstance(query, dict) or "id" not in query:
                yield number, None, None, None, 'expected a JSON object {"id", "question"}'
                continue
            qid, question, as_of = query["id"], query.get("question"), query.get("as_of")
            if not isinstance(question, str) or not question.strip():
                yield number, qid, None, None, "question: expected text"
                continue
            if as_of is not None:
                try:
                    if not isinstance(as_of, str):
                        raise argparse.ArgumentTypeError("expected a date like 2023-10-26")
                    as_of = _date(as_of)
                except argparse.ArgumentTypeError as exc:
                    yield number, qid, None, None, f"as_of: {exc}"
                    continue
            yield number, qid, question, as_of, None


def _run_batch(args: argparse.Namespace, one) -> int:
    """One JSON line out for each question in: the answer, or {"id", "error"}."""
    if not args.batch.is_file():
        raise NewsbotError(f"{args.batch}: no such file")
    if args.output is not None and not args.output.parent.is_dir():
        raise NewsbotError(f"{args.output}: its folder {args.output.parent} does not exist")
    out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    errors = 0
    try:
        for number, qid, question, as_of, error in _batch_lines(args.batch):
            if error is None:
                try:
                    result = {"id": qid, **one(question, _filters(args, as_of))}
                except NewsbotError as exc:
                    error = str(exc)
            if error is not None:
                errors += 1
                result = {"id": qid, "line": number, "error": error}
                print(f"newsbot: {args.batch}:{number}: {error}", file=sys.stderr)
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if errors else 0


def cmd_search(service, args: argparse.Namespace) -> int:
    if args.batch is not None:
        if args.query:
            raise NewsbotError("give a query or --batch FILE.jsonl, not both")

        def one(question: str, filters: Filters) -> dict:
            hits = service.search(args.collection, question, top_k=args.top_k, filters=filters)
            return {"hits": [hit_json(i, h) for i, h in enumerate(hits, 1)]}

        return _run_batch(args, one)
    if not args.query:
        raise NewsbotError("give a query, or --batch FILE.jsonl")
    found = service.find(args.collection, args.query, top_k=args.top_k, filters=_filters(args))
    if args.json:
        print(
            json.dumps(
                [hit_json(i, h) for i, h in enumerate(found.hits, 1)], ensure_ascii=False, indent=2
            )
        )
        return 0
    if found.window is not None:
        print(
            f"(nothing in {found.window.description}; searched all news)"
            if found.outside_window
            else f"(searched {found.window.description})"
        )
    if not found.hits:
        print("Nothing found.")
    for i, h in enumerate(found.hits, 1):
        meta = ", ".join(x for x in (h.source, h.published_at) if x)
        print(f"{i}. [{h.score:.4f}] {h.title}" + (f" ({meta})" if meta else ""))
        print(f"   {' '.join(h.text.split())[:400]}")
    return 0


def cmd_sources(service, args: argparse.Namespace) -> int:
    arts = service.sources(
        args.collection, limit=args.per_page, offset=(args.page - 1) * args.per_page
    )
    if args.json:
        print(
            json.dumps(
                [{k: v for k, v in asdict(a).items() if k != "text"} for a in arts],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    if not arts:
        print("No articles" + (" on this page." if args.page > 1 else " yet."))
    for a in arts:
        meta = ", ".join(x for x in (a.source, a.published_at) if x)
        print(f"#{a.id}  {a.title}" + (f" ({meta})" if meta else "") + f" — {a.chunk_count} chunks")
    return 0


def cmd_forget(service, args: argparse.Namespace) -> int:
    article = service.forget(args.collection, args.article_id)
    print(f"forgot #{article.id} “{article.title}” and its {article.chunk_count} chunks")
    return 0


def cmd_rebuild(service, args: argparse.Namespace) -> int:
    bars: dict[str, object] = {}

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


def _feed_line(f: Feed) -> str:
    return f"feed {f.id}  {f.title or f.url}  <{f.url}>  {f.every}, {f.state}"


def cmd_feeds(service, args: argparse.Namespace) -> int:
    action = args.feeds_command
    if action == "add":
        import asyncio

        from .feeds import FeedPoller

        feed = service.add_feed(
            args.collection, args.url, added_by="cli", interval_minutes=args.every
        )
        print(f"following {_feed_line(feed)}")
        report = asyncio.run(FeedPoller(service).poll_feed(feed))  # its entries, now
        print(
            f"feed {report.feed_id}: {report.status}; {report.new} new, "
            f"{report.duplicates} already indexed, {report.failed} failed"
        )
    elif action == "list":
        feeds = service.feeds(args.collection)
        if not feeds:
            print("No feeds yet: add one with `newsbot feeds add URL`.")
        for f in feeds:
            print(_feed_line(f))
    elif action == "remove":
        feed = service.remove_feed(args.collection, args.feed_id)
        print(f"stopped following feed {feed.id} <{feed.url}>")
    elif action in ("pause", "resume"):
        feed = service.pause_feed(args.collection, args.feed_id, paused=action == "pause")
        print(_feed_line(feed))
    else:
        import asyncio

        from .feeds import FeedPoller

        poller = FeedPoller(service)
        if args.all:
            reports = asyncio.run(poller.poll_now(service.feeds(args.collection)))
        else:
            reports = asyncio.run(poller.poll_due())
        for r in reports:
            print(
                f"feed {r.feed_id}: {r.status}; {r.new} new, {r.updated} updated, "
                f"{r.duplicates} already indexed, {r.failed} failed"
            )
        if not reports:
            print("No feed is due.")
    return 0


def cmd_stats(service, args: argparse.Namespace) -> int:
    stats = service.stats(args.collection)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for k, v in stats.items():
            print(f"{k}: {v}")
    return 0


def cmd_check(service, args: argparse.Namespace) -> int:
    """Problems (a damaged file, an index that disagrees with the database) fail the check;
    warnings (an index that cannot be saved, answered from memory) do not."""
    problems = service.check()
    for p in problems:
        print(f"problem: {p}")
    for w in service.warnings():
        print(f"warning: {w}")
    print("ok" if not problems else f"{len(problems)} problem{'s' if len(problems) > 1 else ''}")
    return 1 if problems else 0


def cmd_demo(service, args: argparse.Namespace) -> int:
    collection = "demo"
    if not SAMPLE_ARTICLE.is_file():
        raise NewsbotError(f"the sample article is missing: {SAMPLE_ARTICLE}")
    print(f"Ingesting the sample article {SAMPLE_ARTICLE.name} into collection '{collection}'…")
    report = service.ingest_paths(collection, [SAMPLE_ARTICLE], added_by="demo")
    for r in report.added:
        print(f"  added #{r.article_id} “{r.title}” ({r.published_at}), {r.chunk_count} chunks")
    for r in report.duplicates:
        print(f"  already indexed as #{r.article_id} “{r.title}”")
    print(f"\nQ: {SAMPLE_QUESTION}\n")
    print(format_answer(service.ask(collection, SAMPLE_QUESTION, filters=Filters(as_of=today()))))
    return 0


COMMANDS = {
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "search": cmd_search,
    "sources": cmd_sources,
    "forget": cmd_forget,
    "rebuild": cmd_rebuild,
    "stats": cmd_stats,
    "check": cmd_check,
    "demo": cmd_demo,
    "feeds": cmd_feeds,
}

if __name__ == "__main__":
    sys.exit(main())
