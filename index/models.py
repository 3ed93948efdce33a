"""Plain data passed between the pipeline steps; no behaviour beyond small conveniences."""

from __future__ import annotations

from dataclasses import dataclass, field


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
class Citation:
    n: int
    article_id: int
    title: str
    source: str | None
    published_at: str | None
    url: str | None
    snippet: str  # an exact substring of the article text
    start: int
    end: int


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]
    headline: bool = False  # the cited article's headline, quoted, rather than a body sentence


@dataclass(frozen=True)
class Answer:
    question: str
    found: bool
    sentences: list[AnswerSentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    best_score: float = 0.0

    @property
    def text(self) -> str:
        """The answer as one paragraph, every sentence followed by its [n] markers."""
        parts = []
        for s in self.sentences:
            marks = "".join(f"[{n}]" for n in s.citations)
            text = f"“{s.text}”" if s.headline else s.text
            parts.append(f"{text} {marks}".rstrip())
        return " ".join(parts)


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
