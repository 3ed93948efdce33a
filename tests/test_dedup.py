"""Near-duplicate detection: re-published wire copy matches, different stories do not.

The texts below are written for these tests (fictional events), so they can live in the repo.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from index.ingest import minhash as dedup

EVAL_CORPUS = Path("/work/shared/eval/realtimeqa-2023q4/corpus-small.jsonl")
REPO = Path(__file__).resolve().parent.parent

HEADLINE = "Transit board votes to bring back overnight buses after three-year pause"
DATELINE = "HARBOR CITY (AP) — "
PARAGRAPHS = [
    "The regional transit board voted 7-2 on Tuesday to restore overnight bus service on six "
    "routes starting in March, reversing a cut made three years ago when ridership collapsed and "
    "the agency could not hire enough drivers to cover late shifts.",
    "Board chair Lorena Whitfield said the decision was overdue. “Nurses, bakers, janitors and "
    "warehouse crews never stopped working at night,” she said. “We stopped showing up for them, "
    "and it’s time we fixed that.”",
    "The restored routes will run every 30 minutes between midnight and 5 a.m., connecting the "
    "downtown terminal with the two largest hospitals, the airport cargo district and the "
    "industrial park along the east side of the river. Officials estimate the service will cost "
    "about $4.2 million a year, most of it for driver wages and overtime.",
    "Money for the first year will come from a state grant approved last spring and from savings "
    "the agency expects after it retires forty of its oldest diesel buses. The board did not say "
    "how it would pay for the service after the grant runs out, and two members who voted no "
    "argued that the plan leaned too heavily on one-time funds.",
    "“I want these buses on the road as much as anyone does,” said board member Dwight Okafor, "
    "who cast one of the dissenting votes. “But if we can’t keep them running in year two, we "
    "will have made a promise to night workers that we had no way to keep.”",
    "Union leaders representing the agency’s drivers welcomed the vote but warned that staffing "
    "remains thin. The agency has hired 112 drivers since January, yet still has about 60 open "
    "positions, according to figures presented at the meeting. Managers said a new signing "
    "bonus and a shorter training course have helped, and that they expect to fill the night "
    "shifts by February.",
    "Transit advocates noted that the region is one of the few of its size without any "
    "overnight service at all. A study commissioned by the agency last year found that roughly "
    "9,000 people regularly travel between midnight and 5 a.m., and that about a third of them "
    "do not own a car. The study recommended starting with the hospital and airport corridors, "
    "which is what the board approved.",
    "Riders who spoke during the public comment period described walking for miles or paying for "
    "rides they could not afford after the night routes were cut. One hospital cafeteria worker "
    "said she had slept in her car twice last winter rather than make the trip home at 2 a.m.",
    "The board will review ridership on the restored routes after six months and decide in the "
    "fall whether to add weekend frequency or extend service to the northern suburbs, where "
    "several distribution centers opened this year.",
]


def story(
    headline: str = HEADLINE,
    dateline: str = DATELINE,
    paragraphs: list[str] = PARAGRAPHS,
    related: str | None = None,
) -> str:
    """The wire story as one site would publish it."""
    body = list(paragraphs)
    body[0] = dateline + body[0]
    if related:
        body.insert(3, related)
    return "\n\n".join([headline, *body])


def straight_quotes(text: str) -> str:
    return text.replace("“", '"').replace("”", '"').replace("’", "'")


ORIGINAL = story()
VARIANTS = {
    "headline": story(headline="Late-night bus routes return in March, board decides"),
    "dateline": story(dateline="HARBOR CITY — "),
    "related": story(related="Related: Agency unveils new fare cards for students and seniors"),
    "quotes": straight_quotes(ORIGINAL),
    "last paragraph dropped": story(paragraphs=PARAGRAPHS[:-1]),
    "all at once": straight_quotes(
        story(
            headline="Overnight service is coming back to six bus routes",
            dateline="Harbor City, (Reuters) - ",
            paragraphs=PARAGRAPHS[:-1],
            related="Related: What the new transit budget means for commuters",
        )
    ),
}

HURRICANE_A = """Hurricane Calloway strengthened to a Category 3 storm overnight and was expected to
make landfall near Port Sable early Thursday, forecasters said, as officials ordered residents of
low-lying neighborhoods to leave before tropical-storm-force winds arrive on Wednesday evening.

The storm was moving north at 12 mph with maximum sustained winds of 115 mph, according to the
National Hurricane Center, which warned of a storm surge of up to 10 feet along the bay. Forecasters
said warm water in the gulf could let it grow stronger before it reaches the coast.

Governor Ruth Abernathy activated 2,000 National Guard troops and opened 40 shelters across nine
counties. Schools in the coastal districts will be closed through Friday. Gas stations along the
main evacuation highway reported long lines and some ran out of fuel by midafternoon.

"If you were told to go, go now," the governor said at a briefing in the state capital. "Do not
wait to see what the storm does, because by then the roads will be flooded and rescuers will not be
able to reach you."""

HURRICANE_B = """Three days after Hurricane Calloway tore through Port Sable, thousands of families
are still without power or clean water, and many are returning to find their homes filled with mud
and their belongings ruined.

