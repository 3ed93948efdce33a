"""``python tests/fakecli.py ARGS…``: the real ``newsbot`` command line, run as its own process,
with the fake embedder in place of the model (tests and the soak start many of these at once).

``FAKE_EMBED_DELAY`` (seconds per text) makes embedding as slow as a busy machine's model, so
an interrupt can land while a group is being embedded. ``FAKE_START_AT`` (a ``time.time()``)
holds the command, once imported, until that moment: processes started together then really
race, whatever their start-up times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's code, not an installed copy

import numpy as np  # noqa: E402

from fake_embedder import FakeEmbedder  # noqa: E402
from index import cli  # noqa: E402
from index.settings import CoreSettings, load_settings  # noqa: E402


class SlowFakeEmbedder(FakeEmbedder):
    """The fake embedder, taking ``delay`` seconds a text like a model pass on a busy CPU."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay * len(texts))
        return super().embed(texts)


def _service(args):
    from helpers import make_service

    settings = load_settings(
        CoreSettings,
        data_dir=args.data_dir,
        chunk_tokens=60,
        min_answer_score=0.1,
        answer_confidence=0.0,
    )
    delay = float(os.environ.get("FAKE_EMBED_DELAY", "0") or 0)
    return make_service(settings, SlowFakeEmbedder(delay) if delay else None)


def command(data: Path, *args: str) -> list[str]:
    """The argv of one fake-embedder ``newsbot`` process on the data folder ``data``."""
    return [sys.executable, str(Path(__file__).resolve()), "--data-dir", str(data), "-q", *args]


def run(data: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """Run one command to its end (bounded), capturing its output."""
    return subprocess.run(
        command(data, *args),
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(data: Path, *args: str, **env: str) -> subprocess.Popen:
    """Start one command; read it with ``proc.communicate(timeout=…)``."""
    return subprocess.Popen(
        command(data, *args),
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


WORDS = [
    "harbor",
    "council",
    "budget",
    "river",
    "bridge",
    "school",
    "vaccine",
    "election",
    "court",
    "miners",
    "railway",
    "drought",
    "festival",
    "museum",
    "satellite",
    "reactor",
    "glacier",
    "orchard",
    "tunnel",
    "airport",
]


def articles(n: int, tag: str) -> str:
    """JSONL of n distinct articles (10 chunks each with the test settings), all naming tag."""
    lines = []
    for i in range(n):
        w = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(4)]
        body = " ".join(
            f"Sentence {j} of the {tag} report {i} says the {w[j % 4]} near town {i * 13 + j}"
            f" changed on day {j} of the month."
            for j in range(40)
        )
        lines.append(
            json.dumps(
                {
                    "title": f"{tag} report {i} on the {w[0]}",
                    "body": body,
                    "source": "Gazette",
                    "published_at": "2023-10-01",
                }
            )
        )
    return "\n".join(lines) + "\n"


def start_together(delay: float = 1.5) -> dict[str, str]:
    """The environment that makes processes started within ``delay`` s run at one moment."""
    return {"FAKE_START_AT": str(time.time() + delay)}


if __name__ == "__main__":
    import signal

    import index.service  # noqa: F401 - imported before the gate, as the command would

    # Ctrl-C as at a terminal, whatever the test run inherited: a run started in the background
    # (`make test &`, `nohup`) ignores SIGINT, its children too, and the tests that press Ctrl-C
    # would see an ingest that never stops.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    if at := float(os.environ.get("FAKE_START_AT", "0") or 0):
        time.sleep(max(0.0, at - time.time()))
    sys.exit(cli.main(service=_service))
