"""Answer composition and its Discord rendering: pure functions, no store, no embedding model.

Composition runs the shipped answer model (its fitted weights are data); ``threshold=0`` where
a test is about which sentences are chosen and how they are cited rather than whether the
evidence answers at all.
"""

from __future__ import annotations

import dataclasses

import discord

from bot.render import answer_embed, cut, hits_embed
from index.models import Answer, AnswerSentence, Citation, Found, Hit, Snippet
from index.search.answer_model import load_model
from index.search.compose import compose as compose_with
from index.search.sentences import FEATURES


def compose(question: str, hits: list[Hit], texts: dict[int, str], model=None, **kw: object):
    """The shipped model (unless another is given), asked undated, quoting any passage of
    similarity 0.3 or more."""
    kw = {"threshold": 0.0, "min_similarity": 0.3, **kw}
    return compose_with(question, hits, texts, model=model or load_model(), as_of=None, **kw)


def headline_first():
    """The shipped model with a strong liking for headlines: how a quoted headline is shown and
    cited, whatever the fitted weights prefer (on the dev set, first sentences beat headlines)."""
    model = load_model()
    weights = model.weights.copy()
    weights[FEATURES.index("headline")] = 10.0
    return dataclasses.replace(model, weights=weights)


TEXT = (
    "The council met on Monday. It approved a new bridge over the river for 40 million euros. "
    "Work starts in May. Critics said the cost was too high.\n\n"
    "In other news, the library will open on Sundays. Its director welcomed the decision."
)


def hit(start: int, end: int, similarity: float, article_id: int = 1) -> Hit:
    return Hit(
        chunk_id=article_id * 10 + start,
        article_id=article_id,
        score=1.0,
        text=TEXT[start:end],
        start=start,
        end=end,
        title="Council news",
        source="Gazette",
        published_at="2023-10-02",
        url="https://example.com/c",
        similarity=similarity,
    )


def whole(body: str, title: str, article_id: int) -> Hit:
    """A hit that is a whole short article, under its headline."""
    return Hit(
        chunk_id=article_id,
        article_id=article_id,
        score=1.0,
        text=body,
        start=0,
        end=len(body),
        title=title,
        source="Daily",
        published_at="2023-10-18",
        url=f"https://example.com/{article_id}",
        similarity=0.6,
    )


def test_answer_sentences_are_cited_and_snippets_are_verbatim():
    para = TEXT.index("\n\n")
    answer = compose("How much will the new bridge cost?", [hit(0, para, 0.7)], {1: TEXT})
    assert answer.found
    assert answer.sentences[0].text == (
        "It approved a new bridge over the river for 40 million euros."
    )
    assert answer.text.startswith(answer.sentences[0].text + " [1]")
    for c in answer.citations:
        assert TEXT[c.start : c.end] == c.snippet
    assert "The council met on Monday." in answer.citations[0].snippet  # context before


def test_weak_evidence_cites_nothing():
    answer = compose("Who won the cup final?", [hit(0, 50, 0.2)], {1: TEXT})
    assert not answer.found and answer.citations == [] and answer.text == ""
    shipped = compose("Who won the cup final?", [hit(0, 50, 0.45)], {1: TEXT}, threshold=None)
    assert not shipped.found and shipped.confidence < load_model().threshold


def test_no_hits_is_not_found():
    assert not compose("anything", [], {}).found


def test_stale_offsets_are_never_cited():
    answer = compose("bridge cost", [hit(0, 80, 0.9)], {1: "something else entirely " * 10})
    assert not answer.found


def test_cut_never_splits_a_word_and_respects_the_limit():
    text = "alpha beta gamma delta epsilon"
    assert cut(text, 100) == text
    out = cut(text, 14)
    assert out == "alpha beta…" and len(out) <= 14
    assert cut("x" * 50, 10) == "…"


def test_answer_embed_stays_within_discord_limits():
    long_snippet = "word " * 900
    citations = [
        Citation(
            n=i,
            article_id=i,
            title="T" * 400,
            source="S" * 300,
            published_at="2023-10-02",
            url="https://example.com/" + "p" * 100,
            snippets=(Snippet(long_snippet, 0, len(long_snippet)),),
        )
        for i in range(1, 31)
    ]
    answer = Answer(
        question="Q" * 300,
        found=True,
        sentences=[AnswerSentence("S " * 3000, (1,))],
        citations=citations,
    )
    embed = answer_embed(answer)
    assert len(embed.title) <= 256 and len(embed.description) <= 4096
    assert len(embed.fields) <= 25
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
    assert len(embed) <= 6000
    snippet_line = embed.fields[0].value.split("\n", 1)[1]
    assert snippet_line.endswith("…”") and snippet_line[1:-2].strip() in long_snippet


