"""Text as newsbot compares it: the normalization duplicates are found by, and the word-level
helpers lexical search and answer composition share."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Quote marks, apostrophes and invisible format characters: the loose form drops them, so
# "don’t" == "don't" == "dont".
_QUOTES = re.compile("['\"`´‘’‚‛“”„‟′″«»‹›\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_PUNCT = re.compile(r"[^\w\s]")
_PUNCT_LOOSE = re.compile(r"[^\w\s]|_")


def normalize(text: str, *, loose: bool = False) -> str:
    """Text with case, punctuation, symbols and spacing folded away (NFKC, case-folded, each
    punctuation mark or symbol a space, runs of spaces one): the same article pasted from two
    places differs in exactly those ways.

    ``loose`` (what near-duplicate shingles are made of) also drops quote marks and invisible
    characters and treats "_" as punctuation. Both forms are persisted — the exact one as
    ``articles.content_hash`` and feed entries' stamps, the loose one inside MinHash signatures
    — so neither may change without migrating what was stored.
    """
    norm = unicodedata.normalize("NFKC", text).casefold()
    if loose:
        return " ".join(_PUNCT_LOOSE.sub(" ", _QUOTES.sub("", norm)).split())
    return " ".join(_PUNCT.sub(" ", norm).split())


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


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately crude stemmer: enough to match "launches" with "launch"."""
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning, in order, without repeats."""
    return list(_content_terms(text))


@lru_cache(maxsize=8192)
def _content_terms(text: str) -> tuple[str, ...]:
    """Cached: an answer reads the terms of the same passages and sentences several times,
    and popular passages come back question after question."""
    seen: dict[str, None] = {}
    for w in words(text):
        if w in STOPWORDS or (len(w) < 2 and not w.isdigit()):
            continue
        seen.setdefault(stem(w), None)
    return tuple(seen)


def query_words(text: str) -> list[str]:
    """The words lexical search looks for: the text's words without stopwords or quote marks,
    each once, in order."""
    terms = []
    for w in words(text):
        if w in STOPWORDS:
            continue
        w = w.replace('"', "")
        if w:
            terms.append(w)
    return list(dict.fromkeys(terms))


# Letters and marks that render as nothing: Hangul fillers, the combining grapheme joiner,
# Khmer inherent vowels, the braille blank. Format characters (Cf) and controls are found by
# their category.
_BLANK = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
# Zero-width (non-)joiners are spelling inside a word (Persian, Indic scripts, emoji sequences).
_JOINERS = frozenset("\u200c\u200d")


def hidden_characters(text: str) -> list[str]:
    """The characters of ``text`` a reader can't see or that reorder the text around them, as
    ``U+XXXX``, each once: format characters (zero-width spaces, bidirectional controls such
    as U+202E, the byte-order mark, soft hyphens; a joiner only outside a word), controls other
    than spacing, and letters that render blank (U+3164). A member's text can hide behind them."""
    found = [
        c
        for i, c in enumerate(text)
        if c in _BLANK
        or (
            unicodedata.category(c) in ("Cf", "Cc")
            and not c.isspace()
            and not (c in _JOINERS and _visible(text, i - 1) and _visible(text, i + 1))
        )
    ]
    return [f"U+{ord(c):04X}" for c in dict.fromkeys(found)]


def _visible(text: str, i: int) -> bool:
    """Whether ``text[i]`` is a letter, mark or symbol that shows (a joiner's neighbour)."""
    if not 0 <= i < len(text) or text[i] in _BLANK:
        return False
    category = unicodedata.category(text[i])
    return category[0] in "LMN" or category == "So"
