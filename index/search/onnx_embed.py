"""MiniLM on ONNX Runtime: the vectors PyTorch gives (within ~3e-7), at about twice the speed on
these CPUs, so stored vectors stay valid whichever runtime made them.

The model is exported once from the packaged weights (never a hub) into a cache beside the
data, with a manifest holding the file's SHA-256 and what it was made from (weights, recipe,
torch and onnxruntime versions); a file that does not match is exported again. Attention is
exported "eager" so ONNX Runtime's transformer optimizer can fuse it (Attention, SkipLayerNorm,
BiasGelu) — unfused, the same graph runs markedly slower.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from .embed import Embedder, model_name_for, read_dim, read_max_tokens

log = logging.getLogger(__name__)

EXPORT_RECIPE = 1  # bump when the export below changes what it writes
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "model.json"
# "int8": the fused graph's matrix products quantized to 8 bits per output channel (dynamic
# activations); the rest stays fp32. Faster on CPUs with VNNI; vectors within ~1 % in cosine.
FLAVOURS = ("fp32", "int8")


def files(flavour: str) -> tuple[str, str]:
    """The model file and its manifest for a flavour."""
    if flavour == "fp32":
        return MODEL_FILE, MANIFEST_FILE
    return f"model-{flavour}.onnx", f"model-{flavour}.json"


INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXPORT_TIMEOUT = 900.0  # seconds; the export takes about ten


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_of(model_path: Path, flavour: str = "fp32") -> dict[str, str]:
    """What an export is made from; a cached file made from anything else is exported again."""
    weights = model_path / "model.safetensors"
    if not weights.is_file():
        weights = model_path / "pytorch_model.bin"
    return {
        "weights_sha256": _sha256(weights),
        "recipe": str(EXPORT_RECIPE) if flavour == "fp32" else f"{EXPORT_RECIPE}-{flavour}",
        # Versions read without importing torch: a running bot never needs it.
        "torch": metadata.version("torch"),
        "onnxruntime": metadata.version("onnxruntime"),
    }


def cached_export(model_path: Path, cache_dir: Path, flavour: str = "fp32") -> Path | None:
    """The exported file in ``cache_dir`` when it is whole and made from ``model_path``."""
    name, manifest_name = files(flavour)
    target, manifest = cache_dir / name, cache_dir / manifest_name
    if not (target.is_file() and manifest.is_file()):
        return None
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    source = source_of(model_path, flavour)
    if meta.get("source") != source or meta.get("sha256") != _sha256(target):
        return None
    return target


def export(model_path: Path, cache_dir: Path, flavour: str = "fp32") -> Path:
    """The optimized ONNX file for ``model_path``: the cached one, or exported now (seconds).

    The export runs in a child process: it needs PyTorch, which a bot on ONNX Runtime would
    otherwise carry in memory for good. One export at a time per cache (a file lock); written
    under temp names and renamed into place, manifest last, so a kill never leaves a file that
    passes as whole.
    """
    found = cached_export(model_path, cache_dir, flavour)
    if found is not None:
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = cached_export(model_path, cache_dir, flavour)  # another process just made it?
        if found is not None:
            return found
        log.info("exporting %s to ONNX in %s (once)", model_path.name, cache_dir)
        proc = subprocess.run(
            [sys.executable, "-m", __name__, str(model_path), str(cache_dir), flavour],
            capture_output=True,
            text=True,
            timeout=EXPORT_TIMEOUT,
        )
        found = cached_export(model_path, cache_dir, flavour)
        if proc.returncode != 0 or found is None:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise StoreError(
                f"could not export the model to ONNX ({detail}); "
                "set NEWSBOT_EMBED_BACKEND=torch to embed on PyTorch"
            )
        return found


def _export_here(model_path: Path, cache_dir: Path, flavour: str = "fp32") -> None:
    name, manifest_name = files(flavour)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as tmp:
        fused = Path(tmp) / MODEL_FILE
        with warnings.catch_warnings():  # the exporter's notes on ops MiniLM does not use
            warnings.simplefilter("ignore")
            _export_fused(model_path, Path(tmp) / "raw.onnx", fused)
        made = fused
        if flavour == "int8":
            made = Path(tmp) / name
            _quantize(fused, made)
        target = cache_dir / name
        os.replace(made, target)
    meta = {"source": source_of(model_path, flavour), "sha256": _sha256(target)}
    partial = cache_dir / f".{manifest_name}.{os.getpid()}"
    partial.write_text(json.dumps(meta, indent=1))
    os.replace(partial, cache_dir / manifest_name)


def _quantize(fused: Path, out: Path) -> None:
    """Matrix products only, per output channel: quantizing everything cost far more accuracy."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fused),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _export_fused(model_path: Path, raw: Path, out: Path) -> None:
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(model_path))
    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            LastHidden(model),
            (ids, ids, torch.zeros_like(ids)),
            str(raw),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in (*INPUTS, "last_hidden_state")},
            opset_version=17,
            dynamo=False,
        )
    optimized = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=1,
    )
    optimized.save_model_to_file(str(out))


