"""The real all-MiniLM-L6-v2 on the real scraped sample: what a user of `newsbot` would see."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from helpers import REPO, SAMPLE, SAMPLE_QUESTION, SAMPLE_TITLE, make_service
from index.search.retrieve import Filters
from index.service import NewsService

pytestmark = pytest.mark.model

# What the NIS claims about the satellite launch, the article's two sentences saying it: either
# answers the question (which leads depends on how the article was cut into passages).
SATELLITE_SENTENCES = (
    "It’s also likely that North Korea is receiving Russian technological assistance as it "
    "pushes ahead with plans to launch its first military reconnaissance satellite, Yoo quoted "
    "the NIS as saying.",
    "The NIS believes that the North is in the final phase of preparations for the third launch,"
    " which is more likely to be successful, Yoo said.",
)


def test_sample_article_ingests_clean_with_title_and_date(real_service: NewsService):
    report = real_service.ingest_paths("news", [SAMPLE])
    added = report.added[0]
    assert (added.title, added.published_at) == (SAMPLE_TITLE, "2025-04-25")
    article = real_service.article("news", added.article_id)
    assert article.source == "CapitalWay"
    chunks = [r[0] for r in real_service.store.db.execute("SELECT text FROM chunks")]
    assert len(chunks) == added.chunk_count
    for text in chunks:
        for junk in (
            "Ranking",
            "Recommendation",
            "veryGood",
            "Related",
            "Miley Cyrus",
            "Current:Home",
        ):
            assert junk not in text
    # every chunk fits what the model reads, prefix and special tokens included
    embedder = real_service.embedder
    prefix = f"{SAMPLE_TITLE} (CapitalWay, 2025-04-25)\n"
    assert max(embedder.count_tokens([prefix + c for c in chunks])) <= embedder.max_tokens - 2


def test_sample_question_cites_the_satellite_passage_first(real_service: NewsService):
    real_service.ingest_paths("news", [SAMPLE])
    answer = real_service.ask("news", SAMPLE_QUESTION)
    assert answer.found
    lead = answer.sentences[0].text
    assert lead in SATELLITE_SENTENCES, lead
    assert answer.sentences[0].citations == (1,)
    first = answer.citations[0]
    assert lead in first.snippet
    assert first.snippet in real_service.article("news", first.article_id).text
    assert (first.title, first.published_at) == (SAMPLE_TITLE, "2025-04-25")


def test_second_ingest_is_a_duplicate(real_service: NewsService):
    first = real_service.ingest_paths("news", [SAMPLE]).added[0]
    again = real_service.ingest_paths("news", [SAMPLE])
    assert again.added == []
    assert (again.duplicates[0].article_id, again.duplicates[0].title) == (
        first.article_id,
        SAMPLE_TITLE,
    )


def test_collections_are_separate_and_rebuild_keeps_results(real_service: NewsService):
    real_service.ingest_paths("one", [SAMPLE])
    assert real_service.search("two", SAMPLE_QUESTION) == []
    assert not real_service.ask("two", SAMPLE_QUESTION).found
    before = real_service.search("one", SAMPLE_QUESTION)
    real_service.rebuild()
    assert real_service.search("one", SAMPLE_QUESTION) == before


def test_an_unrelated_question_finds_nothing_relevant(real_service: NewsService):
    real_service.ingest_paths("news", [SAMPLE])
    answer = real_service.ask("news", "Who won the baking contest at the county fair?")
    assert not answer.found and answer.citations == []


def _articles(n: int) -> str:
    topics = ["harbour", "railway", "vineyard", "glacier", "stadium", "library", "orchard"]
    lines = []
    for i in range(n):
        t = topics[i % len(topics)]
        body = (
            f"Council meeting {i} approved a plan for the {t} in district {i}. "
            f"Residents of district {i} asked about the cost of the {t} project. "
            f"The mayor said work on the {t} would start in spring {2000 + i}."
        )
        lines.append(
            json.dumps(
                {
                    "title": f"Plan {i} for the {t}",
                    "body": body,
                    "published_at": "2023-10-01",
                    "source": "Gazette",
                }
            )
        )
    return "\n".join(lines) + "\n"


def test_a_kill_during_bulk_ingest_leaves_whole_articles(tmp_path, real_embedder, model_cache):
    data = tmp_path / "data"
    corpus = tmp_path / "bulk.jsonl"
    corpus.write_text(_articles(2000))
    env = {
        **os.environ,
        "NEWSBOT_DATA_DIR": str(data),
        "NEWSBOT_TORCH_THREADS": "1",
        "NEWSBOT_MODEL_CACHE": str(model_cache),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "index.cli", "-q", "ingest", str(corpus)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    db = data / "newsbot.sqlite3"
    deadline = time.monotonic() + 120
    stored = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                    stored = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    stored = 0
            if stored:
                time.sleep(0.7)  # well into the next group
                break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert stored, "the ingest never committed anything in time"
    with make_service(data, real_embedder) as svc:
        assert svc.check() == []
        stats = svc.stats("default")
        assert 0 < stats["articles"] < 2000
        assert stats["indexed_vectors"] == stats["chunks"] == stats["articles"]
        hit = svc.search("default", "cost of the glacier project", top_k=1)[0]
        assert "glacier" in hit.text
        for article in svc.sources("default", limit=5000):
            assert article.chunk_count == 1


def test_filters_narrow_the_answer(real_service: NewsService):
    real_service.ingest_paths("news", [SAMPLE])
    assert real_service.search("news", SAMPLE_QUESTION, filters=Filters(source="AP")) == []
    assert real_service.search("news", SAMPLE_QUESTION, filters=Filters(since="2025-04-25"))
    assert real_service.search("news", SAMPLE_QUESTION, filters=Filters(until="2025-04-24")) == []
