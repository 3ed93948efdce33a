"""How well a new article matches a watch, the sentence an alert quotes, and whether two
articles tell the same story.

The score is the best cosine similarity between the watch's topic embedding and the article's
passage vectors (both normalized, as stored). ``ALERT_BAR`` is calibrated on the dev set with
``python -m bench.watch`` (README, "Watches"): a watch is a quiz question's topic; its positives
are the articles of the quiz's week that hold a gold evidence sentence, its negatives that
week's other articles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..text import content_terms

# all-MiniLM-L6-v2 cosine a new article must reach to alert (bench.watch, full dev corpus).
ALERT_BAR = 0.525
# Titles sharing this share of their content words are one story (another outlet's rewrite).
SAME_STORY = 0.5

_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]?[A-Z0-9])")


@dataclass(frozen=True)
class Alert:
    """One alert: a watch, the article that matched it, how well, and the sentence to quote."""

    watch_id: int
    article_id: int
    title: str
    source: str | None
    published_at: str | None
    url: str | None
    sentence: str
    score: float


def score_passages(topic: np.ndarray, vectors: np.ndarray) -> tuple[float, int]:
    """(best cosine, index of that passage); (0.0, -1) without passages."""
    if vectors.size == 0:
        return 0.0, -1
    sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(topic, dtype=np.float32)
    best = int(np.argmax(sims))
    return float(sims[best]), best


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def matching_sentence(topic: str, passage: str, limit: int = 300) -> str:
    """The passage's sentence holding most of the topic's words (the first on a tie), whole
    when it fits in ``limit`` characters; verbatim either way."""
    terms = set(content_terms(topic))
    best, best_count = "", -1
    for s in sentences(passage):
        count = len(terms & set(content_terms(s)))
        if count > best_count:
            best, best_count = s, count
    if len(best) <= limit:
        return best
    cut = best[: limit - 1]
    return cut[: cut.rfind(" ")].rstrip() + "…" if " " in cut else cut + "…"


def same_story(title: str, others: Sequence[str], bar: float = SAME_STORY) -> bool:
    """Whether ``title`` tells one of ``others``' stories: their content words overlap by
    ``bar`` (Jaccard) or more."""
    mine = set(content_terms(title))
    if not mine:
        return False
    for other in others:
        theirs = set(content_terms(other))
        if theirs and len(mine & theirs) / len(mine | theirs) >= bar:
            return True
    return False
