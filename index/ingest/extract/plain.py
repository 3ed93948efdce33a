"""Plain text saved from a web page (or a clean article) → its title, date and body.

Deliberately gentle: a line is dropped only when it matches a known pattern (a breadcrumb, a
date or UI-word line above the body, a copy of the title) or when it starts the page's link
lists after the body. Aggressive variants were measured to drop real paragraphs from 12–24 % of
clean articles (NOTES.md in ../shared, "Text and HTML")."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from ...errors import NotAnArticleError
from ...models import Document
from .header import Meta, parse_meta
from .lines import (
    BULLET,
    COUNTER,
    TERMINAL,
    has_article_text,
    is_crumb,
    is_headline,
    normalize_lines,
    shown_origin,
    starts_body,
    title_in,
    wire_agency,
)
from .tail import SECTION_MARKER, cut_tail

_MD_TITLE = re.compile(r"^#\s+(.+?)(?:\s+#+)?$")
_MD_HEADING = re.compile(r"^#{1,6}\s")
_SETEXT_RULE = re.compile(r"^=+$")

_TITLE_SPAN = 40  # a title sits near the top; this also bounds the quadratic copy search


def _is_structural(line: str) -> bool:
    """Lines that never continue a wrapped paragraph (bullets are handled separately)."""
    return bool(
        _MD_HEADING.match(line)
        or is_crumb(line)
        or SECTION_MARKER.match(line)
        or COUNTER.match(line)
    )


def _unwrap_plain(lines: list[str]) -> list[str]:
    """Lines → paragraphs. Each line is a paragraph, unless the text is hard-wrapped.

    Hard-wrapped text has short lines (< 10 % over 100 characters, a width of 40 or more), and
    in at least 20 % of adjacent pairs the first line is "full" (the next line's first word
    would not have fitted on it) and the next continues in lowercase. Only a full line is
    joined to the next one (or a half-full one to a lowercase continuation). When paragraphs
    are not separated by blank lines, a full line that ends a sentence is not joined either, so
    one-paragraph-per-line text is never merged by accident.
    """
    nonblank = [line for line in lines if line]
    if not nonblank or sum(len(x) > 100 for x in nonblank) > 0.1 * len(nonblank):
        return nonblank
    pairs = [(a, b) for a, b in itertools.pairwise(lines) if a and b]
    inner = sorted(len(a) for a, _ in pairs if len(a) <= 100)
    if len(inner) < 2:
        return nonblank
    # A high percentile, not the max: a title or URL longer than the wrap width is common.
    width = inner[int(0.9 * (len(inner) - 1))]
    first = lines.index(nonblank[0])
    last = len(lines) - lines[::-1].index(nonblank[-1])
    blocks = "" in lines[first:last]

    def joins(para_first: str, prev: str, nxt: str) -> bool:
        if _is_structural(prev) or _is_structural(nxt):
            return False
        full = len(prev) + 1 + len(nxt.split(" ", 1)[0]) > width
        if BULLET.match(nxt):
            # a dash that wrapping put at the start of a line, not a new list item
            return full and not BULLET.match(para_first) and not prev.endswith(":")
        if not full:
            return nxt[0].islower() and 2 * len(prev) >= width
        return blocks or nxt[0].islower() or not prev.endswith(TERMINAL)

    # Wrapped prose continues mid-sentence, in lowercase; a list of headlines never does.
    continued = sum(joins(a, a, b) and b[0].islower() for a, b in pairs)
    if width < 40 or continued < max(2, 0.2 * len(pairs)):
        return nonblank
    paras: list[str] = []
    para_first = prev = ""
    for line in lines:
        if line and prev and joins(para_first, prev, line):
            # textwrap breaks after the hyphen of "well-known": rejoin without a space
            glue = "" if prev.endswith("-") and prev[-2:-1].isalpha() else " "
            paras[-1] += glue + line
        elif line:
            paras.append(line)
            para_first = line
        prev = line
    return paras


def _plain_units(text: str) -> tuple[list[str], str | None]:
    """Normalised paragraphs, plus a Markdown title ("# Title" or "Title\\n===") if one leads."""
    lines = normalize_lines(text)
    while lines and not lines[0]:
        lines.pop(0)
    title = None
    if lines:
        m = _MD_TITLE.match(lines[0])
        if m:
            title, lines = m[1], lines[1:]
        elif len(lines) > 1 and _SETEXT_RULE.match(lines[1]):
            title, lines = lines[0], lines[2:]
    return _unwrap_plain(lines), title


def _strong_title(
    units: list[str], kinds: list[str], i: int, first_text: int | None
) -> tuple[int, str | None] | None:
    """Is ``units[i]`` confirmed as the title by an earlier line? Return (title index, site).

    Confirmations: a breadcrumb ending with it ("Home > Stocks<title> -CapitalWay"), a text
    line that is it plus a site suffix ("<title> | CapitalWay"), or an exact copy of it as the
    first text line (then that first line is the title and this one the duplicate).
    """
    unit = units[i]
    for j in range(i):
        if kinds[j] == "crumb":
            found, site = title_in(units[j], unit, anywhere=True)
        elif kinds[j] == "text":
            if units[j] == unit:
                if j == first_text:
                    return j, None
                continue
            found, site = title_in(units[j], unit, anywhere=False)
        else:
            continue
        if found:
            return i, site
    return None


def _is_question_title(units: list[str], i: int) -> bool:
    """A first line like "Tim Scott eyes White House bid: Who is running for president in
    2024?" is sentence-shaped, but a headline when it is short and a paragraph follows."""
    return (
        len(units[i].split()) <= 20
        and not units[i].endswith(".")
        and is_headline(units[i])
        and any(starts_body(u) for u in units[i + 1 : i + 4])
    )


