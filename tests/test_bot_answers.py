"""Answers that lead with the answer (issue 18), as members meet them: /ask through the fake
Discord with the real client, and ``newsbot ask`` as a real process, on the real model and the
shipped answer settings (whether to answer at all is what is tested, so no test bars).

A story that moved on opens with its latest development and gives the earlier one after it,
dated; an old article that answers squarely is given with its date; a fresh story about
something else never takes the lead; a question on a subject the server lacks is refused.
Articles are dated relative to today (UTC, the interaction's own date), and every answered
embed is checked the same way: each sentence is cited and verbatim in the article its number
names, each quoted passage is verbatim, and nothing quoted is live markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from discord_markup import only_text, shown

from bot.client import NewsBot
from bot_helpers import (
    add,
    days_ago,
    guild_discord,
    ingest_by_cli,
    long_date,
    newsbot,
    reply_embed,
    running_bot,
)
from fakediscord import FakeDiscord
from helpers import make_service
from index.models import Document
from index.search.embed import Embedder
from index.service import NewsService

pytestmark = [pytest.mark.model, pytest.mark.timeout(120)]

NOTHING = "couldn't find anything relevant"


# -- the news ---------------------------------------------------------------------------------
BRIDGE_APPROVED = Document(
    title="Port Alden council approves Harbor Bridge plan",
    text=(
        "The Port Alden city council decided on Tuesday to approve the Harbor Bridge plan, "
        "clearing the way for a new crossing over the mouth of the harbor. Councillors voted 7-2 "
        "in favor after a four-hour meeting that ran past midnight.\n\n"
        "The Harbor Bridge plan calls for a four-lane span linking the old port district with the "
        "northern suburbs. City engineers put its cost at $240 million, most of it to be covered "
        "by state and federal grants.\n\n"
        "Mayor Ellen Ruiz said the council's decision ended two decades of argument over the "
        "crossing. “This bridge will change how Port Alden lives and works,” she told reporters "
        "after the vote.\n\n"
        "Opponents of the Harbor Bridge plan warned that the cost estimate was too optimistic. "
        "The two councillors who voted against it said the city should first repair the roads "
        "it already has.\n\n"
        "Construction is expected to begin within two years, once the final design is approved "
        "by the state transport department."
    ),
    source="Port Alden Gazette",
    published_at=days_ago(3 * 365 + 12),
    origin="bridge-approved",
)
BRIDGE_CANCELLED = Document(
    title="Port Alden council cancels Harbor Bridge plan as costs soar",
    text=(
        "The Port Alden council voted on Monday to cancel the Harbor Bridge plan, after the "
        "estimated cost of the crossing nearly doubled. The 6-3 vote ends a project the city "
        "had worked on for more than three years.\n\n"
        "Councillors said the budget had grown from $240 million to more than $450 million as "
        "steel and labor prices rose. The money already set aside will go to road repairs and "
        "a new ferry service across the harbor instead.\n\n"
        "Residents who had campaigned for the bridge said they were bitterly disappointed. "
        "Mayor Ellen Ruiz said the city could not justify the expense."
    ),
    source="Coastal Herald",
    published_at=days_ago(2),
    origin="bridge-cancelled",
)
BRIDGE_QUESTION = "What did the Port Alden council decide about the Harbor Bridge plan?"

POOL = Document(
    title="Northvale council votes to close the public pool",
    text=(
        "The Northvale town council voted 5-2 on Tuesday to close the public pool at Riverside "
        "Park at the end of the summer season. Council members said the pool, built in 1964, "
        "needed repairs costing $3.1 million that the town could not afford.\n\n"
        "The pool has lost money for six straight years, according to a report by the town's "
        "finance director. Attendance fell to about 14,000 visits last summer, down from more "
        "than 30,000 a decade ago.\n\n"
        "Dozens of residents spoke against the closure at Tuesday's meeting. “Generations of "
        "kids learned to swim there,” said Maria Chen, who delivered a petition with 2,000 "
        "signatures.\n\n"
        "The council said it would study building a smaller splash pad on the site."
    ),
    source="Northvale Courier",
    published_at=days_ago(213),  # seven months before the question
    origin="northvale-pool",
)
POOL_QUESTION = "What did the Northvale council decide about the public pool?"
POOL_VOTE = POOL.text.split(". ")[0] + "."  # "The Northvale town council voted 5-2 …"

EASTON_POOL = Document(
    title="Easton council votes to keep its pool open",
    text=(
        "The Easton council voted to keep its pool open for another summer, rejecting a proposal "
        "to close it to save money. The 6-1 vote came after a packed hearing on Monday night.\n\n"
        "Easton's pool, built in 1978, will need about $400,000 in repairs before it opens in "
        "June. Council members said they would pay for the work from the town's reserve fund.\n\n"
        "“The pool is the heart of our summer,” said councillor Dana Brooks, who proposed the "
        "motion to keep it open."
    ),
    source="Easton Ledger",
    published_at=days_ago(1),
    origin="easton-pool",
)

# Recent news on other subjects: the server is a live one, not an archive.
STORM = Document(
    title="Storm knocks out power to thousands along the coast",
    text=(
        "A winter storm brought gusts of up to 70 miles per hour to the coast on Sunday, "
        "knocking out power to about 38,000 homes. Utility crews worked through the night to "
        "clear fallen lines.\n\n"
        "Most customers had their power back by Monday afternoon, the utility said. Schools in "
        "three districts closed for the day.\n\n"
        "Forecasters expect calmer weather for the rest of the week."
    ),
    source="Coastal Herald",
    published_at=days_ago(3),
    origin="storm",
)
BAKERY = Document(
    title="Family bakery wins national bread award",
    text=(
        "A family bakery on Main Street has won first prize in the national sourdough "
        "championship, beating more than 400 entries. Owners Tom and Rosa Alvarez have run the "
        "bakery for 22 years.\n\n"
        "The judges praised the loaf's crust and its slow-fermented crumb. The couple said they "
        "would spend the prize money on a second oven.\n\n"
        "Customers lined up around the block on Saturday to buy the winning bread."
    ),
    source="Valley Times",
    published_at=days_ago(5),
    origin="bakery",
)
SCHOOLS = Document(
    title="Lawmakers pass school funding bill",
    text=(
        "State lawmakers passed a bill on Thursday that raises school funding by $1.2 billion "
        "over the next two years. The measure passed the Senate 31-19 after a long debate.\n\n"
        "Most of the new money will go to teacher salaries and to schools in rural districts. "
        "The governor is expected to sign the bill next week.\n\n"
        "Republicans said the state could not afford the increase."
    ),
    source="State Wire",
    published_at=days_ago(8),
    origin="schools",
)

# Old news on other subjects: a server whose news stopped months ago.
HOSPITAL = Document(
    title="Hospital opens new cancer treatment wing",
    text=(
        "St. Mary's Hospital opened a new cancer treatment wing on Wednesday, doubling the "
        "number of patients it can treat each day. The $85 million wing has 40 treatment rooms "
        "and two radiation machines.\n\n"
        "Patients from across the region had previously traveled hours for radiation therapy. "
        "Hospital officials said the wing would create 120 jobs.\n\n"
        "The project was paid for largely by private donations."
    ),
    source="Valley Times",
    published_at=days_ago(410),
    origin="hospital",
)
AIRPORT = Document(
    title="Regional airport adds daily flights to the capital",
    text=(
        "Redfield Regional Airport will add three daily flights to the capital starting in "
        "March, the airport's director announced on Friday. The new service will be run by "
        "SkyLink Airways on 76-seat jets.\n\n"
        "The airport handled about 210,000 passengers last year, its busiest year yet. Local "
        "business groups had lobbied for the flights for years.\n\n"
        "Tickets go on sale next month."
    ),
    source="Redfield Post",
    published_at=days_ago(230),
    origin="airport",
)
HARVEST = Document(
    title="Orchard growers report record apple harvest",
    text=(
        "Apple growers in the Mill Valley picked a record 2.4 million bushels this season, the "
        "growers' association said on Monday. Warm spring weather and a late frost-free autumn "
        "helped the crop.\n\n"
        "Prices fell as a result, and some growers said they would leave fruit unpicked. The "
        "association expects exports to rise by a fifth.\n\n"
        "Cider makers said they would buy much of the surplus."
    ),
    source="Farm Journal",
    published_at=days_ago(330),
    origin="harvest",
)
# Subjects none of the old articles is about.
UNHELD = [
    "Why was the football stadium renovation delayed?",
    "What did the school board decide about teacher pay?",
]
AIRPORT_QUESTION = "How many daily flights will Redfield Regional Airport add to the capital?"


# -- the bot ----------------------------------------------------------------------------------
@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with guild_discord() as server:
        yield server


@pytest.fixture
def service(tmp_path: Path, real_embedder: Embedder) -> Iterator[NewsService]:
    """The shipped settings on the real model: the answer model decides what is answered."""
    with make_service(tmp_path / "data", real_embedder) as svc:
        yield svc


@pytest.fixture
async def bot(fake: FakeDiscord, service: NewsService) -> AsyncIterator[NewsBot]:
    async with running_bot(fake, service) as client:
        yield client


async def ask(fake: FakeDiscord, question: str) -> dict:
    """A member runs /ask; the embed of the bot's final reply."""
    return await reply_embed(fake, "ask", question=question)


