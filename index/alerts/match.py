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

from ..ingest.minhash import shingles
from ..models import Article
from ..text import content_terms

# all-MiniLM-L6-v2 cosine a new article must reach to alert (bench.watch, full dev corpus).
ALERT_BAR = 0.525
# Titles sharing this share of their content words may tell one story: the digest groups them;
# for an alert they only lower the bar of the text (SAME_LEAD_TITLED): a series' titles ("Harbour
# report 2" after "Harbour report 1") share as many words.
SAME_STORY = 0.5
# An article tells the story of one a watch was already alerted to when their first passages
# (what the store keeps: the text, and its vector with the title in front) say so: half their
# 5-word shingles shared (a wire story under another outlet's headline), or their vectors this
# close (a rewrite), or SAME_LEAD_TITLED close with titles sharing SAME_STORY of their words.
# Measured on the dev set (README, "Watches"): of the 50 pairs of articles at most three days
# apart whose titles share half their words, 27 tell one story; titles alone merged all 50,
# this merges 17 of the 27 and 5 of the others (templated lists whose first passages match).
SAME_TEXT = 0.5
SAME_LEAD = 0.93
SAME_LEAD_TITLED = 0.8

Passages = tuple[Article, list[str], np.ndarray]  # an article, its passages' texts and vectors

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


def same_story_as(article: Passages, others: Sequence[Passages]) -> bool:
    """Whether ``article`` tells the story of one of ``others`` (see ``SAME_TEXT``): decided by
    their first passages, never by the titles alone."""
    new, texts, vectors = article
    if not texts:
        return False
    mine = shingles(texts[0])
    lead = vectors[0] if vectors.size else None
    for other, other_texts, other_vectors in others:
        if not other_texts:
            continue
        theirs = shingles(other_texts[0])
        if mine and theirs and len(mine & theirs) / len(mine | theirs) >= SAME_TEXT:
            return True
        if lead is None or other_vectors.size == 0 or other_vectors.shape[1] != lead.shape[0]:
            continue
        cosine = float(np.dot(lead, other_vectors[0]))
        if cosine >= SAME_LEAD or (
            cosine >= SAME_LEAD_TITLED and same_story(new.title, [other.title])
        ):
            return True
    return False
