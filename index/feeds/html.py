"""Feed HTML → plain text. Entry HTML becomes paragraphs here, without recursion and without
fetching anything it references (images, iframes); the poller and both parsers share it."""

from __future__ import annotations

import re
from typing import Any

_DROP_NAMES = (
    "script style noscript template iframe frame frameset object embed applet svg math form "
    "button select textarea input video audio canvas head title meta link base"
)
_BLOCK_NAMES = (
    "p div section article header footer main aside nav address blockquote pre h1 h2 h3 h4 h5 "
    "h6 ul ol li dl dt dd table thead tbody tfoot tr caption figure figcaption hr br center "
    "details summary body html"
)
_DROP_TAGS = frozenset(_DROP_NAMES.split())
_BLOCK_TAGS = frozenset(_BLOCK_NAMES.split())
_CELL_TAGS = frozenset(("td", "th"))
_WS = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\ufeff]+")
_TAG = re.compile(r"<[^>]*>")
# Lines feed generators append to the article: "The post X appeared first on Y.", "Read more".
_TRAILER = re.compile(
    r"^(?:the post\b.{0,300}\bappeared first on\b.*|(?:continue reading|read more|read the full "
    r"(?:story|article))\b.{0,80}|\[?(?:…|\.\.\.)\]?)$",
    re.IGNORECASE,
)


def html_to_text(html: str) -> str:
    """HTML (a fragment or a page) → plain paragraphs separated by blank lines.

    Block elements and ``<br>`` end a paragraph, table cells are joined by spaces, scripts,
    styles, forms and embedded media are dropped, and nothing is fetched.
    """
    if not html or not html.strip():
        return ""
    html = html.replace("\x00", "")  # lxml refuses NUL; no text needs it
    if "<" not in html and "&" not in html:
        return plain_paragraphs(html)
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.LxmlError, ValueError):
        return plain_paragraphs(_TAG.sub(" ", html))
    paras: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        line = _WS.sub(" ", "".join(buf)).strip()
        buf.clear()
        if line:
            paras.append(line)

    stack: list[tuple[Any, bool]] = [(root, False)]  # (element, closing); no recursion
    while stack:
        el, closing = stack.pop()
        tag = el.tag.lower() if isinstance(el.tag, str) else None
        if not closing and tag is not None and tag not in _DROP_TAGS:
            if tag in _BLOCK_TAGS:
                flush()
            elif tag in _CELL_TAGS:
                buf.append(" ")
            if el.text:
                buf.append(el.text)
            stack.append((el, True))
            stack.extend((child, False) for child in reversed(el))
            continue
        if closing and tag in _BLOCK_TAGS:
            flush()
        elif closing and tag in _CELL_TAGS:
            buf.append(" ")
        if el.tail and el is not root:  # comments, dropped elements and closed ones alike
            buf.append(el.tail)
    flush()
    while paras and _TRAILER.match(paras[-1]):
        paras.pop()
    return "\n\n".join(paras)


def plain_paragraphs(text: str) -> str:
    text = text.replace("\x00", "")
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n\n".join(p for p in (_WS.sub(" ", b).strip() for b in blocks) if p)


def detail_text(value: Any, kind: str | None) -> str:
    """A feedparser text construct → plain text (HTML converted, plain text kept)."""
    if not value:
        return ""
    value = str(value)
    if kind and "html" not in kind and "xml" not in kind:
        return plain_paragraphs(value)
    return html_to_text(value)


def one_line(text: str | None, limit: int = 300) -> str | None:
    line = _WS.sub(" ", (text or "").replace("\x00", "")).strip()
    return line[:limit] or None