# -- reading an answer as a member does -------------------------------------------------------
@dataclass(frozen=True)
class Said:
    """One sentence of an answer: its text as shown, the article its number names, and the
    date it was introduced with ("Earlier, on 2 March 2023: …"), if any."""

    text: str
    n: int
    doc: Document
    earlier: str | None


# A sentence, its [n] markers, and the short date shown after them when it is old news.
SENTENCE = re.compile(r"(.+?) ((?:\[\d+\])+)(?: \(\d{1,2} [A-Z][a-z]{2} \d{4}\))?(?: |$)")
EARLIER = re.compile(r"^Earlier, on (\d{1,2} [A-Z][a-z]+ \d{4}): ")


def flat(text: str) -> str:
    return " ".join(text.split())


def read_answer(embed: dict, docs: list[Document]) -> tuple[str, list[Said]]:
    """The answer's bold lead ("" when none) and its sentences, after checking what a member
    must be able to trust: nothing quoted is live, every sentence carries a citation whose
    article holds it word for word, and every quoted passage is the article's own words."""
    only_text({"embeds": [embed]})
    by_n: dict[int, Document] = {}
    for f in embed["fields"]:
        n = int(re.match(r"\[(\d+)\] ", f["name"])[1])
        head, *passages = f["value"].split("\n")
        doc = next(d for d in docs if shown(head) == f"**{d.title}**")
        assert doc.published_at in f["name"] and doc.source in f["name"], f
        for p in passages:
            quoted = shown(p)
            assert quoted.startswith("“") and quoted.endswith("”"), p
            for piece in quoted[1:-1].split("…"):  # a cut passage ends (or starts) with "…"
                assert flat(piece) in flat(doc.text), (piece, doc.title)
        by_n[n] = doc
    assert sorted(by_n) == list(range(1, len(by_n) + 1)), by_n
    description = embed["description"]
    lead = ""
    if description.startswith("**"):
        bold, description = description[2:].split("**\n", 1)
        lead = shown(bold)
    body = shown(description)
    said = []
    pos = 0
    for m in SENTENCE.finditer(body):
        assert m.start() == pos, f"uncited text {body[pos : m.start()]!r} in {body!r}"
        pos = m.end()
        text, marks = m[1], [int(x) for x in re.findall(r"\d+", m[2])]
        earlier = EARLIER.match(text)
        if earlier:
            text = text[earlier.end() :]
        doc = by_n[marks[0]]
        if text.startswith("“") and text.endswith("”"):  # a quoted headline
            assert text[1:-1] == doc.title, text
        else:
            assert text in doc.text, (text, doc.title)
        said.append(Said(text, marks[0], doc, earlier[1] if earlier else None))
    assert pos == len(body) and said, f"uncited text {body[pos:]!r} in {body!r}"
    return lead, said


