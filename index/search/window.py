"""What a period named in a question becomes: the publication window searched, and how the
reply names it. ``when`` finds the phrases; the arithmetic of periods, their reporting lag and
their labels is here.

Windows are over publication dates. A story about a period is published during it and shortly
after (``DAY_LAG``…), so "yesterday" searches yesterday and today, "in August" into September.
A period still to come, asked about in the future tense ("will face off in February"), is
reported before it: its window is the news ahead of it, the last ``AHEAD_DAYS`` up to the day
asked (``ahead``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

# How many days after a named period its news is still being published: a day's story comes
# out that day and the next ones, a month's figures (prices, jobs, inflation) and reviews within
# about two weeks. The label names the period; the search adds this. A day or week of the last
# days ("on Monday", "last week") is searched up to today: everything since reports on it.
DAY_LAG = 2
LONG_LAG = 14
# The news ahead of a coming period ("next month's summit", "will face off in February"): what
# announces and previews it, published in the weeks before the day asked. Nothing after that
# day is news yet. A period more than a year off is a plan that any news may mention: no window.
AHEAD_DAYS = 30
AHEAD_REACH = timedelta(days=366)


@dataclass(frozen=True)
class Window:
    """A publication window: ``since``/``until`` inclusive, either may be open."""

    since: date | None
    until: date | None
    label: str  # the period as named: "January 2025", "since 1 March 2026"…
    phrase: str = ""  # the words of the question it came from
    start: int = 0  # where those words are in the question
    end: int = 0
    # The period is still to come and the window is the news ahead of it: the words name the
    # event's time, which the announcements name too, so they stay in the query.
    ahead: bool = False

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


def day_label(d: date) -> str:
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


def range_label(since: date, until: date) -> str:
    if since == until:
        return day_label(since)
    if since.day == 1 and until == month_end(since):
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


def month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


@dataclass(frozen=True)
class Span:
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


def period_of(d: date, period: str) -> tuple[date, date, int]:
    """The whole period a date names, and its reporting lag."""
    if period == "year":
        return date(d.year, 1, 1), date(d.year, 12, 31), LONG_LAG
    if period == "month":
        return date(d.year, d.month, 1), month_end(d), LONG_LAG
    return d, d, DAY_LAG


def shift_months(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, 1)


def part_of(since: date, until: date, part: str | None) -> tuple[date, date, str]:
    """ "early/mid/late 2023": the first, middle or last third of the period, and its name."""
    if not part:
        return since, until, ""
    part = " ".join(part.lower().split())
    whole = range_label(since, until)
    third = max(1, ((until - since).days + 1) // 3)
    if part in ("early", "the start of"):
        return since, since + timedelta(days=third - 1), f"{part} {whole}"
    if part == "mid":
        return since + timedelta(days=third), until - timedelta(days=third), f"mid-{whole}"
    return until - timedelta(days=third - 1), until, f"{part} {whole}"


def bounds(prep: str | None, span: Span, today: date) -> tuple[date | None, date | None, str]:
    """The window searched and its label, once the preposition has its say."""
    prep = " ".join((prep or "").lower().split())
    named = span.named or range_label(span.since, span.until)
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


def ahead(span: Span, today: date) -> tuple[date, date, str]:
    """The window for a period asked about in the future tense that has not ended: the news
    published ahead of it (the last ``AHEAD_DAYS``, or since it began if it began earlier)."""
    since = min(span.since, today - timedelta(days=AHEAD_DAYS))
    named = span.named or range_label(span.since, span.until)
    if span.since > today:
        return since, today, f"{range_label(since, today)}, ahead of {named}"
    if since == span.since:
        return since, today, named
    return since, today, range_label(since, today)


def next_year(d: date) -> date:
    """The same day a year on (28 February for 29 February)."""
    try:
        return d.replace(year=d.year + 1)
    except ValueError:
        return d.replace(year=d.year + 1, day=28)
