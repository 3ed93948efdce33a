"""The sentences an answer may quote, each described by what makes a sentence answer a question.

Retrieval ranks passages; a member reads sentences. Every prose sentence of the retrieved
passages (and each matched article's headline) becomes a candidate with a few cheap features:
how much of the question it holds, whether it holds the kind of thing asked for (a number for
"how many", a place for "which state", a name for "who") that the question does not already say,
whether other articles name the same thing, where it stands in its article, how old its article
is on the day asked, and how well its passage matched. ``answer_model.py`` weighs them with
weights fitted on the dev set (``bench/fit_answers.py``). Pure: no model runs here.

Measured and left out: a sentence's own embedding similarity to the question (true sentence
vectors, computed offline) moved the dev first-sentence figure by under half a point.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from ..models import Hit
from ..text import content_terms, words
from .lexicon import DATE_WORDS, NUMBER_WORDS, PERSON_NOUNS, PLACE_NOUNS, PLACES
from .prose import headline_text, prose_spans, reads_as_headline

# fmt: off
FEATURES = (
    "bias",
    "sim", "sim_gap", "rank_recip", "passage_overlap", "title_overlap", "names_held",
    "overlap", "overlap_idf", "overlap_ctx", "bigrams", "predicate_overlap",
    "novel_name", "novel_number", "consensus", "title_support", "name_consensus",
    "q_number_x_number", "q_place_x_place", "q_person_x_person", "q_thing_x_name",
    "q_when_x_date",
    "first_sentence", "position", "length", "short", "long", "context_needed", "quote",
    "headline", "recent", "undated_age", "behind_newest", "vague_subject",
    "name_up_front",
)
# What the whole evidence says about whether the news answers the question at all.
QUESTION_FEATURES = (
    "top_score", "margin", "best_sim", "top_sim", "top_overlap", "top_overlap_idf",
    "top_passage_overlap", "best_passage_overlap", "top_title_overlap", "top_recent",
    "top_undated", "archive", "window", "n_terms", "top_consensus", "names_top", "names_best",
)
# fmt: on
INDEX = {name: i for i, name in enumerate(FEATURES)}

_NUMBER_Q = re.compile(
    r"\b(how (many|much|long|old|far|big|tall|often)|what (percentage|percent|number|amount|age"
    r"|score|price|share)|by how|what was the (final )?score)\b",
    re.IGNORECASE,
)
_WHEN_Q = re.compile(r"\b(when|what (year|date|day|month))\b", re.IGNORECASE)
_WHICH_HEAD = re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,2}?(\w+)", re.IGNORECASE)
_CONTEXT = re.compile(
    r"^(?:[“\"]?(?:he|she|it|they|this|that|these|those|his|her|its|their|but|and|also|however"
    r"|meanwhile|still|yet|instead|then|there|here)\b|for (?:him|her|them|[A-Z]\w+),)",
    re.IGNORECASE,
)
# "The 71-year-old …", "The California Republican …": the subject is a description of someone
# the sentence does not name (the article named them before).
_VAGUE = re.compile(r"^[“\"]?(?:the|this|that|these|those)\s", re.IGNORECASE)
_CAP = re.compile(r"(?<![\w’'])[A-Z][\w’'\-]*")
_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"(?:19|20)\d\d")
_TOKEN = re.compile(r"[\w’'\-$£€%]+")
_QUESTION_WORDS = frozenset({"in", "the", "which", "what", "who", "how", "a", "an"})


@dataclass(frozen=True)
class Question:
    """What a question asks for, read once."""

    text: str
    terms: tuple[str, ...]  # content terms, in order
    asked: frozenset[str]  # its lower-cased words
    kind: str  # number, when, place, person, thing
    bigrams: tuple[tuple[str, str], ...]
    names: frozenset[str]  # the capitalised words it names (not its first word)
    predicate: tuple[str, ...]  # its content terms that are not names: what it says happened


def read_question(text: str) -> Question:
    terms = tuple(content_terms(text))
    names = frozenset({m.group().lower() for m in _CAP.finditer(text) if m.start() > 0})
    named = set(content_terms(" ".join(names)))
    return Question(
        text,
        terms,
        frozenset(words(text)),
        question_kind(text),
        tuple(itertools.pairwise(terms)),
        names - _QUESTION_WORDS,
        tuple(t for t in terms if t not in named),
    )


def question_kind(question: str) -> str:
    """The kind of thing a question asks for: a number, a date, a place, a person, a thing."""
    if _NUMBER_Q.search(question):
        return "number"
    if _WHEN_Q.search(question):
        return "when"
    low = question.lower()
    if re.search(r"\bwhere\b", low):
        return "place"
    if re.search(r"\b(who|whom|whose)\b", low):
        return "person"
    m = _WHICH_HEAD.search(question)
    if m:
        head = m.group(1).lower()
        if head in PLACE_NOUNS:
            return "place"
        if head in PERSON_NOUNS:
            return "person"
    return "thing"


@dataclass(frozen=True)
class Candidate:
    """A sentence that may be quoted: ``start``/``end`` in its article's stored text."""

    hit_rank: int
    hit: Hit
    start: int
    end: int
    text: str
    headline: bool
    features: tuple[float, ...]

    def feature(self, name: str) -> float:
        return self.features[INDEX[name]]


