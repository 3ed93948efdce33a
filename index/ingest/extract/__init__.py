"""Raw input (plain text saved from a page, HTML, PDF) → a ``Document`` holding the article body.

Snippets are later cut verbatim from ``Document.text``, so extraction only *removes* whole lines
(page furniture, link lists, page numbers), joins hard-wrapped lines and normalises whitespace;
it never rewrites words or punctuation. Paragraphs are always separated by a blank line
("\\n\\n").

One module a kind of input (``plain``, ``html``, ``pdf``), over what they share: reading lines
(``lines``), the header above a body (``header``) and the link lists below it (``tail``).
"""

from __future__ import annotations

from .html import MAX_HTML_TAGS, extract_html
from .pdf import extract_pdf
from .plain import clean_scraped_text

__all__ = ["MAX_HTML_TAGS", "clean_scraped_text", "extract_html", "extract_pdf"]