# -- a story that moved on --------------------------------------------------------------------
async def test_a_story_that_moved_on_opens_with_its_latest_development(fake, bot, service):
    await add(service, BRIDGE_APPROVED, BRIDGE_CANCELLED, STORM, BAKERY)
    embed = await ask(fake, BRIDGE_QUESTION)
    lead, said = read_answer(embed, [BRIDGE_APPROVED, BRIDGE_CANCELLED, STORM, BAKERY])
    assert lead == "", "recent news needs no lead"
    first = said[0]
    assert first.n == 1 and first.doc is BRIDGE_CANCELLED and first.earlier is None, said
    assert "cancel" in first.text, first.text
    assert embed["fields"][0]["name"] == (
        f"[1] {BRIDGE_CANCELLED.source} · {BRIDGE_CANCELLED.published_at}"
    )
    # The cancellation is two days old: it is not dated as old news.
    assert not embed["description"].split("[1]", 1)[1].startswith(" (")
    # Nothing about the storm or the bakery answers a question about the bridge.
    assert {s.doc.origin for s in said} <= {BRIDGE_APPROVED.origin, BRIDGE_CANCELLED.origin}


async def test_the_earlier_development_follows_with_its_date(fake, bot, service):
    await add(service, BRIDGE_APPROVED, BRIDGE_CANCELLED, STORM, BAKERY)
    embed = await ask(fake, BRIDGE_QUESTION)
    lead, said = read_answer(embed, [BRIDGE_APPROVED, BRIDGE_CANCELLED, STORM, BAKERY])
    assert lead == "" and said[0].doc is BRIDGE_CANCELLED
    background = [s for s in said if s.doc is BRIDGE_APPROVED]
    assert background, f"the approval is missing: {embed['description']!r}"
    # It comes after the cancellation, introduced with its date, under a number of its own.
    assert background[0].earlier == long_date(BRIDGE_APPROVED.published_at), said
    assert background[0].n != 1 and said.index(background[0]) > 0
    assert "approve" in background[0].text, background[0].text
    assert embed["fields"][background[0].n - 1]["name"] == (
        f"[{background[0].n}] {BRIDGE_APPROVED.source} · {BRIDGE_APPROVED.published_at}"
    )


