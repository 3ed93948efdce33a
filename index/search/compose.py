"""Evidence → an extractive Answer: the sentence that best answers the question first, the rest
after it, each cited, or "nothing relevant" when the evidence does not answer it.

Every prose sentence of the passages retrieved is a candidate (``sentences.py``); the answer
model (``answer_model.py``, fitted on the dev set) scores each one and says how sure it is that
the news answers the question at all. The best sentence leads, unless a newer article on the
same story answers nearly as well: then the latest development leads and the earlier one
follows as background with its date. Further sentences must score close to the lead, add
something (not the same fact again) and not need context they lack.

Pure: the article texts come in as a mapping, so every snippet is cut from the stored text and
is an exact substring of it by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from ..ingest.chunk import sentence_spans
from ..models import Answer, AnswerSentence, Citation, Hit, Snippet
from ..text import content_terms
from .answer_model import AnswerModel
from .sentences import (
    Candidate,
    Question,
    candidates,
    feature_matrix,
    main_names,
    names_held,
    question_features,
    read_question,
)

MAX_SENTENCES = 3
SNIPPET_CONTEXT_CHARS = 500
ANSWER_HITS = 8  # the passages an answer weighs (more added nothing on the dev set)
# Chosen on the dev set (bench/fit_answers.py), in the sentence scorer's logits:
KEEP_WITHIN = 2.0  # a further sentence of a quoted article scores within this of the lead,
# or within three times this when it holds a part of the question the others do not
STORY_WITHIN = 1.0  # a newer article on the same story leads when it scores within this
BACKGROUND_WITHIN = 2.0  # another article on the same story is quoted within this of the lead
REDUNDANT = 0.6  # a sentence sharing this share of its content words with one chosen adds nothing


def compose(
    question: str,
    hits: Sequence[Hit],
    article_texts: Mapping[int, str],
    *,
    model: AnswerModel,
    as_of: str | None,
    window: bool = False,
    threshold: float | None = None,
    min_similarity: float = 0.0,
    max_sentences: int = MAX_SENTENCES,
) -> Answer:
    """The cited answer to ``question`` (as searched: without its date words) from ``hits``.

    ``window``: the question named a time and the hits come from it. ``threshold``: the
    confidence below which nothing is answered (the model's fitted one when None);
    ``min_similarity``: the least similarity a passage needs to be quoted at all.
    """
    weighed = [h for h in hits[:ANSWER_HITS] if h.similarity >= min_similarity]
    best = max((h.similarity for h in hits), default=0.0)
    q = read_question(question)
    cands = candidates(q, weighed, article_texts, as_of=as_of)
    if not cands:
        return Answer(question=question, found=False, best_score=best)
    features = feature_matrix(cands)
    scores = model.sentence_scores(features)
    topical = scores - model.recency_part(features)
    confidence = model.confidence(question_features(q, cands, scores, window=window))
    bar = model.threshold if threshold is None else threshold
    if confidence < bar:
        return Answer(question=question, found=False, best_score=best, confidence=confidence)
    picked = _anchored(
        chosen(q, cands, scores, max_sentences, article_texts, topical), cands, scores
    )
    sentences, citations = _cited(picked, article_texts)
    if not sentences:
        return Answer(question=question, found=False, best_score=best, confidence=confidence)
    return Answer(
        question=question,
        found=True,
        sentences=sentences,
        citations=citations,
        best_score=best,
        confidence=confidence,
    )


def chosen(
    question: Question,
    cands: Sequence[Candidate],
    scores: np.ndarray,
    max_sentences: int,
    texts: Mapping[int, str],
    topical: np.ndarray | None = None,
) -> list[tuple[Candidate, bool]]:
    """The sentences to say, in order, each with whether it is earlier background to a newer
    lead on the same story. Further sentences come from an article already quoted, or from
    another article on the same story scoring close to the lead: never an unrelated story.

    ``topical``: the scores without what recency adds to them. Which articles tell the same
    story, and whether an earlier development is worth saying, is judged on them: an earlier
    development scores lower than the latest only for being older."""
    topical = scores if topical is None else topical
    # Recency never beats topic: it may lift a sentence over the one that best answers the
    # question leaving recency aside only when that sentence names what the question names as
    # well (the newer development of the same story), or answers nearly as well anyway. A
    # fresh story about another town's council does not lead a question naming this town.
    best = int(np.argmax(topical))
    named = names_held(question, cands[best].hit)

    def may_lead(i: int) -> bool:
        return topical[i] >= topical[best] - STORY_WITHIN or (
            names_held(question, cands[i].hit) >= named
        )

    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    order = [i for i in order if may_lead(i)] + [i for i in order if not may_lead(i)]
    lead = cands[order[0]]
    top = float(scores[order[0]])
    top_topic = float(topical[order[0]])
    newer = [
        cands[i]
        for i in order[1:]
        if topical[i] >= top_topic - STORY_WITHIN
        and _later(cands[i], lead)
        and _same_story(question, cands[i], lead, texts)
    ]
    picked: list[tuple[Candidate, bool]] = [(lead, False)]
    if newer:
        latest = max(newer, key=lambda c: c.hit.published_at or "")
        picked = [(latest, False), (lead, True)]
    first = picked[0][0]
    first_topic = max(topical[i] for i in order if cands[i] is first)
    for i in order[1:]:
        if len(picked) >= max_sentences:
            break
        cand = cands[i]
        if any(cand is c for c, _ in picked) or _adds_nothing(cand, picked):
            continue
        if cand.feature("context_needed") and not _follows(cand, picked):
            continue
        quoted = {c.hit.article_id for c, _ in picked}
        if cand.hit.article_id not in quoted:
            # Another article: the same story, nearly as much on the question as the lead.
            if topical[i] < first_topic - BACKGROUND_WITHIN or not _same_story(
                question, cand, first, texts
            ):
                continue
            picked.append((cand, _later(first, cand)))
        elif scores[i] >= top - KEEP_WITHIN or (
            scores[i] >= top - 3 * KEEP_WITHIN and _answers_more(question, cand, picked)
        ):
            picked.append((cand, False))
    return picked


def _anchored(
    picked: list[tuple[Candidate, bool]], cands: Sequence[Candidate], scores: np.ndarray
) -> list[tuple[Candidate, bool]]:
    """A quoted headline is cited with its passage's best sentence (the one a reader would
    check it against), not the passage's first line."""
    best: dict[int, tuple[float, Candidate]] = {}
    for score, cand in zip(scores, cands, strict=True):
        if not cand.headline and score > best.get(cand.hit.chunk_id, (-np.inf, cand))[0]:
            best[cand.hit.chunk_id] = (float(score), cand)
    out = []
    for cand, earlier in picked:
        body = best.get(cand.hit.chunk_id) if cand.headline else None
        if body is not None:
            cand = replace(cand, start=body[1].start, end=body[1].end)
        out.append((cand, earlier))
    return out


