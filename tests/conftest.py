"""Shared fixtures: a deterministic fake embedder and a real SQLite store in a temp folder.

The real model is loaded once per session, only by the tests that prove retrieval quality.
Helpers tests import live in helpers.py, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import make_service
from index.search.embed import Embedder, FakeEmbedder, make_embedder
from index.service import NewsService
from index.settings import CoreSettings


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
    with make_service(settings, fake_embedder) as svc:
        yield svc


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export for the whole session (processes started by tests get it through
    NEWSBOT_MODEL_CACHE)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def real_embedder(model_cache: Path) -> Embedder:
    """The real model on the runtime newsbot runs by default."""
    embedder = make_embedder(CoreSettings().embed_backend, cache_dir=model_cache, threads=2)
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture(scope="session")
def torch_embedder(model_cache: Path) -> Embedder:
    embedder = make_embedder("torch", cache_dir=model_cache, threads=2)
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture
def real_service(tmp_path: Path, real_embedder) -> Iterator[NewsService]:
    with make_service(tmp_path / "data", real_embedder) as svc:
        yield svc
