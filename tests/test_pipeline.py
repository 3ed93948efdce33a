"""The ingest pipeline on its own: preparing documents, groups, progress, the swapped model."""

from __future__ import annotations

import pytest

from fake_embedder import FakeEmbedder
from index.errors import InputError
from index.ingest.chunk import embedded_text, fit_prefix
from index.ingest.pipeline import IngestReport, Progress, kept, without_nul
from index.models import Document, IngestResult
from index.service import NewsService

pytestmark = pytest.mark.backends


def doc(title: str, text: str, **kw) -> Document:
    return Document(text=text, title=title, origin=kw.pop("origin", f"{title}.txt"), **kw)


TEXT = "The council approved the new bridge on Tuesday. Work starts in the spring."


def test_prepare_embeds_each_chunk_under_its_article_prefix(service: NewsService) -> None:
    pending = service.pipeline.prepare(
        doc("Bridge approved", TEXT, source="Gazette", published_at="2024-03-05")
    )
    prefix = "Bridge approved (Gazette, 2024-03-05)"
    assert pending.embedded == [embedded_text(prefix, c.text) for c in pending.chunks]
    assert embedded_text("", "only the chunk") == "only the chunk"


def test_prepare_refuses_what_cannot_be_stored(service: NewsService) -> None:
    with pytest.raises(InputError, match="has no text"):
        service.pipeline.prepare(doc("Empty", "\n\n \n"))
    too_long = "word " * (service.settings.max_article_chars // 5 + 1)
    with pytest.raises(InputError, match="too long"):
        service.pipeline.prepare(doc("Long", too_long))


def test_nul_characters_never_reach_the_store() -> None:
    cleaned = without_nul(doc("Ti\x00tle", "Te\x00xt.", source="A\x00P"))
    assert (cleaned.title, cleaned.text, cleaned.source) == ("Title", "Text.", "AP")


def test_an_absurd_title_is_cut_so_the_text_keeps_room() -> None:
    embedder = FakeEmbedder(max_tokens=128)
    prefix, budget = fit_prefix(
        " ".join(["word"] * 140), "Wire", None, embedder.count_tokens, 128, 60
    )
    assert len(prefix) == 120 and budget == 60
    prefix, budget = fit_prefix("Short", "Wire", None, embedder.count_tokens, 128, 60)
    assert prefix == "Short (Wire)" and budget == 60


def test_progress_counts_every_document_once(service: NewsService, monkeypatch) -> None:
    monkeypatch.setattr("index.ingest.pipeline.EMBED_GROUP", 1)
    seen: list[Progress] = []
    docs = [doc(f"Story {i}", f"{TEXT} Number {i} of many.") for i in range(4)]
    docs.append(docs[0])  # a duplicate counts as done too
    report = service.ingest(
        "default", docs, progress=lambda p: seen.append(Progress(**p.__dict__)), docs_total=5
    )
    assert len(report.added) == 4 and len(report.duplicates) == 1
    assert seen[-1].docs_done == 5 and seen[-1].docs_total == 5
    assert [r.article_id for r in report.added] == sorted(r.article_id for r in report.added)


def test_a_swapped_model_is_used_by_ingest_and_indexes(service: NewsService) -> None:
    other = FakeEmbedder()
    service.embedder = other
    assert service.pipeline.embedder is other and service.indexes.embedder is other
    service.ingest("default", [doc("Bridge approved", TEXT)])
    assert other.embedded > 0


def test_kept_says_what_an_interrupted_ingest_stored() -> None:
    report = IngestReport()
    assert kept(report) == "nothing was stored"
    report.added = [IngestResult(f"{i}.txt", i, "t", None, 1) for i in range(1, 6)]
    assert kept(report).startswith("5 articles added (#1 … #5) before it are stored")
