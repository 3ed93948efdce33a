"""Answers read like a person wrote them, from pages stored the way scrapers leave them.

Service level (real SQLite, FakeEmbedder): the article bodies keep their page debris — photo
captions with credits, "Related:" and "Read more" link lines, list items, a podcast prompt, a
newsletter prompt, a heading — and titles come as sites and scrapers give them. What is
asserted is ``Answer``: the sentences a member reads, their [n] numbers, the quoted passages.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import FAKE_EMBEDDER_BARS, make_service
from index.models import Answer, AnswerSentence, Citation, Document, Snippet
from index.search.retrieve import Filters
from index.search.sentences import FEATURES
from index.service import NewsService

AS_OF = "2023-11-04"  # the day the questions are asked

CAPTION = (
    "Crews repair a power line in Brest, western France, Thursday, Nov. 2, 2023, after Storm"
    " Ciarán left homes in Brittany without power. (AP Photo/Jean-François Badias)"
)
RELATED = "Related: Storm Ciarán: how many homes lost power in Brittany? Here's what we know."
READ_MORE = "Read more: Homes in Brittany lost power as the storm hit. Here is what to do."
HEADING = "Homes That Lost Power In Brittany: Live Map"
ITEM_1 = "1. Homes that lost power should keep freezers shut. Do not open them for a day."
ITEM_2 = "2. Report fallen power lines to Enedis and never touch them."
PODCAST = (
    "Find out more on this week's episode of The Storm Desk. We ask how many homes lost power"
    " in Brittany and when power will return."
)
NEWSLETTER = (
    "Sign up for our Brittany newsletter. Get the storm news that matters to homes in Brittany."
)
DEBRIS = [CAPTION, RELATED, READ_MORE, HEADING, ITEM_1, ITEM_2, PODCAST, NEWSLETTER]

ANSWER = (
    "About 1.2 million homes lost power across Brittany and Normandy, the grid operator Enedis"
    " said on Thursday."
)
RETURN = "Enedis said the last homes in Brittany would get their power back by Sunday."
PROSE = [
    "Storm Ciarán hit Brittany overnight with violent gusts, toppling trees onto roads and power"
    f" lines. {ANSWER}",
    "Schools across Finistère stayed closed on Friday while crews cleared the roads. Trains"
    " between Rennes and Brest were cancelled for a second day.",
    f"{RETURN} The company sent 3,000 technicians from across France to restore power.",
]
# The page as scraped: debris between the paragraphs, several lines of it two sentences long
# (an AP caption ends with its date, then the credit; a prompt, then its pitch).
PROSE_TEXT = "\n\n".join(PROSE)
STORM = "\n\n".join(
    [
        CAPTION,
        RELATED,
        PROSE[0],
        READ_MORE,
        HEADING,
        f"{ITEM_1}\n{ITEM_2}",
        PODCAST,
        PROSE[1],
        NEWSLETTER,
        PROSE[2],
    ]
)
# The same kinds of debris, each one sentence long.
SHORT_DEBRIS = [
    "Photo: crews repair a power line in Brest after homes in Brittany lost power.",
    "Related: How many homes lost power in Brittany, and when will power return?",
    "Read more about the homes in Brittany that lost power in the storm.",
    HEADING,
    "1. Homes that lost power should keep freezers shut.",
    "2. Report fallen power lines to Enedis and never touch them.",
    "Find out more on this week's episode of The Storm Desk about homes that lost power.",
    "Sign up for our newsletter on the homes in Brittany that lost power.",
]
TIDY = "\n\n".join(
    [
        SHORT_DEBRIS[0],
        SHORT_DEBRIS[1],
        PROSE[0],
        SHORT_DEBRIS[2],
        SHORT_DEBRIS[3],
        f"{SHORT_DEBRIS[4]}\n{SHORT_DEBRIS[5]}",
        SHORT_DEBRIS[6],
        PROSE[1],
        SHORT_DEBRIS[7],
        PROSE[2],
    ]
)
# Prose with a heading and a prompt between its paragraphs: the answer to a two-part
# question is in the first paragraph and in the last.
TWO_PARTS = "\n\n".join([PROSE[0], HEADING, PROSE[1], SHORT_DEBRIS[7], PROSE[2]])

HEADLINE = "Storm Ciarán leaves 1.2 million homes in Brittany without power"
TITLES = {
    "headline": HEADLINE,
    "headline with its site": f"{HEADLINE} | Ouest Daily",
    "url slug": "Storm ciaran brittany homes lost power enedis",
    "cut short": "Storm Ciarán: 1.2 million homes in Brittany lost power as the storm...",
    "two stacked": "How many homes lost power in Brittany? When will power come back?",
}
NOT_HEADLINES = ["url slug", "cut short", "two stacked"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[NewsService]:
    with make_service(tmp_path / "data", chunk_tokens=60, **FAKE_EMBEDDER_BARS) as svc:
        yield svc


def storm(title: str = HEADLINE, published_at: str = "2023-11-02", text: str = STORM) -> Document:
    return Document(
        title=title,
        text=text,
        source="Ouest Daily",
        published_at=published_at,
        url="https://ouest.example/storm-ciaran",
        origin="storm.txt",
    )


def ask(service: NewsService, collection: str, question: str, as_of: str = AS_OF) -> Answer:
    answer = service.ask(collection, question, filters=Filters(as_of=as_of))
    assert answer.found, question
    return answer


def assert_verbatim(service: NewsService, answer: Answer) -> None:
    for c in answer.citations:
        stored = service.article("news", c.article_id).text
        for snip in c.snippets:
            assert stored[snip.start : snip.end] == snip.text


def test_one_number_per_article_with_each_passage_verbatim(service):
    service.ingest("news", [storm(text=TWO_PARTS)])
    answer = ask(
        service, "news", "How many homes lost power, and when will the last homes get power back?"
    )
    body = [s for s in answer.sentences if not s.headline]
    assert ANSWER in [s.text for s in body] and RETURN in [s.text for s in body]
    assert [c.n for c in answer.citations] == [1]
    assert all(s.citations == (1,) for s in answer.sentences)
    assert set(re.findall(r"\[(\d+)\]", answer.text)) == {"1"}
    (citation,) = answer.citations
    # Two passages a page apart: two quoted snippets under the one number.
    assert len(citation.snippets) >= 2
    assert any(ANSWER in s.text for s in citation.snippets)
    assert any(RETURN in s.text for s in citation.snippets)
    assert not any(ANSWER in s.text and RETURN in s.text for s in citation.snippets)
    assert_verbatim(service, answer)
    for s in body:
        assert any(s.text in snip.text for snip in citation.snippets), s.text


DEBRIS_QUESTIONS = [
    "How many homes lost power in Brittany?",
    "What happened to homes in Brittany when the storm hit?",
    "Where were crews repairing power lines after Storm Ciarán?",
    "What should homes that lost power do?",
    "When will power return to homes in Brittany?",
]


def assert_no_debris(answer: Answer, debris: list[str]) -> None:
    assert any(s.text in PROSE_TEXT for s in answer.sentences), answer.text
    for s in answer.sentences:
        from_debris = [line for line in debris if s.text in line]
        assert not from_debris, f"{s.text!r} is page debris: {from_debris[0]!r}"


@pytest.mark.parametrize("question", DEBRIS_QUESTIONS)
def test_one_sentence_debris_is_never_an_answer_sentence(service, question):
    """A caption, a link line, a list item, a heading, a prompt: each shares the question's
    words, none is the article speaking, none is given as an answer."""
    service.ingest("news", [storm(title=TITLES["url slug"], text=TIDY)])
    assert_no_debris(ask(service, "news", question), SHORT_DEBRIS)


@pytest.mark.parametrize("question", DEBRIS_QUESTIONS)
def test_no_sentence_of_a_debris_line_is_an_answer_sentence(service, question):
    """Debris as pages have it: an AP caption is a sentence ending in the photo's date, then
    "(AP Photo/…)"; a "Read more:" link is a headline and its pitch; a prompt names the
    podcast or newsletter, then sells it. Every sentence of such a line is debris."""
    service.ingest("news", [storm(title=TITLES["url slug"])])
    assert_no_debris(ask(service, "news", question), DEBRIS)


@pytest.mark.parametrize("kind", NOT_HEADLINES)
def test_a_title_that_is_no_headline_is_never_quoted(service, kind):
    title = TITLES[kind]
    service.ingest(kind, [storm(title=title)])
    for question in (
        "How many homes lost power in Brittany?",
        "When will power come back to homes in Brittany?",
    ):
        answer = ask(service, kind, question)
        assert not any(s.headline for s in answer.sentences), answer.text
        assert title not in answer.text
        assert "“" not in answer.text  # nothing is quoted as a headline


def headline_first(service: NewsService) -> None:
    """The service's answer model with a strong liking for headlines: how a quoted headline is
    shown, whatever the fitted weights prefer (on the dev set, first sentences beat them)."""
    model = service.answers.policy.model
    weights = model.weights.copy()
    weights[FEATURES.index("headline")] = 10.0
    service.answers.policy._model = dataclasses.replace(model, weights=weights)


@pytest.mark.parametrize("kind", ["headline", "headline with its site"])
def test_a_proper_headline_can_be_quoted_without_its_site(service, kind):
    service.ingest(kind, [storm(title=TITLES[kind])])
    headline_first(service)
    answer = ask(service, kind, "How many homes lost power in Brittany?")
    quoted = [s for s in answer.sentences if s.headline]
    assert [s.text for s in quoted] == [HEADLINE]
    assert f"“{HEADLINE}” [1]" in answer.text
    assert "Ouest Daily" not in answer.text
    assert answer.citations[0].title == TITLES[kind]  # the source line keeps the page's title


def test_the_answering_sentence_comes_first(service):
    """The lead sentence says the storm hit Brittany and power lines fell (as many of the
    question's words as the answer holds); the number asked for comes in the next sentence,
    and that one opens the answer."""
    service.ingest("news", [storm(title=TITLES["url slug"], text=TIDY)])
    answer = ask(service, "news", "How many homes lost power when the storm hit Brittany?")
    lead = PROSE[0].removesuffix(f" {ANSWER}")
    assert lead in answer.citations[0].snippet  # it was there to be chosen
    assert answer.sentences[0].text == ANSWER
    assert answer.text.startswith(f"{ANSWER} [1]")


OLD_STORM = Document(
    title="Spring storm cuts power to Brittany homes",
    text=(
        "A spring storm cut power to 90,000 homes in Brittany on Saturday, Enedis said. "
        "Most homes had power again by Monday.\n\nThe storm also closed the port of Brest."
    ),
    source="Ouest Daily",
    published_at="2023-04-15",
    url="https://ouest.example/spring-storm",
    origin="old.txt",
)


def test_an_answer_from_old_news_says_how_old_and_recent_news_is_not_marked(service):
    service.ingest("news", [storm(title=TITLES["url slug"], text=TIDY), OLD_STORM])
    recent = ask(service, "news", "How many homes in Brittany lost power in the storm?")
    assert not recent.lead and "(2 Nov 2023)" not in recent.text
    assert {c.published_at for c in recent.citations} == {"2023-11-02"}
    old = ask(service, "news", "Did the spring storm close the port of Brest?")
    assert old.citations[0].published_at == "2023-04-15"
    assert old.text.startswith("The latest I have on this is from 15 April 2023:")
    assert "(15 Apr 2023)" not in old.text  # the lead said it


def test_background_from_earlier_in_the_story_says_when():
    """A newer article leads; an earlier one on the same story follows with its date, said
    once, before its sentence; a further sentence of the lead's article is not marked."""
    cite = [
        Citation(n, n, "t", "s", day, None, (Snippet("x", 0, 1),))
        for n, day in ((1, "2023-11-02"), (2, "2023-04-15"))
    ]
    answer = Answer(
        question="q",
        found=True,
        sentences=[
            AnswerSentence("The port reopened on Thursday.", (1,), published_at="2023-11-02"),
            AnswerSentence(
                "The port closed in the storm.",
                (2,),
                published_at="2023-04-15",
                dated=True,
                earlier=True,
            ),
            AnswerSentence("Ferries run again.", (1,), published_at="2023-11-02"),
        ],
        citations=cite,
        as_of=AS_OF,
    )
    assert answer.text == (
        "The port reopened on Thursday. [1] Earlier, on 15 April 2023: The port closed in the"
        " storm. [2] Ferries run again. [1]"
    )
