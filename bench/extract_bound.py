"""What one tag-heavy page costs to read: seconds and peak memory of reading a file the way
`newsbot ingest` and `!ingest` do (``index.ingest.sources.documents_from_path``), each run in a
fresh process so peak RSS is that run's alone (issue #7, item 4).

    python -m bench.extract_bound [--tags 1000000] [--runs 3] [--code DIR]

``--code`` runs another checkout's ``index`` (e.g. an export of main) on the same page.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from index.ingest.sources import documents_from_path
started = time.perf_counter()
out = [getattr(d, "reason", "document") for d in
       documents_from_path(Path(sys.argv[1]), max_bytes=20_000_000)]
print(json.dumps({"seconds": time.perf_counter() - started, "result": out[0][:120],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=1_000_000, help="<span> elements")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "tags.html"
        page.write_bytes(b"<html><body>" + b"<span>x</span>" * args.tags + b"</body></html>")
        runs = []
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, str(page)],
                cwd=args.code,
                env={**os.environ, "PYTHONPATH": str(args.code)},
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(done.stdout))
            print(json.dumps(runs[-1]), flush=True)
        size = page.stat().st_size / 1e6
    print(
        f"{size:.1f} MB, {args.tags:,} tags, {args.code}: median "
        f"{statistics.median(r['seconds'] for r in runs):.2f} s, "
        f"{statistics.median(r['peak_mb'] for r in runs):.0f} MB peak RSS "
        f"({args.runs} runs) — {runs[0]['result']}"
    )


if __name__ == "__main__":
    main()
