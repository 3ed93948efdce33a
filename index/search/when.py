"""The time a question asks about: "in 2023", "last week", "since March" → a publication window.

News questions carry their time in words, relative to the day they are asked. A general date
finder (``dateparser.search``) reads far too much as dates in news text — "$700 million", "a 7-2
vote", "Boeing 737", "G7" — so the phrases are found here by narrow rules: a month name, a year
after a preposition ("in 2023", never "the 2024 calendar year"), a weekday after "on"/"last", and
a short list of relative words. Only the absolute phrase itself ("12 May", "Jan. 2025") is handed
to dateparser, which knows the spellings. A window that lies wholly after the day asked is a
plan, not news ("in 2030"), and is ignored.

A month or day named without a year is the last one begun ("What happened in February?" asked
on 31 January: last February) — unless the question speaks of the future ("will face off in
February", "is scheduled for March", "are expected to", "upcoming", "next month's"): then it is
the coming one, not yet ended. News about a coming event is published before it, so a coming
period (within a year) is searched in the news ahead of it: the last 30 days up to the day
asked, and its words stay in the query, since announcements name the date. "next February",
"the coming month" are coming whatever the tense, "last March" is past, "this February" is this
year's; a future-tense question about a month under way searches the last 30 days too. The
future word must come before the date or in its clause: "the vote on Nov 3 that will decide the
budget" is a past vote.

Dates that are no time of news are not read as one, and never as another date: an impossible day
("Sept. 31st, 2023") is read as its month (September 2023, which the reply names); a year before
1900 or after 2099 ("since 1 January 0001") names history or fiction, not a publication window,
so the phrase is not a window at all (the question searches all news), rather than "1 January"
of this year.

Finding the phrases is linear in the question: each rule scans it once, a phrase already taken is
checked in constant time, and dateparser is asked once per distinct phrase.

What the phrases become — the window, its reporting lag and its label — is ``window``.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache

from .window import (
    AHEAD_REACH,
    DAY_LAG,
    LONG_LAG,
    Span,
    Window,
    ahead,
    bounds,
    day_label,
    month_end,
    next_year,
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
_YEAR_IN = re.compile(_YEAR)
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
# A month alone also takes "for" ("is scheduled for March", "the figures for May").
_PREP_MONTH = _PREP.replace("(?P<prep>", "(?P<prep>for|")
# Where a month word ends: not inside a word, and not the month of a day ("Sept. 31st": the
# optional dot must not let "Sept" stand alone before it).
_MONTH_END = r"(?![\w\-])(?!\.?\s+\d)"
# A day or month followed by a year out of range ("1 January 0001", "May 5, 1850"): a year, but
# no news one. A number a noun follows counts something ("May 5, 300 people").
_OTHER_YEAR = re.compile(r",?\s+\d{3,4}(?![\d\-/.,:]\d|[\w%])")
# Words that make a question speak of the future ("will face off", "is scheduled for", "next
# month's", "upcoming"). "will" is the verb, not a testament or "the will of the people"; a
# capital "Will" only opens a question ("Will the Fed…"), mid-sentence it is a name. A plan in
# the present tense ("is scheduled for", "are expected to") is ahead; in the past ("was
# scheduled for February") it may be over.
_AHEAD_WORDS = (
    r"(?:scheduled|expected|slated|planned|due|likely\s+to|set\s+(?:to|for)|poised\s+to"
    r"|to\s+be\s+held)\b"
)
_FUTURE = re.compile(
    r"\bwill\s+(?!of\b|to\b|and\b)[a-z]|(?:^|[.?!;:]\s+)Will\b|\bwon['’]t\b"
    r"|\bshall\b|\w['’]ll\b|\bgoing\s+to\b|\b(?:[Uu]pcoming|[Ff]orthcoming)\b"
    r"|\b(?:is|are|be|['’]s|['’]re)\s+(?:[a-z]+ly\s+|now\s+|still\s+|also\s+)?"
    rf"{_AHEAD_WORDS}|(?:^|[.?!;:]\s+)(?:Is|Are)\s[^.?!]{{0,80}}?\b{_AHEAD_WORDS}"
    r"|\bplan(?:s|ning)\s+to\b|\b(?:[Nn]ext|[Cc]oming)\s+(?:weekend|week|month|year|days?"
    rf"|weeks|months|years)\b|\b(?:[Nn]ext|[Cc]oming)\s+{_MONTH}"
)
# A relative clause after a date speaks of something else: "the vote on Nov 3 that will decide
# the budget" is a past vote.
_CLAUSE = re.compile(r"\bthat\b", re.IGNORECASE)


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


@lru_cache(maxsize=512)
def _absolute(text: str, today: date) -> tuple[date, str] | None:
    """One absolute phrase → its date and period ("day", "month" or "year"). Cached: a question
    repeating a phrase asks dateparser once."""
    try:
        data = _dateparser(today).get_date_data(text)
    except (ValueError, OverflowError):
        data = None
    if data is None or data.date_obj is None:
        return _impossible_day(text, today)
    return data.date_obj.date(), data.period or "day"


_ISO_PARTS = re.compile(r"((?:19|20)\d\d)-([01]\d)-([0-3]\d)")
_DAY_NUMBER = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", re.IGNORECASE)


def _impossible_day(text: str, today: date) -> tuple[date, str] | None:
    """A day its month does not have ("Sept. 31st, 2023", "2023-02-30") names the month: the
    year stays the one written, and the reply says which month it searched."""
    if iso := _ISO_PARTS.fullmatch(text):
        year, month, day = (int(x) for x in iso.groups())
    else:
        word = re.search(_MONTH, text, re.IGNORECASE)
        number = _DAY_NUMBER.search(text)
        if word is None or number is None:
            return None
        month, day = _MONTHS[word.group().rstrip(".").lower()], int(number.group(1))
        written = re.search(_YEAR, text)
        year = int(written.group()) if written else _last_year_of(month, today)
    if not 1 <= month <= 12 or day <= calendar.monthrange(year, month)[1]:
        return None  # not an impossible day: dateparser failed for another reason
    return date(year, month, 1), "month"


def _last_year_of(month: int, today: date) -> int:
    """The year of the last such month begun by ``today``."""
    return today.year if month <= today.month else today.year - 1


def _coming(since: date, until: date, today: date) -> tuple[date, date]:
    """A period named without its year, in a question about the future: the coming one. The
    past reading gave the last one; once it has ended, the coming one is a year on."""
    if until >= today:
        return since, until
    later = next_year(until)
    whole_months = since.day == 1 and until == month_end(until) and since != until
    return next_year(since), month_end(later) if whole_months else later


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


_WORD_AFTER = re.compile(r",?\s+([A-Za-z][\w\-]*)")


def _attributive(text: str, end: int) -> bool:
    """A date used as an adjective ("the January 6, 2021 attack", "May 2025 fires") names
    what a story is about, not when it was published."""
    m = _WORD_AFTER.match(text, end)
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
    rf"\b{_PREP_MONTH}\s+(?:the\s+)?{_PART}(?P<month>{_MONTH}){_MONTH_END}{_NOT_NAME}",
)
_rule(
    "named_month",
    rf"\b(?:{_PREP_MONTH}\s+)?(?P<which>this\s+past|this|last|next|(?:the\s+)?coming)\s+"
    rf"(?P<month>{_MONTH}){_MONTH_END}{_NOT_NAME}",
)
_rule(
    "next_unit",
    r"\b(?:(?:in|over|during|within|for)\s+)?(?:the\s+)?(?:next|coming)\s+"
    r"(?P<unit>weekend|week|month|year|days?|weeks|months|years)(?:['’]s)?\b",
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
# "every May 5", "annually on July 4": a recurring date, not a time. Looked for just before the
# phrase (``_RECURRING_REACH`` characters), never in the whole question again for each phrase.
_RECURRING = re.compile(r"\b(?:every|each|annually|yearly|usually|traditionally)\s*$", re.I)
_RECURRING_REACH = 40
# Rules whose period may be still to come: a question about the future searches ahead of it.
_AHEAD_RULES = frozenset({"between", "absolute", "month", "named_month", "next_unit", "year"})
_PLAIN_PREPS = frozenset({"", "in", "during", "throughout", "over", "on", "for"})


def _between(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
    a, b = _absolute(g["a"], today), _absolute(g["b"], today)
    if a is None or b is None:
        return None
    since, _, _ = period_of(*a)
    _, until, lag = period_of(*b)
    if until < since:
        return None
    explicit = _YEAR_IN.search(text, start, end) is not None
    if future and not explicit:
        since, until = _coming(since, until, today)
    return Span(since, until, start, end, lag, explicit)


def _absolute_span(
    g: dict, start: int, end: int, text: str, today: date, future: bool
) -> Span | None:
    phrase = g["iso"] or g["mdy"] or g["dmy"] or g["my"]
    month_word = re.search(_MONTH, phrase, re.IGNORECASE)
    if month_word and not _month_ok(month_word.group(), alone=False):
        return None
    if not g.get("prep") and _attributive(text, end):
        return None
    explicit = _YEAR_IN.search(phrase) is not None
    other = None if explicit else _OTHER_YEAR.match(text, end)
    if other is not None and not _plain_word_after(text, other.end()):
        return None  # "since 1 January 0001": a year, but none of news
    parsed = _absolute(" ".join(phrase.split()), today)
    if parsed is None:
        return None
    since, until, lag = period_of(*parsed)
    if future and not explicit:
        since, until = _coming(since, until, today)
    since, until, named = part_of(since, until, g.get("part"))
    return Span(since, until, start, end, lag, explicit, named)


def _month(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
    """A month alone: the last one begun, or the coming one in a question about the future."""
    word = g["month"]
    if not _month_ok(word, alone=True):
        return None
    month = _MONTHS[word.rstrip(".").lower()]
    first = date(_last_year_of(month, today), month, 1)
    since, until = _coming(first, month_end(first), today) if future else (first, month_end(first))
    since, until, named = part_of(since, until, g.get("part"))
    return Span(since, until, start, end, LONG_LAG, named=named)


def _named_month(
    g: dict, start: int, end: int, text: str, today: date, future: bool
) -> Span | None:
    """ "this February" (this year's), "last March" (the last one ended), "next May" and "the
    coming May" (the next one to begin)."""
    word = g["month"]
    if not _month_ok(word, alone=True):
        return None
    month = _MONTHS[word.rstrip(".").lower()]
    which = " ".join(g["which"].lower().split())
    if which == "this":
        year = today.year
    elif which in ("last", "this past"):
        year = today.year if month < today.month else today.year - 1
    else:
        year = today.year if month > today.month else today.year + 1
    first = date(year, month, 1)
    return Span(first, month_end(first), start, end, LONG_LAG)


def _next_unit(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span:
    """ "next week", "next month's", "the coming year", "in the coming weeks": still to come."""
    unit = g["unit"].lower()
    if unit == "weekend":
        saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
        return Span(saturday, saturday + timedelta(days=1), start, end)
    if unit == "week":
        monday = today + timedelta(days=7 - today.weekday())
        return Span(monday, monday + timedelta(days=6), start, end)
    if unit == "month":
        first = shift_months(today, 1)
        return Span(first, month_end(first), start, end, LONG_LAG)
    if unit == "year":
        return Span(date(today.year + 1, 1, 1), date(today.year + 1, 12, 31), start, end)
    # the coming days, weeks, months: a while from tomorrow
    days = {"day": 7, "days": 7, "weeks": 21, "months": 90, "years": 365}[unit]
    return Span(today + timedelta(days=1), today + timedelta(days=days), start, end)


def _year(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
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


def _past_n(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
    """ "the past two weeks": up to today."""
    if (count := _count(g)) is None:
        return None
    n, unit = count
    back = {"day": n - 1, "week": 7 * n - 1, "month": 30 * n, "year": 365 * n}[unit]
    return Span(today - timedelta(days=back), today, start, end)


def _ago(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
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


def _weekday(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
    target = _WEEKDAYS[g["weekday"].lower()]
    back = (today.weekday() - target) % 7
    if g["prep"].lower() in ("last", "past") or (g.get("last2") or "").lower() in (
        "last",
        "past",
    ):
        back = back or 7
    d = today - timedelta(days=back)
    return Span(d, d, start, end, to_today=True)


def _day_word(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
    word = " ".join(g["word"].lower().split())
    if word == "the day before yesterday":
        d = today - timedelta(days=2)
    elif word in ("yesterday", "last night"):
        d = today - timedelta(days=1)
    else:
        # "today": the latest news, with a day's slack for time zones.
        return Span(today - timedelta(days=1), today, start, end, named="today")
    return Span(d, d, start, end, to_today=True)


def _this_unit(g: dict, start: int, end: int, text: str, today: date, future: bool) -> Span | None:
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
_READERS: dict[str, Callable[[dict, int, int, str, date, bool], Span | None]] = {
    "between": _between,
    "absolute": _absolute_span,
    "month": _month,
    "named_month": _named_month,
    "next_unit": _next_unit,
    "year": _year,
    "ago": _ago,
    "past_n": _past_n,
    "this_unit": _this_unit,
    "weekday": _weekday,
    "day_word": _day_word,
}


def _read(
    rule: str, prep: str | None, span: Span, today: date, future: bool
) -> tuple[date | None, date | None, str, bool] | None:
    """The window searched for a period, its label, and whether it is the news ahead of it;
    None when it is no news yet (a plan, a forecast)."""
    prep = " ".join((prep or "").lower().split())
    if (
        future
        and rule in _AHEAD_RULES
        and prep in _PLAIN_PREPS
        and span.until >= today
        and span.since <= today + AHEAD_REACH
    ):
        return (*ahead(span, today), True)
    since, until, label = bounds(prep, span, today)
    if since is not None and since > today:
        return None  # a plan or a forecast, not news yet
    if until is not None and until > today:
        until = today
    if since is not None and until is not None and since > until:
        return None
    return since, until, label, False


class _Tense:
    """Where a question speaks of the future: a date is read as coming when a future word comes
    before it or in it ("will face off in February", "next month's"), or after it in the same
    clause ("In February, who will face off?")."""

    def __init__(self, question: str) -> None:
        self.future = [m.start() for m in _FUTURE.finditer(question)]
        self.clauses = [m.start() for m in _CLAUSE.finditer(question)]

    def future_at(self, start: int, end: int) -> bool:
        if not self.future:
            return False
        if self.future[0] < end:
            return True
        clause = bisect.bisect_left(self.clauses, end)
        return clause == len(self.clauses) or self.future[0] < self.clauses[clause]


def find_window(question: str, today: date) -> Window | None:
    """The publication window a question names, relative to ``today``; None when it names none.

    When it names several, one with an explicit year wins, then the earliest in the question.
    """
    tense = _Tense(question)
    found: list[tuple[bool, int, Window]] = []
    taken = bytearray(len(question))  # 1 where a phrase already read lies
    for name, pattern in _RULES:
        for m in pattern.finditer(question):
            start, end = m.span()
            if taken.find(1, start, end) >= 0:
                continue
            if _RECURRING.search(question, max(0, start - _RECURRING_REACH), start):
                continue
            g = m.groupdict()
            future = tense.future_at(start, end)
            span = _READERS[name](g, start, end, question, today, future)
            if span is None:
                continue
            read = _read(name, g.get("prep"), span, today, future)
            if read is None:
                continue
            since, until, label, is_ahead = read
            raw = question[start:end]
            lead = len(raw) - len(raw.lstrip())
            taken[start:end] = b"\x01" * (end - start)
            window = Window(since, until, label, raw.strip(), start + lead, end, is_ahead)
            found.append((span.explicit_year, start, window))
    if not found:
        return None
    found.sort(key=lambda x: (not x[0], x[1]))
    return found[0][2]


def without_phrase(question: str, window: Window | None) -> str:
    """The question with its date words taken out: the window does their work in retrieval,
    and words like "October" or "last week" only add noise to matching. The news ahead of a
    coming period keeps them: its announcements name the date."""
    if window is None or window.ahead or window.end <= window.start:
        return question
    out = question[: window.start] + " " + question[window.end :]
    out = re.sub(r"\s+([,.;:?!])", r"\1", out)
    out = re.sub(r"^\s*[,;:]\s*", "", out)
    out = re.sub(r"\s{2,}", " ", out).strip()
    if out and out[0].islower() and question[:1].isupper():
        out = out[0].upper() + out[1:]
    return out or question
