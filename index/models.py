"""Plain data passed between the pipeline steps; no behaviour beyond small conveniences."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .search.when import Window


@dataclass(frozen=True)
class Document:
    """An article as extracted from a source, before it is stored.

    ``published_at`` is an ISO date ``YYYY-MM-DD`` (or ``None``); ``text`` is the cleaned body
    only: snippets are cut from it verbatim, so nothing may be added to it after extraction.
    """

    text: str
    title: str | None = None
    source: str | None = None
    published_at: str | None = None
    url: str | None = None
    author: str | None = None
    origin: str = ""  # where it came from, for messages: a file name, "stdin", a URL
    notes: tuple[str, ...] = ()  # caveats a user should see, e.g. "may be truncated"
    # The address the text was actually fetched from (after redirects): a page, or the feed that
    # carried the text. None for files and pasted text. Decides who may update the article.
    fetched_url: str | None = None


@dataclass(frozen=True)
class Article:
    id: int
    collection: str
    title: str
    source: str | None
    published_at: str | None
    url: str | None
    text: str
    content_hash: str
    added_by: str | None
    added_at: str
    chunk_count: int = 0


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk before storage: ``text == article_text[start:end]``."""

    ordinal: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk joined with its article's metadata."""

    chunk_id: int
    article_id: int
    score: float
    text: str
    start: int
    end: int
    title: str
    source: str | None
    published_at: str | None
    url: str | None
    similarity: float = 0.0  # cosine between the question and the embedded chunk


@dataclass(frozen=True)
class Snippet:
    """A verbatim passage of an article: ``text == article.text[start:end]``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Citation:
    """One cited article, numbered once however many of its passages the answer uses."""

    n: int
    article_id: int
    title: str
    source: str | None
    published_at: str | None
    url: str | None
    snippets: tuple[Snippet, ...]

    @property
    def snippet(self) -> str:
        """The first passage (the one the first sentence citing this article came from)."""
        return self.snippets[0].text

    @property
    def start(self) -> int:
        return self.snippets[0].start

    @property
    def end(self) -> int:
        return self.snippets[0].end


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]
    headline: bool = False  # the cited article's headline, quoted, rather than a body sentence
    published_at: str | None = None  # the date of the article it comes from
    dated: bool = False  # not from the last days: shown with its date, so "Wednesday" reads right
    # Background to a newer lead on the same story: said as "Earlier, on 2 March 2023: …".
    earlier: bool = False


@dataclass(frozen=True)
class Answer:
    question: str
    found: bool
    sentences: list[AnswerSentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    best_score: float = 0.0
    as_of: str | None = None  # the day the question was asked (None: asked undated)
    window: Window | None = None  # the time the question named, searched instead of all news
    # Nothing in the window cleared the bar and all news was searched: the answer (if any)
    # comes from outside the window.
    outside_window: bool = False
    stale: bool = False  # the newest evidence is older than the recent days, and not asked for
    evidence_date: str | None = None  # the newest cited article's date
    confidence: float = 0.0  # how sure the answer model is that the news answers the question

    @property
    def lead(self) -> str:
        """What the answer says before its sentences: that it found nothing in the time asked
        about, or that the news it has is old."""
        if not self.found or not self.evidence_date:
            return ""
        when = long_date(self.evidence_date)
        if self.outside_window and self.window is not None:
            return f"Nothing in {self.window.description}; the closest I have is from {when}:"
        if self.stale:
            return f"The latest I have on this is from {when}:"
        return ""

    @property
    def text(self) -> str:
        """The lead, then the sentences."""
        return f"{self.lead} {self.body}" if self.lead else self.body

    @property
    def body(self) -> str:
        """The sentences as one paragraph, each followed by its [n] markers, and by its date
        when that is not from the last days (and not already said by the lead)."""
        parts = []
        last: tuple[tuple[int, ...], str] | None = None  # the date said last, and for what
        for s in self.sentences:
            marks = "".join(f"[{n}]" for n in s.citations)
            text = f"“{s.text}”" if s.headline else s.text
            if s.earlier and s.published_at:
                text = f"Earlier, on {long_date(s.published_at)}: {text}"
                last = (s.citations, s.published_at)
            said = self.stale and s.published_at == self.evidence_date
            if s.dated and s.published_at and not said and last != (s.citations, s.published_at):
                marks += f" ({short_date(s.published_at)})"
                last = (s.citations, s.published_at)
            parts.append(f"{text} {marks}".rstrip())
        return " ".join(parts)


def long_date(iso: str) -> str:
    """2023-03-02 → "2 March 2023" (unambiguous in every locale)."""
    return _day(iso, calendar.month_name)


def short_date(iso: str) -> str:
    """2023-03-02 → "2 Mar 2023"."""
    return _day(iso, calendar.month_abbr)


def _day(iso: str, months: Sequence[str]) -> str:
    try:
        d = date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{d.day} {months[d.month]} {d.year}"


@dataclass(frozen=True)
class Found:
    """What a search found, and in which time: ``outside_window`` when the time the question
    named held nothing relevant and all news was searched instead."""

    hits: list[Hit]
    window: Window | None
    outside_window: bool
    words: str  # the question as searched, without its date words


@dataclass(frozen=True)
class IngestResult:
    """What one ingested document became: a new article, or the existing duplicate."""

    origin: str
    article_id: int
    title: str
    published_at: str | None
    chunk_count: int
    duplicate: bool = False
    notes: tuple[str, ...] = ()
