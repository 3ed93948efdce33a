"""Hits → an extractive Answer: the sentences that best answer the question, each cited.

Pure: the article texts come in as a mapping, so every snippet is cut from the stored text and
is an exact substring of it by construction. No model runs here: sentence choice is lexical
overlap with the question, weighted by the retrieval rank of the chunk it comes from, which keeps
``ask`` within a few milliseconds of ``search``. A matched article's headline competes with its
sentences on the same terms: headlines name what the body later calls "the company" or "the
kingdom", and quoting one, cited to its article, is how a reader would answer too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ..ingest.chunk import sentence_spans
from ..models import Answer, AnswerSentence, Citation, Hit, Snippet
from ..text import content_terms

MAX_SENTENCES = 3
SNIPPET_CONTEXT_CHARS = 500
# Sentence scoring weights, measured on the dev set (README, "How retrieval works").
SIM_WEIGHT = 0.5  # the chunk's similarity to the question
RANK_PENALTY = 0.2  # per retrieval rank of the chunk
NOVELTY_BONUS = 0.15  # the sentence holds the kind of thing asked for, not named in the question
KEEP_WITHIN = 1.0  # further sentences must score within this of the best

_NUMBER_QUESTION = re.compile(
    r"\b(how (many|much|long|old|far|big|tall)|what (year|percentage|percent|number|amount|age)"
    r"|when)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w’'\-]+")
_NUMBER = re.compile(r"\d")


@dataclass(frozen=True)
class _Candidate:
    hit_rank: int
    hit: Hit
    start: int
    end: int
    text: str
    score: float
    headline: bool = False


# Page debris that reads like a sentence: link lines, credits, prompts, list items.
_DEBRIS_START = re.compile(
    r"^\s*(?:\d{1,2}[.)]\s|[•·▪►▶*\-–—]\s"
    # a label and a colon: "Related: …", "Photo: …", "More: …"
    r"|(?:related|more|watch|listen|photos?|images?|video|credit|caption|advertisement"
    r"|sponsored|summary|editor'?s note|see also|recommended|trending|most read|top stories"
    r"|latest|update|file)\s*[:|\-–—]"
    # prompts that are never prose
    r"|(?:read more|sign up|subscribe|follow us|click|tap here|share this|copyright|©"
    r"|ai-assisted summary|find out more)\b)",
    re.IGNORECASE,
)
_DEBRIS_ANYWHERE = re.compile(
    r"https?://|www\.|\bclick here\b|\bsign up (?:for|to)\b|\bsubscribe (?:to|for)\b"
    r"|this week'?s episode",
    re.IGNORECASE,
)
# A photo credit makes its whole line a caption: "Crews repair a line in Brest, Thursday.
# (AP Photo/…)" is no more the article's prose than the credit itself.
_CREDIT = re.compile(
    r"\(AP Photo|\bAP Photo/|Getty Images|\(Photo by|\bPhoto:|\bReuters/|/AFP\b"
    r"|\(Image credit|Image credit:|Photograph:|Illustration:|\bPhoto credit",
    re.IGNORECASE,
)
_ENDS_LIKE_PROSE = re.compile(r"[.!…][\"'”’)\]]*$")


def prose_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` fit to quote. A line with a photo credit is a caption, and a
    line that opens with a prompt or a link label ("Read more: …", "Sign up for …") is a promo
    block, each debris as a whole; a prompt at the end of a paragraph of prose ("… Find out
    more in our podcast.") takes only itself out."""
    out: list[tuple[int, int]] = []
    line: list[tuple[int, int]] = []
    line_end = -1

    def flush() -> None:
        if not line:
            return
        if any(_CREDIT.search(text[s:e]) for s, e in line) or _is_debris(text[slice(*line[0])]):
            return
        out.extend((s, e) for s, e in line if is_prose(text[s:e]))

    for s, e in sentence_spans(text):
        if s > line_end:  # a new line starts
            flush()
            line = []
            end = text.find("\n", s)
            line_end = len(text) if end == -1 else end
        line.append((s, e))
    flush()
    return out


def _is_debris(sentence: str) -> bool:
    return bool(
        _DEBRIS_START.search(sentence)
        or _DEBRIS_ANYWHERE.search(sentence)
        or _CREDIT.search(sentence)
    )


