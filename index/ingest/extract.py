"""Raw input (plain text saved from a page, HTML, PDF) → a ``Document`` holding the article body.

Snippets are later cut verbatim from ``Document.text``, so this module only *removes* whole lines
(page furniture, link lists, page numbers), joins hard-wrapped lines and normalises whitespace; it
never rewrites words or punctuation. Paragraphs are always separated by a blank line ("\\n\\n").

The plain-text cleaner is deliberately gentle: a line is dropped only when it matches a known
pattern (a breadcrumb, a date or UI-word line above the body, a copy of the title) or when it
starts the page's link lists after the body. Aggressive variants were measured to drop real
paragraphs from 12–24 % of clean articles (shared/NOTES.md, "Text and HTML").
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import re
from dataclasses import dataclass

from index.errors import InputError, NotAnArticleError
from index.models import Document

__all__ = ["clean_scraped_text", "extract_html", "extract_pdf"]

# --------------------------------------------------------------------------------------------
# Patterns

_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b\ufeff]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\f\v\x85]")

_BULLET = re.compile(r"^(?:[-*•·▪►–+]|\d{1,3}[.)])\s+")
_TERMINAL = (".", "!", "?", "…", '"', "'", "”", "’", "»")
_TRUNCATED = re.compile(r"\s(?:\.\.\.|…)$")  # "A headline cut short ..."
_MD_TITLE = re.compile(r"^#\s+(.+?)(?:\s+#+)?$")
_MD_HEADING = re.compile(r"^#{1,6}\s")
_SETEXT_RULE = re.compile(r"^=+$")

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

_CRUMB = re.compile(
    r"^(?:(?:current(?:\s+location)?|you are here|breadcrumbs?)\s*:"
    r"|(?:location\s*:\s*)?home\s*[>»›/|])",
    re.I,
)
_CRUMB_SEPARATOR = re.compile(r"\s[>»›]\s")
_SITE_SUFFIX = re.compile(r"^\s+[-|–—·•»]\s*(\S(?:.{0,38}\S)?)\s*$")  # " -CapitalWay"

# Page furniture that stands alone on a line (or between | separators) above the body.
_UI_WORDS = re.compile(
    r"^(?:view|views|share|shares|print|e-?mail|mail|comments?|facebook|twitter|x|linkedin"
    r"|whatsapp|reddit|pinterest|telegram|tweet|save|saved|bookmark|subscribe|register"
    r"|listen(?: to (?:this )?article)?|log ?in|sign in|sign up|menu|search|home|close"
    r"|advertisement|ad|follow(?: us)?|more|next|prev(?:ious)?|back(?: to top)?|top"
    r"|navigation|zoom|translate|audio|video|photos?|gallery|like|reply|copy (?:link|url)"
    r"|link copied|(?:font|text)(?: size)?|a ?a|a- a\+|a\+ a-|a|gift article|read later"
    r"|skip to (?:main )?content|skip navigation|report an error"
    r"|share (?:this (?:article|story)|on \w+)|(?:toggle|main|open|close) (?:navigation|menu)"
    r"|\d+\s*-?\s*min(?:ute)?s?\.?(?: read)?|reading time\s*:?\s*\d+\s*min(?:ute)?s?\.?"
    r"|(?:views?|reads?|hits?|comments?|likes?)\s*:?\s*\d[\d,.]*[km]?"
    r"|\d[\d,.]*[km]?\s+(?:views?|reads?|comments?|likes?|shares?))\s*:?$",
    re.I,
)
# `veryGood! (741)`, `Like (12)`, `👍 12`, `♥ 3 💬 4` (but not "$35")
_COUNTER = re.compile(
    r"^(?:[^\W\d_][\w'’ .!-]{0,24}?\s*\(\s*\d[\d,.]*[kKmM]?\s*\)"
    r"|(?:[^\w\s$€£¥₹#%+-]{1,3}\s*\d[\d,.]*[kKmM]?\s*)+)$"
)
_BYLINE = re.compile(r"^by\s+(\S.*)$", re.I)
_NAME_PARTICLES = frozenset(("and", "&", "de", "da", "di", "del", "der", "van", "von", "la", "le"))

# A heading that opens the page's link lists when it stands alone on a line.
_SECTION_MARKER = re.compile(
    r"^(?:related(?:\s+(?:articles?|stories|news|content|posts|coverage|links|topics|reading"
    r"|videos?))?"
    r"|rankings?|recommendations?|recommended(?:\s+(?:for you|stories|articles|reading|videos?))?"
    r"|read more|read next|read also|also read|more to read|more stories(?:\s+from\s+.{1,40})?"
    r"|trending(?:\s+(?:now|stories|news|topics|articles))?|more (?:from|on)\s+.{1,40}"
    r"|more news|most popular|most read|most viewed|popular(?:\s+(?:now|stories|articles|posts))?"
    r"|you (?:may|might) also like|you may be interested in|don[’']t miss|editor[’']s picks"
    r"|top stories|latest news|latest stories|further reading|see also|comments"
    r"|leave a (?:comment|reply)|sponsored(?:\s+(?:content|stories|links))?|tags|topics"
    r"|share this(?:\s+(?:article|story))?|about the author)\s*:?$"
    r"|^tags?\s*:\s*\S.*$",
    re.I,
)
# Lines that interrupt a body on many sites; dropping them loses no article text.
_AD_LINE = re.compile(
    r"^(?:advertisement|ad|sponsored|skip advertisement|scroll to continue(?: with content)?"
    r"|(?:story|article) continues below(?: advertisement)?|continue reading below)$",
    re.I,
)
_COPYRIGHT = re.compile(r"^(?:copyright\b|©|\(c\)\s*\d{4}|all rights reserved\b)", re.I)

# "SEOUL, South Korea (AP) — …" → "AP"
_DATELINE = re.compile(
    r"^[A-Z][A-Z.'’-]+(?:\s[A-Z][A-Z.'’-]+)*(?:,\s*[A-Z][\w.'’ -]{1,40}?)?\s*"
    r"\(([A-Z][\w.&' -]{0,30}?)\)\s*[—–-]"
)

# Extraction costs ~37 µs and ~1.7 KB a tag whatever the page says (trafilatura walks the tree
# in Python): a page of a million tags took 66 s and 1.7 GB before it was found to hold no
# article. Real article pages have a few thousand tags; at this bound a page costs at most ~2 s
# and ~130 MB, and a bigger one is refused before it is parsed. Counting "<" costs ~1 ms a MB.
MAX_HTML_TAGS = 100_000

_TITLE_SPAN = 40  # a title sits near the top; this also bounds the quadratic copy search
_MIN_HTML_WORDS = 20
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I
)
_JUNK_PDF_TITLE = re.compile(
    r"^(?:untitled(?:\s+document)?|microsoft word\s*-.*|.*\.(?:docx?|pdf|odt|rtf|txt|indd))$",
    re.I,
)


# --------------------------------------------------------------------------------------------
# Line predicates shared by the three extractors


def _where(origin: str) -> str:
    return origin or "the input"


def _normalize_lines(text: str) -> list[str]:
    """Split into lines with light whitespace normalisation; blank lines are kept as ""."""
    text = _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))
    return [_SPACES.sub(" ", line).strip() for line in text.split("\n")]


def _words(line: str) -> list[str]:
    return _BULLET.sub("", line, count=1).split()


def _is_prose(line: str) -> bool:
    """A sentence-like paragraph: ≥ 12 words ending like a sentence (not a cut-off headline)."""
    return len(_words(line)) >= 12 and line.endswith(_TERMINAL) and not _TRUNCATED.search(line)


def _starts_body(line: str) -> bool:
    """Prose, or a long paragraph: some saved pages lose their final full stops."""
    return _is_prose(line) or len(_words(line)) >= 25


def _has_article_text(paras: list[str]) -> bool:
    """Is anything article-like left: a sentence of 6+ words, or one long paragraph? A page of
    menus and headlines has neither."""
    return any(
        len(words := _words(p)) >= 25 or (len(words) >= 6 and p.endswith(_TERMINAL)) for p in paras
    )


def _is_headline(line: str) -> bool:
    """Could this line be a title: short, capitalised, not ending like a sentence."""
    words = line.split()
    if not 2 <= len(words) <= 30 or len(line) > 250 or _BULLET.match(line):
        return False
    first = next((c for c in line if c.isalnum()), "")
    if not (first.isupper() or first.isdigit() or words[0] != words[0].lower()):  # "iPhone"
        return False
    if line.endswith((",", ";", ":", "-", "–", "—")):  # "WASHINGTON (AP) —" is a dateline
        return False
    if line.endswith(".") and not _TRUNCATED.search(line):
        return bool(re.search(r"(?:[A-Z]\.){2,}$", words[-1]))  # "… talks with the U.S."
    return True


def _is_crumb(line: str) -> bool:
    """A breadcrumb trail: "Current:Home > …", or "News > World > <title>" (short steps)."""
    if _CRUMB.match(line):
        return True
    steps = _CRUMB_SEPARATOR.split(line)
    return len(steps) >= 3 and all(len(step.split()) <= 4 for step in steps[:-1])


def _wire(paragraphs: list[str]) -> str | None:
    """The agency in a dateline such as "SEOUL, South Korea (AP) —" in the first paragraphs."""
    for para in paragraphs[:3]:
        m = _DATELINE.match(para)
        if m:
            return m[1].strip()
    return None


# --------------------------------------------------------------------------------------------
# Header lines: dates, bylines, UI words


@dataclass
class _Meta:
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


def _parse_meta(line: str, meta: _Meta) -> bool:
    """Is ``line`` a date / byline / UI-word line? If so, record what it says in ``meta``.

    A line qualifies only when every part of it (split at | · •) is one of those things, so a
    sentence that merely mentions a date never does.
    """
    if len(line) > 200:  # date, byline and UI lines are short; this also bounds regex work
        return False
    if _COUNTER.match(line):
        return True
    parts = [p.strip() for p in re.split(r"[|·•]", line)]
    if not any(parts):
        return False
    dates: list[tuple[str, bool]] = []
    author = None
    for part in parts:
        if not part or _UI_WORDS.match(part):
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


def _title_in(line: str, title: str, *, anywhere: bool) -> tuple[bool, str | None]:
    """Does ``line`` end with ``title``, maybe followed by " -SiteName"? Return (yes, site).

    ``anywhere`` allows text before the title (a breadcrumb trail); otherwise the line must
    start with it ("Title | Site").
    """
    idx = line.rfind(title) if anywhere else (0 if line.startswith(title) else -1)
    if idx < 0 or (anywhere and line == title):
        return False, None
    rest = line[idx + len(title) :]
    if not rest.strip():
        return True, None
    m = _SITE_SUFFIX.match(rest)
    if m and len(m[1].split()) <= 5:
        return True, m[1]
    return False, None


# --------------------------------------------------------------------------------------------
# Tail: link lists, ads, copyright


def _is_cut_line(line: str) -> bool:
    return bool(_SECTION_MARKER.match(line) or _COUNTER.match(line))


def _article_like(line: str, min_words: int) -> bool:
    """Prose of at least ``min_words``; a bulleted line needs 20 (teaser headlines are
    sentence-shaped too, a bulleted paragraph is longer)."""
    needed = max(min_words, 20) if _BULLET.match(line) else min_words
    return _is_prose(line) and len(_words(line)) >= needed


def _cut_tail(paras: list[str], start: int) -> list[str]:
    """Cut at the first section marker or counter line after ``start`` that opens the page's
    link lists, drop standalone ad lines, and trim copyright / UI lines from the very end.

    A marker opens the link lists when its own section (up to the next marker, at most 8 lines)
    is mostly non-prose and nothing after it looks like article paragraphs (two prose lines of
    20+ words): articles have "Trending" subheadings, and sites put "More to read:" link blocks
    in the middle of articles; cutting there would lose the rest of the story.
    """
    cuts = [_is_cut_line(p) for p in paras]
    long_after = [0] * (len(paras) + 1)  # article paragraphs from index k to the end
    for k in range(len(paras) - 1, start, -1):
        long_after[k] = long_after[k + 1] + _article_like(paras[k], 20)
    for k in range(start + 1, len(paras)):
        if not cuts[k] or long_after[k + 1] >= 2:
            continue
        run = itertools.takewhile(lambda i: not cuts[i], range(k + 1, len(paras)))
        section = list(itertools.islice(run, 8))
        if 2 * sum(_article_like(paras[i], 12) for i in section) < max(len(section), 1):
            paras = paras[:k]
            break
    kept = paras[: start + 1] + [p for p in paras[start + 1 :] if not _AD_LINE.match(p)]
    while len(kept) > start + 1 and (
        (_COPYRIGHT.match(kept[-1]) and len(kept[-1].split()) <= 25)
        or _COUNTER.match(kept[-1])
        or _UI_WORDS.match(kept[-1])
    ):
        kept.pop()
    return kept


# --------------------------------------------------------------------------------------------
# Plain text


def _is_structural(line: str) -> bool:
    """Lines that never continue a wrapped paragraph (bullets are handled separately)."""
    return bool(
        _MD_HEADING.match(line)
        or _is_crumb(line)
        or _SECTION_MARKER.match(line)
        or _COUNTER.match(line)
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
        if _BULLET.match(nxt):
            # a dash that wrapping put at the start of a line, not a new list item
            return full and not _BULLET.match(para_first) and not prev.endswith(":")
        if not full:
            return nxt[0].islower() and 2 * len(prev) >= width
        return blocks or nxt[0].islower() or not prev.endswith(_TERMINAL)

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
    lines = _normalize_lines(text)
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
            found, site = _title_in(units[j], unit, anywhere=True)
        elif kinds[j] == "text":
            if units[j] == unit:
                if j == first_text:
                    return j, None
                continue
            found, site = _title_in(units[j], unit, anywhere=False)
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
        and _is_headline(units[i])
        and any(_starts_body(u) for u in units[i + 1 : i + 4])
    )


def clean_scraped_text(text: str, *, origin: str = "") -> Document:
    """Plain text saved from a web page (or a clean article) → its title, date and body.

    The header (the lines above the first prose paragraph) loses its breadcrumbs, its date /
    byline / UI-word lines and copies of the title; the body is cut at the first section marker
    or counter line that opens the link lists. Anything else is kept, so clean text survives.
    """
    units, title = _plain_units(text)
    meta = _Meta()
    kinds: list[str] = []  # per header unit: "crumb", "meta", "title" or "text"
    title_i: int | None = -1 if title is not None else None
    first_text: int | None = None
    start = len(units)
    for i, unit in enumerate(units):
        if _is_crumb(unit):
            kinds.append("crumb")
            continue
        if _parse_meta(unit, meta):
            kinds.append("meta")
            continue
        if title is None and i < _TITLE_SPAN and len(unit.split()) >= 2:
            hit = _strong_title(units, kinds, i, first_text)
            if hit is not None:
                title, (title_i, meta.site) = unit, hit
                if title_i != i:
                    kinds[title_i] = "title"
                kinds.append("title" if title_i == i else "meta")
                continue
        if title is not None and _title_in(unit, title, anywhere=False)[0]:
            kinds.append("meta")  # another copy of the title, maybe with the site name
            continue
        if _starts_body(unit) and not (
            first_text is None and title is None and _is_question_title(units, i)
        ):
            start = i
            break
        first_text = i if first_text is None else first_text
        kinds.append("text")

    if title is None and first_text is not None and _is_headline(units[first_text]):
        title, title_i = units[first_text], first_text
    body = []
    for i in range(start):  # unknown header lines below the title stay: a dek, a short para
        if kinds[i] != "text" or (title_i is not None and i <= title_i):
            continue
        if title is not None:
            found, site = _title_in(units[i], title, anywhere=False)
            if found:
                meta.site = meta.site or site
                continue
        body.append(units[i])
    body_start = len(body)
    body.extend(units[start:])
    if body_start < len(body):  # a tail cut needs the body to have started
        body = _cut_tail(body, body_start)
    if not _has_article_text(body):
        raise NotAnArticleError(f"no article text found in {_where(origin)}")
    wire = _wire(body)
    return Document(
        text="\n\n".join(body),
        title=title,
        source=meta.site or wire,
        published_at=meta.date,
        author=meta.author or wire,
        origin=origin,
    )


# --------------------------------------------------------------------------------------------
# HTML


def extract_html(data: bytes, *, url: str | None = None, origin: str = "") -> Document:
    """An HTML page → its article, with trafilatura (the best extractor measured here).

    trafilatura gets the bytes (it detects the encoding; lxml alone mis-reads UTF-8). Its
    extensive date search is off: it turns a footer's "© 2024" into 2024-01-01.
    """
    where = _where(origin or url or "")
    if not data.strip():
        raise InputError(f"{where} is empty")
    if data.count(b"<") > MAX_HTML_TAGS:
        raise InputError(
            f"{where} is too complex to read (over {MAX_HTML_TAGS:,} HTML tags); "
            "no news article needs that many"
        )
    import trafilatura  # here, so that the plain-text path does not pay for the import

    try:
        tree = trafilatura.load_html(data)
        doc = None
        if tree is not None:
            doc = trafilatura.bare_extraction(
                tree,
                url=url,
                with_metadata=True,
                include_comments=False,
                include_tables=True,
                date_extraction_params={"extensive_search": False, "original_date": True},
            )
    except Exception as exc:  # lxml and trafilatura raise many types on hostile input
        raise InputError(f"could not read the HTML in {where}") from exc
    if tree is None:
        raise InputError(f"could not read the HTML in {where}")
    if doc is None or not doc.text:
        raise NotAnArticleError(f"no article text found in {where}")

    title = (doc.title or "").strip() or None
    paras = [line for line in _normalize_lines(doc.text) if line]
    meta = _Meta()
    # trafilatura keeps the <h1> and visible date lines: drop them from the top of the body.
    while paras and (
        (title is not None and _title_in(paras[0], title, anywhere=False)[0])
        or (not _is_prose(paras[0]) and (_is_crumb(paras[0]) or _parse_meta(paras[0], meta)))
    ):
        paras.pop(0)
    if paras:
        paras = _cut_tail(paras, 0)
    if sum(len(p.split()) for p in paras) < _MIN_HTML_WORDS:
        raise NotAnArticleError(f"no article text found in {where}")

    wire = _wire(paras)
    return Document(
        text="\n\n".join(paras),
        title=title,
        source=(doc.sitename or "").strip() or wire,
        published_at=doc.date if doc.date and _ISO_DAY.match(doc.date) else meta.date,
        # The page's own canonical URL (trafilatura reads <link rel=canonical> / og:url) names
        # the article better than the address it was fetched from.
        url=doc.url if (doc.url or "").startswith(("http://", "https://")) else url,
        author=(doc.author or "").strip() or meta.author or wire,
        origin=origin,
    )


# --------------------------------------------------------------------------------------------
# PDF


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Remove page numbers, and headers/footers repeated at the top or bottom of most pages."""
    pages = [[line for line in page if line and not _PAGE_NUMBER.match(line)] for page in pages]
    if len(pages) < 3:
        return pages

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line)  # "Annual report, page 3" repeats as a shape

    for pos in (0, -1):
        counts: dict[str, int] = {}
        for page in pages:
            if page:
                counts[key(page[pos])] = counts.get(key(page[pos]), 0) + 1
        running = {k for k, n in counts.items() if n >= max(3, 0.6 * len(pages))}
        for i, page in enumerate(pages):
            if page and key(page[pos]) in running:
                pages[i] = page[1:] if pos == 0 else page[:-1]
    return pages


