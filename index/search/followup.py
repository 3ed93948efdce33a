"""Follow-up questions: a short reply to an answer, or one that points back at it ("and what
did Russia say?", "when did it start?"), continues the earlier question: it inherits that
question's time window and its subject words. A question that stands on its own is asked as it is.

Pure functions over text and dates: the bot finds the earlier question (the answer a member
replied to, kept in the store's feedback records), the service asks the continued one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..text import STOPWORDS, words
from .when import find_window, without_phrase

# Words that point back at the earlier question's subject.
_POINTERS = """it its they them their theirs he him his she her hers this that these those there
then such same other"""
POINTERS = frozenset(_POINTERS.split())
# Openings that continue a conversation rather than start one.
OPENERS = ("and ", "but ", "also ", "what about ", "how about ", "so ", "then ")
# Words of a question that are not its subject.
_QUESTION_WORDS = """what who whom whose when where why how which did does do is are was were will
would can could should say said tell told news latest happen happened happening"""
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
# A follow-up with at most this many subject words of its own is too short to stand alone.
SHORT = 3


@dataclass(frozen=True)
class Continued:
    """The question to ask, the window to search, and whether anything was inherited."""

    question: str
    since: str | None
    until: str | None
    inherited: bool


def subject_words(question: str) -> list[str]:
    """The words a question is about, in order, once each: no stopwords, no question words,
    no date phrase (the window does that work)."""
    window = find_window(question, date.today())
    text = without_phrase(question, window) if window is not None else question
    out: dict[str, None] = {}
    for w in words(text):
        if w in STOPWORDS or w in QUESTION_WORDS or w in POINTERS or len(w) < 2:
            continue
        out.setdefault(w, None)
    return list(out)


def is_continuation(followup: str) -> bool:
    """Short, opened like a continuation, or pointing back with a pronoun."""
    text = " ".join(followup.lower().split())
    if text.startswith(OPENERS):
        return True
    if any(w in POINTERS for w in words(text)):
        return True
    return len(subject_words(followup)) <= SHORT


def continue_question(
    followup: str,
    earlier: str,
    since: str | None,
    until: str | None,
    asked_on: date,
) -> Continued:
    """``followup`` as it is asked after ``earlier`` (searched in ``since``..``until``)."""
    followup = " ".join(followup.split())
    if not is_continuation(followup):
        return Continued(followup, None, None, False)
    own = set(subject_words(followup))
    inherited = [w for w in subject_words(earlier) if w not in own]
    question = f"{followup} ({' '.join(inherited)})" if inherited else followup
    if find_window(followup, asked_on) is not None:  # it names its own time
        return Continued(question, None, None, bool(inherited))
    return Continued(question, since, until, bool(inherited) or bool(since or until))
