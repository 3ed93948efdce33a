"""One story's developments, newest first: a dated line an article, each one verbatim sentence.

A timeline is a question asked of every article on a topic instead of the best few: the
articles come from a search without the recency preference (an old development matters as much
as the latest), those clearly on the topic are kept (close to the best match, and naming what
the topic names as well as it does), and each gives its best sentence by the same scorer that
chooses an answer's sentences. Articles of one day telling the same thing (the same wire story
on two sites) make one line, the other outlets named beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..models import Citation, Hit, Snippet, long_date
from ..text import content_terms
from .answer_model import AnswerModel
from .compose import snippet_bounds
from .sentences import Candidate, candidates, feature_matrix, names_held, read_question

SEARCHED = 40  # articles looked at
MAX_LINES = 12
CLOSE_TO_BEST = 0.12  # an article on the topic matches it within this of the best (cosine)
SAME_DAY_SAME_WORDS = 0.5  # two lines of one day sharing this share of words are one story


@dataclass(frozen=True)
class TimelineLine:
    """One development: its date, the sentence that tells it, and where it comes from."""

    published_at: str | None
    text: str
    citation: Citation


@dataclass(frozen=True)
class Timeline:
    topic: str
    lines: list[TimelineLine]
    articles: int  # articles on the topic (two outlets' same-day story make one line)

    @property
    def found(self) -> bool:
        return bool(self.lines)

    @property
    def span(self) -> str:
        """ "28 Oct – 6 Dec 2026", the first and the last development's days."""
        days = sorted(x.published_at[:10] for x in self.lines if x.published_at)
        if not days:
            return ""
        first, last = long_date(days[0]).split(), long_date(days[-1]).split()
        if days[0] == days[-1]:
            return " ".join(last)
        short_first = [first[0], first[1][:3]] + ([first[2]] if first[2] != last[2] else [])
        return f"{' '.join(short_first)} – {last[0]} {last[1][:3]} {last[2]}"

    @property
    def summary(self) -> str:
        """ "3 articles · 28 Oct – 6 Dec 2026"."""
        count = f"{self.articles} article{'s' * (self.articles != 1)}"
        return f"{count} · {self.span}" if self.span else count


def on_topic(topic: str, hits: Sequence[Hit], floor: float) -> list[Hit]:
    """The hits clearly about the topic: within ``CLOSE_TO_BEST`` of the best match (and above
    ``floor``), naming what the topic names as well as the best does (another town's council is
    another story)."""
    if not hits:
        return []
    q = read_question(topic)
    best = max(hits, key=lambda h: h.similarity)
    bar = max(floor, best.similarity - CLOSE_TO_BEST)
    names = names_held(q, best)
    return [h for h in hits if h.similarity >= bar and names_held(q, h) >= names]


def build(
    topic: str,
    hits: Sequence[Hit],
    article_texts: Mapping[int, str],
    *,
    model: AnswerModel,
    as_of: str | None,
    floor: float,
    other_sources: Mapping[int, list[str]] | None = None,
) -> Timeline:
    """The timeline of ``topic`` from its search hits (one a article, best first)."""
    q = read_question(topic)
    lines: list[tuple[Candidate, list[str]]] = []
    kept = 0
    for hit in on_topic(topic, hits, floor):
        cands = [c for c in candidates(q, [hit], article_texts, as_of=as_of) if not c.headline]
        if not cands:
            continue
        best = cands[int(np.argmax(model.sentence_scores(feature_matrix(cands))))]
        kept += 1
        outlets = list((other_sources or {}).get(hit.article_id, []))
        same = next((i for i, (c, _) in enumerate(lines) if _same_day_story(c, best)), None)
        if same is None:
            lines.append((best, outlets))
        else:  # the same development from another outlet: named beside the first
            lines[same][1].extend(o for o in [best.hit.source or "", *outlets] if o)
    lines.sort(key=lambda x: x[0].hit.published_at or "", reverse=True)
    lines = lines[:MAX_LINES]
    out = []
    for n, (cand, outlets) in enumerate(lines, 1):
        text = article_texts.get(cand.hit.article_id, "")
        start, end = snippet_bounds(text, cand.start, cand.end)
        source = cand.hit.source
        also = [o for o in dict.fromkeys(outlets) if o and o != source]
        if also:
            source = f"{source or '?'} (also {', '.join(also)})"
        citation = Citation(
            n=n,
            article_id=cand.hit.article_id,
            title=cand.hit.title,
            source=source,
            published_at=cand.hit.published_at,
            url=cand.hit.url,
            snippets=(Snippet(text[start:end], start, end),),
        )
        out.append(TimelineLine(cand.hit.published_at, cand.text, citation))
    return Timeline(topic, out, kept)


def _same_day_story(a: Candidate, b: Candidate) -> bool:
    day_a, day_b = (a.hit.published_at or "")[:10], (b.hit.published_at or "")[:10]
    if not day_a or day_a != day_b:
        return False
    terms_a, terms_b = set(content_terms(a.text)), set(content_terms(b.text))
    return bool(terms_a and terms_b) and len(terms_a & terms_b) / min(
        len(terms_a), len(terms_b)
    ) >= (SAME_DAY_SAME_WORDS)
