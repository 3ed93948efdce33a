"""The time a question asks about: "in 2023", "last week", "since March" → a publication window.

News questions carry their time in words, relative to the day they are asked. A general date
finder (``dateparser.search``) reads far too much as dates in news text — "$700 million", "a 7-2
vote", "Boeing 737", "G7" — so the phrases are found here by narrow rules: a month name, a year
after a preposition ("in 2023", never "the 2024 calendar year"), a weekday after "on"/"last", and
a short list of relative words. Only the absolute phrase itself ("12 May", "Jan. 2025") is handed
to dateparser, which knows the spellings. A window that lies wholly after the day asked is a
plan, not news ("in 2030"), and is ignored.

What the phrases become — the window, its reporting lag and its label — is ``window``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache

from .window import (
    DAY_LAG,
    LONG_LAG,
    Span,
    Window,
    bounds,
    day_label,
    month_end,
    part_of,
    period_of,
    shift_months,
)

__all__ = ["DAY_LAG", "LONG_LAG", "Window", "day_label", "find_window", "without_phrase"]

# fmt: off
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve")
# fmt: on
_MONTHS = {name: i for i, m in enumerate(_MONTH_NAMES, 1) for name in (m, m[:3])} | {"sept": 9}
_WEEKDAYS = {day: i for i, day in enumerate(_DAY_NAMES)}
_NUMBERS = {word: i for i, word in enumerate(_NUMBER_WORDS, 1)} | {
    "a": 1, "an": 1, "couple of": 2, "a couple of": 2, "few": 3, "a few": 3, "several": 5
}  # fmt: skip

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
# A month name followed by a capitalised word is part of a name: "March Madness", "May Day".
_NOT_NAME = r"(?!(?-i:\s+[A-Z][a-z]))"
# Months that are also ordinary words: only capitalised, and never on their own in lower case.
_AMBIGUOUS_MONTHS = {"may", "march", "mar", "jan", "jun", "dec", "sep", "oct", "nov"}
_YEAR = r"(?:19|20)\d\d"
_DAY = r"(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?"
# A year must not be part of a bigger number, a price, a model or a range ("2023-24"), and must
# not count something ("in 2000 homes": a lower-case noun right after it).
_YEAR_END = r"(?![\d\-/.,]\d|\s*%|\s*(?:percent|per\b))"
_NOUN_AFTER = re.compile(r"\s+([a-z][a-z\-]*)")
_ALLOWED_AFTER_WORDS = """
a an and as at because before but by during for from had has have in into is it its of
on or since so than that the their then there these they this those to until was were
what when where which while who why will with would after ago alone already yet too so
far compared versus vs amid despite following about over under across around among
against between through throughout toward towards without within
"""
_ALLOWED_AFTER = frozenset(_ALLOWED_AFTER_WORDS.split())

_NUM = (
    r"(?:\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|(?:a\s+)?few|(?:a\s+)?couple\s+of|several)"
)
_UNIT = r"(?:day|week|month|year)s?"

# Absolute dates, most specific first. Named groups tell which parts were given.
_ISO = rf"(?P<iso>{_YEAR}-[01]\d-[0-3]\d)(?!\d)"
_MDY = rf"(?P<mdy>{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?)(?![\d:])"
_DMY = rf"(?P<dmy>(?:the\s+)?{_DAY}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR}|{_NOT_NAME}))(?![\d:])"
_MY = rf"(?P<my>{_MONTH},?\s+{_YEAR})"
_ABSOLUTE = rf"(?:{_ISO}|{_MDY}|{_DMY}|{_MY})"
_PART = r"(?:(?P<part>early|mid|late|the\s+start\s+of|the\s+end\s+of)[\s\-]+)?"
_PREP = r"(?P<prep>in|during|throughout|over|on|since|from|after|before|until|till|through|as\s+of)"


# -- the rules -----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _dateparser(today: date):
    """dateparser knows the spellings ("Sept. 3rd", "12 May 2024"); relative to ``today``."""
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=["en"],
        settings={
            "RELATIVE_BASE": datetime(today.year, today.month, today.day),
            "PREFER_DATES_FROM": "past",
            "PREFER_DAY_OF_MONTH": "first",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )


def _absolute(text: str, today: date) -> tuple[date, str] | None:
    """One absolute phrase → its date and period ("day", "month" or "year")."""
    try:
        data = _dateparser(today).get_date_data(text)
    except (ValueError, OverflowError):
        return None
    if data.date_obj is None:
        return None
    return data.date_obj.date(), data.period or "day"


def _month_ok(word: str, *, alone: bool) -> bool:
    """Is this month name really a month here? "may"/"march" in lower case are verbs."""
    key = word.rstrip(".").lower()
    if key in _AMBIGUOUS_MONTHS or alone:
        return word[0].isupper()
    return True


def _plain_word_after(text: str, end: int) -> bool:
    """Is the word right after ``end`` a lower-case word that is not a linking word? Then the
    number or date before it describes a thing ("in 2000 homes", "the 2020 election")."""
    m = _NOUN_AFTER.match(text, end)
    return m is not None and m.group(1) not in _ALLOWED_AFTER


def _attributive(text: str, end: int) -> bool:
    """A date used as an adjective ("the January 6, 2021 attack", "May 2025 fires") names
    what a story is about, not when it was published."""
    m = re.match(r",?\s+([A-Za-z][\w\-]*)", text[end:])
    return m is not None and m.group(1).lower() not in _ALLOWED_AFTER


def _number(word: str) -> int | None:
    word = " ".join(word.lower().split())
    if word.isdigit():
        return int(word)
    return _NUMBERS.get(word)


_RULES: list[tuple[str, re.Pattern[str]]] = []


def _rule(name: str, pattern: str) -> None:
    _RULES.append((name, re.compile(pattern, re.IGNORECASE)))


_MONTH_DAY = rf"{_MONTH}(?:\s+{_DAY})?"
# "between March and May", "from 1 May to 3 May": publication ranges. Ranges of bare years
# ("between 2021 and 2022") are about statistics, not about when the news came out: no rule.
_rule(
    "between",
    rf"\b(?:between|from)\s+(?P<a>{_MONTH_DAY}(?:,?\s+{_YEAR})?|{_DAY}\s+{_MONTH})\s+"
    rf"(?:and|to|until|till|through)\s+(?P<b>{_MONTH_DAY}(?:,?\s+{_YEAR})?|{_DAY}\s+{_MONTH}"
    rf"(?:,?\s+{_YEAR})?)(?![\w\-])",
)
_rule("absolute", rf"\b(?:{_PREP}\s+)?(?:the\s+)?{_PART}{_ABSOLUTE}\b{_YEAR_END}")
_rule(
    "month",
    rf"\b{_PREP}\s+(?:the\s+)?{_PART}(?P<month>{_MONTH})(?![\w\-])(?!\s+\d){_NOT_NAME}",
)
_rule("year", rf"\b{_PREP}\s+(?:the\s+year\s+)?{_PART}(?P<year>{_YEAR})\b{_YEAR_END}")
_rule("ago", rf"\b(?P<n>{_NUM})\s+(?P<unit>{_UNIT})\s+ago\b")
_rule(
    "past_n",
    rf"\b(?:(?:in|over|during|for|within)\s+)?(?:the\s+)?(?:past|last|previous)\s+"
    rf"(?P<n>{_NUM})\s+(?P<unit>{_UNIT})\b",
)
_rule(
    "this_unit",
    r"\b(?:(?P<prep>since|before)\s+|(?:in|over|during|within)\s+)?"
    r"(?:(?P<earlier>earlier|later)\s+)?(?P<which>this\s+past|this|the\s+past|the\s+last|last"
    r"|past|previous|the(?=\s+weekend))\s+(?P<unit>week|month|year|weekend)\b",
)
_rule(
    "weekday",
    r"\b(?P<prep>on|last|this|since|before|past)\s+(?:(?P<last2>last|past|this)\s+)?"
    r"(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b(?!\s+\d)",
)
_rule(
    "day_word",
    r"\b(?:(?P<prep>since|before)\s+)?(?P<word>the\s+day\s+before\s+yesterday|yesterday|today"
    r"|tonight|last\s+night|this\s+morning|this\s+afternoon|this\s+evening)\b",
)
# "every May 5", "annually on July 4": a recurring date, not a time.
_RECURRING = re.compile(r"\b(?:every|each|annually|yearly|usually|traditionally)\s*$", re.I)


def _between(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    a, b = _absolute(g["a"], today), _absolute(g["b"], today)
    if a is None or b is None:
        return None
    since, _, _ = period_of(*a)
    _, until, lag = period_of(*b)
    if until < since:
        return None
    return Span(since, until, start, end, lag, bool(re.search(_YEAR, text[start:end])))


def _absolute_span(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    phrase = g["iso"] or g["mdy"] or g["dmy"] or g["my"]
    month_word = re.search(_MONTH, phrase, re.IGNORECASE)
    if month_word and not _month_ok(month_word.group(), alone=False):
        return None
    if not g.get("prep") and _attributive(text, end):
        return None
    parsed = _absolute(phrase, today)
    if parsed is None:
        return None
    since, until, lag = period_of(*parsed)
    since, until, named = part_of(since, until, g.get("part"))
    return Span(since, until, start, end, lag, bool(re.search(_YEAR, phrase)), named)


def _month(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    word = g["month"]
    if not _month_ok(word, alone=True):
        return None
    month = _MONTHS[word.rstrip(".").lower()]
    first = date(today.year if month <= today.month else today.year - 1, month, 1)
    since, until, named = part_of(first, month_end(first), g.get("part"))
    return Span(since, until, start, end, LONG_LAG, named=named)


def _year(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    if _plain_word_after(text, end):
        return None
    year = int(g["year"])
    since, until, named = part_of(date(year, 1, 1), date(year, 12, 31), g.get("part"))
    return Span(since, until, start, end, LONG_LAG, True, named)


def _count(g: dict) -> tuple[int, str] | None:
    n = _number(g["n"])
    if n is None or not 1 <= n <= 100:
        return None
    return n, g["unit"].lower().rstrip("s")


def _past_n(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    """ "the past two weeks": up to today."""
    if (count := _count(g)) is None:
        return None
    n, unit = count
    back = {"day": n - 1, "week": 7 * n - 1, "month": 30 * n, "year": 365 * n}[unit]
    return Span(today - timedelta(days=back), today, start, end)


def _ago(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    """ "3 days ago", "a month ago": that day, week, month or year."""
    if (count := _count(g)) is None:
        return None
    n, unit = count
    if unit == "day":
        d = today - timedelta(days=n)
        return Span(d, d, start, end, to_today=True)
    if unit == "week":
        d = today - timedelta(days=7 * n)
        return Span(d - timedelta(days=3), d + timedelta(days=3), start, end, to_today=True)
    if unit == "month":
        first = shift_months(today, -n)
        return Span(first, month_end(first), start, end, LONG_LAG)
    year = today.year - n
    return Span(date(year, 1, 1), date(year, 12, 31), start, end, LONG_LAG)


def _weekday(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    target = _WEEKDAYS[g["weekday"].lower()]
    back = (today.weekday() - target) % 7
    if g["prep"].lower() in ("last", "past") or (g.get("last2") or "").lower() in (
        "last",
        "past",
    ):
        back = back or 7
    d = today - timedelta(days=back)
    return Span(d, d, start, end, to_today=True)


def _day_word(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    word = " ".join(g["word"].lower().split())
    if word == "the day before yesterday":
        d = today - timedelta(days=2)
    elif word in ("yesterday", "last night"):
        d = today - timedelta(days=1)
    else:
        # "today": the latest news, with a day's slack for time zones.
        return Span(today - timedelta(days=1), today, start, end, named="today")
    return Span(d, d, start, end, to_today=True)


def _this_unit(g: dict, start: int, end: int, text: str, today: date) -> Span | None:
    """this/last/past week, month, year, weekend."""
    which = " ".join((g["which"] or "").lower().split())
    unit = (g["unit"] or "").lower()
    if unit == "weekend":
        # The most recent Saturday–Sunday (the one under way, if today is in it). On a weekday
        # "this weekend" is the one ahead: a plan, not news.
        if which == "this" and today.weekday() < 5:
            return None
        saturday = today - timedelta(days=(today.weekday() - 5) % 7)
        if which not in ("this", "the") and today.weekday() >= 5:
            saturday -= timedelta(days=7)
        return Span(saturday, saturday + timedelta(days=1), start, end, to_today=True)
    rolling = which in ("past", "the past", "this past", "the last")
    if unit == "week":
        if rolling or which == "this":  # "this week" in news means the last seven days
            return Span(today - timedelta(days=6), today, start, end)
        monday = today - timedelta(days=today.weekday() + 7)
        return Span(monday, monday + timedelta(days=6), start, end, to_today=True)
    if unit == "month":
        if rolling:
            return Span(today - timedelta(days=30), today, start, end)
        first = date(today.year, today.month, 1) if which == "this" else shift_months(today, -1)
        return Span(first, month_end(first), start, end, LONG_LAG)
    if rolling:
        return Span(today - timedelta(days=364), today, start, end)
    year = today.year if which == "this" else today.year - 1
    return Span(date(year, 1, 1), date(year, 12, 31), start, end, LONG_LAG)


# Each rule's reader: the period its match names, or None when the match is not a time after all.
_READERS: dict[str, Callable[[dict, int, int, str, date], Span | None]] = {
    "between": _between,
    "absolute": _absolute_span,
    "month": _month,
    "year": _year,
    "ago": _ago,
    "past_n": _past_n,
    "this_unit": _this_unit,
    "weekday": _weekday,
    "day_word": _day_word,
}


def find_window(question: str, today: date) -> Window | None:
    """The publication window a question names, relative to ``today``; None when it names none.

    When it names several, one with an explicit year wins, then the earliest in the question.
    """
    found: list[tuple[bool, int, Window]] = []
    taken: list[tuple[int, int]] = []
    for name, pattern in _RULES:
        for m in pattern.finditer(question):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            if _RECURRING.search(question[: m.start()]):
                continue
            span = _READERS[name](m.groupdict(), m.start(), m.end(), question, today)
            if span is None:
                continue
            since, until, label = bounds(m.groupdict().get("prep"), span, today)
            if since is not None and since > today:
                continue  # a plan or a forecast, not news yet
            if until is not None and until > today:
                until = today
            if since is not None and until is not None and since > until:
                continue
            raw = question[m.start() : m.end()]
            lead = len(raw) - len(raw.lstrip())
            taken.append((m.start(), m.end()))
            window = Window(since, until, label, raw.strip(), m.start() + lead, m.end())
            found.append((span.explicit_year, m.start(), window))
    if not found:
        return None
    found.sort(key=lambda x: (not x[0], x[1]))
    return found[0][2]


def without_phrase(question: str, window: Window | None) -> str:
    """The question with its date words taken out: the window does their work in retrieval,
    and words like "October" or "last week" only add noise to matching."""
    if window is None or window.end <= window.start:
        return question
    out = question[: window.start] + " " + question[window.end :]
    out = re.sub(r"\s+([,.;:?!])", r"\1", out)
    out = re.sub(r"^\s*[,;:]\s*", "", out)
    out = re.sub(r"\s{2,}", " ", out).strip()
    if out and out[0].islower() and question[:1].isupper():
        out = out[0].upper() + out[1:]
    return out or question
