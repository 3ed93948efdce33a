"""Shared fixtures: a deterministic fake embedder and a real store in a temp folder: SQLite, or,
for tests marked ``backends``, SQLite and PostgreSQL in turn (a server started once a session,
a database cloned from a template per test: ``pg_cluster``).

The real model is loaded once per session, only by the tests that prove retrieval quality.
Helpers tests import live in helpers.py, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pg_cluster
import pytest

import helpers
from fake_embedder import FakeEmbedder
from helpers import make_service
from index.search.embed import Embedder, make_embedder
from index.service import NewsService
from index.settings import CoreSettings

BACKENDS = ["sqlite", "postgres"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``backends`` run once on each store backend (``sqlite_only``: not on PG)."""
    marked = metafunc.definition.get_closest_marker
    if "backend" in metafunc.fixturenames and marked("backends") and not marked("sqlite_only"):
        metafunc.parametrize("backend", BACKENDS)


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for the session (its admin URL), with newsbot's template database."""
    if pg_cluster.binaries() is None and not pg_cluster.os.environ.get("NEWSBOT_TEST_DATABASE_URL"):
        pytest.skip("no PostgreSQL server binaries (initdb); `.ci/run` installs postgresql-15")
    pytest.importorskip("psycopg", reason="the 'postgres' extra is not installed")
    with pg_cluster.cluster() as url:
        pg_cluster.make_template(url)
        yield url


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh newsbot database (cloned from the template); dropped after the test."""
    url = pg_cluster.new_database(pg_server)
    yield url
    pg_cluster.drop_database(pg_server, url)


@pytest.fixture(autouse=True)
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """The test's PostgreSQL database when it runs on that backend ("" for SQLite): services
    the test makes (``make_service``, ``settings``) use it."""
    if backend != "postgres":
        yield ""
        return
    url = request.getfixturevalue("pg_database")
    helpers.DATABASE_URL = url
    try:
        yield url
    finally:
        helpers.DATABASE_URL = ""


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> CoreSettings:
    return CoreSettings(
        data_dir=tmp_path / "data",
        chunk_tokens=60,
        chunk_overlap_tokens=15,
        min_answer_score=0.1,
        answer_confidence=0.0,
        database_url=database_url,
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
    """The real model on the runtime newsbot runs by default. Requested by tests that start a
    bot process on ``model_cache`` too: the exports and the runtime measured for this CPU are in
    place before it starts (measuring them in the process took longer than its first reply may
    on a loaded machine)."""
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
