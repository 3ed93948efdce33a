"""MiniLM on ONNX Runtime: the vectors PyTorch gives (within ~3e-7), at about twice the speed on
these CPUs, so stored vectors stay valid whichever runtime made them.

The model is exported once from the packaged weights (never a hub) into a cache beside the
data, with a manifest holding the file's SHA-256 and what it was made from (weights, recipe,
torch and onnxruntime versions); a file that does not match is exported again. Attention is
exported "eager" so ONNX Runtime's transformer optimizer can fuse it (Attention, SkipLayerNorm,
BiasGelu) — unfused, the same graph runs markedly slower.

With ``NEWSBOT_EMBED_BACKEND=auto`` (the default) the flavour is the one measured fastest on
the CPU at hand (``runtime``).

The cache lives outside the data folder by default, one per user (``embed.model_cache_dir``):
every data folder of the user shares one export and one choice.

The cache is never trusted further than it must be: a folder that is a symbolic link is refused
(a process run as root would write wherever it points), links inside it are never followed, a
graph whose inputs and outputs are not the ones fed here is exported again, and what a killed
export left behind is swept under the export lock.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
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
TEMP_PREFIX = ".export-"  # every file or folder an export writes before renaming it into place
LOCK_FILE = ".lock"


class UnsafeCacheError(StoreError):
    """The model cache is a symbolic link: nothing is written through it."""


def check_cache_dir(cache_dir: Path) -> None:
    """Refuse a cache folder that is a symbolic link: a process (root, say) would write the
    export, its lock and its temp files wherever the link points. Its parents are the path
    the operator chose, and are not checked."""
    try:
        mode = os.lstat(cache_dir).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise UnsafeCacheError(
            f"the model cache {cache_dir} is a symbolic link, which newsbot does not write "
            "through: point NEWSBOT_MODEL_CACHE at a real folder"
        )


def _sha256(path: Path, *, follow: bool = True) -> str:
    """The file's SHA-256; a cache file (``follow=False``) is never read through a link."""
    flags = os.O_RDONLY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    h = hashlib.sha256()
    with os.fdopen(os.open(path, flags), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_cache_text(path: Path) -> str:
    """A cache file's text, never read through a link (ELOOP)."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return f.read(1 << 20).decode()


@lru_cache(maxsize=8)
def _weights_sha256(path: str, mtime_ns: int, size: int) -> str:
    """The weights' SHA-256, read once a process while the file is unchanged (~90 MB)."""
    return _sha256(Path(path))


def source_of(model_path: Path, flavour: str = "fp32") -> dict[str, str]:
    """What an export is made from; a cached file made from anything else is exported again."""
    weights = model_path / "model.safetensors"
    if not weights.is_file():
        weights = model_path / "pytorch_model.bin"
    st = weights.stat()
    return {
        "weights_sha256": _weights_sha256(str(weights), st.st_mtime_ns, st.st_size),
        "recipe": str(EXPORT_RECIPE) if flavour == "fp32" else f"{EXPORT_RECIPE}-{flavour}",
        # Versions read without importing torch: a running bot never needs it.
        "torch": metadata.version("torch"),
        "onnxruntime": metadata.version("onnxruntime"),
    }


def _cached(model_path: Path, cache_dir: Path, flavour: str) -> tuple[Path, str] | None:
    """The whole export made from ``model_path``, and its SHA-256. A link in place of the file
    or its manifest is not one: the export renames a real file over it."""
    name, manifest_name = files(flavour)
    target = cache_dir / name
    try:
        meta = json.loads(read_cache_text(cache_dir / manifest_name))
        sha = _sha256(target, follow=False)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("sha256") != sha:
        return None
    if meta.get("source") != source_of(model_path, flavour):
        return None
    return target, sha


def cached_export(model_path: Path, cache_dir: Path, flavour: str = "fp32") -> Path | None:
    """The exported file in ``cache_dir`` when it is whole and made from ``model_path``."""
    found = _cached(model_path, cache_dir, flavour)
    return found[0] if found else None


@contextmanager
def export_lock(cache_dir: Path, *, wait: bool = True) -> Iterator[tuple[int, int] | None]:
    """The cache folder and its export lock, opened without following links (their fds), or
    None when another process holds the lock and ``wait`` is False. Every running export holds
    it, the exporting child included, so under it no temp file is being written."""
    try:
        dir_fd = os.open(cache_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        check_cache_dir(cache_dir)  # a link put there since: say so
        raise
    try:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            lock_fd = os.open(LOCK_FILE, flags, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            os.unlink(LOCK_FILE, dir_fd=dir_fd)  # a link planted in its place: replaced
            lock_fd = os.open(LOCK_FILE, flags | os.O_EXCL, 0o644, dir_fd=dir_fd)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                held = False
            else:
                held = True
            yield (dir_fd, lock_fd) if held else None
        finally:
            os.close(lock_fd)
    finally:
        os.close(dir_fd)


def _sweep(dir_fd: int) -> None:
    """Remove what killed exports left (a temp folder of 90–180 MB each). Only under the lock."""
    for entry in os.scandir(dir_fd):
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.name, dir_fd=dir_fd)
            else:  # a partial manifest, or a link: the entry itself, never what it points to
                os.unlink(entry.name, dir_fd=dir_fd)
        except OSError as exc:
            log.warning("could not remove %s, left by an export: %s", entry.name, exc)


def _sweep_if_idle(cache_dir: Path) -> None:
    """Leftovers of a killed export, removed unless an export is running now."""
    try:
        if not any(name.startswith(TEMP_PREFIX) for name in os.listdir(cache_dir)):
            return
        with export_lock(cache_dir, wait=False) as held:
            if held is not None:
                _sweep(held[0])
    except OSError as exc:  # a read-only cache, say: it still serves its export
        log.debug("model cache not swept: %s", exc)


def export(model_path: Path, cache_dir: Path, flavour: str = "fp32") -> Path:
    """The optimized ONNX file for ``model_path``: the cached one, or exported now (seconds)."""
    return _export(model_path, cache_dir, flavour)[0]


def _export(
    model_path: Path, cache_dir: Path, flavour: str = "fp32", *, unfit: str = ""
) -> tuple[Path, str]:
    """``export``, with the file's SHA-256. ``unfit``: that of a cached file found not to fit
    the embedder, exported again unless another process has replaced it since.

    The export runs in a child process: it needs PyTorch, which a bot on ONNX Runtime would
    otherwise carry in memory for good. One export at a time per cache (a file lock, which the
    child holds too, so a parent killed mid-export does not free it); written under temp names
    and renamed into place, manifest last, so a kill never leaves a file that passes as whole,
    and what a killed export left is swept under the lock.
    """
    check_cache_dir(cache_dir)
    found = _cached(model_path, cache_dir, flavour)
    if found is not None and found[1] != unfit:
        _sweep_if_idle(cache_dir)
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    with export_lock(cache_dir) as held:
        assert held is not None
        dir_fd, lock_fd = held
        found = _cached(model_path, cache_dir, flavour)  # another process just made it?
        if found is not None and found[1] != unfit:
            _sweep(dir_fd)
            return found
        log.info("exporting %s to ONNX in %s (once)", model_path.name, cache_dir)
        _sweep(dir_fd)
        # Its messages go to a file, not a pipe: a child outliving this process finishes.
        with tempfile.TemporaryFile("w+") as messages:
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", __name__, str(model_path), str(cache_dir), flavour],
                    stdout=subprocess.DEVNULL,
                    stderr=messages,
                    timeout=EXPORT_TIMEOUT,
                    pass_fds=(lock_fd,),
                )
            finally:
                _sweep(dir_fd)  # a failed or interrupted child's temp files
            messages.seek(0)
            stderr = messages.read()
        found = _cached(model_path, cache_dir, flavour)
        if proc.returncode != 0 or found is None:
            detail = (stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise StoreError(
                f"could not export the model to ONNX ({detail}); "
                "set NEWSBOT_EMBED_BACKEND=torch to embed on PyTorch"
            )
        return found


def _export_here(model_path: Path, cache_dir: Path, flavour: str = "fp32") -> None:
    check_cache_dir(cache_dir)
    name, manifest_name = files(flavour)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=TEMP_PREFIX) as tmp:
        fused = Path(tmp) / MODEL_FILE
        with warnings.catch_warnings():  # the exporter's notes on ops MiniLM does not use
            warnings.simplefilter("ignore")
            _export_fused(model_path, Path(tmp) / "raw.onnx", fused)
        made = fused
        if flavour == "int8":
            made = Path(tmp) / name
            _quantize(fused, made)
        target = cache_dir / name
        os.replace(made, target)  # over a link, never through it
    meta = {"source": source_of(model_path, flavour), "sha256": _sha256(target, follow=False)}
    fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=TEMP_PREFIX, suffix=".json")
    os.fchmod(fd, 0o644)  # as readable as the model file beside it
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(meta, indent=1))
    os.replace(partial, cache_dir / manifest_name)


