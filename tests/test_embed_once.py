"""Each text is embedded once, whatever the collection: a second server following the same feed
pays chunking and storing, not the model; collections stay apart in search, forget and rebuild;
a vector goes with the last chunk using it; stores from before keep their vectors (nothing
re-embedded) and have their copies merged by the next ingest."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from test_service import STRIKE, VOLCANO, doc

from fake_embedder import FakeEmbedder
from fakecli import run
from helpers import BACK_TO_SCHEMA_7, make_service
from index.service import NewsService
from index.settings import CoreSettings

pytestmark = [pytest.mark.timeout(120), pytest.mark.backends]

PARAGRAPHS = [
    "The city council approved a new budget on Tuesday after a long debate about road repairs "
    "and the cost of running the three public libraries in the northern districts.",
    "Officials said the plan raises spending on buses by eight percent and keeps property taxes "
    "flat for a second year, while fees for parking permits rise slightly.",
    "Several residents spoke against closing a swimming pool that has served the east side "
    "since the nineteen sixties, and the council agreed to study its repair.",
    "The mayor called the budget balanced and said the city would borrow less than planned "
    "because sales tax receipts came in higher than forecast in the spring.",
]
BUDGET = doc(
    "Council passes city budget",
    "\n\n".join(PARAGRAPHS),
    source="Gazette",
    published_at="2024-03-05",
    url="https://gazette.example/budget",
    fetched_url="https://gazette.example/budget",
)


def hits(svc: NewsService, collection: str, query: str) -> list[tuple[int, str, float]]:
    return [(h.chunk_id, h.title, round(h.score, 5)) for h in svc.search(collection, query)]


def test_a_second_collection_ingesting_the_same_articles_runs_the_model_on_nothing(
    settings: CoreSettings,
) -> None:
    model = FakeEmbedder()
    with make_service(settings, model) as svc:
        first = svc.ingest("server-a", [VOLCANO, STRIKE, BUDGET])
        ran = model.embedded
        assert first.chunks == first.embedded == ran > 3
        second = svc.ingest("server-b", [VOLCANO, STRIKE, BUDGET])
        assert [r.title for r in second.added] == [r.title for r in first.added]
        assert second.chunks == first.chunks and second.embedded == 0
        assert model.embedded == ran  # the model never ran for the second server
        assert svc.store.vectors.count() == first.chunks  # each vector stored once
        a, b = hits(svc, "server-a", "volcano lava Grindavik"), hits(svc, "server-b", "volcano")
        assert a and b and a[0][1] == b[0][1] == VOLCANO.title
        # each collection sees its own chunks only
        ids_a = set(svc.store.chunks.ids(svc.store.collections.id_of("server-a")).tolist())
        ids_b = set(svc.store.chunks.ids(svc.store.collections.id_of("server-b")).tolist())
        assert len(ids_a) == len(ids_b) == first.chunks and not ids_a & ids_b
        assert {h[0] for h in a} <= ids_a and {h[0] for h in hits(svc, "server-b", "budget")} <= (
            ids_b
        )
        assert svc.check() == []


def test_forget_and_rebuild_in_one_collection_leave_the_other_as_it_was(
    settings: CoreSettings,
) -> None:
    model = FakeEmbedder()
    with make_service(settings, model) as svc:
        svc.ingest("server-a", [VOLCANO, STRIKE])
        volcano_b = svc.ingest("server-b", [VOLCANO, STRIKE]).added[0]
        shared = svc.store.vectors.count()
        before_b = hits(svc, "server-b", "volcano lava Grindavik")
        volcano_a = svc.store.articles.page(svc.store.collections.id_of("server-a"))[0]
        assert volcano_a.title == VOLCANO.title

        svc.forget("server-a", volcano_a.id)
        assert VOLCANO.title not in [h[1] for h in hits(svc, "server-a", "volcano lava")]
        assert hits(svc, "server-b", "volcano lava Grindavik") == before_b  # its vectors kept
        assert svc.store.vectors.count() == shared
        assert svc.rebuild("server-b") == {"server-b": svc.stats("server-b")["chunks"]}
        assert svc.rebuild("server-a") == {"server-a": svc.stats("server-a")["chunks"]}
        assert hits(svc, "server-b", "volcano lava Grindavik") == before_b
        assert svc.check() == []

        svc.forget("server-b", volcano_b.article_id)  # the last chunks using them: gone
        assert svc.store.vectors.count() == svc.stats("server-a")["chunks"]
        assert svc.check() == []
        ran = model.embedded
        again = svc.ingest("server-b", [VOLCANO])
        assert again.embedded == again.chunks > 0 and model.embedded == ran + again.chunks


def test_an_updated_article_embeds_only_its_changed_passages(settings: CoreSettings) -> None:
    model = FakeEmbedder()
    with make_service(settings, model) as svc:
        first = svc.ingest("news", [BUDGET]).added[0]
        assert first.chunk_count >= 2
        ran = model.embedded
        changed = replace(BUDGET, text=BUDGET.text.replace("slightly", "by ten dollars a month", 1))
        report = svc.ingest("news", [changed])
        assert [r.article_id for r in report.updated] == [first.article_id]
        assert 0 < report.embedded < report.chunks
        assert model.embedded == ran + report.embedded
        assert svc.store.vectors.count() == report.chunks  # the replaced passage's vector went
        assert svc.check() == []


def test_the_summary_line_says_how_many_chunks_were_embedded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    news = tmp_path / "budget.txt"
    news.write_text(BUDGET.text)
    first = run(data, "--collection", "a", "ingest", str(news))
    second = run(data, "--collection", "b", "ingest", str(news))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    chunks = run(data, "--collection", "b", "stats", "--json")
    n = int(__import__("json").loads(chunks.stdout)["chunks"])
    assert f"({n} chunks, {n} embedded," in first.stdout + first.stderr
    assert f"({n} chunks, 0 embedded," in second.stdout + second.stderr


def test_collections_forgetting_and_adding_the_same_article_at_once_lose_nothing(
    settings: CoreSettings,
) -> None:
    """Two writers (on PostgreSQL, two connection pools: as two processes) each add and forget
    the same articles in their own collection, over and over: a vector one forgets is never
    taken from under the other's chunks."""
    services = [make_service(settings) for _ in range(2)]
    errors: list[BaseException] = []

    def churn(svc: NewsService, name: str) -> None:
        try:
            for _ in range(12):
                added = svc.ingest(name, [VOLCANO, STRIKE, BUDGET]).added
                for r in added[:2]:
                    svc.forget(name, r.article_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=churn, args=(svc, f"server-{i}")) for i, svc in enumerate(services)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    try:
        assert not errors, errors
        svc = services[0]
        assert svc.check() == []
        for name in ("server-0", "server-1"):  # BUDGET stayed in both, with its vectors
            assert [h[1] for h in hits(svc, name, "budget council")][:1] == [BUDGET.title]
        assert svc.store.vectors.count() == svc.stats("server-0")["chunks"]
    finally:
        for svc in services:
            svc.close()


