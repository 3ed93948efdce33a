"""The ``newsbot`` arguments: the parser and the argument types that refuse bad values before
any command runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path

from ..ingest.sources import SUPPORTED
from ..search.retrieve import Filters


def date_arg(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2023-10-26") from None


def today() -> str:
    return date.today().isoformat()


def asked_on(args: argparse.Namespace) -> str | None:
    """The day a question is asked: --as-of, else today, unless --undated."""
    if args.undated:
        return None
    return args.as_of or today()


def query_filters(args: argparse.Namespace, as_of: str | None = None) -> Filters:
    """The filters a question runs with; a batch line's own ``as_of`` wins over the flags."""
    return Filters(
        source=args.source,
        since=args.since,
        until=args.until,
        as_of=as_of if as_of is not None else asked_on(args),
    )


# SQLite keeps integers in 64 bits: no id or count above this names anything.
SQLITE_MAX_INT = 2**63 - 1
# A sub-command group's ``add_parser``.
AddParser = Callable[..., argparse.ArgumentParser]


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
    p = sub.add_parser("ingest", help=f"add articles: {' '.join(SUPPORTED)} files, or - for stdin")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--added-by", help="who added them (recorded with each article)")
    _add_questions(sub.add_parser)
    _add_articles(sub.add_parser)
    _add_feeds(sub.add_parser)
    _add_upkeep(sub.add_parser)
    sub.add_parser(
        "env-example", help="print the core's settings (`python -m bot env-example`: every one)"
    )
    sub.add_parser("demo", help="ingest the bundled sample article and answer a question")
    return parser


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="only articles from this source")
    p.add_argument("--since", type=date_arg, help="only articles published on or after")
    p.add_argument("--until", type=date_arg, help="only articles published on or before")
    _asked(p)


def _asked(p: argparse.ArgumentParser) -> None:
    """--as-of or --undated: the day a question is asked (``asked_on``)."""
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--as-of", type=date_arg, help="the day the question is asked (default: today)"
    )
    when.add_argument(
        "--undated",
        action="store_true",
        help="ask with no date: no preference for recent news (archives, scripts)",
    )


def _batch(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--batch",
        type=Path,
        metavar="FILE.jsonl",
        help=f'questions, one {{"id", "question", "as_of"?}} a line; {what}',
    )
    p.add_argument("--output", "-o", type=Path, help="write the batch here, not stdout")


def _add_questions(add: AddParser) -> None:
    p = add("ask", help="answer a question with cited snippets")
    p.add_argument("question", nargs="?")
    p.add_argument("--json", action="store_true", help="print JSON")
    _batch(p, "one JSON answer a line out")
    _filters(p)

    p = add("search", help="the passages that best match a query")
    p.add_argument("query", nargs="?")
    p.add_argument("--top-k", type=_positive, default=10)
    p.add_argument("--json", action="store_true", help="print JSON")
    _batch(p, "the run format score.py reads out")
    _filters(p)

    p = add("timeline", help="one story's developments, newest first, each dated and cited")
    p.add_argument("topic")
    p.add_argument("--json", action="store_true", help="print JSON")
    _asked(p)


def _add_articles(add: AddParser) -> None:
    p = add("sources", help="the articles in the collection, newest first")
    p.add_argument("--page", type=_page, default=1)
    p.add_argument("--per-page", type=_per_page, default=20)
    p.add_argument("--json", action="store_true")
    p = add("forget", help="remove an article and its vectors")
    p.add_argument("article_id", type=_positive)


def _add_upkeep(add: AddParser) -> None:
    add("rebuild", help="rebuild the vector index from stored vectors")
    p = add("stats", help="counts and sizes")
    p.add_argument("--json", action="store_true")
    add("check", help="verify the database and indexes are consistent")
    p = add(
        "feedback",
        help="the worst-rated answers given on Discord (all collections unless -c is given)",
    )
    p.add_argument("--limit", type=_positive, default=20)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument(
        "--questions",
        action="store_true",
        help='print them as `ask --batch` reads them ({"id", "question", "as_of"} a line): '
        "a replay set",
    )
    p = add(
        "copy-store",
        help="copy this SQLite store into an empty PostgreSQL database, vectors included; verified",
    )
    p.add_argument("--to", required=True, metavar="postgresql://…", help="the target database")
    p = add(
        "backup",
        help="write the store (every collection; not the derived indexes) to one file, while"
        " others keep writing",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="the backup file (.tar; .tar.gz: gzip)")
    p = add(
        "restore",
        help="fill an empty data folder (or the empty NEWSBOT_DATABASE_URL database) from a backup",
    )
    p.add_argument("file", type=Path, metavar="FILE")


def _add_feeds(add: AddParser) -> None:
    p = add("feeds", help="follow RSS/Atom feeds: add, list, remove, pause, resume, poll")
    feeds = p.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    fp = feeds.add_parser("add", help="follow a feed (fetched once now to check it)")
    fp.add_argument("url")
    fp.add_argument("--every", type=_minutes, metavar="MINUTES", help="poll interval")
    feeds.add_parser("list", help="the feeds this collection follows")
    for action in ("remove", "pause", "resume"):
        feeds.add_parser(action, help=f"{action} a feed").add_argument("feed_id", type=_positive)
    fp = feeds.add_parser("poll", help="poll the feeds that are due now, and ingest new entries")
    fp.add_argument("--all", action="store_true", help="poll every unpaused feed, due or not")
