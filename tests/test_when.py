# ruff: noqa: E501 (the table reads best one case a line)
"""Dates in questions: which phrasings become a publication window, and which never do.

Asked on Wednesday 2 December 2026. Windows are what is searched (the named period plus the
days its news is still being published), labels what the reply says it searched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from index.search.when import find_window, without_phrase

TODAY = date(2026, 12, 2)  # a Wednesday

# (question, since, until, label); since/until as ISO dates or None.
# fmt: off
WINDOWS = [
    # years
    ("What happened in 2023?", "2023-01-01", "2024-01-14", "news from 2023"),
    ("Which bills passed during 2024?", "2024-01-01", "2025-01-14", "news from 2024"),
    ("How did prices move in 2023 alone?", "2023-01-01", "2024-01-14", "news from 2023"),
    ("What has the council done since 2025?", "2025-01-01", "2026-12-02", "news since 1 January 2025"),
    ("Who led the polls before 2024?", None, "2023-12-31", "news before 1 January 2024"),
    ("What happened in early 2023?", "2023-01-01", "2023-05-15", "news from early 2023"),
    ("What happened in mid-2024?", "2024-05-02", "2024-09-14", "news from mid-2024"),
    ("Storms in late 2025", "2025-09-02", "2026-01-14", "news from late 2025"),
    ("What happened this year?", "2026-01-01", "2026-12-02", "news from 2026"),
    ("Who won the title last year?", "2025-01-01", "2026-01-14", "news from 2025"),
    ("What changed over the past year?", "2025-12-03", "2026-12-02", "news from 3 December 2025 – 2 December 2026"),
    ("What happened two years ago?", "2024-01-01", "2025-01-14", "news from 2024"),
    # months
    ("What happened in January 2025?", "2025-01-01", "2025-02-14", "news from January 2025"),
    ("News in Jan. 2025 about Gaza", "2025-01-01", "2025-02-14", "news from January 2025"),
    ("Who resigned in September 2026?", "2026-09-01", "2026-10-14", "news from September 2026"),
    ("In October 2023, which team won?", "2023-10-01", "2023-11-14", "news from October 2023"),
    ("What happened in March?", "2026-03-01", "2026-04-14", "news from March 2026"),
    ("What happened in December?", "2026-12-01", "2026-12-02", "news from December 2026"),
    ("What did the court rule in late March?", "2026-03-22", "2026-04-14", "news from late March 2026"),
    ("What has changed since March?", "2026-03-01", "2026-12-02", "news since 1 March 2026"),
    ("Anything new after October?", "2026-11-01", "2026-12-02", "news since 1 November 2026"),
    ("What happened this month?", "2026-12-01", "2026-12-02", "news from December 2026"),
    ("What happened last month?", "2026-11-01", "2026-12-02", "news from November 2026"),
    ("in the last month", "2026-11-02", "2026-12-02", "news from 2 November – 2 December 2026"),
    ("What happened 3 months ago?", "2026-09-01", "2026-10-14", "news from September 2026"),
    ("What happened between March and May?", "2026-03-01", "2026-06-14", "news from 1 March – 31 May 2026"),
    ("What was said as of June 2026?", None, "2026-06-30", "news up to 30 June 2026"),
    # days: a day of the last weeks is searched up to today, since later news reports on it
    ("What was said before 12 May?", None, "2026-05-11", "news before 12 May 2026"),
    ("What happened on 12 May 2024?", "2024-05-12", "2024-05-14", "news from 12 May 2024"),
    ("What happened on May 12th, 2024?", "2024-05-12", "2024-05-14", "news from 12 May 2024"),
    ("What did the minister say on 2024-05-12?", "2024-05-12", "2024-05-14", "news from 12 May 2024"),
    ("What happened on the 5th of May 2020?", "2020-05-05", "2020-05-07", "news from 5 May 2020"),
    ("Results of the vote on Nov 3", "2026-11-03", "2026-11-05", "news from 3 November 2026"),
    ("Any updates since 1 November?", "2026-11-01", "2026-12-02", "news since 1 November 2026"),
    ("What happened yesterday?", "2026-12-01", "2026-12-02", "news since 1 December 2026"),
    ("What did the Fed decide last night?", "2026-12-01", "2026-12-02", "news since 1 December 2026"),
    ("What happened the day before yesterday?", "2026-11-30", "2026-12-02", "news since 30 November 2026"),
    ("What's the news today?", "2026-12-01", "2026-12-02", "news from today"),
    ("What happened 3 days ago?", "2026-11-29", "2026-12-02", "news since 29 November 2026"),
    ("What did Biden say on Monday?", "2026-11-30", "2026-12-02", "news since 30 November 2026"),
    ("What happened last Friday?", "2026-11-27", "2026-12-02", "news since 27 November 2026"),
    ("Who spoke on Wednesday?", "2026-12-02", "2026-12-02", "news since 2 December 2026"),
    ("What happened last Wednesday?", "2026-11-25", "2026-12-02", "news since 25 November 2026"),
    ("What's new since last Monday?", "2026-11-30", "2026-12-02", "news since 30 November 2026"),
    ("What happened over the weekend?", "2026-11-28", "2026-12-02", "news since 28 November 2026"),
    ("Who won last weekend's derby?", "2026-11-28", "2026-12-02", "news since 28 November 2026"),
    # weeks
    ("What happened last week?", "2026-11-23", "2026-12-02", "news since 23 November 2026"),
    ("Which company merged this week?", "2026-11-26", "2026-12-02", "news from 26 November – 2 December 2026"),
    ("What did the CDC announce earlier this week?", "2026-11-26", "2026-12-02", "news from 26 November – 2 December 2026"),
    ("Which stock jumped over the past week?", "2026-11-26", "2026-12-02", "news from 26 November – 2 December 2026"),
    ("What happened in the past two weeks?", "2026-11-19", "2026-12-02", "news from 19 November – 2 December 2026"),
    ("What happened in the last 10 days?", "2026-11-23", "2026-12-02", "news from 23 November – 2 December 2026"),
    ("What happened a week ago?", "2026-11-22", "2026-12-02", "news since 22 November 2026"),
    ("What changed a few days ago?", "2026-11-29", "2026-12-02", "news since 29 November 2026"),
]
# fmt: on

# Never a date: prices, scores, models, names, counts, plans, topics.
NOT_DATES = [
    "What was the $700 million deal about?",
    "Why was it a 7-2 vote?",
    "Which airline grounded the Boeing 737 MAX?",
    "How many COVID-19 cases were reported?",
    "Who won Series 5 of the show?",
    "What did the G7 agree?",
    "Which songs are in the top 10?",
    "5",
    "How many days are in the 2024 calendar year?",
    "Who won the 2020 election?",
    "What did the January 6, 2021 committee find?",
    "Which shops had Black Friday sales?",
    "Who won on Super Tuesday?",
    "Which upsets marked March Madness?",
    "May I ask what the minister said?",
    "What may happen to rates?",
    "Did the protesters march on the capital?",
    "What did the government plan in 2030?",
    "How many people lived in 2000 homes?",
    "What happened in 10 states?",
    "What does Section 230 say?",
    "Which rocket flew on Apollo 11's anniversary?",
    "Which food is eaten annually on July 4?",
    "What did Windows 11 change?",
    "How fast is the F-35?",
    "How did abortion rates change between 2021 and 2022?",
    "What was the score of the 2023-24 season opener?",
    "What is Vision 2030?",
    "Is the store open 24/7?",
    "What happened at 9/11 memorial?",
    "What did Fortune 500 companies report?",
    "Which Category 4 hurricane hit Florida?",
    "Who won UFC 300?",
    "Hurricane Idalia made landfall Wednesday in which state?",
    "What did May Day marchers demand?",
    "Who are the 49ers playing?",
]


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@pytest.mark.parametrize(("question", "since", "until", "label"), WINDOWS)
def test_dates_in_questions_become_windows(question, since, until, label):
    window = find_window(question, TODAY)
    assert window is not None, question
    assert (window.since, window.until) == (_d(since), _d(until))
    assert window.description == label


@pytest.mark.parametrize("question", NOT_DATES)
def test_numbers_names_and_plans_are_not_dates(question):
    assert find_window(question, TODAY) is None


def test_table_is_large_enough():
    assert len(WINDOWS) + len(NOT_DATES) >= 60


def test_an_explicit_year_wins_over_a_weekday():
    window = find_window("In October 2023, the storm made landfall on Wednesday. Where?", TODAY)
    assert window.description == "news from October 2023"


def test_the_date_words_are_taken_out_of_the_query():
    question = "In October 2023, Hurricane Idalia made landfall in which state?"
    window = find_window(question, TODAY)
    assert without_phrase(question, window) == "Hurricane Idalia made landfall in which state?"
    q2 = "What did the council decide last week about the bridge?"
    assert (
        without_phrase(q2, find_window(q2, TODAY))
        == "What did the council decide about the bridge?"
    )


# -- dates that are no time of news ----------------------------------------------------------

# An impossible day is read as its month, the year as written (the reply names the month).
# fmt: off
IMPOSSIBLE_DAYS = [
    ("What happened on Sept. 31st, 2023?", "2023-09-01", "2023-10-14", "news from September 2023"),
    ("What did the court rule on 2023-02-30?", "2023-02-01", "2023-03-14", "news from February 2023"),
    ("Who spoke on Feb 29, 2023?", "2023-02-01", "2023-03-14", "news from February 2023"),
    ("Any news since Sept 31, 2023?", "2023-09-01", "2026-12-02", "news since 1 September 2023"),
    ("What happened on 31 November?", "2026-11-01", "2026-12-02", "news from November 2026"),
]
# fmt: on

# A year before 1900 or after 2099 is history or fiction, not a publication window; the day
# and month before it are never read as this year's.
OUT_OF_RANGE_YEARS = [
    "What happened since 1 January 0001?",
    "What happened on January 1, 0001?",
    "What did the papers say before 1 May 1850?",
    "Who ruled England on 5 March 1066?",
    "What will happen on 1 January 3000?",
]


@pytest.mark.parametrize(("question", "since", "until", "label"), IMPOSSIBLE_DAYS)
def test_an_impossible_day_is_read_as_its_month(question, since, until, label):
    window = find_window(question, TODAY)
    assert window is not None, question
    assert (window.since, window.until) == (_d(since), _d(until))
    assert window.description == label


@pytest.mark.parametrize("question", OUT_OF_RANGE_YEARS)
def test_a_year_out_of_range_is_no_window(question):
    assert find_window(question, TODAY) is None


def test_a_count_after_a_day_is_not_a_year():
    window = find_window("On May 5, 300 people marched: why?", TODAY)
    assert window is not None and window.description == "news from 5 May 2026"


# -- time read as the reader means it -------------------------------------------------------

LATE_JANUARY = date(2027, 1, 31)  # a Sunday
MID_FEBRUARY = date(2027, 2, 10)

# A question about the future names the coming period, and searches the news ahead of it: the
# last 30 days up to the day asked. Otherwise a month alone is the last one begun.
# (question, asked, since, until, label)
# fmt: off
TENSES = [
    # the future: the coming month, searched in the news ahead of it
    ("Which teams will face off in February?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of February 2027"),
    ("What is scheduled for March?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of March 2027"),
    ("Is the vote scheduled for March?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of March 2027"),
    ("Which films are expected to premiere in February?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of February 2027"),
    ("Which upcoming concerts are in April?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of April 2027"),
    ("Who'll headline in late February?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of late February 2027"),
    ("Who will face off on February 11?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of 11 February 2027"),
    ("Which teams will meet between March and May?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of 1 March – 31 May 2027"),
    ("Where will the summit be held in December?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of December 2027"),
    ("Which teams will face off on February 11, 2027?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of 11 February 2027"),
    ("In February, which teams will face off?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of February 2027"),
    # "next", "coming": to come whatever the tense
    ("Where is next month's summit?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of February 2027"),
    ("Who plays next February?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of February 2027"),
    ("What happens in the coming February?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of February 2027"),
    ("Who plays next week?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of 1–7 February 2027"),
    ("Which drug gets dearer in the coming months?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027, ahead of 1 February – 1 May 2027"),
    # the future of a month under way: the last 30 days, since the month began earlier
    ("Which teams will face off in February?", MID_FEBRUARY, "2027-01-11", "2027-02-10", "news from 11 January – 10 February 2027"),
    ("Who will win in 2027?", MID_FEBRUARY, "2027-01-01", "2027-02-10", "news from 2027"),
    # the past: the last one begun
    ("What happened in February?", LATE_JANUARY, "2026-02-01", "2026-03-14", "news from February 2026"),
    ("Which teams faced off in February?", LATE_JANUARY, "2026-02-01", "2026-03-14", "news from February 2026"),
    ("Which match was scheduled for February?", LATE_JANUARY, "2026-02-01", "2026-03-14", "news from February 2026"),
    ("What did the will of the people decide in February?", LATE_JANUARY, "2026-02-01", "2026-03-14", "news from February 2026"),
    ("What happened last February?", LATE_JANUARY, "2026-02-01", "2026-03-14", "news from February 2026"),
    ("What happened last February?", MID_FEBRUARY, "2026-02-01", "2026-03-14", "news from February 2026"),
    ("What happened this past December?", LATE_JANUARY, "2026-12-01", "2027-01-14", "news from December 2026"),
    ("What happened in December?", LATE_JANUARY, "2026-12-01", "2027-01-14", "news from December 2026"),
    ("What happened on February 11?", LATE_JANUARY, "2026-02-11", "2026-02-13", "news from 11 February 2026"),
    # a future in a clause of its own after the date speaks of something else
    ("Who won the vote on Nov 3 that will decide the budget?", LATE_JANUARY, "2026-11-03", "2026-11-05", "news from 3 November 2026"),
    ("What did the court say in March that will change the law?", LATE_JANUARY, "2026-03-01", "2026-04-14", "news from March 2026"),
    # the same month, under way
    ("What happened in January?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027"),
    ("What happened this January?", LATE_JANUARY, "2027-01-01", "2027-01-31", "news from January 2027"),
    ("What happened in February?", MID_FEBRUARY, "2027-02-01", "2027-02-10", "news from February 2027"),
    ("What happened this February?", MID_FEBRUARY, "2027-02-01", "2027-02-10", "news from February 2027"),
]
# fmt: on

# Still to come, and no question about the future: a plan, not news. More than a year off: a
# plan any news may mention, so no window either.
NOT_YET = [
    ("What happened this February?", LATE_JANUARY),
    ("What will the city look like in 2030?", LATE_JANUARY),
    ("Which laws take effect in 2028?", LATE_JANUARY),
]


@pytest.mark.parametrize(("question", "asked", "since", "until", "label"), TENSES)
def test_a_month_is_the_coming_one_when_the_question_speaks_of_the_future(
    question, asked, since, until, label
):
    window = find_window(question, asked)
    assert window is not None, question
    assert (window.since, window.until) == (_d(since), _d(until))
    assert window.description == label


@pytest.mark.parametrize(("question", "asked"), NOT_YET)
def test_a_period_still_to_come_is_no_news_yet(question, asked):
    assert find_window(question, asked) is None


def test_the_news_ahead_of_a_date_keeps_its_words_in_the_query():
    """Announcements name the coming date: "February" still helps find them."""
    question = "Which teams will face off in February?"
    assert without_phrase(question, find_window(question, LATE_JANUARY)) == question
    past = "Which teams faced off in February?"
    assert without_phrase(past, find_window(past, LATE_JANUARY)) == "Which teams faced off?"


# -- finding the phrases is linear in the question --------------------------------------------

_HUGE = """
import sys, time
from datetime import date
from index.search.when import find_window
question = "between March and May, in March, since 1 May, on Sept. 31st, 2023. " * 3000
find_window(question, date(2026, 12, 2))
"""


def test_a_huge_question_with_repeated_phrases_is_read_promptly():
    """200,000 characters of repeated date phrases: read in about a second once each phrase is
    checked against those already taken in constant time and parsed once; minutes when every
    phrase rescans the question before it. Run apart, under a generous limit."""
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-c", _HUGE], cwd=repo, env=env, timeout=30, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