def is_prose(sentence: str) -> bool:
    """Is this a sentence of the article's prose, fit to quote as an answer? Not a photo
    caption or credit, a "Related:" or "Read more" link line, a list item, a newsletter or
    podcast prompt, a heading (no closing punctuation, or nearly every word capitalised), or a
    question ("Why do we celebrate Thanksgiving?": a subheading, never an answer)."""
    words = sentence.split()
    if len(words) < 5 or not _ENDS_LIKE_PROSE.search(sentence.strip()):
        return False
    if _is_debris(sentence):
        return False
    letters = [w for w in words if w[:1].isalpha()]
    capitalised = sum(1 for w in letters if w[0].isupper())
    return not (len(letters) >= 5 and capitalised / len(letters) > 0.75)


_CUT = re.compile(r"(?:\.\.\.|…)\s*$")
_TWO_SENTENCES = re.compile(r"[.?!]\s+[A-Z\"“‘']")
# "… | CNN Politics", "… - BBC News": the site's name after the headline.
_SITE_SUFFIX = re.compile(r"\s+(?:[|•]|[-–—])\s+[^|•]{1,40}$")
_TITLE_WORD = re.compile(r"[A-Za-z][\w’'\-]*")


def headline_text(title: str | None) -> str:
    """The headline without the site name some pages append to it."""
    title = (title or "").strip()
    short = _SITE_SUFFIX.sub("", title)
    return short if len(short.split()) >= 4 else title


def _slug_words(url: str | None) -> list[str]:
    """The words of a URL's last meaningful path segment: ``…/hottest-summer-record/index.html``
    → hottest, summer, record."""
    path = urlsplit(url or "").path
    segments = [seg for seg in path.split("/") if seg and not re.fullmatch(r"index\.\w+|\d+", seg)]
    if not segments:
        return []
    last = re.sub(r"\.\w{2,5}$", "", segments[-1])
    return [w for w in re.split(r"[-_+]+", last.lower()) if w and not w.isdigit()]


def reads_as_headline(title: str | None, body: str = "", url: str | None = None) -> bool:
    """Is the title a headline a person wrote, fit to quote as an answer? Not one cut short
    ("…"), a question, two stacked ("Who won? What next?"), or one made from the URL (``Cnn
    polls trump biden michigan``: no capital after the first word, and either its words are the
    URL's, or names the article writes capitalised appear in lower case)."""
    title = headline_text(title)
    words = title.split()
    if not 4 <= len(words) <= 25 or _CUT.search(title) or _TWO_SENTENCES.search(title):
        return False
    if title.rstrip("\"'”’").endswith("?"):  # asks, does not tell
        return False
    rest = _TITLE_WORD.findall(title)[1:]
    plain = bool(rest) and all(w.islower() for w in rest)
    if plain and url and re.findall(r"[a-z0-9]+", title.lower()) == _slug_words(url):
        return False
    if body and plain:
        capitalised = {m.group().lower() for m in re.finditer(r"\b[A-Z][a-z][\w’'\-]*", body)}
        in_lower = {m.group() for m in re.finditer(r"\b[a-z][\w’'\-]*", body)}
        if any(w in capitalised and w not in in_lower for w in rest):
            return False
    return True


def _novel(question: str, sentence: str, *, headline: bool = False) -> bool:
    """Does the sentence hold what the question asks for (a number, or a name) that the
    question itself does not already say? Quiz-like questions rarely repeat their answer.
    A headline's first word is as likely a name as any other."""
    asked = {w.lower() for w in re.findall(r"[\w’'\-]+", question)}
    if _NUMBER_QUESTION.search(question):
        return any(_NUMBER.search(tok) and tok.lower() not in asked for tok in sentence.split())
    names = _NAME.finditer(f"x {sentence}" if headline else sentence)
    return any(m.group().lower() not in asked for m in names)


def _overlap(question_terms: Sequence[str], sentence: str) -> float:
    """Share of the question's terms the sentence holds, earlier (rarer) terms not favoured."""
    if not question_terms:
        return 0.0
    terms = set(content_terms(sentence))
    return sum(1 for t in question_terms if t in terms) / len(question_terms)


