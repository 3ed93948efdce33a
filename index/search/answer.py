"""A question on the day it is asked → the evidence for it → a cited answer that says how old
its news is.

A question is about the news of its days: it searches the time it names, and its answer marks
what is old. Whether the evidence answers the question at all is the answer model's call
(``answer_model.py``), fitted on dev questions against off-period ones with the age of the
evidence among its features, so an old article that answers squarely is given with its date
and an unrelated one is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date

from ..errors import InputError
from ..models import Answer, Found
from ..settings import CoreSettings
from ..store import Store
from .answer_model import AnswerModel, load_model
from .compose import ANSWER_HITS, compose
from .retrieve import Filters, Retriever
from .timeline import SEARCHED as TIMELINE_SEARCHED
from .timeline import Timeline
from .timeline import build as build_timeline
from .when import Window, find_window, without_phrase

# A question's time window is searched alone unless nothing in it reaches this similarity: then
# the window holds nothing on the subject, and all news is searched (measured on the dev set:
# higher floors gave up the window's gain on questions whose answer is in it but phrased apart).
WINDOW_FLOOR = 0.3


def days_between(published_at: str | None, as_of: str) -> int | None:
    try:
        return (date.fromisoformat(as_of) - date.fromisoformat((published_at or "")[:10])).days
    except ValueError:
        return None


def understand(question: str, filters: Filters) -> tuple[str, Filters, Window | None]:
    """The words to search for, the filters to search with, and the time the question names
    ("in 2023", "last week"), read relative to the day it is asked (``as_of``; today when the
    question is asked undated). The date words leave the query: the window does their work,
    both sides, before ranking."""
    asked = date.fromisoformat(filters.as_of) if filters.as_of else date.today()
    window = find_window(question, asked)
    if window is None:
        return question, filters, None
    since = max(filter(None, (filters.since, _iso(window.since))), default=None)
    until = min(filter(None, (filters.until, _iso(window.until))), default=None)
    return without_phrase(question, window), replace(filters, since=since, until=until), window


def check_question(query: str) -> str:
    """The question stripped; ``InputError`` when it is empty or too long."""
    query = query.strip()
    if not query:
        raise InputError("the question is empty")
    if len(query) > 1000:
        raise InputError("the question is too long (1,000 characters at most)")
    return query


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def also_run_by(
    answer: Answer, other_sources: Callable[[int], list[tuple[str | None, str | None]]]
) -> Answer:
    """Each citation names the other outlets that ran the same story ("AP (also Reuters)")."""
    for i, c in enumerate(answer.citations):
        others = [src for src, _ in other_sources(c.article_id) if src]
        if others:
            also = ", ".join(dict.fromkeys(o for o in others if o != c.source))
            if also:
                answer.citations[i] = replace(c, source=f"{c.source or '?'} (also {also})")
    return answer


class AnswerPolicy:
    """How answers are decided and dated, from the settings and the fitted answer model."""

    def __init__(self, settings: CoreSettings, model: AnswerModel | None = None) -> None:
        self.settings = settings
        self._model = model

    @property
    def model(self) -> AnswerModel:
        """Read on the first answer (collecting evidence to fit a new one needs none)."""
        if self._model is None:
            self._model = load_model()
        return self._model

    def is_recent(self, published_at: str | None, as_of: str | None) -> bool | None:
        """Is the article from the last days before the question? None when either is undated."""
        age = days_between(published_at, as_of) if as_of else None
        if age is None:
            return None
        return 0 <= age <= self.settings.recent_days

    def about_now(self, window: Window, as_of: str | None) -> bool:
        """Does the window reach into the last days before the question ("this week",
        "yesterday", "this month")? Old news is no answer to it in a collection that has
        news from those days."""
        asked = date.fromisoformat(as_of) if as_of else date.today()
        return window.until is None or (asked - window.until).days <= self.settings.recent_days

    def answer(
        self, question: str, found: Found, texts: Mapping[int, str], as_of: str | None
    ) -> Answer:
        """The composed answer to what was found, old news dated."""
        asked_for = None if found.outside_window else found.window
        answer = compose(
            found.words,
            found.hits,
            texts,
            model=self.model,
            as_of=as_of,
            window=asked_for is not None,
            threshold=self.settings.answer_confidence,
            min_similarity=self.settings.min_answer_score,
        )
        answer = replace(
            answer, question=question, window=found.window, outside_window=found.outside_window
        )
        return self.dated(answer, as_of, asked_for)

    def dated(self, answer: Answer, as_of: str | None, window: Window | None) -> Answer:
        """Mark what is old: each sentence from before the last days shows its date, and an
        answer resting only on old news, when the question did not ask for that time, says so
        first ("The latest I have on this is from …"). ``window``: the time asked for, if the
        evidence comes from it."""
        sentences = [
            replace(s, dated=bool(s.published_at) and not self.is_recent(s.published_at, as_of))
            for s in answer.sentences
        ]
        dates = [c.published_at for c in answer.citations if c.published_at]
        newest = max(dates, default=None)
        stale = (
            answer.found
            and as_of is not None
            and window is None
            and newest is not None
            and not any(self.is_recent(d, as_of) for d in dates)
        )
        return replace(answer, sentences=sentences, as_of=as_of, stale=stale, evidence_date=newest)


class Answerer:
    """A question in a collection → the passages for it (``find``) and a cited answer (``ask``),
    searched in the time it names."""

    def __init__(self, store: Store, retriever: Retriever, policy: AnswerPolicy) -> None:
        self.store = store
        self.retriever = retriever
        self.policy = policy

    def find(
        self,
        collection_id: int,
        question: str,
        *,
        top_k: int = 10,
        filters: Filters,
        per_article: int | None = None,
        widen: bool | None = None,
    ) -> Found:
        """The passages for a question, searched in the time it names. When nothing there
        even resembles the question (the news of that time is not stored, or the date was the
        story's subject rather than when it ran: "the fires in August"), all news is searched
        instead and the result says so. ``widen``: True searches all news at once, False
        never does."""
        words, searched, window = understand(question, filters)
        if window is not None and widen is not True:
            hits = self.retriever.search(
                collection_id, words, top_k=top_k, filters=searched, per_article=per_article
            )
            if widen is False or any(h.similarity >= WINDOW_FLOOR for h in hits):
                return Found(hits, window, False, words)
        hits = self.retriever.search(
            collection_id, words, top_k=top_k, filters=filters, per_article=per_article
        )
        return Found(hits, window, window is not None, words)

    def ask(self, collection_id: int | None, question: str, filters: Filters) -> Answer:
        """An answer whose every sentence is cited, or "nothing relevant". A question naming a
        time is answered from that time's news. When nothing there answers it, all news is
        searched — unless the time is the last weeks and the collection has news from them
        (then it is told there is nothing from that time) — with a lead saying nothing in that
        time matched. A collection whose news ends long before the day asked (an archive)
        answers like a live one, saying how old its news is. ``collection_id`` None: a
        collection that does not exist yet, where nothing is found."""
        if collection_id is None:
            return Answer(question=question, found=False)
        found = self.evidence(collection_id, question, filters, widen=False)
        answer = self._compose(question, found, filters.as_of)
        window = found.window
        if (
            not answer.found
            and window is not None
            and self._may_widen(collection_id, window, filters)
        ):
            wider = self.evidence(collection_id, question, filters, widen=True)
            fallback = self._compose(question, wider, filters.as_of)
            answer = fallback if fallback.found else replace(answer, outside_window=True)
        return also_run_by(answer, self.store.articles.other_sources)

    def evidence(
        self, collection_id: int, question: str, filters: Filters, *, widen: bool
    ) -> Found:
        """What an answer weighs: several passages of one article may each hold part of the
        answer, so a looser cap than search's, which spreads its ten results over ten stories."""
        return self.find(
            collection_id,
            question,
            top_k=ANSWER_HITS,
            filters=filters,
            per_article=3,
            widen=widen,
        )

    def _may_widen(self, collection_id: int, window: Window, filters: Filters) -> bool:
        """May a question whose time held no answer be answered from all news? Yes, unless it
        asked about the last weeks of a collection that has news from them."""
        return not self.policy.about_now(window, filters.as_of) or self.is_archive(
            collection_id, filters.as_of
        )

    def is_archive(self, collection_id: int, as_of: str | None) -> bool:
        """Does the collection hold nothing from the days before ``as_of`` (its news ends long
        before the day asked)?"""
        newest = self.store.collections.newest_date(collection_id)
        asked = as_of or date.today().isoformat()
        age = days_between(newest, asked) if newest else None
        return age is None or age > self.policy.settings.recent_days

    def timeline(self, collection_id: int | None, topic: str, filters: Filters) -> Timeline:
        """One story's developments, newest first (``timeline.py``). Searched without the
        preference for the days before ``as_of`` (an old development matters as much as the
        latest), nothing published after it."""
        if collection_id is None:
            return Timeline(topic, [], 0)
        words, searched, _ = understand(topic, filters)
        until = min(filter(None, (searched.until, searched.as_of)), default=None)
        searched = replace(searched, as_of=None, until=until)
        hits = self.retriever.search(
            collection_id, words, top_k=TIMELINE_SEARCHED, filters=searched, per_article=1
        )
        texts = {h.article_id: self.store.articles.text(h.article_id) for h in hits}
        others = {
            h.article_id: [src for src, _ in self.store.articles.other_sources(h.article_id) if src]
            for h in hits
        }
        return build_timeline(
            words,
            hits,
            texts,
            model=self.policy.model,
            as_of=filters.as_of,
            floor=self.policy.settings.min_answer_score,
            other_sources=others,
        )

    def _compose(self, question: str, found: Found, as_of: str | None) -> Answer:
        texts = {h.article_id: self.store.articles.text(h.article_id) for h in found.hits}
        return self.policy.answer(question, found, texts, as_of)
