"""The index registry: each collection's FAISS index follows the store, never the other way."""

from __future__ import annotations

import numpy as np
import pytest

from index.models import Document
from index.search.embed import FakeEmbedder
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
        assert service.indexes.embedded_texts(rows) == embedder.texts
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