def _unwrap_pdf(lines: list[str]) -> list[str]:
    """Rejoin pypdf's hard-wrapped lines into paragraphs.

    A paragraph ends at a blank line, before a bullet, or after a short line (under 65 % of the
    typical line width) when the next line starts with a capital, a digit or a quote: that is
    the last line of a paragraph, or a heading. "exam-/ple" becomes "example" only when the next
    line starts in lowercase; otherwise the hyphen stays ("COVID-/19" → "COVID-19").
    """
    lengths = sorted(len(x) for x in lines if x)
    if not lengths:
        return []
    width = lengths[int(0.9 * (len(lengths) - 1))]
    paras: list[str] = []
    prev = ""
    for line in lines:
        if not line:
            prev = ""
            continue
        if not prev or _BULLET.match(line) or (len(prev) < 0.65 * width and not line[0].islower()):
            paras.append(line)
        elif prev.endswith("-") and prev[-2:-1].isalpha():
            paras[-1] = paras[-1][:-1] + line if line[0].islower() else paras[-1] + line
        else:
            paras[-1] += " " + line
        prev = line
    return paras


def _pdf_title(raw: object) -> str | None:
    """The /Title metadata, unless it is empty or a tool's placeholder ("Microsoft Word - x")."""
    title = _SPACES.sub(" ", str(raw or "")).strip()
    return None if not title or _JUNK_PDF_TITLE.match(title) else title