@dataclass(frozen=True)
class _Text:
    """What a sentence's text says whatever the question: parsed once, cached (popular passages
    come back question after question)."""

    terms: frozenset[str]
    tokens: tuple[str, ...]
    caps: tuple[tuple[int, int, str], ...]  # capitalised words: start, end, the word
    opening_end: int  # where its first six words end
    n_words: int
    context_needed: bool
    quote: bool
    vague: bool


@lru_cache(maxsize=16384)
def _text(text: str) -> _Text:
    spaced = list(re.finditer(r"\S+", text))
    return _Text(
        terms=frozenset(content_terms(text)),
        tokens=tuple(_tokens(text)),
        caps=tuple((m.start(), m.end(), m.group()) for m in _CAP.finditer(text)),
        opening_end=spaced[min(len(spaced), 6) - 1].end() if spaced else 0,
        n_words=len(spaced),
        context_needed=bool(_CONTEXT.search(text)),
        quote=text.lstrip()[:1] in '“"' or " said" in text,
        vague=bool(_VAGUE.match(text)),
    )


@dataclass(frozen=True)
class _Parsed:
    """A passage parsed whatever the question: its prose sentences and its words."""

    spans: tuple[tuple[int, int], ...]  # prose sentences, in the passage's text
    tokens: frozenset[str]  # lower-cased tokens of the passage and its title
    lower: str  # the passage and its title, lower-cased
    terms: frozenset[str]  # content terms of the passage and its title
    title_tokens: frozenset[str]
    title_terms: frozenset[str]


@lru_cache(maxsize=4096)
def _parse(title: str, text: str) -> _Parsed:
    both = f"{title}\n{text}"
    return _Parsed(
        spans=tuple(prose_spans(text)),
        tokens=frozenset(_tokens(both)),
        lower=both.lower(),
        terms=frozenset(content_terms(both)),
        title_tokens=frozenset(_tokens(title)),
        title_terms=frozenset(content_terms(title)),
    )


@dataclass(frozen=True)
class _Passage:
    rank: int
    hit: Hit
    parsed: _Parsed

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        return self.parsed.spans

    @property
    def tokens(self) -> frozenset[str]:
        return self.parsed.tokens

    @property
    def lower(self) -> str:
        return self.parsed.lower


def _tokens(text: str) -> list[str]:
    """Lower-cased tokens, possessives dropped ("Australia’s" → australia)."""
    out = []
    for t in _TOKEN.findall(text):
        t = t.lower().strip("’'-")
        if t.endswith(("’s", "'s")):
            t = t[:-2]
        out.append(t)
    return out


def _age(published_at: str | None, as_of: str | None) -> int | None:
    if not published_at or not as_of:
        return None
    try:
        return (date.fromisoformat(as_of[:10]) - date.fromisoformat(published_at[:10])).days
    except ValueError:
        return None


