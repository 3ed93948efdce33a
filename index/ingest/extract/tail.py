"""Where an article ends on a saved page: the link lists ("Related", "Most read", counters)
that follow the body, standalone ad lines, and copyright or UI lines at the very end."""

from __future__ import annotations

import itertools
import re

from .lines import BULLET, COUNTER, UI_WORDS, is_prose, line_words

# A heading that opens the page's link lists when it stands alone on a line.
SECTION_MARKER = re.compile(
    r"^(?:related(?:\s+(?:articles?|stories|news|content|posts|coverage|links|topics|reading"
    r"|videos?))?"
    r"|rankings?|recommendations?|recommended(?:\s+(?:for you|stories|articles|reading|videos?))?"
    r"|read more|read next|read also|also read|more to read|more stories(?:\s+from\s+.{1,40})?"
    r"|trending(?:\s+(?:now|stories|news|topics|articles))?|more (?:from|on)\s+.{1,40}"
    r"|more news|most popular|most read|most viewed|popular(?:\s+(?:now|stories|articles|posts))?"
    r"|you (?:may|might) also like|you may be interested in|don[’']t miss|editor[’']s picks"
    r"|top stories|latest news|latest stories|further reading|see also|comments"
    r"|leave a (?:comment|reply)|sponsored(?:\s+(?:content|stories|links))?|tags|topics"
    r"|share this(?:\s+(?:article|story))?|about the author)\s*:?$"
    r"|^tags?\s*:\s*\S.*$",
    re.I,
)
# Lines that interrupt a body on many sites; dropping them loses no article text.
_AD_LINE = re.compile(
    r"^(?:advertisement|ad|sponsored|skip advertisement|scroll to continue(?: with content)?"
    r"|(?:story|article) continues below(?: advertisement)?|continue reading below)$",
    re.I,
)
_COPYRIGHT = re.compile(r"^(?:copyright\b|©|\(c\)\s*\d{4}|all rights reserved\b)", re.I)


def _is_cut_line(line: str) -> bool:
    return bool(SECTION_MARKER.match(line) or COUNTER.match(line))


def _article_like(line: str, min_words: int) -> bool:
    """Prose of at least ``min_words``; a bulleted line needs 20 (teaser headlines are
    sentence-shaped too, a bulleted paragraph is longer)."""
    needed = max(min_words, 20) if BULLET.match(line) else min_words
    return is_prose(line) and len(line_words(line)) >= needed


def cut_tail(paras: list[str], start: int) -> list[str]:
    """Cut at the first section marker or counter line after ``start`` that opens the page's
    link lists, drop standalone ad lines, and trim copyright / UI lines from the very end.

    A marker opens the link lists when its own section (up to the next marker, at most 8 lines)
    is mostly non-prose and nothing after it looks like article paragraphs (two prose lines of
    20+ words): articles have "Trending" subheadings, and sites put "More to read:" link blocks
    in the middle of articles; cutting there would lose the rest of the story.
    """
    cuts = [_is_cut_line(p) for p in paras]
    long_after = [0] * (len(paras) + 1)  # article paragraphs from index k to the end
    for k in range(len(paras) - 1, start, -1):
        long_after[k] = long_after[k + 1] + _article_like(paras[k], 20)
    for k in range(start + 1, len(paras)):
        if not cuts[k] or long_after[k + 1] >= 2:
            continue
        run = itertools.takewhile(lambda i: not cuts[i], range(k + 1, len(paras)))
        section = list(itertools.islice(run, 8))
        if 2 * sum(_article_like(paras[i], 12) for i in section) < max(len(section), 1):
            paras = paras[:k]
            break
    kept = paras[: start + 1] + [p for p in paras[start + 1 :] if not _AD_LINE.match(p)]
    while len(kept) > start + 1 and (
        (_COPYRIGHT.match(kept[-1]) and len(kept[-1].split()) <= 25)
        or COUNTER.match(kept[-1])
        or UI_WORDS.match(kept[-1])
    ):
        kept.pop()
    return kept