Utility crews from eleven states have restored electricity to about half of the 380,000 customers
who lost it, the power company said Sunday, but warned that some rural areas could stay dark for
two more weeks because entire stretches of transmission line were knocked down.

At a church parking lot on the east side of town, volunteers handed out bottled water, diapers and
hot meals from a food truck. Marisa Delgado, who has lived in the neighborhood for 30 years, said
the water rose to the top of her kitchen counters. "Everything we own was on the ground floor,"
she said. "We saved the photo albums and the dog. That's it."

Federal emergency officials opened two disaster recovery centers on Saturday, and the governor
asked for a major disaster declaration covering nine counties. Insurance adjusters have begun
arriving, though many residents said they did not carry flood coverage."""


def shares_band(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the two signatures would meet in some ``minhash_bands`` bucket."""
    return bool(set(enumerate(dedup.band_keys(a))) & set(enumerate(dedup.band_keys(b))))


def exact_jaccard(a: str, b: str) -> float:
    sa, sb = dedup.shingles(a), dedup.shingles(b)
    return len(sa & sb) / len(sa | sb)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_republished_wire_story_is_a_near_duplicate(name: str) -> None:
    variant = VARIANTS[name]
    a, b = dedup.signature(ORIGINAL), dedup.signature(variant)
    assert exact_jaccard(ORIGINAL, variant) >= 0.8
    assert dedup.similarity(a, b) >= dedup.NEAR_DUPLICATE
    assert shares_band(a, b)


def test_different_stories_on_the_same_hurricane_are_not_duplicates() -> None:
    a, b = dedup.signature(HURRICANE_A), dedup.signature(HURRICANE_B)
    assert dedup.similarity(a, b) < 0.5
    assert exact_jaccard(HURRICANE_A, HURRICANE_B) < 0.1
    for text in (HURRICANE_A, HURRICANE_B):
        assert dedup.similarity(dedup.signature(text), dedup.signature(ORIGINAL)) < 0.1


def test_normalization_ignores_case_punctuation_quotes_and_spacing() -> None:
    def loose(text: str) -> str:
        return dedup.normalize(text, loose=True)

    assert loose("“Don’t  STOP,”\nshe said — twice!") == "dont stop she said twice"
    assert loose("don't") == loose("DON’T") == "dont"
    assert loose("a\u2060b c\u00a0d") == "ab c d"  # word joiner, no-break space
    assert dedup.shingles("One two, three four five six.") == dedup.shingles(
        "ONE TWO THREE\n\nfour   five -- six"
    )
    assert len(dedup.shingles("one two three four five six")) == 2


def test_shingles_are_64_bit_and_stable() -> None:
    hashes = dedup.shingles(ORIGINAL)
    words = dedup.normalize(ORIGINAL, loose=True).split()
    assert len(hashes) == len({tuple(words[i : i + 5]) for i in range(len(words) - 4)})
    assert all(0 <= h < 2**64 for h in hashes)
    assert dedup.shingles(ORIGINAL) == hashes