@pytest.mark.sqlite_only  # SQLite's own file and schema
def test_a_schema_7_store_keeps_its_vectors_and_the_next_ingest_merges_their_copies(
    tmp_path: Path,
) -> None:
    from index.store.schema import MIGRATIONS, SCHEMA_VERSION, statements

    data = tmp_path / "data"
    with make_service(data) as svc:
        svc.ingest("a", [VOLCANO, STRIKE])
        svc.ingest("b", [VOLCANO])
        gone = svc.ingest("b", [BUDGET]).added[0]
        svc.forget("b", gone.article_id)  # the newest chunks forgotten: their ids stay used
        before = {c: hits(svc, c, "volcano lava Grindavik strike") for c in ("a", "b")}
        chunks = svc.stats("a")["chunks"] + svc.stats("b")["chunks"]
    path = data / "newsbot.sqlite3"
    with sqlite3.connect(path) as db:  # as the release before stored it: a vector a chunk
        db.executescript(BACK_TO_SCHEMA_7 + "PRAGMA user_version = 7;")
        old = sqlite3.connect(":memory:")
        for n in range(1, 8):
            for statement in statements(MIGRATIONS[n]):
                old.execute(statement)
        schema_7 = "SELECT type, name, sql FROM sqlite_master WHERE name != 'sqlite_sequence'"

        def layout(con: sqlite3.Connection) -> list[tuple[str, str, str]]:
            return sorted(
                (t, n, " ".join((sql or "").split())) for t, n, sql in con.execute(schema_7)
            )

        assert layout(db) == layout(old)
        assert db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == chunks
    saved = {f: f.read_bytes() for f in (data / "faiss").glob("*.faiss")}

    model = FakeEmbedder()
    with make_service(data, model) as svc:
        db = svc.store.db
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert svc.store.vectors.count() == chunks  # moved as they were, one a chunk
        assert {c: hits(svc, c, "volcano lava Grindavik strike") for c in ("a", "b")} == before
        assert model.embedded == 2  # the two questions: nothing re-embedded
        assert {f: f.read_bytes() for f in saved} == saved  # the indexes were not rebuilt
        # The next ingest keys them: the same article in a third collection runs no model, and
        # the two copies of the volcano's vectors are one.
        report = svc.ingest("c", [VOLCANO])
        assert report.embedded == 0 and model.embedded == 2
        assert svc.store.vectors.count() == svc.stats("a")["chunks"]
        assert {c: hits(svc, c, "volcano lava Grindavik strike") for c in ("a", "b")} == before
        assert svc.check() == []
        assert min(svc.store.chunks.ids(svc.store.collections.id_of("c"))) > max(
            h[0] for h in before["b"]
        )
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_new_model_re_embeds_each_text_once_and_the_old_vectors_go(
    settings: CoreSettings,
) -> None:
    with make_service(settings) as svc:
        first = svc.ingest("server-a", [VOLCANO, STRIKE])
        svc.ingest("server-b", [VOLCANO, STRIKE])
    other = FakeEmbedder(name="another-model")
    with make_service(settings, other) as svc:
        assert svc.model_changed
        counts = svc.rebuild()
        assert counts == {"server-a": first.chunks, "server-b": first.chunks}
        assert other.embedded == first.chunks  # not twice: the second collection found them
        assert svc.store.vectors.count() == first.chunks  # the first model's are gone
        assert [h.title for h in svc.search("server-b", "volcano lava")][:1] == [VOLCANO.title]
        assert svc.check() == []
