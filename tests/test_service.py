"""The service over a real SQLite store and FAISS index, with the fake embedder."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest

from fake_embedder import FakeEmbedder
from helpers import make_service
from index.errors import BusyError, NotFoundError, StoreError
from index.models import Document
from index.search.retrieve import Filters
from index.service import NewsService

pytestmark = pytest.mark.backends


def doc(title: str, text: str, **kw) -> Document:
    return Document(text=text, title=title, origin=kw.pop("origin", f"{title}.txt"), **kw)


VOLCANO = doc(
    "Volcano erupts in Iceland",
    "A volcano erupted on the Reykjanes peninsula on Monday, sending lava toward the town of "
    "Grindavik. Officials evacuated about 4,000 residents as a precaution.\n\nScientists said the "
    "eruption could last for weeks. Flights at Keflavik airport were not affected.",
    source="Reuters",
    published_at="2023-12-18",
    url="https://example.com/volcano?utm_source=x",
)
STRIKE = doc(
    "Auto workers end strike",
    "The United Auto Workers union ended its six-week strike against Detroit automakers after "
    "reaching tentative agreements. The deals raise wages by 25 percent over four years.\n\n"
    "Union president Shawn Fain called the contracts historic.",
    source="AP",
    published_at="2023-10-30",
)


def test_ingest_then_search_finds_the_article(service: NewsService):
    report = service.ingest("news", [VOLCANO, STRIKE], added_by="alice")
    assert [r.title for r in report.added] == [VOLCANO.title, STRIKE.title]
    hits = service.search("news", "Which town was threatened by lava from the volcano?")
    assert hits[0].title == VOLCANO.title
    article_text = service.article("news", hits[0].article_id).text
    assert article_text[hits[0].start : hits[0].end] == hits[0].text
    assert service.article("news", hits[0].article_id).added_by == "alice"


def test_ask_cites_a_verbatim_snippet(service: NewsService):
    service.ingest("news", [VOLCANO, STRIKE])
    answer = service.ask("news", "How much do the union deals raise wages?")
    assert answer.found
    assert "25 percent" in answer.text
    assert "[1]" in answer.text
    cited = answer.citations[0]
    assert cited.title == STRIKE.title and cited.source == "AP"
    assert cited.snippet in service.article("news", cited.article_id).text


def test_weak_evidence_says_nothing_relevant(tmp_path, fake_embedder):
    with make_service(tmp_path / "d", fake_embedder, min_answer_score=0.9) as svc:
        svc.ingest("news", [VOLCANO])
        answer = svc.ask("news", "Who won the football match in Madrid?")
        assert not answer.found and answer.citations == []


def test_duplicate_text_is_refused_and_names_the_existing_article(service: NewsService):
    first = service.ingest("news", [VOLCANO]).added[0]
    same_text_reformatted = doc("Another title", VOLCANO.text.upper().replace(".", " ."))
    report = service.ingest("news", [same_text_reformatted])
    assert report.added == []
    assert report.duplicates[0].article_id == first.article_id
    assert report.duplicates[0].title == VOLCANO.title


def test_the_same_canonical_url_is_never_stored_twice(service: NewsService):
    service.ingest("news", [VOLCANO])
    other = doc(
        "Volcano update",
        "Completely different words about lava and the town.",
        url="https://example.com/volcano#comments",
    )
    report = service.ingest("news", [other])
    # Not fetched from example.com, so not an update either (tests/test_provenance.py).
    assert report.added == [] and report.updated == [] and len(report.duplicates) == 1
    assert "not replaced" in report.duplicates[0].notes[0]
    assert len(service.sources("news")) == 1


def test_duplicates_within_one_batch_are_stored_once(service: NewsService):
    report = service.ingest("news", [VOLCANO, VOLCANO])
    assert len(report.added) == 1 and len(report.duplicates) == 1


def test_collections_do_not_see_each_other(service: NewsService):
    service.ingest("guild-1", [VOLCANO])
    service.ingest("guild-2", [STRIKE])
    assert {h.title for h in service.search("guild-1", "strike volcano union lava")} == {
        VOLCANO.title
    }
    assert {h.title for h in service.search("guild-2", "strike volcano union lava")} == {
        STRIKE.title
    }
    assert service.search("nobody", "volcano") == []
    # the same article may live in two collections
    assert service.ingest("guild-2", [VOLCANO]).added


def test_filters_by_source_and_date(service: NewsService):
    service.ingest("news", [VOLCANO, STRIKE])
    q = "volcano strike union lava"
    assert {h.source for h in service.search("news", q, filters=Filters(source="ap"))} == {"AP"}
    assert {h.title for h in service.search("news", q, filters=Filters(since="2023-12-01"))} == {
        VOLCANO.title
    }
    assert {h.title for h in service.search("news", q, filters=Filters(as_of="2023-11-01"))} == {
        STRIKE.title
    }


def test_forget_removes_the_article_and_its_vectors(service: NewsService):
    added = service.ingest("news", [VOLCANO, STRIKE]).added
    service.forget("news", added[0].article_id)
    assert all(h.article_id != added[0].article_id for h in service.search("news", "volcano lava"))
    assert service.stats("news")["indexed_vectors"] == service.stats("news")["chunks"]
    with pytest.raises(NotFoundError):
        service.forget("news", added[0].article_id)
    assert service.check() == []


def test_vectors_are_embedded_once_and_reopening_never_re_embeds(settings, fake_embedder):
    with make_service(settings, fake_embedder) as svc:
        report = svc.ingest("news", [VOLCANO, STRIKE])
        before = svc.search("news", "union wages strike")
    embedded = fake_embedder.embedded
    assert embedded == report.chunks + 1  # every chunk once, plus the query
    (settings.data_dir / "faiss").rename(settings.data_dir / "faiss-lost")  # index file gone
    with make_service(settings, fake_embedder) as svc:
        after = svc.search("news", "union wages strike")
    assert fake_embedder.embedded == embedded + 1  # only the query
    assert [(h.chunk_id, round(h.score, 6)) for h in after] == [
        (h.chunk_id, round(h.score, 6)) for h in before
    ]


def test_rebuild_gives_the_same_results(service: NewsService):
    service.ingest("news", [VOLCANO, STRIKE])
    before = service.search("news", "evacuated residents eruption")
    counts = service.rebuild()
    assert counts == {"news": service.stats("news")["chunks"]}
    assert service.search("news", "evacuated residents eruption") == before


def test_a_stale_index_file_is_noticed_and_rebuilt(settings, fake_embedder):
    with make_service(settings, fake_embedder) as svc:
        svc.ingest("news", [VOLCANO])
    index_file = next((settings.data_dir / "faiss").glob("*.faiss"))
    stale = index_file.read_bytes()
    with make_service(settings, fake_embedder) as svc:
        svc.ingest("news", [STRIKE])
    index_file.write_bytes(stale)  # as if the process died before saving the new index
    with make_service(settings, fake_embedder) as svc:
        assert svc.check() == []
        assert svc.search("news", "union strike wages")[0].title == STRIKE.title


def test_a_changed_model_is_refused_until_rebuild_re_embeds(settings, fake_embedder):
    with make_service(settings, fake_embedder) as svc:
        svc.ingest("news", [VOLCANO, STRIKE])
    other = FakeEmbedder(dim=32, name="fake-hash-32")
    with make_service(settings, other) as svc:
        with pytest.raises(StoreError, match="rebuild"):
            svc.search("news", "volcano")
        svc.rebuild(progress=lambda *a: None)
        assert other.embedded == svc.stats("news")["chunks"]
        assert svc.search("news", "volcano lava")[0].title == VOLCANO.title


def test_a_second_rebuild_while_one_runs_is_refused(service: NewsService):
    service.ingest("news", [VOLCANO])
    attempts = []

    def progress(label, done, total):
        if not attempts:
            with pytest.raises(BusyError):
                service.rebuild()
            attempts.append(label)

    service.rebuild(progress=progress)
    assert attempts


def test_schema_version_is_recorded_and_a_newer_one_refused(settings, fake_embedder, backend):
    with make_service(settings, fake_embedder):
        pass
    if backend == "postgres":
        import psycopg

        from index.store.postgres import SCHEMA_VERSION as PG_SCHEMA

        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == (
                PG_SCHEMA
            )
            conn.execute("INSERT INTO schema_version VALUES (99)")
        with pytest.raises(StoreError, match="newer"):
            make_service(settings, fake_embedder)
        return
    db = settings.data_dir / "newsbot.sqlite3"
    con = sqlite3.connect(db)
    from index.store.schema import SCHEMA_VERSION

    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        make_service(settings, fake_embedder)


def test_jsonl_ingest_reads_the_eval_format(service: NewsService, tmp_path):
    path = tmp_path / "news.jsonl"
    lines = [
        {
            "id": "a",
            "title": "T1",
            "body": VOLCANO.text,
            "source": "R",
            "url": None,
            "published_at": "2023-12-18",
        },
        {"title": "T2", "text": STRIKE.text, "published_at": "2023-10-30T10:00:00Z"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\nnot json\n")
    report = service.ingest_paths("news", [path])
    assert [(r.title, r.published_at) for r in report.added] == [
        ("T1", "2023-12-18"),
        ("T2", "2023-10-30"),
    ]
    assert [f.reason for f in report.failed] == ["news.jsonl:4: not valid JSON"]


@pytest.mark.sqlite_only
def test_a_version_1_database_is_migrated_in_place(settings, fake_embedder):
    from index.store.schema import MIGRATIONS, SCHEMA_VERSION, statements

    settings.data_dir.mkdir(parents=True)
    con = sqlite3.connect(settings.data_dir / "newsbot.sqlite3")
    for statement in statements(MIGRATIONS[1]):
        con.execute(statement)
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    with make_service(settings, fake_embedder) as svc:
        svc.ingest("news", [VOLCANO])
        assert svc.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert svc.check() == []


def test_same_url_with_new_text_replaces_the_article_and_counts_versions(service):
    fetched = "https://www.example.com/volcano"  # both versions fetched from the article's site
    first = service.ingest("news", [replace(VOLCANO, fetched_url=fetched)]).added[0]
    before = service.stats("news")["chunks"]
    corrected = doc(
        "Volcano erupts in Iceland (updated)",
        VOLCANO.text + "\n\nOn Tuesday the lava flow slowed, and residents were allowed back "
        "briefly to collect belongings.",
        source="Reuters",
        published_at="2023-12-19",
        url="https://example.com/volcano",
        fetched_url=fetched,
    )
    report = service.ingest("news", [corrected])
    assert report.added == [] and report.duplicates == []
    assert report.updated[0].article_id == first.article_id
    assert "updated: version 2" in report.updated[0].notes
    article = service.article("news", first.article_id)
    assert "lava flow slowed" in article.text and article.title.endswith("(updated)")
    assert len(service.sources("news")) == 1
    stats = service.stats("news")
    assert stats["indexed_vectors"] == stats["chunks"] >= before
    assert service.check() == []
    hits = service.search("news", "residents allowed back to collect belongings")
    assert hits[0].article_id == first.article_id and "belongings" in hits[0].text + " ".join(
        h.text for h in hits
    )


WIRE = (
    "Officials in the coastal city said on Monday that the new sea wall, finished two years "
    "late and far over budget, held back a storm surge of almost three metres overnight. "
    "Engineers had warned that the old barrier would have failed at two metres, flooding "
    "the harbour district where some 20,000 people live. The mayor thanked the crews who "
    "worked through the night closing the flood gates and said the city would now ask the "
    "national government to pay for a second wall along the river estuary. Residents "
    "returned to their homes by mid-morning, and schools reopened on Tuesday."
)


def test_the_same_wire_story_on_two_sites_is_stored_once_with_both_sources(service):
    first = doc(
        "Sea wall holds back storm surge",
        WIRE,
        source="Coast Herald",
        url="https://herald.example/sea-wall",
    )
    second = doc(
        "City's new sea wall passes first test",
        "HARBOURTOWN (Wire) — " + WIRE.replace("Residents", "Most residents"),
        source="Daily Wire",
        url="https://daily.example/2023/sea-wall-test",
    )
    stored = service.ingest("news", [first]).added[0]
    report = service.ingest("news", [second])
    assert report.added == []
    dup = report.duplicates[0]
    assert dup.article_id == stored.article_id and "the same story as" in dup.notes[0]
    assert service.store.articles.other_sources(stored.article_id) == [
        ("Daily Wire", "https://daily.example/2023/sea-wall-test")
    ]
    hits = service.search("news", "storm surge sea wall", top_k=10)
    assert len({h.article_id for h in hits}) == 1
    answer = service.ask("news", "What did the sea wall hold back?")
    assert answer.citations[0].source == "Coast Herald (also Daily Wire)"


def test_duplicates_are_caught_while_the_earlier_group_is_still_embedding(service, monkeypatch):
    """Every article its own embedding group: the copy arrives while the original is in flight."""
    monkeypatch.setattr("index.ingest.pipeline.EMBED_GROUP", 1)
    near = doc(
        "City's new sea wall passes first test",
        "HARBOURTOWN (Wire) — " + WIRE.replace("Residents", "Most residents"),
        source="Daily Wire",
    )
    first = doc("Sea wall holds back storm surge", WIRE, source="Coast Herald")
    report = service.ingest("news", [first, VOLCANO, VOLCANO, near, STRIKE])
    assert [r.title for r in report.added] == [
        "Sea wall holds back storm surge",
        "Volcano erupts in Iceland",
        "Auto workers end strike",
    ]
    assert len(report.duplicates) == 2
    assert service.store.integrity_problems() == []
    assert len(service.sources("news")) == 3
