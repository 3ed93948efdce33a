"""The runtime MiniLM embeds on, chosen by measurement on the CPU at hand
(``NEWSBOT_EMBED_BACKEND=auto``, the default), once per model cache and CPU: both ONNX exports
(fp32 and int8, ``onnx_embed``) and PyTorch embed a fixed batch of news-like texts
(``runtime_sample.txt``) side by side in a child process, and the fastest whose vectors stay
within cosine 0.99 of PyTorch's (on average, none below 0.98) is used. 8-bit matrix products
gain 2.6× on CPUs with VNNI but less on AVX2 alone, so no one flavour is fastest everywhere. The
choice and its timings are kept in ``runtime.json`` beside the exports, with the CPU they were
measured on (a cache carried to another CPU measures again); ``newsbot stats`` shows them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from .embed import Embedder
from .onnx_embed import (
    EXPORT_RECIPE,
    TEMP_PREFIX,
    OnnxEmbedder,
    export,
    export_lock,
    read_cache_text,
    source_of,
)

log = logging.getLogger(__name__)

RUNTIME_FILE = "runtime.json"  # the runtime chosen for this cache and CPU, with its timings
MEASURE_RECIPE = 1  # bump when the measurement below changes what it compares
CANDIDATES = ("int8", "fp32")  # what ``auto`` times (PyTorch beside them: "torch")
# The quality gate: a candidate's vectors of the sample texts within cosine 0.99 of PyTorch's on
# average, and none below 0.98 (a graph gone wrong gives far less). 8-bit products on an
# AVX2-only CPU gave mean 0.990, least 0.985 on these long texts; fp32 1.000.
MIN_COSINE = 0.99
MIN_COSINE_EACH = 0.98
MEASURE_ROUNDS = 3  # timed passes over the batch a candidate (the median is kept)
MEASURE_TIMEOUT = 600.0


def sample_texts() -> list[str]:
    """The fixed batch a choice is measured on: 32 texts of 2–4 paragraphs (~150–250 word
    pieces, as ingested chunks are), each under a prefix line as the ingest embeds them."""
    from importlib import resources

    text = resources.files(__package__).joinpath("runtime_sample.txt").read_text("utf-8")
    paragraphs = [p for p in text.splitlines() if p.strip()]
    out = []
    for i in range(32):
        body = " ".join(paragraphs[(i + k) % len(paragraphs)] for k in range(2 + i % 3))
        out.append(
            f"Sample story {i + 1} (Newswire, 2024-{1 + i % 12:02d}-{1 + i % 28:02d})\n{body}"
        )
    return out


def runtime_source(model_path: Path) -> dict[str, str]:
    """What a choice depends on besides the CPU: the weights, the recipes, the versions."""
    return {
        **source_of(model_path),
        "recipe": f"{EXPORT_RECIPE}/{MEASURE_RECIPE}",
        "candidates": " ".join(CANDIDATES),
    }


def cached_choice(model_path: Path, cache_dir: Path) -> dict[str, Any] | None:
    """The runtime chosen for this cache on this CPU, when it was measured with these weights
    and versions; None otherwise (it is measured at the next first use)."""
    from .cpu import cpu

    try:
        choice = json.loads(read_cache_text(cache_dir / RUNTIME_FILE))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(choice, dict)
        or choice.get("cpu") != cpu()
        or choice.get("source") != runtime_source(model_path)
        or choice.get("chosen") not in (*CANDIDATES, "torch")
    ):
        return None
    return choice


def choose(model_path: Path, cache_dir: Path) -> dict[str, Any]:
    """The runtime for this CPU: the cached choice, or measured now (once per cache and CPU,
    under the export lock; the candidates exported first). Measuring in a child process keeps
    PyTorch out of this one."""
    from .cpu import cpu

    found = cached_choice(model_path, cache_dir)
    if found is not None:
        return found
    for flavour in CANDIDATES:
        export(model_path, cache_dir, flavour)
    with export_lock(cache_dir) as held:
        assert held is not None
        found = cached_choice(model_path, cache_dir)  # another process measured meanwhile?
        if found is not None:
            return found
        log.info("timing the model's runtimes on this CPU (once for %s)", cache_dir)
        with tempfile.TemporaryFile("w+") as messages:
            proc = subprocess.run(
                [sys.executable, "-m", __name__, str(model_path), str(cache_dir)],
                stdout=subprocess.PIPE,
                stderr=messages,
                timeout=MEASURE_TIMEOUT,
                text=True,
            )
            messages.seek(0)
            stderr = messages.read()
        try:
            measured = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            detail = (stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise StoreError(f"could not time the model's runtimes ({detail})") from None
        choice = {"source": runtime_source(model_path), "cpu": cpu(), **measured}
        fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=TEMP_PREFIX, suffix=".json")
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(choice, indent=1))
        os.replace(partial, cache_dir / RUNTIME_FILE)
    log.info(
        "embedding on %s: %s",
        choice["chosen"],
        ", ".join(f"{k} {v['chunks_per_s']} chunks/s" for k, v in choice["candidates"].items()),
    )
    return choice


def _measure_here(model_path: Path, cache_dir: Path) -> dict[str, Any]:
    """Each candidate and PyTorch on the sample batch, interleaved round by round so a
    neighbour's load lands on all of them; its speed (the median round, all cores, as the
    ingest runs) and its vectors' least cosine to PyTorch's. The fastest that passes wins."""
    import time

    from .embed import SentenceTransformerEmbedder

    texts = sample_texts()
    reference = SentenceTransformerEmbedder(model_path, batch_size=32)
    runners: dict[str, Embedder] = {
        f: OnnxEmbedder(model_path, cache_dir, flavour=f) for f in CANDIDATES
    }
    runners["torch"] = reference
    for runner in runners.values():
        runner.use_threads(0)  # type: ignore[attr-defined]
        runner.embed(texts[:4])  # sessions opened, the model loaded
    took: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(MEASURE_ROUNDS):
        for name, runner in runners.items():
            started = time.perf_counter()
            runner.embed(texts)
            took[name].append(time.perf_counter() - started)
    expected = reference.embed(texts)
    candidates = {}
    for name, runner in runners.items():
        cosine = (runner.embed(texts) * expected).sum(axis=1)
        candidates[name] = {
            "chunks_per_s": round(len(texts) / float(np.median(took[name])), 1),
            "mean_cosine": round(float(cosine.mean()), 5),
            "min_cosine": round(float(cosine.min()), 5),
            "passed": bool(cosine.mean() >= MIN_COSINE and cosine.min() >= MIN_COSINE_EACH),
        }
    passed = [k for k, v in candidates.items() if v["passed"]]
    return {
        "chosen": max(passed, key=lambda k: candidates[k]["chunks_per_s"]),
        "candidates": candidates,
        "texts": len(texts),
        "rounds": MEASURE_ROUNDS,
        "threads": os.cpu_count() or 1,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


if __name__ == "__main__":  # the child process ``choose`` runs
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    print(json.dumps(_measure_here(Path(sys.argv[1]), Path(sys.argv[2]))))
