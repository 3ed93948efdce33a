"""Peak memory of a bot process with the model loaded, per embedding runtime.

Each runtime in a fresh process that imports what the bot imports, opens a data folder,
warms the model up (export already cached) and answers questions; its peak RSS is read from
the kernel (``VmHWM``) when it is done.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(backend: str, data_dir: Path, questions: list[str], models: Path) -> dict:
    """One fresh process: bot imports, service, warm-up, the questions; its peak RSS."""
    argv = ["--child", backend, "--data-dir", str(data_dir), "--models", str(models)]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.rss", *argv],
        input=json.dumps(questions),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(backend: str, data_dir: Path, models: Path) -> None:
    from datetime import date

    import bot.client  # noqa: F401  (what the bot process holds besides the core)
    from index.search.embed import make_embedder
    from index.search.retrieve import Filters
    from index.service import NewsService
    from index.settings import CoreSettings

    questions = json.loads(sys.stdin.read())
    embedder = make_embedder(backend, cache_dir=models)  # export cached by the caller
    service = NewsService(CoreSettings(data_dir=data_dir), embedder)
    service.warm_up()
    today = Filters(as_of=date.today().isoformat())
    for q in questions:
        service.ask("default", q, filters=today)
    print(json.dumps({"backend": backend, "peak_rss_mb": round(peak_kb() / 1024, 1)}))
    service.close()


def peak_kb() -> int:
    """This process's peak resident set (VmHWM): ``ru_maxrss`` would also count the parent's
    size at fork, which Linux carries across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", metavar="BACKEND")
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--models", type=Path, help="the ONNX export cache (default: DATA_DIR/models)")
    a = ap.parse_args(argv)
    models = a.models or a.data_dir / "models"
    if a.child:
        _child(a.child, a.data_dir, models)
        return 0
    questions = ["What did the council decide?"] * 5
    for backend in ("torch", "onnx"):
        print(json.dumps(measure(backend, a.data_dir, questions, models)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
