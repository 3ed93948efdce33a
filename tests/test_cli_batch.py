"""``newsbot ask|search --batch`` and ``ask --json`` as a script sees them, in-process.

The service is built around the FakeEmbedder by a factory given to ``cli.main``;
the factory counts how often it is called, which is how often a model would be loaded.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from fake_embedder import FakeEmbedder
from helpers import FAKE_EMBEDDER_BARS, make_service
from index import cli
from index.service import NewsService

STORM = {
    "title": "Storm Ciarán leaves 1.2 million homes in Brittany without power",
    "source": "Ouest Daily",
    "published_at": "2023-11-02",
    "url": "https://ouest.example/storm",
    "body": (
        "Storm Ciarán tore across Brittany overnight with gusts of 207 km/h. About 1.2 million"
        " homes lost power across Brittany and Normandy, the grid operator Enedis said.\n\n"
        "Enedis said the last homes would get their power back by Sunday."
    ),
}
MARATHON = {
    "title": "Ada Okafor wins the city marathon",
    "source": "Gazette",
    "published_at": "2022-04-20",
    "body": (
        "Runner Ada Okafor won the city marathon in a course record of 2 hours 5 minutes. "
        "Thousands lined the streets to watch the race finish by the harbour."
    ),
}
QUESTION = "How many homes lost power in Brittany?"


class Run:
    def __init__(self, tmp_path: Path, monkeypatch, capsys) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.services = 0
        embedder = FakeEmbedder()

        def factory(args) -> NewsService:
            self.services += 1
            return make_service(args.data_dir, embedder, chunk_tokens=60, **FAKE_EMBEDDER_BARS)

        self.factory = factory

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.services = 0
        code = cli.main(
            ["--data-dir", str(self.tmp_path / "data"), "-q", *argv], service=self.factory
        )
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def run(tmp_path, monkeypatch, capsys) -> Run:
    invoke = Run(tmp_path, monkeypatch, capsys)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in (STORM, MARATHON)))
    code, _, err = invoke("ingest", str(corpus))
    assert code == 0, err
    return invoke


def write_lines(path: Path, *lines: bytes | str | dict) -> Path:
    raw = []
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        raw.append(line if isinstance(line, bytes) else line.encode())
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def read_jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_ask_batch_keeps_ids_honours_each_lines_day_and_loads_once(run, tmp_path):
    questions = write_lines(
        tmp_path / "q.jsonl",
        {"id": "asked-then", "question": QUESTION, "as_of": "2023-11-04"},
        {"id": 7, "question": QUESTION},
        {"id": "before-it-ran", "question": QUESTION, "as_of": "2023-10-01"},
    )
    out = tmp_path / "answers.jsonl"
    code, stdout, err = run("ask", "--batch", str(questions), "-o", str(out))
    assert code == 0, err
    assert run.services == 1  # one model for the whole batch, not one a question
    assert stdout == ""
    then, today, before = read_jsonl(out.read_text())
    assert [then["id"], today["id"], before["id"]] == ["asked-then", 7, "before-it-ran"]

    # Asked two days after the storm: news of the last days, no lead, no dates.
    assert then["as_of"] == "2023-11-04" and then["found"] and not then["stale"]
    assert not then["answer"].startswith(("The latest", "Nothing in"))
    assert "1.2 million homes" in then["answer"]
    assert "(2 Nov 2023)" not in then["answer"]
    # No as_of on the line: asked today, so the same storm is old news and says so.
    assert today["as_of"] == date.today().isoformat()
    assert today["stale"] and today["evidence_date"] == "2023-11-02"
    assert today["answer"].startswith("The latest I have on this is from 2 November 2023:")
    # Asked before the storm: its news did not exist yet.
    assert before["as_of"] == "2023-10-01" and not before["found"]
    assert before["citations"] == []


def test_ask_batch_lines_without_a_day_take_the_command_lines(run, tmp_path):
    questions = write_lines(
        tmp_path / "q.jsonl",
        {"id": "a", "question": QUESTION},
        {"id": "b", "question": QUESTION, "as_of": "2024-06-01"},
    )
    code, out, err = run("ask", "--batch", str(questions), "--as-of", "2023-11-03")
    assert code == 0, err
    a, b = read_jsonl(out)
    assert a["as_of"] == "2023-11-03" and not a["stale"]
    assert b["as_of"] == "2024-06-01" and b["stale"]
    code, out, err = run("ask", "--batch", str(questions), "--undated")
    assert code == 0, err
    a, b = read_jsonl(out)
    assert a["as_of"] is None and not a["stale"] and a["found"]
    assert b["as_of"] == "2024-06-01"


BAD_LINES: list[tuple[bytes | str | dict, object, str]] = [
    # (the line, the id the error carries, words of the error)
    (b"\xff\xfe{'id': 1}", None, "not UTF-8"),
    ("this is not JSON", None, "JSON object"),
    ("[1, 2, 3]", None, "JSON object"),
    ({"question": QUESTION}, None, "JSON object"),
    ("[" * 50_000 + "]" * 50_000, None, "JSON object"),
    ({"id": "number", "question": 42}, "number", "question"),
    ({"id": "blank", "question": "   "}, "blank", "question"),
    ({"id": "feb-30", "question": QUESTION, "as_of": "2023-02-30"}, "feb-30", "as_of"),
    ({"id": "int-day", "question": QUESTION, "as_of": 20231104}, "int-day", "as_of"),
    ({"id": "long", "question": "Why " + "storm " * 200}, "long", "too long"),
]


@pytest.mark.parametrize("command", ["ask", "search"])
def test_every_bad_line_gets_its_own_error_and_the_rest_are_answered(run, tmp_path, command):
    good_first = {"id": "first", "question": QUESTION, "as_of": "2023-11-04"}
    good_last = {"id": "last", "question": "Who won the city marathon?"}
    lines = [good_first, *(line for line, _, _ in BAD_LINES), "", good_last]
    questions = write_lines(tmp_path / "q.jsonl", *lines)
    code, out, err = run(command, "--batch", str(questions))
    assert code == 1  # a line failed
    results = read_jsonl(out)
    assert len(results) == len(lines) - 1  # one out for each non-blank line in
    first, *bad, last = results
    for number, (got, (_, qid, words)) in enumerate(zip(bad, BAD_LINES, strict=True), 2):
        assert set(got) == {"id", "line", "error"}, got
        assert got["id"] == qid and got["line"] == number
        assert words in got["error"], got
        assert f"q.jsonl:{number}: " in err
    assert "Traceback" not in err
    assert (first["id"], last["id"]) == ("first", "last")
    if command == "ask":
        assert first["found"] and "1.2 million" in first["answer"]
        assert last["found"] and "Ada Okafor" in last["answer"]
    else:
        assert first["hits"][0]["title"] == STORM["title"]
        assert last["hits"][0]["title"] == MARATHON["title"]


@pytest.mark.parametrize("command", ["ask", "search"])
def test_output_in_a_missing_folder_is_one_clear_line(run, tmp_path, command):
    questions = write_lines(tmp_path / "q.jsonl", {"id": 1, "question": QUESTION})
    target = tmp_path / "no-such-folder" / "out.jsonl"
    code, out, err = run(command, "--batch", str(questions), "-o", str(target))
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"newsbot: error: {target}: its folder {target.parent} does not exist"
    ]
    assert not target.parent.exists()


def test_ask_json_of_an_answer_from_old_news(run):
    code, out, err = run("ask", QUESTION, "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["as_of"] == date.today().isoformat()
    assert answer["found"] and answer["stale"] is True
    assert answer["evidence_date"] == "2023-11-02"
    assert answer["window"] is None
    assert answer["answer"].startswith("The latest I have on this is from 2 November 2023:")
    for s in answer["sentences"]:
        assert s["published_at"] == "2023-11-02" and s["dated"] is True
        assert s["citations"] == [1]
    (c,) = answer["citations"]
    assert c["n"] == 1 and c["published_at"] == "2023-11-02"
    assert c["snippet"] == c["snippets"][0]["text"]
    for snip in c["snippets"]:
        assert set(snip) == {"text", "start", "end"}
        assert STORM["body"][snip["start"] : snip["end"]] == snip["text"]


def test_ask_json_of_an_answer_from_the_time_the_question_names(run):
    code, out, err = run("ask", "How many homes lost power in Brittany in 2023?", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["window"]["since"] == "2023-01-01"
    assert answer["window"]["until"] >= "2023-12-31"  # with the days its news runs on
    assert answer["window"]["label"].endswith("2023")
    assert answer["window"]["phrase"] == "in 2023"
    # The question asked for that time: old, but not stale, and no lead.
    assert answer["found"] and answer["stale"] is False
    assert answer["evidence_date"] == "2023-11-02"
    assert not answer["answer"].startswith(("The latest", "Nothing in"))
    assert [c["title"] for c in answer["citations"]] == [STORM["title"]]
    # Asked about a year with no news of it: the closest, and says so.
    code, out, err = run("ask", "How many homes lost power in Brittany in 2021?", "--json")
    answer = json.loads(out)
    assert answer["window"]["phrase"] == "in 2021"
    assert answer["answer"].startswith(
        "Nothing in news from 2021; the closest I have is from 2 November 2023:"
    )
