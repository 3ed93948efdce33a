"""Another revision's code beside this checkout's, for the benches that measure side by side."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def extract(rev: str, into: Path) -> Path:
    """REV's tracked files (``git archive``) written into the folder ``into``; ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
    return into
