"""Shared fixtures: a deterministic fake embedder and a real SQLite store in a temp folder.

The real model is loaded once per session, only by the tests that prove retrieval quality.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.search.embed import FakeEmbedder
from index.service import NewsService
from index.settings import CoreSettings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "capitalway-nk-shells.txt"
SAMPLE_TITLE = (
    "South Korea’s spy agency says North Korea shipped more than a million artillery shells "
    "to Russia"
)
SAMPLE_QUESTION = "What does the NIS claim about satellite launches?"


@pytest.fixture
def settings(tmp_path: Path) -> CoreSettings:
    return CoreSettings(
        data_dir=tmp_path / "data", chunk_tokens=60, chunk_overlap_tokens=15, min_answer_score=0.1
    )


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def service(settings: CoreSettings, fake_embedder: FakeEmbedder) -> Iterator[NewsService]:
    svc = NewsService(settings, fake_embedder)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def real_embedder():
    from index.search.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(threads=2)
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture
def real_service(tmp_path: Path, real_embedder) -> Iterator[NewsService]:
    svc = NewsService(CoreSettings(data_dir=tmp_path / "data"), real_embedder)
    yield svc
    svc.close()