def _later(a: Candidate, b: Candidate) -> bool:
    """Was ``a``'s article published on a later day than ``b``'s?"""
    day_b = (b.hit.published_at or "")[:10]
    return bool(day_b) and (a.hit.published_at or "")[:10] > day_b


def _same_story(
    question: Question, cand: Candidate, lead: Candidate, texts: Mapping[int, str]
) -> bool:
    """Another article about what the lead is about: it names what the question names as
    well as the lead does, holds as much of the question's words, matches it about as closely
    (a fresh story about another town's council names another town), and the two are about the
    same people or places beyond the question's (two tornado reports from different states
    are two stories)."""
    if (
        cand.hit.article_id == lead.hit.article_id
        or cand.headline
        or names_held(question, cand.hit) < names_held(question, lead.hit)
        or cand.feature("passage_overlap") < lead.feature("passage_overlap") - 0.1
        or cand.hit.similarity < lead.hit.similarity - 0.1
    ):
        return False
    ours = _beyond(main_names(texts.get(lead.hit.article_id, "")), question)
    theirs = _beyond(main_names(texts.get(cand.hit.article_id, "")), question)
    return bool(ours & theirs) or not (ours and theirs)


def _beyond(names: frozenset[str], question: Question) -> frozenset[str]:
    """The words of the names that are not the question's own, nor words any name may hold
    ("King Charles III" and "Charles" share "charles"; "New York" and "New Jersey" nothing)."""
    return frozenset(
        w
        for n in names
        for w in n.split()
        if w not in question.names and w not in _NAME_WORDS and len(w) > 2
    )


_NAME_WORDS = frozenset(
    [
        "new",
        "united",
        "states",
        "north",
        "south",
        "east",
        "west",
        "national",
        "state",
        "city",
        "county",
        "university",
        "president",
        "the",
        "of",
        "and",
        "de",
        "la",
        "saint",
        "st",
        "mount",
        "lake",
        "san",
        "los",
    ]
)


