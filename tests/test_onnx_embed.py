"""MiniLM on ONNX Runtime gives the vectors PyTorch gives, exported once from the packaged
weights into a checked cache: stored vectors stay valid whichever runtime made them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import SAMPLE, foreign_graph
from index.search import onnx_embed
from index.search.embed import SentenceTransformerEmbedder, make_embedder

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.model

TEXTS = [
    "What does the NIS claim about satellite launches?",
    "Council cancels the bridge plan",
    "",
    "a",
    SAMPLE.read_text(encoding="utf-8"),  # far longer than the 256 pieces the model reads
    "Les élections au Danemark: qui a gagné ? 🗳️",
]


@pytest.fixture(scope="module")
def onnx(model_cache: Path) -> onnx_embed.OnnxEmbedder:
    embedder = make_embedder("onnx", cache_dir=model_cache, threads=2)
    assert isinstance(embedder, onnx_embed.OnnxEmbedder)
    return embedder


@pytest.fixture
def cache(onnx: onnx_embed.OnnxEmbedder, model_cache: Path, tmp_path: Path) -> Path:
    """A copy of the session's export, to damage."""
    onnx.load()
    copy = tmp_path / "models"
    copy.mkdir()
    for name in (onnx_embed.MODEL_FILE, onnx_embed.MANIFEST_FILE):
        shutil.copy2(model_cache / name, copy / name)
    return copy


def test_vectors_match_pytorch(onnx, torch_embedder: SentenceTransformerEmbedder) -> None:
    real_embedder = torch_embedder
    expected = real_embedder.embed(TEXTS)
    got = onnx.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (onnx.name, onnx.dim, onnx.max_tokens) == (
        real_embedder.name,
        real_embedder.dim,
        real_embedder.max_tokens,
    )
    assert onnx.count_tokens(TEXTS) == real_embedder.count_tokens(TEXTS)


def test_one_question_on_one_thread_matches_a_batch(onnx) -> None:
    batch = onnx.embed(TEXTS[:2])
    onnx.use_threads(1)
    alone = onnx.embed(TEXTS[1:2])
    onnx.use_threads(0)
    assert float(np.abs(alone[0] - batch[1]).max()) < 1e-5


def test_export_is_cached_and_a_changed_file_is_exported_again(onnx, cache: Path) -> None:
    model = cache / onnx_embed.MODEL_FILE
    manifest = json.loads((cache / onnx_embed.MANIFEST_FILE).read_text())
    assert manifest["sha256"] and manifest["source"]["weights_sha256"]
    stamp = model.stat().st_mtime_ns
    assert onnx_embed.export(onnx.path, cache) == model
    assert model.stat().st_mtime_ns == stamp  # reused, not exported again

    with model.open("r+b") as f:  # one byte changed on disk
        f.seek(model.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert onnx_embed.cached_export(onnx.path, cache) is None
    assert onnx_embed.export(onnx.path, cache) == model
    assert onnx_embed.cached_export(onnx.path, cache) == model
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "model.json", "model.onnx"]
    assert (
        float(
            np.abs(
                onnx_embed.OnnxEmbedder(onnx.path, cache).embed(TEXTS[:2]) - onnx.embed(TEXTS[:2])
            ).max()
        )
        < 1e-6
    )


def test_an_unknown_backend_is_refused() -> None:
    from index.errors import InputError

    with pytest.raises(InputError, match="NEWSBOT_EMBED_BACKEND"):
        make_embedder("tensorflow", cache_dir=Path("/nonexistent"))


def test_many_texts_come_back_in_their_own_order(onnx) -> None:
    """Batches are sorted by length and tokenized ahead: each row is still its own text's."""
    words = SAMPLE.read_text(encoding="utf-8").split()
    texts = [" ".join(words[i : i + 1 + (i * 7) % 90]) for i in range(0, 700, 10)]
    together = onnx.embed(texts)
    alone = np.vstack([onnx.embed([t]) for t in texts])
    assert len(texts) > 2 * onnx.batch_size
    assert float(np.abs(together - alone).max()) < 1e-5


def test_when_onnx_runtime_cannot_be_used_pytorch_answers_alike(
    tmp_path: Path, torch_embedder, caplog
) -> None:
    """A cache that cannot be written (here a file stands where its folder should be): a
    warning, and the same vectors."""
    cache = tmp_path / "models"
    cache.write_text("not a folder")
    embedder = make_embedder("onnx", cache_dir=cache, threads=2)
    got = embedder.embed(TEXTS[:3])
    assert float(np.abs(got - torch_embedder.embed(TEXTS[:3])).max()) < 1e-5
    assert "embedding on PyTorch" in caplog.text and str(cache) in caplog.text
    assert embedder.embed(TEXTS[:1]).shape == (1, embedder.dim)  # and it stays on PyTorch
    assert cache.read_text() == "not a folder"


def test_a_link_in_the_cache_is_not_read_through(onnx, cache: Path, tmp_path: Path) -> None:
    """A model file or manifest that is a symbolic link does not count as cached (the export
    renames a real file over it): a process run as root never reads or trusts what it names."""
    for name in (onnx_embed.MODEL_FILE, onnx_embed.MANIFEST_FILE):
        elsewhere = tmp_path / f"elsewhere-{name}"
        (cache / name).rename(elsewhere)
        (cache / name).symlink_to(elsewhere)
        assert onnx_embed.cached_export(onnx.path, cache) is None
        (cache / name).unlink()
        elsewhere.rename(cache / name)
    assert onnx_embed.cached_export(onnx.path, cache) == cache / onnx_embed.MODEL_FILE


def test_a_graph_that_gives_other_than_it_declares_is_not_trusted(
    onnx, cache: Path, torch_embedder, caplog
) -> None:
    """Its inputs and outputs look right, but a pass gives rows of another width, which would
    fail every pass to come: PyTorch answers instead, with a warning."""
    pytest.importorskip("onnx")
    model = cache / onnx_embed.MODEL_FILE
    foreign_graph(model, lies=True)
    manifest = json.loads((cache / onnx_embed.MANIFEST_FILE).read_text())
    manifest["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (cache / onnx_embed.MANIFEST_FILE).write_text(json.dumps(manifest))
    embedder = onnx_embed.OnnxEmbedder(onnx.path, cache, fallback=torch_embedder)
    got = embedder.embed(TEXTS[:3])
    assert float(np.abs(got - torch_embedder.embed(TEXTS[:3])).max()) < 1e-5
    assert "embedding on PyTorch" in caplog.text and "first pass" in caplog.text


def test_the_int8_flavour_is_its_own_export_and_stays_close_to_pytorch(
    model_cache: Path, torch_embedder
) -> None:
    """8-bit matrix products: a separate file and manifest beside the fp32 one, vectors within
    a few thousandths in cosine (retrieval figures: README)."""
    int8 = make_embedder("onnx-int8", cache_dir=model_cache, threads=2)
    assert isinstance(int8, onnx_embed.OnnxEmbedder) and int8.runtime == "onnxruntime-int8"
    got, expected = int8.embed(TEXTS), torch_embedder.embed(TEXTS)
    assert float((got * expected).sum(axis=1).min()) > 0.97  # the empty text is the loosest
    assert (model_cache / "model-int8.onnx").is_file() and (
        model_cache / "model-int8.json"
    ).is_file()
    assert (
        onnx_embed.cached_export(int8.path, model_cache, "int8") == model_cache / "model-int8.onnx"
    )
