"""A PDF → its text with pypdf: page numbers and running headers dropped, hard-wrapped
lines rejoined into paragraphs."""

from __future__ import annotations

import io
import logging
import re

from ...errors import InputError, NotAnArticleError
from ...models import Document
from .lines import BULLET, SPACES, has_article_text, normalize_lines, wire_agency

_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I
)
_JUNK_PDF_TITLE = re.compile(
    r"^(?:untitled(?:\s+document)?|microsoft word\s*-.*|.*\.(?:docx?|pdf|odt|rtf|txt|indd))$",
    re.I,
)


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Remove page numbers, and headers/footers repeated at the top or bottom of most pages."""
    pages = [[line for line in page if line and not _PAGE_NUMBER.match(line)] for page in pages]
    if len(pages) < 3:
        return pages

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line)  # "Annual report, page 3" repeats as a shape

    for pos in (0, -1):
        counts: dict[str, int] = {}
        for page in pages:
            if page:
                counts[key(page[pos])] = counts.get(key(page[pos]), 0) + 1
        running = {k for k, n in counts.items() if n >= max(3, 0.6 * len(pages))}
        for i, page in enumerate(pages):
            if page and key(page[pos]) in running:
                pages[i] = page[1:] if pos == 0 else page[:-1]
    return pages


def _unwrap_pdf(lines: list[str]) -> list[str]:
    """Rejoin pypdf's hard-wrapped lines into paragraphs.

    A paragraph ends at a blank line, before a bullet, or after a short line (under 65 % of the
    typical line width) when the next line starts with a capital, a digit or a quote: that is
    the last line of a paragraph, or a heading. "exam-/ple" becomes "example" only when the next
    line starts in lowercase; otherwise the hyphen stays ("COVID-/19" → "COVID-19").
    """
    lengths = sorted(len(x) for x in lines if x)
    if not lengths:
        return []
    width = lengths[int(0.9 * (len(lengths) - 1))]
    paras: list[str] = []
    prev = ""
    for line in lines:
        if not line:
            prev = ""
            continue
        if not prev or BULLET.match(line) or (len(prev) < 0.65 * width and not line[0].islower()):
            paras.append(line)
        elif prev.endswith("-") and prev[-2:-1].isalpha():
            paras[-1] = paras[-1][:-1] + line if line[0].islower() else paras[-1] + line
        else:
            paras[-1] += " " + line
        prev = line
    return paras


def _pdf_title(raw: object) -> str | None:
    """The /Title metadata, unless it is empty or a tool's placeholder ("Microsoft Word - x")."""
    title = SPACES.sub(" ", str(raw or "")).strip()
    return None if not title or _JUNK_PDF_TITLE.match(title) else title


def extract_pdf(data: bytes, *, origin: str = "") -> Document:
    """A PDF → its text with pypdf, hard line wraps rejoined into paragraphs.

    An empty user password is tried first: owner-only encryption (no printing, no copying) is
    common on news PDFs and does not stop reading.
    """
    from pypdf import PdfReader  # here: only the PDF path needs it

    # pypdf reports what it repairs on its logger, which with no handler set prints to stderr
    # (in the middle of the command line's output); a PDF it cannot read raises instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    where = f" {origin}" if origin else ""
    encrypted = False
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        if encrypted and not reader.decrypt(""):
            raise InputError(f"could not read the PDF{where}: it is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = _pdf_title(reader.metadata.title if reader.metadata else None)
    except InputError:
        raise
    except Exception as exc:  # pypdf raises many types on corrupt files
        # AES needs the `cryptography` package, which newsbot does not install
        why = ": it is encrypted" if encrypted else ""
        raise InputError(f"could not read the PDF{where}{why}") from exc

    lines: list[str] = []
    for page in _drop_running_lines([normalize_lines(page) for page in pages]):
        lines.extend(page)  # no blank line between pages: a paragraph may continue
    paras = _unwrap_pdf(lines)
    if paras and paras[0] == title:
        paras = paras[1:]
    if not paras:
        raise NotAnArticleError(f"no text found in the PDF{where} (is it a scanned image?)")
    if not has_article_text(paras):
        raise NotAnArticleError(f"no article text found in the PDF{where}")
    wire = wire_agency(paras)
    return Document(text="\n\n".join(paras), title=title, source=wire, author=wire, origin=origin)