# -- old news that answers --------------------------------------------------------------------
async def test_an_old_article_that_answers_squarely_is_given_with_its_date(fake, bot, service):
    await add(service, POOL, STORM, BAKERY, SCHOOLS)
    embed = await ask(fake, POOL_QUESTION)
    assert NOTHING not in embed["description"], embed["description"]
    lead, said = read_answer(embed, [POOL, STORM, BAKERY, SCHOOLS])
    assert lead == f"The latest I have on this is from {long_date(POOL.published_at)}:"
    assert said[0].doc is POOL and said[0].n == 1
    assert POOL_VOTE in [s.text for s in said], said
    assert all(s.doc is POOL for s in said), said  # the week's other news is not the answer


async def test_a_fresh_story_about_another_town_does_not_take_the_lead(fake, bot, service):
    """Asked about Northvale's pool, a member wants Northvale's decision, said as the seven
    months old news it is: not yesterday's vote in Easton, and not Northvale's vote turned
    into "earlier" background of a story about another town."""
    await add(service, POOL, EASTON_POOL, STORM, BAKERY)
    embed = await ask(fake, POOL_QUESTION)
    assert NOTHING not in embed["description"], embed["description"]
    lead, said = read_answer(embed, [POOL, EASTON_POOL, STORM, BAKERY])
    assert said[0].text == POOL_VOTE and said[0].n == 1, embed["description"]
    assert "Earlier" not in embed["description"], embed["description"]
    assert all(s.doc is POOL for s in said), embed["description"]
    assert "Easton" not in json.dumps(embed), embed
    # Northvale's is the latest news on this: the answer says how old it is.
    assert lead == f"The latest I have on this is from {long_date(POOL.published_at)}:"


# -- a subject the server lacks ---------------------------------------------------------------
async def test_old_news_on_other_subjects_is_refused_and_its_own_subject_answered(
    fake, bot, service
):
    await add(service, HOSPITAL, AIRPORT, HARVEST)
    for question in UNHELD:
        embed = await ask(fake, question)
        assert NOTHING in embed["description"], (question, embed["description"])
        assert not embed.get("fields"), (question, embed["fields"])

    embed = await ask(fake, AIRPORT_QUESTION)
    lead, said = read_answer(embed, [HOSPITAL, AIRPORT, HARVEST])
    assert lead == f"The latest I have on this is from {long_date(AIRPORT.published_at)}:"
    assert said[0].doc is AIRPORT and said[0].n == 1
    assert "three daily flights" in said[0].text, said[0].text
    assert all(s.doc is AIRPORT for s in said), said


# -- the command line -------------------------------------------------------------------------
CLI_POOL_DAY = "2024-03-12"
CLI_ASKED = "2024-10-12"  # seven months later
CLI_NEWS = [
    Document(
        title=d.title,
        text=d.text,
        source=d.source,
        published_at=day,
        origin=d.origin,
    )
    for d, day in [
        (POOL, CLI_POOL_DAY),
        (HOSPITAL, "2023-09-20"),
        (AIRPORT, "2024-02-02"),
        (HARVEST, "2023-11-06"),
    ]
]


def test_newsbot_ask_refuses_an_unheld_subject_and_dates_an_old_answer(
    tmp_path: Path, real_embedder: Embedder, model_cache: Path
):
    data = tmp_path / "data"
    ingest_by_cli(data, model_cache, CLI_NEWS)

    for args in ([], ["--as-of", CLI_ASKED]):
        refused = newsbot(data, model_cache, "ask", UNHELD[0], "--json", *args)
        assert refused.returncode == 0, refused.stderr
        out = json.loads(refused.stdout)
        assert out["found"] is False, out
        assert out["sentences"] == [] and out["citations"] == [] and out["evidence_date"] is None

    asked = newsbot(data, model_cache, "ask", POOL_QUESTION, "--json", "--as-of", CLI_ASKED)
    assert asked.returncode == 0, asked.stderr
    out = json.loads(asked.stdout)
    assert out["found"] is True, out
    assert out["stale"] is True and out["evidence_date"] == CLI_POOL_DAY, out
    assert out["as_of"] == CLI_ASKED
    assert out["answer"].startswith(f"The latest I have on this is from {long_date(CLI_POOL_DAY)}:")
    pool = CLI_NEWS[0]
    assert out["sentences"][0]["text"] == POOL_VOTE, out["sentences"]
    assert [c["title"] for c in out["citations"]] == [pool.title]
    assert out["citations"][0]["published_at"] == CLI_POOL_DAY
    for s in out["sentences"]:
        assert s["citations"] == [1] and s["text"] in pool.text, s
    for snippet in out["citations"][0]["snippets"]:
        assert pool.text[snippet["start"] : snippet["end"]] == snippet["text"], snippet
