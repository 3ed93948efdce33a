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
from index.search.runtime import CANDIDATES, RUNTIME_FILE

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.model

ANSWER = "final phase of preparations"  # in the demo's answer, whichever runtime embedded it


def newsbot(data: Path, cache: Path | None, *args: str, **env: str) -> dict:
    """How to start a real ``newsbot`` process on ``data`` and ``cache`` (None: the user's cache,
    in a home of its own beside ``data``)."""
    settings = {
        "NEWSBOT_DATA_DIR": str(data),
        "NEWSBOT_TORCH_THREADS": "1",
        "XDG_CACHE_HOME": str(data.parent / "xdg-cache"),
        **env,
    }
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
    """A copy of the session's exports and the runtime chosen for this CPU, to spoil."""
    return copy_cache(model_cache, tmp_path / "models")


def copy_cache(model_cache: Path, copy: Path) -> Path:
    copy.mkdir(parents=True)
    for flavour in CANDIDATES:
        for name in onnx_embed.files(flavour):
            shutil.copy2(model_cache / name, copy / name)
    shutil.copy2(model_cache / RUNTIME_FILE, copy / RUNTIME_FILE)
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
    link = tmp_path / "xdg-cache" / "newsbot" / "models"
    if where != "default":
        link = tmp_path / "cache-link"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere)

    done = run(data, None if where == "default" else link, "demo")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"newsbot: error: the model cache {link} is a symbolic link, which newsbot does not "
        "write through: point NEWSBOT_MODEL_CACHE at a real folder"
    )
    assert list(elsewhere.iterdir()) == []
    assert list(data.iterdir()) == []


def test_data_folders_share_the_users_cache_and_its_runtime_chosen_for_this_cpu(
    tmp_path: Path, real_embedder, model_cache: Path
) -> None:
    """The export and the runtime choice are made once per user, not per data folder; a choice
    made on another CPU is measured again here, recorded with this CPU, and `stats` shows it."""
    from index.search.cpu import cpu

    cache = copy_cache(model_cache, tmp_path / "xdg-cache" / "newsbot" / "models")
    exports = {p.name: (p.stat().st_mtime_ns, sha256(p)) for p in cache.glob("*.onnx")}
    elsewhere = json.loads((cache / RUNTIME_FILE).read_text())
    elsewhere["cpu"] = {**elsewhere["cpu"], "model": "Another CPU", "flags": "avx512_vnni"}
    elsewhere["chosen"] = "torch"
    (cache / RUNTIME_FILE).write_text(json.dumps(elsewhere))

    first = run(tmp_path / "first", None, "demo")
    assert first.returncode == 0, first.stderr
    assert ANSWER in first.stdout
    choice = json.loads((cache / RUNTIME_FILE).read_text())
    assert choice["cpu"] == cpu()  # measured again, on this CPU
    measured = choice["candidates"]
    assert set(measured) == {"int8", "fp32", "torch"}
    assert all(m["chunks_per_s"] > 0 and -1 <= m["min_cosine"] <= 1.0001 for m in measured.values())
    assert measured["fp32"]["passed"] and measured["fp32"]["mean_cosine"] > 0.999
    passed = [k for k, m in measured.items() if m["passed"]]
    assert choice["chosen"] == max(passed, key=lambda k: measured[k]["chunks_per_s"])

    second = run(tmp_path / "second", None, "stats", "--json")
    assert second.returncode == 0, second.stderr
    stats = json.loads(second.stdout)
    runtime = {"int8": "onnxruntime-int8", "fp32": "onnxruntime", "torch": "torch"}
    assert stats["runtime"] == runtime[choice["chosen"]]
    assert stats["model_cache"] == str(cache)
    shown = stats["runtime_choice"]
    assert shown["chosen"] == choice["chosen"] and shown["cpu"].startswith(str(cpu()["model"]))
    assert shown["chunks_per_s"] == {k: m["chunks_per_s"] for k, m in measured.items()}
    # one export for both data folders: none made in either, the cached files untouched
    assert not (tmp_path / "first" / "models").exists()
    assert not (tmp_path / "second" / "models").exists()
    assert {p.name: (p.stat().st_mtime_ns, sha256(p)) for p in cache.glob("*.onnx")} == exports
