"""A daily digest: the day's stories, each once however many outlets ran it ("also in X, Y"),
ranked by how many sources ran it, then by how many of the server's watches it matches; each
with one sentence extracted from it (verbatim) and its link.

Stories: articles merged as near-duplicates at ingest are one already (their other outlets are
``other_sources``); beyond that, articles whose lead passages are close (cosine of their first
passage vectors at least ``SAME_STORY``) or whose titles share most words are grouped, greedily,
newest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..alerts.match import ALERT_BAR, matching_sentence, same_story, score_passages, sentences
from ..models import Article

SAME_STORY = 0.8  # cosine of two articles' first passages (all-MiniLM-L6-v2)
TOP = 10


@dataclass
class Story:
    """One story of the digest: its lead article, the sentence shown, every outlet."""

    title: str
    url: str | None
    source: str | None
    published_at: str | None
    sentence: str
    also: list[str] = field(default_factory=list)  # other outlets (names)
    articles: list[int] = field(default_factory=list)
    watches: int = 0  # watches whose topic it matches

    @property
    def sources(self) -> int:
        return 1 + len(self.also)


@dataclass
class Digest:
    day: str
    articles: int
    stories: list[Story]
    total_stories: int


Passages = tuple[Article, list[str], np.ndarray]


def _lead_sentence(texts: list[str]) -> str:
    for text in texts:
        for s in sentences(text):
            if len(s.split()) >= 6:
                return s
    return texts[0].strip() if texts else ""


def build_digest(
    day: str,
    articles: Sequence[Passages],
    other_sources: Callable[[int], list[tuple[str | None, str | None]]],
    watches: Sequence[tuple[str, np.ndarray]] = (),
    *,
    watch_bar: float = ALERT_BAR,
    top: int = TOP,
) -> Digest:
    """The digest of ``articles`` (the day's, newest first) for ``day``."""
    stories = [_story(group, other_sources, watches, watch_bar) for group in _stories_of(articles)]
    stories.sort(key=lambda s: (-s.sources, -s.watches, -max(s.articles)))
    return Digest(day, len(articles), stories[:top], len(stories))


def _stories_of(articles: Sequence[Passages]) -> list[list[Passages]]:
    """The articles grouped into stories: an article joins the first group whose lead passage
    is close to its own, or whose lead title tells the same story; else it starts one."""
    groups: list[list[Passages]] = []
    leads: list[np.ndarray] = []
    for item in articles:
        article, _, vectors = item
        first = vectors[0] if vectors.size else None
        placed = False
        for g, group in enumerate(groups):
            close = (
                first is not None
                and leads[g].size
                and first.shape == leads[g].shape
                and float(first @ leads[g]) >= SAME_STORY
            )
            if close or same_story(article.title, [group[0][0].title]):
                group.append(item)
                placed = True
                break
        if not placed:
            groups.append([item])
            leads.append(first if first is not None else np.zeros(0, dtype=np.float32))
    return groups


def _story(
    group: list[Passages],
    other_sources: Callable[[int], list[tuple[str | None, str | None]]],
    watches: Sequence[tuple[str, np.ndarray]],
    watch_bar: float,
) -> Story:
    """One story: its lead article, every outlet that ran it, how many watches it matches and
    the sentence to quote (the first matching watch's, else the lead's)."""
    lead, texts, _ = group[0]
    outlets: dict[str, None] = {}
    for article, _, _ in group:
        for name in [article.source, *(s for s, _ in other_sources(article.id))]:
            if name:
                outlets.setdefault(name, None)
    matched = 0
    sentence = ""
    for topic, vector in watches:
        scored = [(*score_passages(vector, v), t) for _, t, v in group if v.size and t]
        best_score, best, best_texts = max(scored, key=lambda x: x[0], default=(0.0, -1, []))
        if best_score >= watch_bar:
            matched += 1
            if not sentence and 0 <= best < len(best_texts):
                sentence = matching_sentence(topic, best_texts[best])
    names = list(outlets)
    main = lead.source or (names[0] if names else None)
    return Story(
        title=lead.title,
        url=lead.url,
        source=main,
        published_at=lead.published_at,
        sentence=sentence or _lead_sentence(texts),
        also=[n for n in names if n != main],
        articles=[a.id for a, _, _ in group],
        watches=matched,
    )