def compose(
    question: str,
    hits: Sequence[Hit],
    article_texts: Mapping[int, str],
    *,
    min_score: float | Sequence[float],
    max_sentences: int = MAX_SENTENCES,
) -> Answer:
    """Choose up to three sentences from the top hits and cite each with a verbatim snippet.

    ``min_score`` is the similarity a hit needs to be cited at all, one for every hit or one
    each (stale evidence may have to clear a higher bar than fresh); when no hit clears its
    bar the answer is "nothing relevant".
    """
    if not hits:
        return Answer(question=question, found=False)
    bars = [min_score] * len(hits) if isinstance(min_score, int | float) else list(min_score)
    best = max(h.similarity for h in hits)
    candidates = _candidates(question, hits, bars, article_texts)
    if not candidates:
        return Answer(question=question, found=False, best_score=best)
    sentences, citations = _cited(_chosen(candidates, max_sentences), article_texts)
    if not sentences:
        return Answer(question=question, found=False, best_score=best)
    return Answer(
        question=question, found=True, sentences=sentences, citations=citations, best_score=best
    )


def _candidates(
    question: str, hits: Sequence[Hit], bars: Sequence[float], article_texts: Mapping[int, str]
) -> list[_Candidate]:
    """Every prose sentence of the top hits that clear their bars, and each matched article's
    headline when it reads as one, scored alike."""
    q_terms = content_terms(question)

    def score(text: str, hit: Hit, rank: int, *, headline: bool = False) -> float:
        value = _overlap(q_terms, text) + SIM_WEIGHT * hit.similarity - RANK_PENALTY * rank
        if NOVELTY_BONUS and _novel(question, text, headline=headline):
            value += NOVELTY_BONUS
        return value

    candidates: list[_Candidate] = []
    headlined: set[int] = set()
    for rank, (hit, bar) in enumerate(zip(hits[:5], bars, strict=False)):
        if hit.similarity < bar:
            continue
        spans = prose_spans(hit.text)
        if not spans:
            continue
        if hit.article_id not in headlined and reads_as_headline(
            hit.title, article_texts.get(hit.article_id, ""), hit.url
        ):
            # Cited with the passage that matched; the headline itself shows in the citation.
            headlined.add(hit.article_id)
            s, e = spans[0]
            headline = headline_text(hit.title)
            candidates.append(
                _Candidate(
                    rank,
                    hit,
                    hit.start + s,
                    hit.start + e,
                    headline,
                    score(headline, hit, rank, headline=True),
                    headline=True,
                )
            )
        for s, e in spans:
            text = hit.text[s:e]
            candidates.append(
                _Candidate(rank, hit, hit.start + s, hit.start + e, text, score(text, hit, rank))
            )
    return candidates


def _chosen(candidates: list[_Candidate], max_sentences: int) -> list[_Candidate]:
    """The best sentences, each once, within ``KEEP_WITHIN`` of the best; a quoted headline
    shares its article's citation with a body sentence chosen beside it."""
    candidates.sort(key=lambda c: c.score, reverse=True)
    top = candidates[0].score
    chosen: list[_Candidate] = []
    seen_text: set[str] = set()
    for cand in candidates:
        if len(chosen) >= max_sentences:
            break
        key = " ".join(cand.text.lower().split())
        if key in seen_text or cand.score < top - KEEP_WITHIN:
            continue
        seen_text.add(key)
        chosen.append(cand)
    body = {c.hit.article_id: c for c in reversed(chosen) if not c.headline}
    for i, c in enumerate(chosen):
        beside = body.get(c.hit.article_id) if c.headline else None
        if beside is not None:
            chosen[i] = replace(c, hit=beside.hit, start=beside.start, end=beside.end)
    return chosen


def _cited(
    chosen: list[_Candidate], article_texts: Mapping[int, str]
) -> tuple[list[AnswerSentence], list[Citation]]:
    """The answer's sentences, each with its article's number, and the citations."""
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for cand in chosen:
        text = article_texts.get(cand.hit.article_id) or ""
        anchor = text[cand.start : cand.end]
        if anchor != (cand.hit.text[cand.start - cand.hit.start : cand.end - cand.hit.start]):
            continue  # stale chunk offsets: never cite them
        n = _cite(citations, cand, text)
        sentences.append(
            AnswerSentence(
                text=cand.text,
                citations=(n,),
                headline=cand.headline,
                published_at=cand.hit.published_at,
            )
        )
    return sentences, citations


def _cite(citations: list[Citation], cand: _Candidate, text: str) -> int:
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
