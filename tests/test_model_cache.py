"""The ONNX model cache as a hostile or unlucky disk leaves it, met through real `newsbot`
processes: what a killed export left is swept, a foreign graph under a matching manifest is
exported again instead of failing every command, and a cache folder that is a symbolic link is
refused before anything is written through it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from helpers import REPO, foreign_graph
from index.search import onnx_embed
from index.search.embed import packaged_model_path

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.model

ANSWER = "reconnaissance satellite"  # in the demo's answer, whichever runtime embedded it


def newsbot(data: Path, cache: Path | None, *args: str, **env: str) -> dict:
    """How to start a real ``newsbot`` process on ``data`` and ``cache``."""
    settings = {"NEWSBOT_DATA_DIR": str(data), "NEWSBOT_TORCH_THREADS": "1", **env}
    if cache is not None:
        settings["NEWSBOT_MODEL_CACHE"] = str(cache)
    inherited = {k: v for k, v in os.environ.items() if k != "NEWSBOT_MODEL_CACHE"}
    return {
        "args": [sys.executable, "-m", "index.cli", "-q", *args],
        "cwd": REPO,
        "env": {**inherited, **settings},
        "text": True,
    }


def run(data: Path, cache: Path | None, *args: str, **env: str) -> subprocess.CompletedProcess:
    """One command to its end (bounded), its output captured."""
    return subprocess.run(**newsbot(data, cache, *args, **env), capture_output=True, timeout=240)


@pytest.fixture
def cache(tmp_path: Path, real_embedder, model_cache: Path) -> Path:
    """A copy of the session's export for the default runtime, to spoil."""
    copy = tmp_path / "models"
    copy.mkdir()
    for name in onnx_embed.files(real_embedder.flavour):
        shutil.copy2(model_cache / name, copy / name)
    return copy


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith(".export-"))


def test_a_killed_exports_leftovers_go_with_the_next_command_unless_one_is_exporting(
    cache: Path, tmp_path: Path
) -> None:
    """A temp folder of 90–180 MB per killed export would otherwise stay for good; one that an
    export running now is writing (the lock is held) is left alone."""
    (cache / ".export-123").mkdir()
    (cache / ".export-123" / "raw.onnx").write_bytes(b"\0" * 4096)
    (cache / ".export-9x2.json").write_text("{")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "theirs.txt").write_text("keep me too")
    (cache / ".export-link").symlink_to(tmp_path / "elsewhere")  # removed, not followed
    lock = os.open(cache / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held, as an export running now holds it
        busy = run(tmp_path / "busy", cache, "demo")
    finally:
        os.close(lock)
    assert busy.returncode == 0, busy.stderr
    assert ANSWER in busy.stdout
    assert leftovers(cache) == [".export-123", ".export-9x2.json", ".export-link"]

    (cache / ".lock").unlink()
    (cache / ".lock").symlink_to(victim)
    idle = run(tmp_path / "idle", cache, "demo")
    assert idle.returncode == 0, idle.stderr
    assert ANSWER in idle.stdout and "warning" not in idle.stderr
    assert leftovers(cache) == []
    assert victim.read_text() == "keep me"
    assert (tmp_path / "elsewhere" / "theirs.txt").read_text() == "keep me too"
    assert not (cache / ".lock").is_symlink()


def test_a_foreign_graph_under_a_matching_manifest_is_exported_again(tmp_path: Path) -> None:
    """It loads, so only a pass would show it takes other inputs (InvalidArgument on every
    command). Its first user exports it again; killed meanwhile, its export goes on under the
    lock, and the next command waits for it instead of sweeping it away."""
    cache = tmp_path / "models"
    cache.mkdir()
    model = cache / onnx_embed.MODEL_FILE
    pytest.importorskip("onnx")
    foreign_graph(model, inputs=("input_ids", "attention_mask"))  # no token_type_ids
    source = onnx_embed.source_of(packaged_model_path())
    manifest = {"source": source, "sha256": sha256(model)}
    (cache / onnx_embed.MANIFEST_FILE).write_text(json.dumps(manifest))

    first = subprocess.Popen(
        **newsbot(tmp_path / "first", cache, "demo", NEWSBOT_EMBED_BACKEND="onnx"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its export child is reachable through the group
    )
    try:
        deadline = time.monotonic() + 60
        while not leftovers(cache) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leftovers(cache), f"no export started: {first.communicate(timeout=30)[1]}"
        first.kill()  # the command, not its export child
        _, err = first.communicate(timeout=30)
        assert "exporting it again" in err and "token_type_ids" in err
        with (cache / ".lock").open("rb") as lock, pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the export still holds it

        second = run(tmp_path / "second", cache, "demo", NEWSBOT_EMBED_BACKEND="onnx")
    finally:
        with suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
    assert second.returncode == 0, second.stderr
    assert ANSWER in second.stdout
    assert "InvalidArgument" not in second.stderr and "PyTorch" not in second.stderr
    assert leftovers(cache) == []
    assert onnx_embed.cached_export(packaged_model_path(), cache) == model
    assert sha256(model) != manifest["sha256"]

    third = run(tmp_path / "third", cache, "demo", NEWSBOT_EMBED_BACKEND="onnx")
    assert third.returncode == 0 and "warning" not in third.stderr, third.stderr
    assert ANSWER in third.stdout


@pytest.mark.parametrize("where", ["default", "NEWSBOT_MODEL_CACHE"])
def test_a_cache_folder_that_is_a_symbolic_link_is_refused(tmp_path: Path, where: str) -> None:
    """Run as root, newsbot would write its export, lock and temp files wherever the link
    points: it stops with the path named, before writing anything anywhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    link = data / "models" if where == "default" else tmp_path / "cache-link"
    link.symlink_to(elsewhere)

    done = run(data, None if where == "default" else link, "demo")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"newsbot: error: the model cache {link} is a symbolic link, which newsbot does not "
        "write through: point NEWSBOT_MODEL_CACHE at a real folder"
    )
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in data.iterdir()) == (["models"] if where == "default" else [])