def _share(terms: Sequence[str], held: set[str]) -> float:
    return sum(1 for t in terms if t in held) / len(terms) if terms else 0.0


def candidates(
    question: Question,
    hits: Sequence[Hit],
    article_texts: Mapping[int, str],
    *,
    as_of: str | None,
    recent_days: int = 14,
) -> list[Candidate]:
    """Every prose sentence of ``hits`` (and each article's headline when it reads as one),
    with its features in ``FEATURES`` order."""
    passages = []
    for rank, hit in enumerate(hits):
        parsed = _parse(hit.title or "", hit.text)
        if parsed.spans:
            passages.append(_Passage(rank, hit, parsed))
    if not passages:
        return []
    sentence_terms = [_text(p.hit.text[s:e]).terms for p in passages for s, e in p.spans]
    n = len(sentence_terms)
    idf = {
        t: math.log(1 + n / (1 + sum(1 for st in sentence_terms if t in st)))
        for t in question.terms
    }
    best_sim = max(p.hit.similarity for p in passages)
    newest = max((p.hit.published_at[:10] for p in passages if p.hit.published_at), default=None)
    out: list[Candidate] = []
    headlined: set[int] = set()
    for p in passages:
        hit = p.hit
        article = _Article(question, p, passages, best_sim, as_of, recent_days, idf, newest)
        body = article_texts.get(hit.article_id, "")
        if hit.article_id not in headlined and reads_as_headline(hit.title, body, hit.url):
            # Cited with the passage that matched; the headline itself shows in the citation.
            s, e = p.spans[0]
            head = headline_text(hit.title)
            features = article.features(head, 0, frozenset(), headline=True)
            out.append(Candidate(p.rank, hit, hit.start + s, hit.start + e, head, True, features))
        headlined.add(hit.article_id)
        for i, (s, e) in enumerate(p.spans):
            around = frozenset().union(
                *(_text(hit.text[a:b]).terms for a, b in p.spans[max(i - 1, 0) : i + 2])
            )
            features = article.features(hit.text[s:e], i, around)
            out.append(
                Candidate(p.rank, hit, hit.start + s, hit.start + e, hit.text[s:e], False, features)
            )
    return out


