"""What a user sees after ingesting a saved page, an HTML file or a PDF: title, date, source and
the exact body text that snippets will be cut from.

The clean articles below are written for these tests; the scraped sample is the project's
example file (skipped when it is missing).
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from index.errors import InputError, NotAnArticleError
from index.ingest.extract import clean_scraped_text, extract_html, extract_pdf

REPO = Path(__file__).resolve().parents[1]
SAMPLE_NAME = "capitalway-nk-shells.txt"
SAMPLE_PATHS = (REPO / "examples" / SAMPLE_NAME, REPO.parent / "shared" / "samples" / SAMPLE_NAME)


@pytest.fixture(scope="module")
def sample_text() -> str:
    for path in SAMPLE_PATHS:
        if path.exists():
            return path.read_text(encoding="utf-8")
    pytest.skip(f"{SAMPLE_NAME} is not available")


# --------------------------------------------------------------------------------------------
# The scraped sample


def test_sample_metadata(sample_text: str) -> None:
    doc = clean_scraped_text(sample_text, origin=SAMPLE_NAME)
    assert doc.title == (
        "South Korea’s spy agency says North Korea shipped more than a million artillery shells "
        "to Russia"
    )
    assert doc.published_at == "2025-04-25"
    assert doc.source == "CapitalWay"
    assert doc.author == "AP"
    assert doc.origin == SAMPLE_NAME


def test_sample_body_is_the_article_and_nothing_else(sample_text: str) -> None:
    doc = clean_scraped_text(sample_text)
    lines = sample_text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("SEOUL, South Korea (AP)"))
    last = next(i for i, line in enumerate(lines) if line.startswith("veryGood!"))
    assert doc.text == "\n\n".join(lines[first:last])
    assert doc.text.startswith("SEOUL, South Korea (AP) — South Korea’s top spy agency")
    assert doc.text.endswith("before being moved via train to southwestern Russia.")
    for junk in ("Current:Home", "View", "Date:", "veryGood", "Related", "Ranking"):
        assert junk not in doc.text
    assert "Recommendation" not in doc.text
    headlines = [line.removeprefix("- ") for line in lines[last + 1 :]]
    headlines = [h for h in headlines if h not in ("Related", "Ranking", "Recommendation")]
    assert len(headlines) > 20
    assert not [h for h in headlines if h in doc.text]


# --------------------------------------------------------------------------------------------
# Clean articles must come back whole

LIBRARY_TITLE = "Village library doubles its opening hours after volunteers step in"
LIBRARY = [
    "The public library in Ashcombe will open six days a week from next month, twice as often as "
    "before, after forty residents signed up to staff the front desk on a rota.",
    "“We simply ran out of reasons to stay closed,” said Nadia Okafor, who chairs the friends of "
    "the library group.",
    "It was not always so.",
    "How the rota works",
    "Each volunteer takes one three-hour shift a fortnight and is trained by the county’s two "
    "paid librarians, who still run the children’s story hour and the mobile service.",
    "Related to this, the parish council has agreed to pay for new lighting in the reading room, "
    "which had been dim since a storm damaged the roof two winters ago.",
    "The new timetable includes:",
    "- late opening until 8 p.m. on Thursdays",
    "- a Saturday morning homework club",
    "- a monthly repair café in the meeting room",
    "Borrowing has risen by a third since the first extra day was added in the spring.",
]

FERRY_TITLE = "Island ferry timetable changes as winter storms return"
FERRY = [
    "Ferries between Port Ellis and the outer islands will run on a reduced timetable from Monday "
    "as forecasters warn of a long spell of strong winds across the strait.",
    "The operator said the first sailing of the day would leave an hour later, at 8 a.m., and that "
    "the last evening crossing would be dropped until the end of February.",
    "Islanders were not surprised.",
    "What comes next",
    "Related coverage of the vote on the new pier will continue next week, when the council is due "
    "to publish the final cost of the project and a timetable for the works.",
    "Trending",
    "Freight bookings for the winter months have already fallen by a fifth, the operator said, "
    "because hauliers expect more cancellations than in previous years.",
    "Passengers with tickets for a cancelled crossing can move to the next sailing at no cost.",
]


@pytest.mark.parametrize("separator", ["\n\n", "\n"], ids=["blank-lines", "one-per-line"])
@pytest.mark.parametrize(
    ("title", "paragraphs"),
    [(LIBRARY_TITLE, LIBRARY), (FERRY_TITLE, FERRY)],
    ids=["library", "ferry"],
)
def test_clean_article_keeps_every_paragraph(
    title: str, paragraphs: list[str], separator: str
) -> None:
    doc = clean_scraped_text(separator.join([title, *paragraphs]) + "\n", origin="a.txt")
    assert doc.title == title
    assert doc.text == "\n\n".join(paragraphs)
    assert doc.published_at is None
    assert doc.source is None


def test_clean_article_without_a_title_line_has_no_title() -> None:
    doc = clean_scraped_text("\n\n".join(LIBRARY))
    assert doc.title is None
    assert doc.text == "\n\n".join(LIBRARY)


def test_short_paragraphs_one_per_line_are_not_merged() -> None:
    paragraphs = [
        "The bakery on Mill Lane will close for two weeks in January for repairs.",
        "Its owner, Tomas Berg, said the ovens had not been replaced since 1998.",
        "Customers can order bread from the market stall on Saturdays instead.",
        "The shop will reopen on January 29 with the same opening hours as before.",
        "A new apprentice will join the team in the spring, Berg said.",
    ]
    doc = clean_scraped_text("\n".join(["Bakery closes for repairs", *paragraphs]))
    assert doc.title == "Bakery closes for repairs"
    assert doc.text == "\n\n".join(paragraphs)


def test_a_date_inside_the_body_is_not_the_publication_date() -> None:
    paragraphs = [*FERRY[:2], "Oct. 26, 2023", *FERRY[2:]]
    doc = clean_scraped_text("\n".join([FERRY_TITLE, *paragraphs]))
    assert doc.published_at is None
    assert doc.text == "\n\n".join(paragraphs)


def test_markdown_title_is_taken_out_of_the_body() -> None:
    text = f"# {LIBRARY_TITLE}\n\n{LIBRARY[0]}\n\n## {LIBRARY[3]}\n\n{LIBRARY[4]}\n"
    doc = clean_scraped_text(text)
    assert doc.title == LIBRARY_TITLE
    assert doc.text == f"{LIBRARY[0]}\n\n## {LIBRARY[3]}\n\n{LIBRARY[4]}"


def test_setext_markdown_title() -> None:
    doc = clean_scraped_text(f"{FERRY_TITLE}\n{'=' * 20}\n\n{FERRY[0]}\n\n{FERRY[1]}")
    assert doc.title == FERRY_TITLE
    assert doc.text == f"{FERRY[0]}\n\n{FERRY[1]}"


def test_hard_wrapped_paragraphs_are_rejoined() -> None:
    wrapped = "\n\n".join(textwrap.fill(p, 72) for p in LIBRARY)
    doc = clean_scraped_text(f"{LIBRARY_TITLE}\n\n{wrapped}\n")
    assert doc.title == LIBRARY_TITLE
    assert doc.text == "\n\n".join(LIBRARY)


def test_whitespace_is_normalised_but_words_are_not() -> None:
    text = (
        f"\ufeff{FERRY_TITLE}  \r\n\r\n"
        "Ferries  between Port\u00a0Ellis and\tthe outer islands will run on a reduced timetable "
        "from Monday, the operator said.   \r\n\r\n\r\n"
        "  The first sailing of the day will leave an hour later than it does now, at 8 a.m. \r\n"
    )
    doc = clean_scraped_text(text)
    assert doc.title == FERRY_TITLE
    assert doc.text == (
        "Ferries between Port Ellis and the outer islands will run on a reduced timetable "
        "from Monday, the operator said.\n\n"
        "The first sailing of the day will leave an hour later than it does now, at 8 a.m."
    )


# --------------------------------------------------------------------------------------------
# Scraped pages: header furniture, link lists, counters

SCRAPED = "\n".join(
    [
        "Skip to main content",
        "Menu",
        "Home > Local > Port Ellis",
        f"{FERRY_TITLE} | Coastal Ledger",
        FERRY_TITLE,
        "By Mara Lindqvist",
        "Published: October 26, 2023 | 4 min read",
        "Share",
        "Print",
        *FERRY,
        "Like (12)",
        "Read more",
        "- Lighthouse museum reopens after winter repairs are finished",
        "- School board approves new bus routes for the coming year",
        "Most popular",
        "Harbor town votes to rebuild its old ferry pier",
        "© 2023 Coastal Ledger. All rights reserved.",
    ]
)


def test_scraped_page_header_and_tail_are_removed() -> None:
    doc = clean_scraped_text(SCRAPED, origin="ferry.txt")
    assert doc.title == FERRY_TITLE
    assert doc.source == "Coastal Ledger"
    assert doc.author == "Mara Lindqvist"
    assert doc.published_at == "2023-10-26"
    assert doc.text == "\n\n".join(FERRY)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Date:2025-04-25 19:02:04", "2025-04-25"),
        ("Published: October 26, 2023", "2023-10-26"),
        ("Oct. 26, 2023", "2023-10-26"),
        ("2023-10-26", "2023-10-26"),
        ("Updated 3:04 PM EDT, Thu October 26, 2023", "2023-10-26"),
        ("26 October 2023 at 09:15 GMT", "2023-10-26"),
        ("Posted on Sept. 3, 2024 · Updated Sept. 4, 2024", "2024-09-03"),
    ],
)
def test_header_date_lines(line: str, expected: str) -> None:
    doc = clean_scraped_text("\n".join([FERRY_TITLE, line, *FERRY]))
    assert doc.published_at == expected
    assert doc.title == FERRY_TITLE
    assert doc.text == "\n\n".join(FERRY)


def test_published_date_wins_over_updated_date() -> None:
    header = ["Updated 9:30 AM, March 5, 2024", "Published March 3, 2024"]
    doc = clean_scraped_text("\n".join([FERRY_TITLE, *header, *FERRY]))
    assert doc.published_at == "2024-03-03"


def test_a_sentence_mentioning_a_date_is_not_a_date_line() -> None:
    lead = "Voting closes on October 26, 2023."  # short, so it sits above the body
    doc = clean_scraped_text("\n".join([FERRY_TITLE, lead, *FERRY]))
    assert doc.published_at is None
    assert doc.text == "\n\n".join([lead, *FERRY])


def test_link_block_in_the_middle_of_the_article_is_not_a_cut() -> None:
    block = [
        "More to read:",
        "Lighthouse museum reopens after winter repairs are finished",
        "School board approves new bus routes for the coming year",
    ]
    paragraphs = [*FERRY[:2], *block, *FERRY[2:]]
    doc = clean_scraped_text("\n".join([FERRY_TITLE, *paragraphs]))
    assert doc.text == "\n\n".join(paragraphs)


def test_emoji_counter_cuts_the_tail() -> None:
    tail = ["👍 12", "Lighthouse museum reopens", "School board approves new bus routes"]
    doc = clean_scraped_text("\n".join([FERRY_TITLE, *FERRY, *tail]))
    assert doc.text == "\n\n".join(FERRY)


def test_advertisement_lines_inside_the_body_are_dropped() -> None:
    doc = clean_scraped_text("\n".join([FERRY_TITLE, FERRY[0], "Advertisement", *FERRY[1:]]))
    assert doc.text == "\n\n".join(FERRY)


def test_wire_dateline_gives_author_and_source_when_there_is_no_site() -> None:
    lead = (
        "WASHINGTON (Reuters) - The Senate approved a stopgap spending bill late on Saturday, "
        "averting a government shutdown hours before the deadline."
    )
    doc = clean_scraped_text(f"Senate passes stopgap bill\n\n{lead}\n\n{FERRY[1]}")
    assert doc.author == "Reuters"
    assert doc.source == "Reuters"
    assert doc.text.startswith("WASHINGTON (Reuters) - The Senate")


HEADLINES_ONLY = "\n".join(
    [
        "Local news",
        "Lighthouse museum reopens after winter repairs are finished",
        "School board approves new bus routes for the coming year",
        "Harbor town votes to rebuild its old ferry pier",
        "Island ferry timetable changes as winter storms return",
    ]
    * 5
)


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n", "Home\nMenu\nSign in\nSearch", "Local news\nSports\nWeather", HEADLINES_ONLY],
)
def test_text_without_an_article_is_refused(text: str) -> None:
    with pytest.raises(NotAnArticleError, match=r"no article text found in page\.txt"):
        clean_scraped_text(text, origin="page.txt")


# --------------------------------------------------------------------------------------------
# HTML

ARTICLE_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harbor town votes to rebuild its old ferry pier | Coastal Ledger</title>
<meta property="og:title" content="Harbor town votes to rebuild its old ferry pier">
<meta property="og:site_name" content="Coastal Ledger">
<meta property="article:published_time" content="2024-03-14T09:30:00Z">
<meta name="author" content="Mara Lindqvist">
</head>
<body>
<header>
  <nav><a href="/">Home</a> <a href="/local">Local</a> <a href="/sports">Sports</a>
  <a href="/login">Sign in</a></nav>
</header>
<main>
<article>
  <h1>Harbor town votes to rebuild its old ferry pier</h1>
  <p class="byline">By Mara Lindqvist</p>
  <p>PORT ELLIS — The town council voted 6 to 1 on Tuesday night to rebuild the ferry pier that
  has stood at the end of Water Street since 1931, ending a debate that lasted nearly three
  years.</p>
  <p>The new pier will cost about $4.2 million, most of it covered by a state grant for coastal
  infrastructure, according to the town’s finance director.</p>
  <p>“We’ve patched that pier for as long as I can remember,” said council member Ida Forsberg,
  who cast the deciding vote in committee. “It’s time to do it properly.”</p>
  <p>Construction is expected to begin in the autumn and last about eighteen months, during
  which the ferry will dock at a temporary landing near the boatyard.</p>
</article>
<aside class="related">
  <h2>Related stories</h2>
  <ul>
    <li><a href="/a">School board approves new bus routes for the coming year</a></li>
    <li><a href="/b">Lighthouse museum reopens after winter repairs are finished</a></li>
  </ul>
</aside>
</main>
<footer>
  <p>© 2024 Coastal Ledger. All rights reserved.</p>
  <a href="/privacy">Privacy policy</a> <a href="/contact">Contact us</a>
</footer>
</body>
</html>
"""

