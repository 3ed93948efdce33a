"""The ``newsbot`` command line: the same service the bot uses, for people and scripts.

Bad input ends in one line on stderr and a non-zero exit; a traceback only with --debug.
``args`` parses, ``commands`` runs one command each through the service's public methods,
``output`` words what is printed, ``batch`` reads and writes JSON lines.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from ..errors import Interrupted, NewsbotError, from_sqlite
from ..settings import CoreSettings, env_example, load_settings
from .args import build_parser, today
from .commands import BEFORE_THE_STORE, COMMANDS, SAMPLE_ARTICLE, SAMPLE_QUESTION
from .output import answer_json, feed_line, format_answer, hit_json

if TYPE_CHECKING:
    from ..service import NewsService

__all__ = [
    "COMMANDS",
    "SAMPLE_ARTICLE",
    "SAMPLE_QUESTION",
    "answer_json",
    "build_parser",
    "feed_line",
    "format_answer",
    "hit_json",
    "main",
    "open_service",
    "today",
]

# Builds the service a command runs on from the parsed arguments (tests and the soak bench
# pass one built around a fake embedder).
ServiceFactory = Callable[[argparse.Namespace], "NewsService"]


def open_service(args: argparse.Namespace) -> NewsService:
    """The service of the configured data folder, with the configured model."""
    from ..service import NewsService

    settings = load_settings(CoreSettings, data_dir=args.data_dir)
    return NewsService(settings)


def main(argv: Sequence[str] | None = None, *, service: ServiceFactory | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_to_stderr()
    try:
        return _run(args, service or open_service)
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


def _run(args: argparse.Namespace, factory: ServiceFactory) -> int:
    if args.command == "env-example":
        print(env_example(CoreSettings), end="")
        return 0
    if args.command in BEFORE_THE_STORE:
        settings = load_settings(CoreSettings, data_dir=args.data_dir)
        return BEFORE_THE_STORE[args.command](settings, args)
    args.all_collections = args.collection is None and args.command in ("rebuild", "feedback")
    if args.collection is None:
        args.collection = "default"
    with factory(args) as service:
        return COMMANDS[args.command](service, args)


def _exit_now(code: int) -> None:
    """Leave at once after Ctrl-C. A worker thread still embedding a group would otherwise hold
    the interpreter's exit until it finished; everything committed is already in SQLite, and
    the derived index is rebuilt from it on the next start."""
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