def misfit(session: Any, dim: int) -> str:
    """How a graph differs from what the embedder feeds it and pools ("" when it does not): a
    loadable file of another shape would otherwise fail every pass with InvalidArgument."""
    inputs = {i.name: i for i in session.get_inputs()}
    if set(inputs) != set(INPUTS):
        return f"inputs {', '.join(inputs) or 'none'}, not {', '.join(INPUTS)}"
    for i in inputs.values():
        if (
            i.type != "tensor(int64)"
            or len(i.shape) != 2
            or any(isinstance(d, int) for d in i.shape)
        ):
            return f"input {i.name} as {i.type} {i.shape}, not int64 [batch, tokens]"
    outputs = session.get_outputs()
    out = outputs[0] if outputs else None
    if (
        out is None
        or out.type != "tensor(float)"
        or len(out.shape) != 3
        or any(isinstance(d, int) for d in out.shape[:2])
        or out.shape[2] != dim
    ):
        found = f"{out.type} {out.shape}" if out is not None else "nothing"
        return f"output {found}, not float [batch, tokens, {dim}]"
    return ""


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

        check_cache_dir(cache_dir)  # refused at start, not at the first question
        self.fallback = fallback  # PyTorch, used when the export or ONNX Runtime fails
        self.flavour = flavour  # "auto": chosen by measurement at first use (``runtime.choose``)
        self.choice: dict[str, Any] | None = None
        self.failed: str | None = None
        self.path = path
        self.cache_dir = cache_dir
        self.name = model_name_for(path)
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

    @property
    def runtime(self) -> str:
        """The runtime embedding now (or to be chosen at first use)."""
        flavour = self.flavour
        if flavour == "auto":
            from .runtime import cached_choice  # runtime.py builds on this module

            found = cached_choice(self.path, self.cache_dir)
            if found is None:
                return "auto (chosen at first use)"
            flavour = found["chosen"]
        if flavour == "torch" or self.failed:
            return "torch"
        return "onnxruntime" if flavour == "fp32" else f"onnxruntime-{flavour}"

    def describe(self) -> dict[str, Any]:
        """The runtime and, when chosen by measurement, what was measured (``stats``): read
        from the cache, never measured here."""
        from .runtime import cached_choice

        out: dict[str, Any] = {"runtime": self.runtime, "model_cache": str(self.cache_dir)}
        choice = self.choice or (
            cached_choice(self.path, self.cache_dir) if self.flavour in ("auto",) else None
        )
        if choice is not None:
            c = choice["cpu"]
            out["runtime_choice"] = {
                "chosen": choice["chosen"],
                "cpu": f"{c['model']}, {c['cores']} cores, {c['flags']}",
                "chunks_per_s": {k: v["chunks_per_s"] for k, v in choice["candidates"].items()},
                "cosine_to_torch": {
                    k: f"mean {v['mean_cosine']}, least {v['min_cosine']}"
                    + ("" if v["passed"] else " (below the bar)")
                    for k, v in choice["candidates"].items()
                },
                "measured_at": choice.get("measured_at"),
            }
        return out

    def load(self) -> None:
        """Export (once) and open a session now rather than on the first question."""
        self._usable_session()

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
            if self.flavour == "auto":
                self._choose()
            if self.flavour == "torch" and self.fallback is not None:
                return None  # measured fastest here: PyTorch embeds
            return self._session()
        except Exception as exc:
            if self.fallback is None:
                raise
            self.failed = str(exc)
            log.warning("embedding on PyTorch: ONNX Runtime is not usable here (%s)", exc)
            return None

    def _choose(self) -> None:
        """The flavour measured fastest on this CPU; int8 if it cannot be measured."""
        from .runtime import choose

        with self._lock:
            if self.flavour != "auto":
                return
            try:
                self.choice = choose(self.path, self.cache_dir)
                self.flavour = self.choice["chosen"]
            except (StoreError, OSError, subprocess.SubprocessError) as exc:
                log.warning("embedding on int8 without timing the runtimes: %s", exc)
                self.flavour = "int8"

    def _session(self) -> Any:
        n = getattr(self._local, "threads", None) or self.threads or os.cpu_count() or 1
        with self._lock:
            session = self._sessions.get(n)
            if session is None:
                if self._file is None:
                    session = self._first_session(n)
                else:
                    session = self._open(self._file, n)
                self._sessions[n] = session
        return session

    def _first_session(self, n: int) -> Any:
        """A session on the export once its graph is seen to take what ``_inputs`` makes and
        give what ``_pool`` reads: a cached file that does not is exported again (under the
        lock); one that still does not, or fails a first pass, is an error (PyTorch takes over).
        """
        file, sha = _export(self.path, self.cache_dir, self.flavour)
        session = self._open(file, n)
        if why := misfit(session, self.dim):
            log.warning("the ONNX model %s takes %s: exporting it again", file, why)
            file, _ = _export(self.path, self.cache_dir, self.flavour, unfit=sha)
            session = self._open(file, n)
            if why := misfit(session, self.dim):
                raise StoreError(f"the ONNX model {file} takes {why}")
        try:
            inputs = self._inputs(["a", "a first pass"])
            hidden = session.run(None, inputs)[0]
        except Exception as exc:
            raise StoreError(f"the ONNX model {file} fails a first pass ({exc})") from exc
        if hidden.shape != (*inputs["input_ids"].shape, self.dim):
            raise StoreError(f"the ONNX model {file} gives {hidden.shape} for a first pass")
        self._file = file
        return session

    def _open(self, file: Path, n: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = n
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])

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
