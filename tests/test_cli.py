"""The command line in-process, with the service built around the fake embedder."""

from __future__ import annotations

import json

import pytest

from fake_embedder import FakeEmbedder
from helpers import FAKE_EMBEDDER_BARS, make_service
from index import cli
from index.service import NewsService
from index.settings import CoreSettings


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    embedder = FakeEmbedder()

    def factory(args) -> NewsService:
        data = args.data_dir or tmp_path / "data"
        return make_service(data, embedder, **FAKE_EMBEDDER_BARS, chunk_tokens=60)

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["--data-dir", str(tmp_path / "data"), "-q", *argv], service=factory)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


ARTICLE = (
    "Storm Ciarán hit the coast of Brittany on Thursday with winds of 180 km/h. "
    "About 1.2 million homes lost power across western France, the grid operator said.\n\n"
    "Schools in the region stayed closed as the storm moved toward the English Channel."
)


def test_ingest_ask_json_and_sources(run, tmp_path):
    (tmp_path / "storm.md").write_text("# Storm Ciarán batters France\n\n" + ARTICLE)
    code, out, err = run("ingest", str(tmp_path / "storm.md"))
    assert code == 0, err
    assert "added #1 “Storm Ciarán batters France”" in out
    code, out, _ = run("ask", "How many homes lost power in France?", "--json")
    answer = json.loads(out)
    assert answer["found"] and "1.2 million homes" in answer["answer"]
    assert answer["citations"][0]["snippet"] in ARTICLE
    code, out, _ = run("sources")
    assert out.startswith("#1  Storm Ciarán batters France")


def test_second_ingest_says_already_indexed(run, tmp_path):
    path = tmp_path / "storm.txt"
    path.write_text(ARTICLE)
    run("ingest", str(path))
    code, out, _ = run("ingest", str(path))
    assert code == 0
    assert "already indexed: storm.txt is #1 “storm”" in out


def test_search_batch_writes_the_run_format(run, tmp_path):
    (tmp_path / "storm.txt").write_text(ARTICLE)
    run("ingest", str(tmp_path / "storm.txt"))
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "q1", "question": "power cuts in France", "as_of": "2023-11-03"})
        + "\n"
        + json.dumps({"id": "q2", "question": "schools closed"})
        + "\n"
    )
    code, out, err = run("search", "--batch", str(queries), "--top-k", "3")
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2"]
    hit = lines[1]["hits"][0]
    assert set(hit) == {
        "rank",
        "score",
        "chunk_id",
        "article_id",
        "title",
        "source",
        "published_at",
        "url",
        "text",
    }
    assert hit["rank"] == 1 and hit["text"] in ARTICLE
    assert lines[0]["hits"], "as_of keeps articles that carry no date"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        (
            "Caf\u00e9 news in Latin-1 encoding, a whole sentence of it.".encode("latin-1"),
            "not UTF-8",
        ),
    ],
)
def test_bad_files_get_one_clear_line_and_store_nothing(run, tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    code, _, err = run("ingest", str(path))
    assert code == 1
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2  # the reason, then the summary
    assert run("stats", "--json")[1] and json.loads(run("stats", "--json")[1])["articles"] == 0


def test_oversized_file_is_refused(run, tmp_path, monkeypatch):
    path = tmp_path / "huge.txt"
    path.write_text("A sentence that repeats for a long time. " * 600_000)
    code, _, err = run("ingest", str(path))
    assert code == 1 and "too large" in err
    assert json.loads(run("stats", "--json")[1])["articles"] == 0


def test_missing_file_and_bad_arguments(run, tmp_path):
    code, _, err = run("ingest", str(tmp_path / "nope.txt"))
    assert code == 1 and "no such file" in err
    code, _, err = run("forget", "99")
    assert code == 1 and err.startswith("newsbot: error:")


def test_timeline_of_nothing_says_so_and_a_blank_topic_is_refused(run, tmp_path):
    (tmp_path / "storm.md").write_text("# Storm Ciarán batters France\n\n" + ARTICLE)
    run("ingest", str(tmp_path / "storm.md"))
    code, out, err = run("timeline", "volcano eruption in Iceland")
    assert code == 0, err
    assert out == (
        "Nothing on “volcano eruption in Iceland” in this collection. Add articles about it "
        "with `newsbot ingest`.\n"
    )
    code, out, _ = run("-c", "empty", "timeline", "storm", "--json")
    assert code == 0
    assert json.loads(out) == {
        "topic": "storm",
        "summary": "0 articles",
        "articles": 0,
        "lines": [],
    }
    code, out, err = run("timeline", "   ")
    assert code == 1 and out == "" and err.startswith("newsbot: error: give a topic")


def test_env_example_lists_every_setting(run, capsys):
    """`.env.example` is what `python -m bot env-example` prints (core and bot settings);
    `newsbot env-example` prints the core's, the same lines, without knowing of the bot."""
    from pathlib import Path

    from bot.__main__ import main as bot_main
    from bot.config import BotSettings
    from index.settings import describe

    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    for env, _, _ in describe(CoreSettings, BotSettings):
        assert f"\n{env}=" in example, env
    capsys.readouterr()
    assert bot_main(["env-example"]) == 0
    assert capsys.readouterr().out == example
    _, out, _ = run("env-example")
    assert example.startswith(out) and "DISCORD_TOKEN" not in out
    for env, _, _ in describe(CoreSettings):
        assert f"\n{env}=" in out, env
