"""The index registry: each collection's FAISS index follows the store, never the other way."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
from test_service import STRIKE, VOLCANO

from fake_embedder import FakeEmbedder
from helpers import make_service
from index.models import Document
from index.search.registry import Change
from index.service import NewsService
from index.settings import CoreSettings

pytestmark = pytest.mark.backends


class Recording(FakeEmbedder):
    """Remembers every text it embedded."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.texts: list[str] = []

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.texts += list(texts)
        return super().embed(texts)


def doc(title: str, text: str, **kw) -> Document:
    return Document(text=text, title=title, origin=f"{title[:20]}.txt", **kw)


LONG = " ".join(f"Sentence {i} tells of the harbour and the boats that came in." for i in range(40))


def stored_ids(service: NewsService, cid: int) -> list[int]:
    return sorted(service.store.chunks.ids(cid).tolist())


def test_the_retriever_gets_its_indexes_from_the_registry(service: NewsService) -> None:
    service.ingest("default", [doc("Harbour news", LONG, source="AP")])
    assert service.retriever.indexes is service.indexes
    cid = service.store.collections.id_of("default")
    assert service.vector_index("default") is service.indexes.index_for(cid)
    assert sorted(service.vector_index("default").ids().tolist()) == stored_ids(service, cid)


def test_an_index_follows_a_write_only_from_the_state_it_started_from(
    service: NewsService,
) -> None:
    service.ingest("default", [doc("Harbour news", LONG, source="AP")])
    cid = service.store.collections.id_of("default")
    index = service.indexes.index_for(cid)
    version = index.version
    with service.store.write_lock:  # a write that started from another state: dropped
        assert not service.indexes.follow(cid, index, version + 1, version + 2, [Change([1])])
    assert index.version == version and index.count == len(stored_ids(service, cid))
    fresh = service.indexes.index_for(cid)
    assert fresh is not index and fresh.version == version
    with service.store.write_lock:  # from its own state: applied, relabelled
        assert service.indexes.follow(cid, fresh, version, version + 1, [Change(removed=[])])
    assert fresh.version == version + 1


def test_a_write_through_the_registry_moves_the_index_with_it(service: NewsService) -> None:
    report = service.ingest("default", [doc("Harbour news", LONG, source="AP")])
    cid = service.store.collections.id_of("default")
    before = service.indexes.index_for(cid)
    service.forget("default", report.added[0].article_id)
    after = service.indexes.index_for(cid)
    assert after is before and after.count == 0
    assert after.version == service.store.collections.version(cid)


def test_re_embedding_reads_back_exactly_the_text_the_ingest_embedded(tmp_path) -> None:
    # A small model window and a title of many words: the prefix is cut for room, and the
    # re-embedded text must be cut the same way.
    embedder = Recording(max_tokens=96)  # a 300-character title of words leaves < 32
    settings = CoreSettings(data_dir=tmp_path / "data", chunk_tokens=60, chunk_overlap_tokens=15)
    with NewsService(settings, embedder) as service:
        title = " ".join(["word"] * 140)
        service.ingest(
            "default",
            [
                doc(title, LONG, source="Wire", published_at="2024-05-01"),
                doc("Plain title", LONG.replace("harbour", "river"), source=None),
            ],
        )
        cid = service.store.collections.id_of("default")
        rows = [r for batch in service.store.chunks.iter_texts(cid) for r in batch]
        assert service.pipeline.embedded_texts(rows) == embedder.texts
        assert any(
            t.startswith("word word") and len(t.split("\n")[0]) == 120 for t in embedder.texts
        )


def test_new_vectors_bump_the_collection_version_in_the_same_write(service: NewsService) -> None:
    service.ingest("default", [doc("Harbour news", LONG, source="AP")])
    cid = service.store.collections.id_of("default")
    version = service.store.collections.version(cid)
    ids = stored_ids(service, cid)
    vectors = np.ones((len(ids), service.embedder.dim), dtype=np.float32)
    service.store.chunks.replace_vectors(cid, ids, vectors)
    assert service.store.collections.version(cid) == version + 1


def test_a_new_model_re_embeds_everything_and_records_itself(tmp_path) -> None:
    settings = CoreSettings(data_dir=tmp_path / "data", chunk_tokens=60, chunk_overlap_tokens=15)
    with NewsService(settings, FakeEmbedder()) as service:
        service.ingest("default", [doc("Harbour news", LONG, source="AP")])
    other = Recording(name="fake-other")
    with NewsService(settings, other) as service:
        assert service.model_changed
        counts = service.rebuild()
        assert not service.model_changed and service.stored_model == "fake-other"
        assert service.store.get_meta("embedding_model") == "fake-other"
        cid = service.store.collections.id_of("default")
        assert counts == {"default": len(stored_ids(service, cid))} and other.texts


def test_indexes_follow_another_process_without_a_rebuild(tmp_path, database_url, caplog) -> None:
    """Two processes on one store (SQLite: one data folder; PostgreSQL: one database, a folder of
    derived indexes each). What one writes, the other's FAISS index (and, on PostgreSQL, its
    BM25 index) follows from the chunk log, without rebuilding: SQLite rebuilt after every
    outside write."""
    one = make_service(tmp_path / "one")
    two = make_service(tmp_path / ("two" if database_url else "one"))
    caplog.set_level(logging.INFO, logger="index.search.registry")
    try:
        one.ingest("news", [VOLCANO])
        assert two.search("news", "volcano lava Grindavik")  # builds two's indexes
        caplog.clear()
        one.ingest("news", [STRIKE])
        one.forget("news", 1)
        hits = two.search("news", "auto workers strike wages")
        assert hits and hits[0].title == STRIKE.title
        cid = two.store.collections.id_of("news")
        assert sorted(two.vector_index("news").ids().tolist()) == sorted(
            two.store.chunks.ids(cid).tolist()
        )
        assert two.check() == [] and one.check() == []
        # a write of two's own after one's: it catches up inside its transaction, then follows
        one.ingest(
            "news", [replace(VOLCANO, url="https://example.com/v2", text=VOLCANO.text + " More.")]
        )
        two.ingest(
            "news", [replace(STRIKE, url="https://example.com/s2", text=STRIKE.text + " More.")]
        )
        assert two.check() == [] and one.check() == []
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
    finally:
        one.close()
        two.close()


def test_an_index_the_log_no_longer_reaches_is_rebuilt(tmp_path, caplog, monkeypatch) -> None:
    """The chunk log keeps the last ``LOG_KEPT`` versions of a collection; a process further
    behind (here: a saved index file) rebuilds from the stored vectors."""
    from index.store import articles

    monkeypatch.setattr(articles, "LOG_KEPT", 3)
    monkeypatch.setattr(articles, "LOG_PRUNE_EVERY", 1)
    saved = tmp_path / "data" / "faiss" / "collection-1.faiss"
    with make_service(tmp_path / "data") as svc:
        svc.ingest("news", [VOLCANO])
        old = saved.read_bytes()  # the index of a process left at this version
        for n in range(4):
            svc.ingest(
                "news", [replace(STRIKE, url=f"https://e.com/{n}", text=f"{n} {STRIKE.text}")]
            )
    saved.write_bytes(old)
    caplog.set_level(logging.INFO, logger="index.search.registry")
    with make_service(tmp_path / "data") as svc:
        cid = svc.store.collections.id_of("news")
        assert svc.store.collections.changes_since(cid, 1) is None
        assert svc.vector_index("news").count == len(svc.store.chunks.ids(cid))
        assert [r for r in caplog.records if " built" in r.getMessage()]