def extract_pdf(data: bytes, *, origin: str = "") -> Document:
    """A PDF → its text with pypdf, hard line wraps rejoined into paragraphs.

    An empty user password is tried first: owner-only encryption (no printing, no copying) is
    common on news PDFs and does not stop reading.
    """
    from pypdf import PdfReader  # here: only the PDF path needs it

    # pypdf reports what it repairs on its logger, which with no handler set prints to stderr
    # (in the middle of the command line's output); a PDF it cannot read raises instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    where = f" {origin}" if origin else ""
    encrypted = False
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        if encrypted and not reader.decrypt(""):
            raise InputError(f"could not read the PDF{where}: it is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = _pdf_title(reader.metadata.title if reader.metadata else None)
    except InputError:
        raise
    except Exception as exc:  # pypdf raises many types on corrupt files
        # AES needs the `cryptography` package, which newsbot does not install
        why = ": it is encrypted" if encrypted else ""
        raise InputError(f"could not read the PDF{where}{why}") from exc

    lines: list[str] = []
    for page in _drop_running_lines([_normalize_lines(page) for page in pages]):
        lines.extend(page)  # no blank line between pages: a paragraph may continue
    paras = _unwrap_pdf(lines)
    if paras and paras[0] == title:
        paras = paras[1:]
    if not paras:
        raise NotAnArticleError(f"no text found in the PDF{where} (is it a scanned image?)")
    if not _has_article_text(paras):
        raise NotAnArticleError(f"no article text found in the PDF{where}")
    wire = _wire(paras)
    return Document(text="\n\n".join(paras), title=title, source=wire, author=wire, origin=origin)