class _Article:
    """What every sentence of one passage shares, and how a sentence's features are made."""

    def __init__(
        self,
        question: Question,
        passage: _Passage,
        passages: list[_Passage],
        best_sim: float,
        as_of: str | None,
        recent_days: int,
        idf: dict[str, float],
        newest: str | None,
    ) -> None:
        hit = passage.hit
        # How far this article is behind the newest one retrieved: a story that moved on.
        self.behind = _age(hit.published_at, newest) if newest else None
        self.question = question
        self.passage = passage
        self.others = [p for p in passages if p.hit.article_id != hit.article_id]
        self.best_sim = best_sim
        self.age = _age(hit.published_at, as_of)
        self.recent_days = recent_days
        self.idf = idf
        self.idf_total = sum(idf.values()) or 1.0
        parsed = passage.parsed
        self.title_tokens = parsed.title_tokens
        self.title_overlap = _share(question.terms, parsed.title_terms)
        self.names_held = names_held(question, hit)
        self.passage_overlap = _share(question.terms, parsed.terms)

    def _agreement(self, things: set[str], haystack: str) -> float:
        """The share of the other articles that name one of ``things`` too."""
        if not things or not self.others:
            return 0.0
        if haystack == "tokens":
            best = max(sum(1 for p in self.others if w in p.tokens) for w in things)
        else:
            best = max(sum(1 for p in self.others if w in p.lower) for w in things)
        return best / len(self.others)

    def features(
        self, text: str, ordinal: int, around: frozenset[str], *, headline: bool = False
    ) -> tuple[float, ...]:
        q = self.question
        hit = self.passage.hit
        parsed = _text(text)
        terms = parsed.terms
        names, numbers = _novel(q, parsed, headline=headline)
        toks = {t for t in parsed.tokens if t not in q.asked}
        age = self.age
        n_words = parsed.n_words
        f = dict.fromkeys(FEATURES, 0.0)
        f["bias"] = 1.0
        f["sim"] = hit.similarity
        f["sim_gap"] = self.best_sim - hit.similarity
        f["rank_recip"] = 1.0 / (1 + self.passage.rank)
        f["passage_overlap"] = self.passage_overlap
        f["title_overlap"] = self.title_overlap
        f["names_held"] = self.names_held
        f["overlap"] = _share(q.terms, terms)
        f["overlap_idf"] = sum(self.idf[t] for t in q.terms if t in terms) / self.idf_total
        f["overlap_ctx"] = _share(q.terms, terms | around)
        if q.bigrams:
            f["bigrams"] = sum(1 for a, b in q.bigrams if a in terms and b in terms) / len(
                q.bigrams
            )
        f["predicate_overlap"] = _share(q.predicate, terms)
        f["novel_name"] = min(len(names), 3) / 3
        f["novel_number"] = float(bool(numbers))
        f["consensus"] = self._agreement(names | numbers, "tokens")
        f["title_support"] = (
            sum(1 for w in names if w in self.title_tokens) / len(names) if names else 0.0
        )
        f["name_consensus"] = self._agreement(
            set(_name_runs(text, parsed, q, headline=headline)), "text"
        )
        f["q_number_x_number"] = float(q.kind == "number" and bool(numbers))
        f["q_place_x_place"] = float(q.kind == "place" and any(t in PLACES for t in toks))
        f["q_person_x_person"] = float(q.kind == "person" and _two_names(text, parsed, q))
        f["q_thing_x_name"] = float(q.kind == "thing" and bool(names))
        f["q_when_x_date"] = float(
            q.kind == "when" and any(t in DATE_WORDS or _YEAR.fullmatch(t) for t in toks)
        )
        f["first_sentence"] = float(hit.start == 0 and ordinal == 0 and not headline)
        f["position"] = math.log1p(hit.start / 500 + ordinal)
        f["length"] = math.log1p(n_words)
        f["short"] = float(n_words < 10)
        f["long"] = float(n_words > 45)
        f["context_needed"] = float(parsed.context_needed)
        f["quote"] = float(parsed.quote)
        f["headline"] = float(headline)
        f["recent"] = float(age is not None and 0 <= age <= self.recent_days)
        f["undated_age"] = float(age is None)
        up_front = bool(_novel(q, parsed, headline=True, before=parsed.opening_end)[0] & names)
        f["vague_subject"] = float(parsed.vague and not up_front)
        f["name_up_front"] = float(up_front)
        f["behind_newest"] = math.log1p(max(self.behind, 0)) / 7 if self.behind is not None else 0.0
        return tuple(f.values())


def _novel(
    question: Question, parsed: _Text, *, headline: bool, before: int | None = None
) -> tuple[set[str], set[str]]:
    """The names (capitalised words, not the one opening a sentence) and numbers the sentence
    holds that the question does not say (``before``: names starting before that offset)."""
    names = set()
    for start, _, word in parsed.caps:
        if (start == 0 and not headline) or (before is not None and start >= before):
            continue
        w = word.lower().strip("’'-")
        if w.endswith(("’s", "'s")):
            w = w[:-2]
        if w and w not in question.asked and w not in DATE_WORDS:
            names.add(w)
    numbers = {
        t
        for t in parsed.tokens
        if (_DIGIT.search(t) or t in NUMBER_WORDS) and t not in question.asked
    }
    return names, numbers


def _name_runs(text: str, parsed: _Text, question: Question, *, headline: bool) -> list[str]:
    """Runs of capitalised words ("Ron Washington", "Media Matters") holding a word the
    question does not, lower-cased."""
    runs: list[list[str]] = []
    end = -1
    for start, stop, word in parsed.caps:
        if start == 0 and not headline:
            continue
        if runs and text[end:start] == " ":
            runs[-1].append(word.lower())
        else:
            runs.append([word.lower()])
        end = stop
    return [
        " ".join(run)
        for run in runs
        if any(w.strip("’'-") not in question.asked for w in run)
        and " ".join(run) not in DATE_WORDS
    ]


