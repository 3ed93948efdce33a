"""``ask --batch`` and ``search --batch``: one JSON line in, one out. A bad line is an error
for that line only (``{"id", "line", "error"}``), never for the batch."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import NewsbotError
from ..search.retrieve import Filters
from .args import date_arg, query_filters


def batch_lines(path: Path) -> Iterator[tuple[int, object, str | None, str | None, str | None]]:
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
                    as_of = date_arg(as_of)
                except argparse.ArgumentTypeError as exc:
                    yield number, qid, None, None, f"as_of: {exc}"
                    continue
            yield number, qid, question, as_of, None


def run_batch(args: argparse.Namespace, one: Callable[[str, Filters], dict]) -> int:
    """One JSON line out for each question in: the answer, or {"id", "error"}."""
    if not args.batch.is_file():
        raise NewsbotError(f"{args.batch}: no such file")
    if args.output is not None and not args.output.parent.is_dir():
        raise NewsbotError(f"{args.output}: its folder {args.output.parent} does not exist")
    out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    errors = 0
    try:
        for number, qid, question, as_of, error in batch_lines(args.batch):
            if error is None:
                try:
                    result = {"id": qid, **one(question, query_filters(args, as_of))}
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
