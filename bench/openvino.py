"""OpenVINO beside the runtimes ``auto`` chooses from (ONNX Runtime int8 and fp32, PyTorch), on
the fixed batch the choice is measured on (``index/search/runtime.py``), round by round in one
process so a neighbour's load lands on every side of the ratios. Research, not CI: OpenVINO and
NNCF are not dependencies of newsbot (this measured whether they should be).

  pip install openvino==2026.4.1 nncf==3.4.0   # into a separate folder on PYTHONPATH is enough
  python -m bench.openvino [--rounds 7] [--out bench/results/openvino.json]

Candidates: OpenVINO on the fp32 ONNX export, and on the graph NNCF quantizes to 8 bits
(weights and activations, its transformer preset, calibrated on the sample batch's texts), each
with the latency hint (one request on every core: how ingest batches run). Each is scored like
``auto``'s candidates: chunks a second (median round) and cosine to PyTorch's vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.search.cpu import cpu_line
from index.search.embed import SentenceTransformerEmbedder, packaged_model_path, user_model_cache
from index.search.onnx_embed import OnnxEmbedder
from index.search.runtime import MIN_COSINE, MIN_COSINE_EACH, sample_texts


class OpenVinoRunner:
    """A compiled OpenVINO model behind the ONNX embedder's tokenizer and pooling."""

    def __init__(self, model: Any, tokenizer: OnnxEmbedder) -> None:
        import openvino as ov

        threads = os.cpu_count() or 1
        config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        self.request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
        self.tokenizer = tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.tokenizer.dim), dtype=np.float32)
        for start in range(0, len(order), 32):
            picked = order[start : start + 32]
            inputs = self.tokenizer._inputs([texts[i] for i in picked])
            out[picked] = OnnxEmbedder._pool(self, inputs)  # the same pooling, on this request
        return out

    def run(self, _outputs: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """What ``OnnxEmbedder._pool`` asks of a session."""
        return [self.request.infer(inputs)[0]]

    def use_threads(self, threads: int) -> None:
        pass


def nncf_int8(fp32_file: Path, tokenizer: OnnxEmbedder, texts: list[str]) -> Any:
    import nncf
    import openvino as ov

    calibration = [tokenizer._inputs(texts[i : i + 4]) for i in range(0, len(texts), 4)]
    return nncf.quantize(
        ov.convert_model(str(fp32_file)),
        nncf.Dataset(calibration),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(calibration),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import openvino as ov

    model_path, cache = packaged_model_path(), user_model_cache()
    texts = sample_texts()
    reference = SentenceTransformerEmbedder(model_path, batch_size=32)
    runners: dict[str, Any] = {
        f"onnxruntime-{f}": OnnxEmbedder(model_path, cache, flavour=f) for f in ("int8", "fp32")
    }
    tokenizer = runners["onnxruntime-fp32"]
    tokenizer.embed(texts[:2])  # the export made (or found in the cache)
    runners["torch"] = reference
    fp32_file = tokenizer._file
    runners["openvino-fp32"] = OpenVinoRunner(str(fp32_file), tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        quantized = Path(tmp) / "nncf-int8.xml"
        ov.save_model(nncf_int8(fp32_file, tokenizer, texts), str(quantized))
        runners["openvino-nncf-int8"] = OpenVinoRunner(str(quantized), tokenizer)
    for runner in runners.values():
        runner.use_threads(0)
        runner.embed(texts[:4])
    took: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.rounds):
        for name, runner in runners.items():
            started = time.perf_counter()
            runner.embed(texts)
            took[name].append(time.perf_counter() - started)
    expected = reference.embed(texts)
    torch_s = float(np.median(took["torch"]))
    out: dict[str, Any] = {
        "command": f"python -m bench.openvino --rounds {args.rounds}",
        "cpu": cpu_line(),
        "openvino": ov.__version__,
        "texts": len(texts),
        "runtimes": {},
    }
    print(out["cpu"])
    for name, runner in runners.items():
        cosine = (runner.embed(texts) * expected).sum(axis=1)
        median = float(np.median(took[name]))
        row = {
            "chunks_per_s": round(len(texts) / median, 1),
            "over_torch": round(torch_s / median, 2),
            "mean_cosine": round(float(cosine.mean()), 5),
            "min_cosine": round(float(cosine.min()), 5),
            "passes_gate": bool(cosine.mean() >= MIN_COSINE and cosine.min() >= MIN_COSINE_EACH),
        }
        out["runtimes"][name] = row
        print(
            f"{name:20s} {row['chunks_per_s']:6.1f} chunks/s  {row['over_torch']:.2f}x torch"
            f"  cosine mean {row['mean_cosine']:.4f} least {row['min_cosine']:.4f}"
        )
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
