"""What text an answer may quote: prose sentences, not page debris, and headlines that read as
headlines. One place decides it, for answers, timelines and anything else that quotes articles.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..ingest.chunk import sentence_spans

# Page debris that reads like a sentence: link lines, credits, prompts, list items.
_DEBRIS_START = re.compile(
    r"^\s*(?:\d{1,2}[.)]\s|[•·▪►▶*\-–—]\s"
    # a label and a colon: "Related: …", "Photo: …", "More: …"
    r"|(?:related|more|watch|listen|photos?|images?|video|credit|caption|advertisement"
    r"|sponsored|summary|editor'?s note|see also|recommended|trending|most read|top stories"
    r"|latest|update|file)\s*[:|\-–—]"
    # a credit line: "Photos by the agency staff.", "Images courtesy of …"
    r"|(?:photos?|images?|pictures?|video|graphics?)\s+(?:by|courtesy)\b"
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