@dataclass
class _Header:
    """What the lines above the body turned out to be."""

    units: list[str]
    title: str | None
    title_i: int | None  # the title's line (-1: a Markdown title above them all)
    kinds: list[str] = field(default_factory=list)  # per line: crumb, meta, title or text
    first_text: int | None = None
    start: int = 0  # the body's first line
    meta: Meta = field(default_factory=Meta)


def _read_header(units: list[str], title: str | None) -> _Header:
    """Walk down to the first prose paragraph, telling breadcrumbs, date / byline / UI-word
    lines, the title and its copies from text that stays."""
    h = _Header(units, title, -1 if title is not None else None, start=len(units))
    for i, unit in enumerate(units):
        if is_crumb(unit):
            h.kinds.append("crumb")
            continue
        if parse_meta(unit, h.meta):
            h.kinds.append("meta")
            continue
        if h.title is None and i < _TITLE_SPAN and len(unit.split()) >= 2:
            hit = _strong_title(units, h.kinds, i, h.first_text)
            if hit is not None:
                h.title, (h.title_i, h.meta.site) = unit, hit
                if h.title_i != i:
                    h.kinds[h.title_i] = "title"
                h.kinds.append("title" if h.title_i == i else "meta")
                continue
        if h.title is not None and title_in(unit, h.title, anywhere=False)[0]:
            h.kinds.append("meta")  # another copy of the title, maybe with the site name
            continue
        if starts_body(unit) and not (
            h.first_text is None and h.title is None and _is_question_title(units, i)
        ):
            h.start = i
            break
        h.first_text = i if h.first_text is None else h.first_text
        h.kinds.append("text")
    if h.title is None and h.first_text is not None and is_headline(units[h.first_text]):
        h.title, h.title_i = units[h.first_text], h.first_text
    return h


def _body(h: _Header) -> list[str]:
    """The header's text lines below the title (a dek, a short paragraph) and the body, cut
    where the link lists begin."""
    body = []
    for i in range(h.start):
        if h.kinds[i] != "text" or (h.title_i is not None and i <= h.title_i):
            continue
        if h.title is not None:
            found, site = title_in(h.units[i], h.title, anywhere=False)
            if found:
                h.meta.site = h.meta.site or site
                continue
        body.append(h.units[i])
    body_start = len(body)
    body.extend(h.units[h.start :])
    if body_start < len(body):  # a tail cut needs the body to have started
        body = cut_tail(body, body_start)
    return body


def clean_scraped_text(text: str, *, origin: str = "") -> Document:
    """Plain text saved from a web page (or a clean article) → its title, date and body.

    The header (the lines above the first prose paragraph) loses its breadcrumbs, its date /
    byline / UI-word lines and copies of the title; the body is cut at the first section marker
    or counter line that opens the link lists. Anything else is kept, so clean text survives.
    """
    header = _read_header(*_plain_units(text))
    body = _body(header)
    if not has_article_text(body):
        raise NotAnArticleError(f"no article text found in {shown_origin(origin)}")
    wire = wire_agency(body)
    return Document(
        text="\n\n".join(body),
        title=header.title,
        source=header.meta.site or wire,
        published_at=header.meta.date,
        author=header.meta.author or wire,
        origin=origin,
    )
