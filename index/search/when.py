"""The time a question asks about: "in 2023", "last week", "since March" → a publication window.

News questions carry their time in words, relative to the day they are asked. A general date
finder (``dateparser.search``) reads far too much as dates in news text — "$700 million", "a 7-2
vote", "Boeing 737", "G7" — so the phrases are found here by narrow rules: a month name, a year
after a preposition ("in 2023", never "the 2024 calendar year"), a weekday after "on"/"last", and
a short list of relative words. Only the absolute phrase itself ("12 May", "Jan. 2025") is handed
to dateparser, which knows the spellings. A window that lies wholly after the day asked is a
plan, not news ("in 2030"), and is ignored.

Windows are over publication dates. A story about a period is published during it and shortly
after (``DAY_LAG``…), so "yesterday" searches yesterday and today, "in August" into September.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

# How many days after a named period its news is still being published: a day's story comes
# out that day and the next ones, a month's figures (prices, jobs, inflation) and reviews within
# about two weeks. The label names the period; the search adds this. A day or week of the last
# days ("on Monday", "last week") is searched up to today: everything since reports on it.
DAY_LAG = 2
LONG_LAG = 14

_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
_WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "couple of": 2,
    "a couple of": 2,
    "three": 3,
    "few": 3,
    "a few": 3,
    "four": 4,
    "five": 5,
    "several": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}

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


@dataclass(frozen=True)
class Window:
    """A publication window: ``since``/``until`` inclusive, either may be open."""

    since: date | None
    until: date | None
    label: str  # the period as named: "January 2025", "since 1 March 2026"…
    phrase: str = ""  # the words of the question it came from
    start: int = 0  # where those words are in the question
    end: int = 0

    @property
    def description(self) -> str:
        """How the reply names what it searched."""
        if self.label.startswith(("since", "before", "up to")):
            return f"news {self.label}"
        return f"news from {self.label}"

    def contains(self, published_at: str | None) -> bool:
        if not published_at:
            return False
        day = published_at[:10]
        return (self.since is None or day >= self.since.isoformat()) and (
            self.until is None or day <= self.until.isoformat()
        )

    def as_json(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "label": self.label,
            "description": self.description,
            "phrase": self.phrase,
        }


# -- formatting ----------------------------------------------------------------------------------


def day_label(d: date) -> str:
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


def _range_label(since: date, until: date) -> str:
    if since == until:
        return day_label(since)
    if since.day == 1 and until == _month_end(since):
        return f"{calendar.month_name[since.month]} {since.year}"
    if since == date(since.year, 1, 1) and until == date(since.year, 12, 31):
        return str(since.year)
    if since.year == until.year and since.month == until.month:
        return f"{since.day}–{until.day} {calendar.month_name[since.month]} {since.year}"
    if since.year == until.year:
        return (
            f"{since.day} {calendar.month_name[since.month]} – {until.day} "
            f"{calendar.month_name[until.month]} {until.year}"
        )
    return f"{day_label(since)} – {day_label(until)}"


def _month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


# -- the rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """A period named in the question (exactly as named), where it was, and how long its news
    goes on being published after it ends (``lag`` days)."""

    since: date
    until: date
    start: int
    end: int
    lag: int = 0
    explicit_year: bool = False
    named: str = ""  # how to say it when not a plain range: "early 2023"
    to_today: bool = False  # a recent day or week: its news runs on until today


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


def _period(d: date, period: str) -> tuple[date, date, int]:
    """The whole period a date names, and its reporting lag."""
    if period == "year":
        return date(d.year, 1, 1), date(d.year, 12, 31), LONG_LAG
    if period == "month":
        return date(d.year, d.month, 1), _month_end(d), LONG_LAG
    return d, d, DAY_LAG


def _shift_months(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, 1)


def _part(since: date, until: date, part: str | None) -> tuple[date, date, str]:
    """ "early/mid/late 2023": the first, middle or last third of the period, and its name."""
    if not part:
        return since, until, ""
    part = " ".join(part.lower().split())
    whole = _range_label(since, until)
    third = max(1, ((until - since).days + 1) // 3)
    if part in ("early", "the start of"):
        return since, since + timedelta(days=third - 1), f"{part} {whole}"
    if part == "mid":
        return since + timedelta(days=third), until - timedelta(days=third), f"mid-{whole}"
    return until - timedelta(days=third - 1), until, f"{part} {whole}"


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


def _span_of(name: str, m: re.Match[str], text: str, today: date) -> _Span | None:
    g = m.groupdict()
    start, end = m.start(), m.end()
    if name == "between":
        a, b = _absolute(g["a"], today), _absolute(g["b"], today)
        if a is None or b is None:
            return None
        since, _, _ = _period(*a)
        _, until, lag = _period(*b)
        if until < since:
            return None
        return _Span(since, until, start, end, lag, bool(re.search(_YEAR, m.group())))
    if name == "absolute":
        phrase = g["iso"] or g["mdy"] or g["dmy"] or g["my"]
        month_word = re.search(_MONTH, phrase, re.IGNORECASE)
        if month_word and not _month_ok(month_word.group(), alone=False):
            return None
        if not g.get("prep") and _attributive(text, end):
            return None
        parsed = _absolute(phrase, today)
        if parsed is None:
            return None
        since, until, lag = _period(*parsed)
        since, until, named = _part(since, until, g.get("part"))
        return _Span(since, until, start, end, lag, bool(re.search(_YEAR, phrase)), named)
    if name == "month":
        word = g["month"]
        if not _month_ok(word, alone=True):
            return None
        month = _MONTHS[word.rstrip(".").lower()]
        first = date(today.year if month <= today.month else today.year - 1, month, 1)
        since, until, named = _part(first, _month_end(first), g.get("part"))
        return _Span(since, until, start, end, LONG_LAG, named=named)
    if name == "year":
        if _plain_word_after(text, end):
            return None
        year = int(g["year"])
        since, until, named = _part(date(year, 1, 1), date(year, 12, 31), g.get("part"))
        return _Span(since, until, start, end, LONG_LAG, True, named)
    if name in ("ago", "past_n"):
        n = _number(g["n"])
        if n is None or not 1 <= n <= 100:
            return None
        unit = g["unit"].lower().rstrip("s")
        if name == "past_n":
            back = {"day": n - 1, "week": 7 * n - 1, "month": 30 * n, "year": 365 * n}[unit]
            return _Span(today - timedelta(days=back), today, start, end)
        if unit == "day":
            d = today - timedelta(days=n)
            return _Span(d, d, start, end, to_today=True)
        if unit == "week":
            d = today - timedelta(days=7 * n)
            return _Span(d - timedelta(days=3), d + timedelta(days=3), start, end, to_today=True)
        if unit == "month":
            first = _shift_months(today, -n)
            return _Span(first, _month_end(first), start, end, LONG_LAG)
        year = today.year - n
        return _Span(date(year, 1, 1), date(year, 12, 31), start, end, LONG_LAG)
    if name == "this_unit":
        return _this_unit(g, start, end, today)
    if name == "weekday":
        target = _WEEKDAYS[g["weekday"].lower()]
        back = (today.weekday() - target) % 7
        if g["prep"].lower() in ("last", "past") or (g.get("last2") or "").lower() in (
            "last",
            "past",
        ):
            back = back or 7
        d = today - timedelta(days=back)
        return _Span(d, d, start, end, to_today=True)
    if name == "day_word":
        word = " ".join(g["word"].lower().split())
        if word == "the day before yesterday":
            d = today - timedelta(days=2)
        elif word in ("yesterday", "last night"):
            d = today - timedelta(days=1)
        else:
            # "today": the latest news, with a day's slack for time zones.
            return _Span(today - timedelta(days=1), today, start, end, named="today")
        return _Span(d, d, start, end, to_today=True)
    return None


def _this_unit(g: dict[str, str | None], start: int, end: int, today: date) -> _Span | None:
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
        return _Span(saturday, saturday + timedelta(days=1), start, end, to_today=True)
    rolling = which in ("past", "the past", "this past", "the last")
    if unit == "week":
        if rolling or which == "this":  # "this week" in news means the last seven days
            return _Span(today - timedelta(days=6), today, start, end)
        monday = today - timedelta(days=today.weekday() + 7)
        return _Span(monday, monday + timedelta(days=6), start, end, to_today=True)
    if unit == "month":
        if rolling:
            return _Span(today - timedelta(days=30), today, start, end)
        first = date(today.year, today.month, 1) if which == "this" else _shift_months(today, -1)
        return _Span(first, _month_end(first), start, end, LONG_LAG)
    if rolling:
        return _Span(today - timedelta(days=364), today, start, end)
    year = today.year if which == "this" else today.year - 1
    return _Span(date(year, 1, 1), date(year, 12, 31), start, end, LONG_LAG)


def _bounds(prep: str | None, span: _Span, today: date) -> tuple[date | None, date | None, str]:
    """The window searched and its label, once the preposition has its say."""
    prep = " ".join((prep or "").lower().split())
    named = span.named or _range_label(span.since, span.until)
    if prep == "since":
        return span.since, today, f"since {day_label(span.since)}"
    if prep == "after":
        after = span.until + timedelta(days=1)
        return after, today, f"since {day_label(after)}"
    if prep == "before":
        return None, span.since - timedelta(days=1), f"before {day_label(span.since)}"
    if prep in ("until", "till", "through", "as of"):
        return None, span.until, f"up to {day_label(span.until)}"
    if span.to_today:
        return span.since, today, f"since {day_label(span.since)}"
    return span.since, span.until + timedelta(days=span.lag), named


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
            span = _span_of(name, m, question, today)
            if span is None:
                continue
            since, until, label = _bounds(m.groupdict().get("prep"), span, today)
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
