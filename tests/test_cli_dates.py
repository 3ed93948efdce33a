"""Dates in questions as a member meets them: ``newsbot ask`` as its own process (the fake
embedder), the window it searched in its JSON, the articles it cites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakecli import run

pytestmark = pytest.mark.timeout(180)

HARBOUR = [
    {
        "title": "Harbour crane collapses in autumn storm",
        "text": f"The harbour crane collapsed in the {year} storm on Thursday, the port"
        f" authority said. Nobody was hurt, and the harbour reopened {reopened}.",
        "source": "Port Gazette",
        "published_at": day,
        "url": f"https://port.example/{day}",
    }
    for day, year, reopened in (
        ("2023-09-28", "autumn", "the next day"),
        ("2026-09-28", "equinox", "a week later"),
    )
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    feed = tmp_path / "harbour.jsonl"
    feed.write_text("".join(json.dumps(a) + "\n" for a in HARBOUR), encoding="utf-8")
    done = run(tmp_path / "data", "ingest", str(feed))
    assert done.returncode == 0, done.stderr
    return tmp_path / "data"


def ask(data: Path, question: str) -> tuple[int, dict | str]:
    done = run(data, "ask", "--json", "--as-of", "2026-12-07", question)
    if done.returncode:
        return done.returncode, done.stderr
    return 0, json.loads(done.stdout)


def test_an_impossible_day_searches_its_month_of_its_year(data):
    code, answer = ask(data, "What collapsed at the harbour on Sept. 31st, 2023?")
    assert code == 0, answer
    assert answer["window"]["label"] == "September 2023", answer["window"]
    assert {c["published_at"] for c in answer["citations"]} == {"2023-09-28"}


def test_a_year_out_of_range_names_no_time(data):
    code, answer = ask(data, "What collapsed at the harbour since 1 January 0001?")
    assert code == 0, answer
    assert answer["window"] is None
    assert "2026-09-28" in {c["published_at"] for c in answer["citations"]}


def test_a_question_of_repeated_date_phrases_is_answered_or_refused_promptly(data):
    """As long as a question may be (1,000 characters), made of date phrases: answered within
    the process's bound; one character more is a short error, nothing stored is touched."""
    longest = ("between March and May " * 46)[:1000]
    code, answer = ask(data, longest)
    assert code == 0, answer
    code, error = ask(data, longest + "x")
    assert code != 0 and "too long" in error and "Traceback" not in error
    code, answer = ask(data, "What collapsed at the harbour in September 2026?")
    assert code == 0 and {c["published_at"] for c in answer["citations"]} == {"2026-09-28"}
