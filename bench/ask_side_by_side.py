"""Ask latency of this code against another revision's, side by side in one run.

  python -m bench.ask_side_by_side --data-dir D --before REV [--rounds 6] [--out FILE]

Two worker processes, one on this checkout's code and one on REV's (``git archive`` into a temp
folder), each on its own copy of the store in D (made by REV's code or older: this code migrates
its copy, REV's reads its own as it is), each with the model loaded and warm. Rounds alternate
between them, so whatever else the machine does lands on both: each round asks every dev
question the ways members ask (on its quiz date; today, no date given) and times ``ask``. Medians
and 95th percentiles over all rounds; the ratio is this code's over REV's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.quality import EVAL, read_jsonl
from bench.revision import extract
from bench.speed import ms, percentile
from index.search.cpu import cpu_line

REPO = Path(__file__).resolve().parent.parent
MODES = ("dated", "today")

WORKER = r"""
import json, sys, time
from datetime import date
from pathlib import Path
from index.search.retrieve import Filters
from index.service import NewsService
from index.settings import CoreSettings

data, questions = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
service = NewsService(CoreSettings(data_dir=data))
today = date.today().isoformat()

def asked(q, mode):
    return Filters(as_of=q["as_of"] if mode == "dated" else today)

for q in questions[:30]:  # warm: the model, FAISS, SQLite's pages
    service.ask("default", q["question"], filters=asked(q, "dated"))
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    mode = line.strip()
    out = []
    for q in questions:
        filters = asked(q, mode)
        started = time.perf_counter()
        service.ask("default", q["question"], filters=filters)
        out.append(time.perf_counter() - started)
    print(json.dumps(out), flush=True)
"""


class Worker:
    def __init__(self, code: Path, data: Path, questions: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(code)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(data), str(questions)],
            cwd=code,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert json.loads(self.proc.stdout.readline())["ready"]

    def round(self, mode: str) -> list[float]:
        self.proc.stdin.write(mode + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(60)


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.glob("newsbot.sqlite3*"):
        shutil.copy2(f, dst / f.name)
    if (src / "models").is_dir():
        shutil.copytree(src / "models", dst / "models")
    return dst


def run(data: Path, before: str, rounds: int, eval_dir: Path = EVAL) -> dict:
    queries = read_jsonl(eval_dir / "realtimeqa-2023q4" / "queries.jsonl")
    with tempfile.TemporaryDirectory(prefix="newsbot-ask-") as tmp:
        tmp_path = Path(tmp)
        old_code = extract(before, tmp_path / "before")
        questions = tmp_path / "questions.json"
        questions.write_text(json.dumps(queries))
        workers = {
            "this": Worker(REPO, _copy(data, tmp_path / "this"), questions),
            "before": Worker(old_code, _copy(data, tmp_path / "before-data"), questions),
        }
        times: dict[str, dict[str, list[float]]] = {
            name: {m: [] for m in MODES} for name in workers
        }
        try:
            for r in range(rounds):
                order = list(workers) if r % 2 == 0 else list(reversed(workers))
                for mode in MODES:
                    for name in order:
                        times[name][mode] += workers[name].round(mode)
        finally:
            for w in workers.values():
                w.close()
    out: dict = {"cpu": cpu_line(), "before": before, "rounds": rounds, "questions": len(queries)}
    for mode in MODES:
        this, old = times["this"][mode], times["before"][mode]
        out[mode] = {
            "this": ms(this),
            "before": ms(old),
            "p50_ratio": round(percentile(this, 50) / percentile(old, 50), 3),
            "p95_ratio": round(percentile(this, 95) / percentile(old, 95), 3),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--before", required=True, help="the revision to measure beside this code")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    result = run(a.data_dir, a.before, a.rounds)
    text = json.dumps(result, indent=2)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