class OnnxEmbedder:
    """The ``Embedder`` contract on ONNX Runtime, with mean pooling and unit length as the
    sentence-transformers model does it.

    One session per thread count, made on first use by the thread that needs it: its worker
    threads inherit that thread's priority, so the bulk lane's (niced) session stays behind a
    question's one-thread session. Sessions do not spin while idle, leaving the cores to others.
    """

    def __init__(
        self,
        path: Path,
        cache_dir: Path,
        *,
        batch_size: int = 32,
        threads: int = 0,
        fallback: Embedder | None = None,
        flavour: str = "fp32",
    ) -> None:
        from tokenizers import Tokenizer

        self.fallback = fallback  # PyTorch, used when the export or ONNX Runtime fails
        self.flavour = flavour
        self.failed: str | None = None
        self.path = path
        self.cache_dir = cache_dir
        self.name = model_name_for(path)
        self.runtime = "onnxruntime" if flavour == "fp32" else f"onnxruntime-{flavour}"
        self.dim = read_dim(path)
        self.max_tokens = read_max_tokens(path)
        self.batch_size = batch_size
        self.threads = threads
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: dict[int, Any] = {}
        self._file: Path | None = None
        self._tokenizer_thread: ThreadPoolExecutor | None = None
        self._counter = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._encoder = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._encoder.enable_truncation(self.max_tokens)
        self._encoder.enable_padding()

    def load(self) -> None:
        """Export (once) and open a session now rather than on the first question."""
        self._session()

    def use_threads(self, threads: int) -> None:
        """CPU threads for this thread's next passes (0: the configured count, or all cores)."""
        self._local.threads = threads or self.threads or os.cpu_count() or 1
        use = getattr(self.fallback, "use_threads", None)
        if self.failed and use:
            use(threads)

    def _usable_session(self) -> Any | None:
        """This thread's session, or None once ONNX Runtime failed and PyTorch takes over (the
        same vectors, so nothing stored is touched)."""
        if self.failed and self.fallback is not None:
            return None
        try:
            return self._session()
        except Exception as exc:
            if self.fallback is None:
                raise
            self.failed = str(exc)
            log.warning("embedding on PyTorch: ONNX Runtime is not usable here (%s)", exc)
            return None

    def _session(self) -> Any:
        import onnxruntime as ort

        n = getattr(self._local, "threads", None) or self.threads or os.cpu_count() or 1
        with self._lock:
            if self._file is None:
                self._file = export(self.path, self.cache_dir, self.flavour)
            session = self._sessions.get(n)
            if session is None:
                options = ort.SessionOptions()
                options.intra_op_num_threads = n
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.log_severity_level = 3
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                session = ort.InferenceSession(
                    str(self._file), options, providers=["CPUExecutionProvider"]
                )
                self._sessions[n] = session
        return session

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session = self._usable_session()
        if session is None:
            assert self.fallback is not None
            return self.fallback.embed(texts)
        # Similar lengths together: a batch is padded to its longest text.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if len(batches) == 1:  # a question: no hand-off
            out[batches[0]] = self._pool(session, self._inputs([texts[i] for i in order]))
            return out
        # The next batch is tokenized on another thread while the model runs this one.
        pending = self._tokenizing().submit(self._inputs, [texts[i] for i in batches[0]])
        for k, picked in enumerate(batches):
            inputs = pending.result()
            if k + 1 < len(batches):
                upcoming = [texts[i] for i in batches[k + 1]]
                pending = self._tokenizing().submit(self._inputs, upcoming)
            out[picked] = self._pool(session, inputs)
        return out

    def _tokenizing(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._tokenizer_thread is None:
                self._tokenizer_thread = ThreadPoolExecutor(1, thread_name_prefix="onnx-tokenize")
            return self._tokenizer_thread

    def _inputs(self, batch: list[str]) -> dict[str, np.ndarray]:
        encodings = self._encoder.encode_batch(batch)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    @staticmethod
    def _pool(session: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Mean over the real tokens, then unit length: sentence-transformers' pooling."""
        hidden = session.run(None, inputs)[0]
        weights = inputs["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]


if __name__ == "__main__":  # the child process ``export`` runs
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _export_here(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "fp32")
