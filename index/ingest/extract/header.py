"""The lines above an article's body that are not text: dates (published or updated), bylines
and UI words, recorded in a ``Meta``. A line counts only when every part of it is one of these,
so a sentence that merely mentions a date never does."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .lines import COUNTER, UI_WORDS

_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_MONTHS = {m[:3]: i for i, m in enumerate(_MONTH.strip("()").split("|"), 1)}
_DATE_ISO = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_DATE_MDY = re.compile(rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DATE_DMY = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH}\.?,?\s+(\d{{4}})\b", re.I)
# What may surround the date on a date line: labels, times, week days, zones, separators.
_DATE_NOISE = re.compile(
    r"(?:\s|[,:;|·•()\-–—/.]|(?<!\w)(?:"
    r"(?:(?:last|first|originally)\s+)?(?:date|published|updated|posted|modified|created)"
    r"|on|at"
    r"|T?\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?:\s*[ap]\.?m\.?)?"
    r"|\d{1,2}\s*[ap]\.?m\.?"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun"
    r"|utc|gmt|et|edt|est|ct|cdt|cst|mt|mdt|mst|pt|pdt|pst|kst|jst|cet|cest|bst|ist|aest"
    r"|hkt|sgt|[+-]\d{2}:?\d{2}"
    r")(?!\w))*",
    re.I,
)
_UPDATED = re.compile(r"\b(?:updated|modified)\b", re.I)

_BYLINE = re.compile(r"^by\s+(\S.*)$", re.I)
_NAME_PARTICLES = frozenset(("and", "&", "de", "da", "di", "del", "der", "van", "von", "la", "le"))


@dataclass
class Meta:
    """What the header lines told us, besides the title."""

    published: str | None = None
    updated: str | None = None
    author: str | None = None
    site: str | None = None

    @property
    def date(self) -> str | None:
        """The publication date; an "Updated …" date only when nothing else was given."""
        return self.published or self.updated


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    return date.isoformat() if 1900 <= year <= 2100 else None


def _find_date(segment: str) -> tuple[str, tuple[int, int]] | None:
    """The first valid date in ``segment`` and its span, in any of the supported spellings."""
    found: list[tuple[int, str, tuple[int, int]]] = []
    for m in _DATE_ISO.finditer(segment):
        iso = _iso(int(m[1]), int(m[2]), int(m[3]))
        if iso:
            found.append((m.start(), iso, m.span()))
    for m in _DATE_MDY.finditer(segment):
        iso = _iso(int(m[3]), _MONTHS[m[1][:3].lower()], int(m[2]))
        if iso:
            found.append((m.start(), iso, m.span()))
    for m in _DATE_DMY.finditer(segment):
        iso = _iso(int(m[3]), _MONTHS[m[2][:3].lower()], int(m[1]))
        if iso:
            found.append((m.start(), iso, m.span()))
    if not found:
        return None
    _, iso, span = min(found)
    return iso, span


def _date_segment(segment: str) -> str | None:
    """The ISO date if ``segment`` is nothing but a date with labels, time and zone around it."""
    hit = _find_date(segment)
    if hit is None:
        return None
    iso, (start, end) = hit
    rest = segment[:start] + " " + segment[end:]
    return iso if _DATE_NOISE.fullmatch(rest) else None


def _byline(segment: str) -> str | None:
    """The name(s) in a short "By Jane Doe, Associated Press" segment, else None."""
    m = _BYLINE.match(segment)
    if not m:
        return None
    name = m[1].strip()
    words = name.replace(",", " ").split()
    if not 1 <= len(words) <= 8 or (name.endswith((".", "!", "?")) and not name.endswith("Jr.")):
        return None
    if all(w[0].isupper() or w.lower() in _NAME_PARTICLES for w in words):
        return name
    return None


def parse_meta(line: str, meta: Meta) -> bool:
    """Is ``line`` a date / byline / UI-word line? If so, record what it says in ``meta``.

    A line qualifies only when every part of it (split at | · •) is one of those things, so a
    sentence that merely mentions a date never does.
    """
    if len(line) > 200:  # date, byline and UI lines are short; this also bounds regex work
        return False
    if COUNTER.match(line):
        return True
    parts = [p.strip() for p in re.split(r"[|·•]", line)]
    if not any(parts):
        return False
    dates: list[tuple[str, bool]] = []
    author = None
    for part in parts:
        if not part or UI_WORDS.match(part):
            continue
        iso = _date_segment(part)
        if iso:
            dates.append((iso, bool(_UPDATED.search(part))))
            continue
        name = _byline(part)
        if name and author is None:
            author = name
            continue
        return False
    for iso, updated in dates:
        if updated:
            meta.updated = meta.updated or iso
        else:
            meta.published = meta.published or iso
    meta.author = meta.author or author
    return True