def _answers_more(
    question: Question, cand: Candidate, picked: list[tuple[Candidate, bool]]
) -> bool:
    """Does the sentence hold a part of the question the chosen ones do not ("…, and when will
    power come back?")? Then it may score further below the lead."""
    said = set().union(*(content_terms(c.text) for c, _ in picked))
    new = [t for t in question.terms if t not in said and t in set(content_terms(cand.text))]
    return len(new) >= 2 or (bool(question.terms) and len(new) / len(question.terms) >= 0.25)


def _adds_nothing(cand: Candidate, picked: list[tuple[Candidate, bool]]) -> bool:
    """The same text, or mostly the same words, as a sentence already chosen."""
    terms = set(content_terms(cand.text))
    for c, _ in picked:
        if " ".join(c.text.lower().split()) == " ".join(cand.text.lower().split()):
            return True
        if terms and len(terms & set(content_terms(c.text))) / len(terms) >= REDUNDANT:
            return True
    return False


def _follows(cand: Candidate, picked: list[tuple[Candidate, bool]]) -> bool:
    """The sentence right before it in its article is already said ("He said …" after the
    sentence naming him)."""
    return any(
        c.hit.article_id == cand.hit.article_id and not c.headline and 0 <= cand.start - c.end <= 3
        for c, _ in picked
    )


def _cited(
    picked: list[tuple[Candidate, bool]], article_texts: Mapping[int, str]
) -> tuple[list[AnswerSentence], list[Citation]]:
    """The answer's sentences, each with its article's number, and the citations. A quoted
    headline is cited with its article's passage; a sentence after it follows it."""
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for cand, earlier in picked:
        text = article_texts.get(cand.hit.article_id) or ""
        anchor = text[cand.start : cand.end]
        if cand.headline:
            anchor_ok = cand.hit.start <= cand.start and cand.end <= cand.hit.end
        else:
            anchor_ok = anchor == cand.text
        if (
            not anchor_ok
            or anchor != cand.hit.text[cand.start - cand.hit.start : cand.end - cand.hit.start]
        ):
            continue  # stale chunk offsets: never cite them
        n = _cite(citations, cand, text)
        sentences.append(
            AnswerSentence(
                text=cand.text,
                citations=(n,),
                headline=cand.headline,
                published_at=cand.hit.published_at,
                earlier=earlier,
            )
        )
    return sentences, citations


def _cite(citations: list[Citation], cand: Candidate, text: str) -> int:
    """The article's number: one per article, however many of its passages are used.

    A sentence inside a passage already shown reuses it; one touching it widens it (two
    sentences a line apart read better as one passage); any other becomes a further passage
    under the same number.
    """
    start, end = snippet_bounds(text, cand.start, cand.end)
    for i, c in enumerate(citations):
        if c.article_id != cand.hit.article_id:
            continue
        snippets = list(c.snippets)
        for j, snip in enumerate(snippets):
            if snip.start <= cand.start and cand.end <= snip.end:
                return c.n
            lo, hi = min(snip.start, start), max(snip.end, end)
            if start <= snip.end and snip.start <= end and hi - lo <= 2 * SNIPPET_CONTEXT_CHARS:
                snippets[j] = Snippet(text[lo:hi], lo, hi)
                break
        else:
            snippets.append(Snippet(text[start:end], start, end))
        citations[i] = replace(c, snippets=tuple(snippets))
        return c.n
    hit = cand.hit
    citation = Citation(
        n=len(citations) + 1,
        article_id=hit.article_id,
        title=hit.title,
        source=hit.source,
        published_at=hit.published_at,
        url=hit.url,
        snippets=(Snippet(text[start:end], start, end),),
    )
    citations.append(citation)
    return citation.n


def snippet_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The cited sentence with a neighbouring sentence each side, within the same paragraph,
    while the snippet stays short enough to read in a chat message."""
    para_start = text.rfind("\n", 0, start) + 1
    para_end = text.find("\n", end)
    para_end = len(text) if para_end == -1 else para_end
    spans = [(para_start + s, para_start + e) for s, e in sentence_spans(text[para_start:para_end])]
    idx = next((i for i, (s, e) in enumerate(spans) if s <= start < e or s >= start), None)
    if idx is None:
        return start, end
    lo, hi = start, end
    if idx > 0 and end - spans[idx - 1][0] <= SNIPPET_CONTEXT_CHARS:
        lo = spans[idx - 1][0]
    after = next((i for i, (s, _) in enumerate(spans) if s >= end), None)
    if after is not None and spans[after][1] - lo <= SNIPPET_CONTEXT_CHARS:
        hi = spans[after][1]
    return lo, hi
