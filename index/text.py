"""Small word-level helpers shared by lexical search and answer composition."""

from __future__ import annotations

import re

_STOPWORDS = """a about above after again against all am an and any are as at be because been
before being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours ourselves
out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves also according said says say week
weeks year years new one two many much may might must shall upon via per s t d ll ve re"""
STOPWORDS = frozenset(_STOPWORDS.split())

_WORD = re.compile(r"[\w][\w'’\-]*", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased words with possessives and outer hyphens trimmed."""
    out = []
    for w in _WORD.findall(text.lower()):
        w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        w = w.strip("'-")
        if w:
            out.append(w)
    return out


def stem(word: str) -> str:
    """A deliberately crude stemmer: enough to match "launches" with "launch"."""
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning, in order, without repeats."""
    seen: dict[str, None] = {}
    for w in words(text):
        if w in STOPWORDS or (len(w) < 2 and not w.isdigit()):
            continue
        seen.setdefault(stem(w), None)
    return list(seen)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: the question's content words, OR-ed, each quoted."""
    terms = []
    for w in words(text):
        if w in STOPWORDS:
            continue
        w = w.replace('"', "")
        if w:
            terms.append(f'"{w}"')
    if not terms:
        return None
    return " OR ".join(dict.fromkeys(terms))