LOGIN_HTML = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in | Coastal Ledger</title></head>
<body>
<nav><a href="/">Home</a></nav>
<main>
  <h1>Sign in</h1>
  <form action="/login" method="post">
    <label>Email <input name="email"></label>
    <label>Password <input type="password" name="password"></label>
    <button>Sign in</button>
  </form>
  <p><a href="/forgot">Forgot your password?</a></p>
</main>
<footer>© 2024 Coastal Ledger</footer>
</body>
</html>
"""

ARTICLE_PARAGRAPHS = [
    "PORT ELLIS — The town council voted 6 to 1 on Tuesday night to rebuild the ferry pier that "
    "has stood at the end of Water Street since 1931, ending a debate that lasted nearly three "
    "years.",
    "The new pier will cost about $4.2 million, most of it covered by a state grant for coastal "
    "infrastructure, according to the town’s finance director.",
    "“We’ve patched that pier for as long as I can remember,” said council member Ida Forsberg, "
    "who cast the deciding vote in committee. “It’s time to do it properly.”",
    "Construction is expected to begin in the autumn and last about eighteen months, during "
    "which the ferry will dock at a temporary landing near the boatyard.",
]


def test_html_article() -> None:
    url = "https://coastal-ledger.example/local/pier"
    doc = extract_html(ARTICLE_HTML.encode(), url=url, origin="article.html")
    assert doc.title == "Harbor town votes to rebuild its old ferry pier"
    assert doc.published_at == "2024-03-14"
    assert doc.source == "Coastal Ledger"
    assert doc.author == "Mara Lindqvist"
    assert doc.url == url
    assert doc.origin == "article.html"
    assert doc.text == "\n\n".join(ARTICLE_PARAGRAPHS)
    for junk in ("Related stories", "School board", "Sign in", "Privacy", "©", "By Mara"):
        assert junk not in doc.text


def _page(head: str, body: str) -> str:
    return f"<html><head>{head}</head><body><article>{body}</article></body></html>"


CAFE = (
    "<h1>Café reopens</h1>"
    "<p>The café on the corner of Water Street reopened on Monday after a renovation that took "
    "most of the winter, its owner said.</p>"
    "<p>Regulars lined up before dawn to get a table by the window.</p>"
)


def test_html_in_a_legacy_encoding_is_decoded() -> None:
    page = _page('<meta charset="windows-1252"><title>Café reopens</title>', CAFE)
    doc = extract_html(page.encode("cp1252"), url="https://www.example.org/news/cafe")
    assert doc.title == "Café reopens"
    assert doc.text.startswith("The café on the corner")
    assert doc.source == "example.org"  # no site name in the page: the URL's host
    assert doc.published_at is None


def test_html_visible_date_line_is_used_and_left_out_of_the_body() -> None:
    body = CAFE.replace("</h1>", '</h1><p class="date">Published March 14, 2024</p>')
    page = _page('<meta charset="utf-8"><title>Café reopens</title>', body)
    doc = extract_html((page + "<footer>© 2023 Example</footer>").encode())
    assert doc.published_at == "2024-03-14"
    assert "Published" not in doc.text
    assert doc.text.startswith("The café on the corner")


def test_html_copyright_year_is_not_a_publication_date() -> None:
    page = _page('<meta charset="utf-8"><title>Café reopens</title>', CAFE)
    doc = extract_html((page + "<footer>© 2023 Example</footer>").encode())
    assert doc.published_at is None


def test_html_page_without_an_article() -> None:
    with pytest.raises(NotAnArticleError, match=r"no article text found in login\.html"):
        extract_html(LOGIN_HTML.encode(), origin="login.html")


@pytest.mark.parametrize("data", [b"", b"  \n", b"\x00\x01\x02\xff\xfe"])
def test_unreadable_html_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError) as excinfo:
        extract_html(data, origin="x.html")
    assert not isinstance(excinfo.value, NotAnArticleError)
    assert "x.html" in str(excinfo.value)


# --------------------------------------------------------------------------------------------
# PDF, written by hand: one Helvetica text object per page, one line per Tj


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def make_pdf(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A minimal valid PDF: catalog, page tree, a font, one content stream per page, xref."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 10 Tf", "13 TL", "50 750 Td"]
        ops += [f"{_pdf_string(line)} Tj T*" for line in lines]
        stream = "\n".join([*ops, "ET"]).encode("cp1252")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    info = ""
    if title is not None:
        objects.append(f"<< /Title {_pdf_string(title)} >>".encode("cp1252"))
        info = f" /Info {len(objects)} 0 R"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\n".encode())
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


PIER_PAGE = [
    "Pier Report",
    "PORT ELLIS (AP) - The town council voted on Tuesday to rebuild the ferry pier that has",
    "stood at the end of Water Street since 1931, ending a long debate about the cost and the",
    "delays that held up the survey during the worst months of the pandemic and the COVID-",
    "19 restrictions. The new pier will cost about $4.2 million, most of it covered by a",
    "state grant.",
    "What happens next",
    "Construction will begin in the autumn and is expected to last for about eighteen mon-",
    "ths while the ferry docks at a temporary landing near the boatyard on the north side.",
    "3",
]
PIER_TEXT = [
    "PORT ELLIS (AP) - The town council voted on Tuesday to rebuild the ferry pier that has stood "
    "at the end of Water Street since 1931, ending a long debate about the cost and the delays "
    "that held up the survey during the worst months of the pandemic and the COVID-19 "
    "restrictions. The new pier will cost about $4.2 million, most of it covered by a state "
    "grant.",
    "What happens next",
    "Construction will begin in the autumn and is expected to last for about eighteen months "
    "while the ferry docks at a temporary landing near the boatyard on the north side.",
]


def test_pdf_lines_are_rejoined_into_paragraphs() -> None:
    doc = extract_pdf(make_pdf([PIER_PAGE], title="Pier Report"), origin="pier.pdf")
    assert doc.title == "Pier Report"
    assert doc.text == "\n\n".join(PIER_TEXT)  # title line, page number dropped
    assert doc.author == "AP"
    assert doc.published_at is None
    assert doc.origin == "pier.pdf"


@pytest.mark.parametrize("title", [None, "Microsoft Word - pier-draft-3.docx", "  "])
def test_pdf_without_a_usable_title(title: str | None) -> None:
    doc = extract_pdf(make_pdf([PIER_PAGE[1:]], title=title))
    assert doc.title is None
    assert doc.text == "\n\n".join(PIER_TEXT)


def test_pdf_paragraph_continues_across_pages_and_running_lines_go() -> None:
    lines = PIER_PAGE[1:-1]
    pages = [
        ["Coastal Ledger - Weekly", *lines[:3], "Page 1 of 3"],
        ["Coastal Ledger - Weekly", *lines[3:6], "Page 2 of 3"],
        ["Coastal Ledger - Weekly", *lines[6:], "Page 3 of 3"],
    ]
    doc = extract_pdf(make_pdf(pages))
    assert doc.text == "\n\n".join(PIER_TEXT)


def _encrypted(user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([PIER_PAGE[1:]]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf_is_refused() -> None:
    with pytest.raises(InputError, match=r"could not read the PDF secret\.pdf.*password"):
        extract_pdf(_encrypted("secret"), origin="secret.pdf")


def test_pdf_with_only_an_owner_password_is_read() -> None:
    assert extract_pdf(_encrypted("")).text == "\n\n".join(PIER_TEXT)


def test_pdf_encrypted_with_an_unsupported_cipher(monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    def needs_cryptography(self: PdfReader, password: str) -> None:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", needs_cryptography)
    with pytest.raises(InputError, match=r"could not read the PDF aes\.pdf: it is encrypted"):
        extract_pdf(_encrypted(""), origin="aes.pdf")


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4\nnot really a pdf", b"hello"])
def test_corrupt_pdf_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError, match=r"could not read the PDF x\.pdf") as excinfo:
        extract_pdf(data, origin="x.pdf")
    assert not isinstance(excinfo.value, NotAnArticleError)


def test_pdf_without_text() -> None:
    with pytest.raises(NotAnArticleError, match=r"scan\.pdf"):
        extract_pdf(make_pdf([[]]), origin="scan.pdf")