def test_not_found_embed_says_how_to_add_articles():
    embed = answer_embed(Answer(question="Q?", found=False))
    assert "couldn't find anything relevant" in embed.description
    assert "/ingest" in embed.description


def test_hits_embed_lists_passages_within_limits():
    hits = [hit(0, len(TEXT), 0.5, article_id=i) for i in range(1, 12)]
    embed = hits_embed("bridge", Found(hits, None, False, "bridge"))
    assert isinstance(embed, discord.Embed)
    assert len(embed.fields) == 10 and len(embed) <= 6000


def test_a_headline_that_names_the_answer_is_quoted_and_cited():
    body = (
        "Customers were told by email on Tuesday, a week before the change takes effect. "
        "Analysts at two banks expect few of them to cancel before the end of the year."
    )
    h = whole(body, "Netflix raises prices for millions of subscribers", 7)
    answer = compose("Which streaming service raised its prices?", [h], {7: body}, headline_first())
    assert answer.sentences[0].headline
    assert answer.text.startswith("“Netflix raises prices for millions of subscribers” [1]")
    citation = answer.citations[0]
    assert citation.title == "Netflix raises prices for millions of subscribers"
    assert body[citation.start : citation.end] == citation.snippet  # still a verbatim snippet
    assert all(s.text in body for s in answer.sentences if not s.headline)


def test_a_quoted_headline_shares_the_citation_of_its_articles_sentence():
    body = (
        "Photos by the agency staff.\n\n"
        "The late-night host has been tapped to host the Academy Awards in March, the Academy "
        "announced on Wednesday. He hosted the Academy Awards three times before."
    )
    h = whole(body, "Jimmy Kimmel set to host the Academy Awards", 3)
    answer = compose(
        "Which comedian will host the Academy Awards?", [h], {3: body}, headline_first()
    )
    assert answer.sentences[0].headline
    assert len(answer.citations) == 1 and all(s.citations == (1,) for s in answer.sentences)
    assert "tapped to host" in answer.citations[0].snippet
    assert "Photos" not in answer.citations[0].snippet  # not the chunk's unrelated first line


def test_a_question_in_the_article_or_its_title_is_never_an_answer_sentence():
    body = (
        "Why do we celebrate Thanksgiving?\n\n"
        "The first Thanksgiving was observed in Plymouth, Massachusetts, in 1621. "
        "A good harvest led the Pilgrims to hold a feast that lasted three days."
    )
    h = whole(body, "When was the first Thanksgiving?", 3)
    answer = compose("Why do we celebrate Thanksgiving?", [h], {3: body})
    assert answer.found
    assert all("?" not in s.text for s in answer.sentences)
    assert answer.sentences[0].text.startswith("The first Thanksgiving was observed")


TENNESSEE_BRIEF = (
    "Tennessee officials are assessing the damage after tornadoes and strong thunderstorms"
    " roared across the state, leaving at least six dead and multiple buildings destroyed."
)
ALABAMA_2019 = (
    "First responders scoured debris Monday searching for missing people after several"
    " tornadoes devastated communities in the Southeast.\n\n"
    "At least 23 people died in one Alabama county, Lee County Sheriff Jay Jones said. Officials"
    " expect the numbers to rise as they assess damage and begin recovery. Lee County Coroner"
    " Bill Harris said that he had to call in help from the state because there were more bodies"
    " than his office could handle.\n\n"
    "“Unfortunately our toll, as far as fatalities, does stand at 23 at the current time,” Jones"
    " told WRBL-TV. He said two people were in intensive care."
)


def dated_hit(text: str, article_id: int, day: str, similarity: float) -> Hit:
    return Hit(
        chunk_id=article_id,
        article_id=article_id,
        score=1.0,
        text=text,
        start=0,
        end=len(text),
        title="Tornadoes",
        source="Daily",
        published_at=day,
        url=f"https://example.com/{article_id}",
        similarity=similarity,
    )


def test_another_states_tornado_is_not_the_storys_earlier_development():
    """A brief on Tennessee's tornadoes names Tennessee once; a 2019 report of Alabama's
    tornadoes matches the question nearly as well but is another story: no "Earlier, on 4 March
    2019: … Alabama …" under Tennessee's answer."""
    question = (
        "Which state was devastated by a series of tornadoes that left more than 35,000"
        " customers without power?"
    )
    hits = [
        dated_hit(TENNESSEE_BRIEF, 1, "2023-12-14", 0.62),
        dated_hit(ALABAMA_2019, 2, "2019-03-04", 0.58),
    ]
    answer = compose_with(
        question,
        hits,
        {1: TENNESSEE_BRIEF, 2: ALABAMA_2019},
        model=load_model(),
        as_of="2023-12-14",
        threshold=0.0,
        min_similarity=0.3,
    )
    assert answer.sentences[0].text == TENNESSEE_BRIEF
    assert "Alabama" not in answer.text and "Earlier" not in answer.text, answer.text
