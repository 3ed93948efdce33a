"""Line-level reading shared by the three extractors: whitespace normalised, what a sentence,
a headline, a breadcrumb, a counter or UI-word line looks like, a dateline's wire agency, and
whether a line is a copy of the title."""

from __future__ import annotations

import re

SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b\ufeff]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\f\v\x85]")

BULLET = re.compile(r"^(?:[-*•·▪►–+]|\d{1,3}[.)])\s+")
TERMINAL = (".", "!", "?", "…", '"', "'", "”", "’", "»")
_TRUNCATED = re.compile(r"\s(?:\.\.\.|…)$")  # "A headline cut short ..."

_CRUMB = re.compile(
    r"^(?:(?:current(?:\s+location)?|you are here|breadcrumbs?)\s*:"
    r"|(?:location\s*:\s*)?home\s*[>»›/|])",
    re.I,
)
_CRUMB_SEPARATOR = re.compile(r"\s[>»›]\s")
_SITE_SUFFIX = re.compile(r"^\s+[-|–—·•»]\s*(\S(?:.{0,38}\S)?)\s*$")  # " -CapitalWay"

# Page furniture that stands alone on a line (or between | separators) above the body.
UI_WORDS = re.compile(
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
COUNTER = re.compile(
    r"^(?:[^\W\d_][\w'’ .!-]{0,24}?\s*\(\s*\d[\d,.]*[kKmM]?\s*\)"
    r"|(?:[^\w\s$€£¥₹#%+-]{1,3}\s*\d[\d,.]*[kKmM]?\s*)+)$"
)
# "SEOUL, South Korea (AP) — …" → "AP"
_DATELINE = re.compile(
    r"^[A-Z][A-Z.'’-]+(?:\s[A-Z][A-Z.'’-]+)*(?:,\s*[A-Z][\w.'’ -]{1,40}?)?\s*"
    r"\(([A-Z][\w.&' -]{0,30}?)\)\s*[—–-]"
)


def shown_origin(origin: str) -> str:
    return origin or "the input"


def normalize_lines(text: str) -> list[str]:
    """Split into lines with light whitespace normalisation; blank lines are kept as ""."""
    text = _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))
    return [SPACES.sub(" ", line).strip() for line in text.split("\n")]


def line_words(line: str) -> list[str]:
    return BULLET.sub("", line, count=1).split()


def is_prose(line: str) -> bool:
    """A sentence-like paragraph: ≥ 12 words ending like a sentence (not a cut-off headline)."""
    return len(line_words(line)) >= 12 and line.endswith(TERMINAL) and not _TRUNCATED.search(line)


def starts_body(line: str) -> bool:
    """Prose, or a long paragraph: some saved pages lose their final full stops."""
    return is_prose(line) or len(line_words(line)) >= 25


def has_article_text(paras: list[str]) -> bool:
    """Is anything article-like left: a sentence of 6+ words, or one long paragraph? A page of
    menus and headlines has neither."""
    return any(
        len(words := line_words(p)) >= 25 or (len(words) >= 6 and p.endswith(TERMINAL))
        for p in paras
    )


def is_headline(line: str) -> bool:
    """Could this line be a title: short, capitalised, not ending like a sentence."""
    words = line.split()
    if not 2 <= len(words) <= 30 or len(line) > 250 or BULLET.match(line):
        return False
    first = next((c for c in line if c.isalnum()), "")
    if not (first.isupper() or first.isdigit() or words[0] != words[0].lower()):  # "iPhone"
        return False
    if line.endswith((",", ";", ":", "-", "–", "—")):  # "WASHINGTON (AP) —" is a dateline
        return False
    if line.endswith(".") and not _TRUNCATED.search(line):
        return bool(re.search(r"(?:[A-Z]\.){2,}$", words[-1]))  # "… talks with the U.S."
    return True


def is_crumb(line: str) -> bool:
    """A breadcrumb trail: "Current:Home > …", or "News > World > <title>" (short steps)."""
    if _CRUMB.match(line):
        return True
    steps = _CRUMB_SEPARATOR.split(line)
    return len(steps) >= 3 and all(len(step.split()) <= 4 for step in steps[:-1])


def wire_agency(paragraphs: list[str]) -> str | None:
    """The agency in a dateline such as "SEOUL, South Korea (AP) —" in the first paragraphs."""
    for para in paragraphs[:3]:
        m = _DATELINE.match(para)
        if m:
            return m[1].strip()
    return None


def title_in(line: str, title: str, *, anywhere: bool) -> tuple[bool, str | None]:
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