def test_signature_is_deterministic_within_and_across_processes() -> None:
    sig = dedup.signature(ORIGINAL)
    assert sig.shape == (dedup.NUM_PERM,)
    assert sig.dtype == np.uint32
    assert np.array_equal(sig, dedup.signature(ORIGINAL))
    code = (
        "import sys; from index.ingest import minhash as dedup;"
        " s = dedup.signature(sys.stdin.read());"
        "print(dedup.to_blob(s).hex(), *dedup.band_keys(s))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=ORIGINAL,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    ).stdout
    assert out.split() == [dedup.to_blob(sig).hex(), *map(str, dedup.band_keys(sig))]


def test_signature_values_are_pinned() -> None:
    """Signatures and band keys are persisted: any change to hashing must be deliberate."""
    sig = dedup.signature("the quick brown fox jumps over the lazy dog")
    assert sig[:4].tolist() == [489044954, 1486942056, 597476852, 49955569]
    assert dedup.band_keys(sig)[0] == 1113399709506191412


def test_vectorized_signature_matches_a_plain_reference() -> None:
    """The blocked numpy min equals minhash computed one shingle at a time (incl. > 1 block)."""
    words = [f"w{i % 997}x{i % 13}" for i in range(dedup._BLOCK + 500)]
    text = " ".join(words)
    hashes = [h >> 32 for h in dedup.shingle_hashes(text).tolist()]
    sig = dedup.signature(text)
    mask = 2**64 - 1
    for i in range(0, dedup.NUM_PERM, 9):
        a, b = int(dedup._A[i, 0]), int(dedup._B[i, 0])
        assert sig[i] == min(((a * x + b) & mask) >> 32 for x in hashes)


def test_estimate_tracks_exact_jaccard() -> None:
    """Unbiased within sampling error: std is sqrt(J(1-J)/128) <= 0.045 per pair."""
    words = " ".join(PARAGRAPHS * 3).split()
    errors = []
    for keep in range(len(words) // 5, len(words), 37):
        a, b = " ".join(words), " ".join(words[:keep])
        estimate = dedup.similarity(dedup.signature(a), dedup.signature(b))
        errors.append(estimate - exact_jaccard(a, b))
    errors_arr = np.array(errors)
    assert np.abs(errors_arr).max() < 0.15
    assert abs(errors_arr.mean()) < 0.03


def test_lsh_parameters_separate_duplicates_from_unrelated() -> None:
    assert dedup.BANDS * dedup.ROWS <= dedup.NUM_PERM
    assert dedup.candidate_probability(0.8) > 0.99
    assert dedup.candidate_probability(0.3) < 0.05
    assert dedup.candidate_probability(0.137) < 0.001


def test_band_keys_fit_sqlite_integer_and_depend_on_band_index() -> None:
    keys = dedup.band_keys(dedup.signature(ORIGINAL))
    assert len(keys) == dedup.BANDS
    assert all(isinstance(k, int) and 0 <= k < 2**63 for k in keys)
    flat = np.zeros(dedup.NUM_PERM, dtype=np.uint32)  # identical rows in every band
    assert len(set(dedup.band_keys(flat))) == dedup.BANDS
    with pytest.raises(ValueError):
        dedup.band_keys(np.zeros(dedup.NUM_PERM - 1, dtype=np.uint32))


def test_blob_round_trip() -> None:
    sig = dedup.signature(ORIGINAL)
    blob = dedup.to_blob(sig)
    assert isinstance(blob, bytes)
    assert len(blob) == dedup.NUM_PERM * 4
    back = dedup.from_blob(blob)
    assert back.dtype == np.uint32
    assert np.array_equal(back, sig)
    back[0] ^= 1  # a writable copy, not a view of the bytes
    assert dedup.band_keys(dedup.from_blob(blob)) == dedup.band_keys(sig)
    with pytest.raises(ValueError):
        dedup.from_blob(blob[:-4])
    with pytest.raises(ValueError):
        dedup.to_blob(sig[:-1])


@pytest.mark.parametrize("text", ["", "   ", "—!?", "\n\n"])
def test_empty_text_gets_a_signature_that_matches_nothing(text: str) -> None:
    sig = dedup.signature(text)
    assert sig.shape == (dedup.NUM_PERM,)
    assert dedup.shingles(text) == set()
    assert dedup.similarity(sig, dedup.signature("")) == 0.0
    assert dedup.similarity(sig, dedup.signature(ORIGINAL)) == 0.0
    assert len(dedup.band_keys(sig)) == dedup.BANDS
    assert np.array_equal(dedup.from_blob(dedup.to_blob(sig)), sig)


def test_short_text_is_one_shingle() -> None:
    assert len(dedup.shingles("Breaking news")) == 1
    a, b = dedup.signature("Breaking news!"), dedup.signature("breaking   NEWS")
    assert dedup.similarity(a, b) == 1.0
    assert shares_band(a, b)
    c = dedup.signature("Breaking news update")
    assert dedup.similarity(a, c) < 0.1


def test_similarity_rejects_mismatched_signatures() -> None:
    with pytest.raises(ValueError):
        dedup.similarity(np.zeros(4, dtype=np.uint32), np.zeros(5, dtype=np.uint32))


@pytest.mark.skipif(not EVAL_CORPUS.exists(), reason="eval corpus not available")
def test_few_false_candidates_and_no_false_duplicates_on_real_news() -> None:
    """300 real articles (44,850 pairs): band collisions are rare and every flagged pair is a
    true near-duplicate by exact shingle Jaccard; every exact near-duplicate is found."""
    rows = [json.loads(line) for line in EVAL_CORPUS.read_text(encoding="utf-8").splitlines()]
    sample = random.Random(0).sample(rows, min(300, len(rows)))
    texts = [row["body"] for row in sample]
    sigs = [dedup.signature(t) for t in texts]

    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, sig in enumerate(sigs):
        for band, key in enumerate(dedup.band_keys(sig)):
            buckets[(band, key)].append(i)
    candidates = {pair for ids in buckets.values() for pair in combinations(ids, 2)}
    flagged = {
        (i, j) for i, j in candidates if dedup.similarity(sigs[i], sigs[j]) >= dedup.NEAR_DUPLICATE
    }

    # exact Jaccard of every pair sharing a shingle, through an inverted index
    shingle_sets = [dedup.shingles(t) for t in texts]
    postings: dict[int, list[int]] = defaultdict(list)
    for i, hashes in enumerate(shingle_sets):
        for h in hashes:
            postings[h].append(i)
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    for ids in postings.values():
        for pair in combinations(ids, 2):
            overlap[pair] += 1
    jaccard = {
        (i, j): n / (len(shingle_sets[i]) + len(shingle_sets[j]) - n)
        for (i, j), n in overlap.items()
    }

    pairs = len(texts) * (len(texts) - 1) // 2
    assert len(candidates) / pairs < 0.001
    assert all(jaccard.get(pair, 0.0) >= 0.6 for pair in flagged)
    assert {pair for pair, j in jaccard.items() if j >= 0.9} <= flagged
