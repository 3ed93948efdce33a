"""An HTML page → its article, with trafilatura (the best extractor measured here), the
header lines and link lists it keeps trimmed the way plain text is."""

from __future__ import annotations

import re
from typing import Any

from ...errors import InputError, NotAnArticleError
from ...models import Document
from .header import Meta, parse_meta
from .lines import is_crumb, is_prose, normalize_lines, shown_origin, title_in, wire_agency
from .tail import cut_tail

# Extraction costs time and memory in proportion to the tags, whatever the page says (trafilatura
# walks the tree in Python; README and ``python -m bench.extract_bound`` give the figures). Real
# article pages have a few thousand tags; a bigger page than this is refused before it is parsed,
# and counting "<" is cheap.
MAX_HTML_TAGS = 100_000

_MIN_HTML_WORDS = 20
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _trafilatura(data: bytes, url: str | None, where: str) -> Any:
    """trafilatura's reading of the page: body text and metadata."""
    import trafilatura  # here, so that the plain-text path does not pay for the import

    try:
        tree = trafilatura.load_html(data)
        doc = None
        if tree is not None:
            doc = trafilatura.bare_extraction(
                tree,
                url=url,
                with_metadata=True,
                include_comments=False,
                include_tables=True,
                date_extraction_params={"extensive_search": False, "original_date": True},
            )
    except Exception as exc:  # lxml and trafilatura raise many types on hostile input
        raise InputError(f"could not read the HTML in {where}") from exc
    if tree is None:
        raise InputError(f"could not read the HTML in {where}")
    if doc is None or not doc.text:
        raise NotAnArticleError(f"no article text found in {where}")
    return doc


def extract_html(data: bytes, *, url: str | None = None, origin: str = "") -> Document:
    """An HTML page → its article, with trafilatura (the best extractor measured here).

    trafilatura gets the bytes (it detects the encoding; lxml alone mis-reads UTF-8). Its
    extensive date search is off: it turns a footer's "© 2024" into 2024-01-01.
    """
    where = shown_origin(origin or url or "")
    if not data.strip():
        raise InputError(f"{where} is empty")
    if data.count(b"<") > MAX_HTML_TAGS:
        raise InputError(
            f"{where} is too complex to read (over {MAX_HTML_TAGS:,} HTML tags); "
            "no news article needs that many"
        )
    doc = _trafilatura(data, url, where)
    title = (doc.title or "").strip() or None
    paras = [line for line in normalize_lines(doc.text) if line]
    meta = Meta()
    # trafilatura keeps the <h1> and visible date lines: drop them from the top of the body.
    while paras and (
        (title is not None and title_in(paras[0], title, anywhere=False)[0])
        or (not is_prose(paras[0]) and (is_crumb(paras[0]) or parse_meta(paras[0], meta)))
    ):
        paras.pop(0)
    if paras:
        paras = cut_tail(paras, 0)
    if sum(len(p.split()) for p in paras) < _MIN_HTML_WORDS:
        raise NotAnArticleError(f"no article text found in {where}")

    wire = wire_agency(paras)
    return Document(
        text="\n\n".join(paras),
        title=title,
        source=(doc.sitename or "").strip() or wire,
        published_at=doc.date if doc.date and _ISO_DAY.match(doc.date) else meta.date,
        # The page's own canonical URL (trafilatura reads <link rel=canonical> / og:url) names
        # the article better than the address it was fetched from.
        url=doc.url if (doc.url or "").startswith(("http://", "https://")) else url,
        author=(doc.author or "").strip() or meta.author or wire,
        origin=origin,
    )