def _two_names(text: str, parsed: _Text, question: Question) -> bool:
    """Two capitalised words in a row not in the question: a person's name, most often."""
    for (a_start, a_end, a_word), (b_start, _, _) in itertools.pairwise(parsed.caps):
        if a_start > 0 and text[a_end:b_start] == " " and a_word.lower() not in question.asked:
            return True
    return False


@lru_cache(maxsize=1024)
def main_names(text: str) -> frozenset[str]:
    """Who and where an article is about: the names (runs of capitalised words, lower-cased,
    not opening a sentence unless a place) it gives most often, the first given first among
    equals, six at most. Two articles sharing one tell the same story; two tornado reports
    from different states do not."""
    counts: dict[str, int] = {}
    runs: list[list[str]] = []
    end = -1
    for m in _CAP.finditer(text):
        if (
            m.start() == 0
            or text[m.start() - 2 : m.start()] in (". ", "\n\n")
            or (text[m.start() - 1 : m.start()] == "\n")
        ) and m.group().lower() not in PLACES:  # "Tennessee officials are …" names a place
            end = m.end()
            continue
        word = m.group().lower().strip("’'-")
        if word.endswith(("’s", "'s")):
            word = word[:-2]
        if runs and text[end : m.start()] == " ":
            runs[-1].append(word)
        else:
            runs.append([word])
        end = m.end()
    for run in runs:
        name = " ".join(w for w in run if len(w) > 1)  # not the "U" and "S" of "U.S."
        if name and name not in DATE_WORDS:
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts, key=lambda n: -counts[n])  # stable: first given first among equals
    return frozenset(ranked[:6])


def feature_matrix(cands: Sequence[Candidate]) -> np.ndarray:
    return np.array([c.features for c in cands], dtype=np.float64).reshape(-1, len(FEATURES))


def names_held(question: Question, hit: Hit) -> float:
    """The share of the names the question gives ("Macron", "Texas") the passage or its title
    holds (0.5 when it gives none)."""
    if not question.names:
        return 0.5
    low = f"{hit.title} {hit.text}".lower()
    return sum(1 for n in question.names if n in low) / len(question.names)


def question_features(
    question: Question, cands: Sequence[Candidate], scores: np.ndarray, *, window: bool
) -> tuple[float, ...]:
    """What the evidence as a whole says, in ``QUESTION_FEATURES`` order: how well the best
    sentence scores and by what margin over other articles', how well the passages match, how
    old the best one is, whether anything retrieved is from the days before the question, and
    whether the question named its time. ``cands`` must not be empty."""
    i = int(np.argmax(scores))
    top = cands[i]
    others = [
        s for s, c in zip(scores, cands, strict=True) if c.hit.article_id != top.hit.article_id
    ]
    hits = {c.hit.chunk_id: c.hit for c in cands}.values()
    f = {
        "top_score": float(scores[i]),
        "margin": float(scores[i] - max(others)) if others else 3.0,
        "best_sim": max(h.similarity for h in hits),
        "top_sim": top.hit.similarity,
        "top_overlap": top.feature("overlap"),
        "top_overlap_idf": top.feature("overlap_idf"),
        "top_passage_overlap": top.feature("passage_overlap"),
        "best_passage_overlap": max(c.feature("passage_overlap") for c in cands),
        "top_title_overlap": top.feature("title_overlap"),
        "top_recent": top.feature("recent"),
        "top_undated": top.feature("undated_age"),
        "archive": float(not any(c.feature("recent") for c in cands)),
        "window": float(window),
        "n_terms": math.log1p(len(question.terms)),
        "top_consensus": max(top.feature("consensus"), top.feature("name_consensus")),
        "names_top": names_held(question, top.hit),
        "names_best": max(names_held(question, h) for h in hits),
    }
    return tuple(f[name] for name in QUESTION_FEATURES)
