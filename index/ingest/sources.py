"""Turn what a user hands over (paths, stdin, bytes of an upload) into Documents.

Decides the format by extension, then by content; refuses binary, non-UTF-8, empty and
oversized input with a one-line reason, before anything reaches the store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..models import Document

TEXT_EXTENSIONS = {".txt", ".md", ".markdown", ".text"}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
# Every file type newsbot reads, wherever a file is offered (command line, Discord upload).
SUPPORTED = sorted(TEXT_EXTENSIONS | HTML_EXTENSIONS | {".pdf", ".jsonl"})


@dataclass(frozen=True)
class Failed:
    """One input that could not become a document; ingestion reports it and moves on."""

    origin: str
    reason: str


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control > max(8, len(head) // 50)


def decode_text(data: bytes, origin: str) -> str:
    """UTF-8 (with or without BOM) or a clear refusal; guessing encodings garbles news text."""
    if _looks_binary(data):
        raise InputError(f"{origin} looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{origin} is not UTF-8 text; save it as UTF-8 and try again") from None


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def iso_date(value: object) -> str | None:
    """The YYYY-MM-DD part of a date the input gives, or None when there is none."""
    if not isinstance(value, str):
        return None
    m = _DATE.match(value.strip())
    return m.group() if m else None


def document_from_record(record: dict, origin: str) -> Document:
    """One JSONL line in the eval corpus format: title, body|text, url, source, published_at."""
    body = record.get("body") or record.get("text")
    if not isinstance(body, str) or not body.strip():
        raise InputError(f"{origin}: no 'body' or 'text'")
    title = record.get("title")
    return Document(
        text=body.strip(),
        title=title.strip() if isinstance(title, str) and title.strip() else None,
        source=record.get("source") if isinstance(record.get("source"), str) else None,
        published_at=iso_date(record.get("published_at") or record.get("date")),
        url=record.get("url") if isinstance(record.get("url"), str) else None,
        author=record.get("author") if isinstance(record.get("author"), str) else None,
        origin=origin,
    )


class TooDeepError(InputError):
    """JSON nested deeper than a parser can follow; never a news article."""


def load_json(text: str | bytes, origin: str = "the input") -> Any:
    """``json.loads`` where nesting too deep to read (a ``RecursionError`` inside the parser,
    which no ``ValueError`` handler catches) is a plain refusal of that one input."""
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeepError(f"{origin}: nested too deeply") from None


# A JSON string or one bracket; strings are skipped whole so brackets inside them don't count.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
TOO_DEEP = "\u0000newsbot: nested too deeply"  # stands in for what was cut; NUL: no real text


def load_json_pruned(data: str | bytes, max_depth: int = 32) -> Any:
    """Parse JSON whose parts may be nested too deeply, replacing every value deeper than
    ``max_depth`` with the string ``TOO_DEEP``, so one hostile part (a feed item) can be
    skipped while the rest is read. The scan only runs when plain parsing fails that way."""
    try:
        return json.loads(data)
    except RecursionError:
        pass
    text = data if isinstance(data, str) else data.decode(json.detect_encoding(data))
    out: list[str] = []
    depth, last, cut = 0, 0, -1
    for m in _JSON_TOKEN.finditer(text):
        token = m.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == max_depth + 1:
                cut = m.start()
        else:
            if depth == max_depth + 1 and cut >= 0:
                out += [text[last:cut], json.dumps(TOO_DEEP)]
                last, cut = m.end(), -1
            depth -= 1
    out.append(text[last:] if cut < 0 else text[last:cut] + json.dumps(TOO_DEEP))
    try:
        return json.loads("".join(out))
    except RecursionError:  # unbalanced brackets can still confuse the scan
        raise TooDeepError("nested too deeply") from None


def _sniff(data: bytes) -> str:
    head = data[:2048].lstrip().lower()
    if head.startswith(b"%pdf"):
        return ".pdf"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return ".html"
    if head.startswith(b"{"):
        first = data.lstrip().split(b"\n", 1)[0]
        try:
            obj = load_json(first)
        except TooDeepError:
            return ".jsonl"  # JSON, too deep to read: refused line by line, with the reason
        except ValueError:
            return ".txt"
        if isinstance(obj, dict) and ("body" in obj or "text" in obj):
            return ".jsonl"
    return ".txt"


def documents_from_bytes(
    data: bytes, name: str, *, max_bytes: int, url: str | None = None
) -> Iterator[Document | Failed]:
    """Every document in one upload or file; a JSONL file yields one per line."""
    from . import extract

    if not data.strip():
        yield Failed(name, f"{name} is empty")
        return
    ext = Path(name).suffix.lower()
    if ext not in SUPPORTED:
        if ext and ext not in {".json", ".log", ".csv"} and _looks_binary(data):
            yield Failed(name, f"{name}: unsupported file type (use {', '.join(SUPPORTED)})")
            return
        ext = _sniff(data)
    if ext == ".jsonl":
        yield from _jsonl(data.splitlines(), name, max_bytes)
        return
    if len(data) > max_bytes:
        yield Failed(name, f"{name} is too large ({len(data):,} bytes; the limit is {max_bytes:,})")
        return
    try:
        if ext == ".pdf":
            yield extract.extract_pdf(data, origin=name)
        elif ext in HTML_EXTENSIONS:
            yield extract.extract_html(data, url=url, origin=name)
        else:
            text = decode_text(data, name)
            doc = extract.clean_scraped_text(text, origin=name)
            if not doc.title:
                doc = Document(**{**doc.__dict__, "title": Path(name).stem or name})
            yield doc
    except InputError as exc:
        yield Failed(name, str(exc))


def _jsonl(lines: Iterator[bytes] | list[bytes], name: str, max_bytes: int):
    for number, raw in enumerate(lines, start=1):
        origin = f"{name}:{number}"
        if not raw.strip():
            continue
        if len(raw) > max_bytes:
            yield Failed(origin, f"{origin} is too large ({len(raw):,} bytes)")
            continue
        try:
            record = load_json(decode_text(raw, origin), origin)
            if not isinstance(record, dict):
                raise InputError(f"{origin}: not a JSON object")
            yield document_from_record(record, origin)
        except InputError as exc:
            yield Failed(origin, str(exc))
        except ValueError:
            yield Failed(origin, f"{origin}: not valid JSON")


def count_documents(path: Path) -> int:
    """How many documents a path holds, for a progress bar (lines of a JSONL file)."""
    if path.suffix.lower() != ".jsonl":
        return 1
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def documents_from_path(path: Path, *, max_bytes: int) -> Iterator[Document | Failed]:
    """A file on disk; JSONL is streamed so a corpus larger than the file limit is fine."""
    name = path.name
    if not path.exists():
        yield Failed(str(path), f"{path}: no such file")
        return
    if path.is_dir():
        yield Failed(str(path), f"{path} is a folder; name the files inside it")
        return
    if path.suffix.lower() == ".jsonl":
        with path.open("rb") as fh:
            yield from _jsonl(fh, name, max_bytes)
        return
    size = path.stat().st_size
    if size > max_bytes:
        yield Failed(name, f"{name} is too large ({size:,} bytes; the limit is {max_bytes:,})")
        return
    yield from documents_from_bytes(path.read_bytes(), name, max_bytes=max_bytes)
