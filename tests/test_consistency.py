"""What a broken disk or a careless command line does to the data folder, as a user meets it:
the command's exit code and the lines it prints.

The command line runs in-process (its service around the fake embedder), except for the full
disk: a real process inside a small filesystem of its own.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fakecli import REPO, articles
from helpers import FAKE_EMBEDDER_BARS, make_service
from index import cli
from index.service import NewsService


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data: Path, monkeypatch, capsys):
    """``run(*argv)`` → (exit code, stdout, stderr) of one command on the data folder."""

    def factory(args) -> NewsService:
        return make_service(args.data_dir, **FAKE_EMBEDDER_BARS, chunk_tokens=60)

    def invoke(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli.main(["--data-dir", str(data), "-q", *argv], service=factory)
        except SystemExit as exc:  # argparse refusing an argument
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
def ingested(run, tmp_path: Path) -> Path:
    corpus = tmp_path / "news.jsonl"
    corpus.write_text(articles(120, "harbor"))
    code, _, err = run("ingest", str(corpus))
    assert code == 0, err
    return corpus


QUESTION = "What does the harbor report 17 say about town 221?"


def test_a_damaged_vector_region_is_noticed_and_rebuilt(run, ingested, data: Path) -> None:
    """Zeroed vectors inside the FAISS file passed every check: `check` said ok and questions
    were answered from zero vectors ("nothing relevant")."""
    index_file = data / "faiss" / "collection-1.faiss"
    raw = bytearray(index_file.read_bytes())
    start, end = len(raw) // 10, len(raw) * 8 // 10  # the vectors (the ids come last)
    raw[start:end] = bytes(end - start)
    index_file.write_bytes(bytes(raw))

    code, out, _ = run("check")
    assert code == 1
    assert out.splitlines() == [
        "problem: collection default: the index file collection-1.faiss was damaged (its"
        " checksum does not match); rebuilt from the stored vectors",
        "1 problem",
    ]
    code, out, _ = run("ask", QUESTION, "--json")
    answer = json.loads(out)
    assert answer["found"] and "harbor report 17" in answer["citations"][0]["title"]
    assert answer["best_score"] > 0.5
    assert run("check")[:2] == (0, "ok\n")  # repaired, and saved


def test_check_names_a_damaged_database_page_and_what_to_do(run, ingested, data: Path) -> None:
    """`check` printed "unexpected error: DatabaseError: database disk image is malformed"."""
    db = data / "newsbot.sqlite3"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.close()
    with db.open("r+b") as f:  # a page in the middle of the chunks goes bad
        f.seek(page_size * (pages // 2))
        f.write(b"\xff" * page_size)

    code, out, err = run("check")
    assert code == 1 and err == ""
    first = out.splitlines()[0]
    assert first.startswith("problem: the database file newsbot.sqlite3 is damaged (")
    assert first.endswith(
        "restore it from a backup, or recover what is readable with"
        " `sqlite3 newsbot.sqlite3 .recover | sqlite3 recovered.sqlite3`"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("forget", str(2**63)),
        ("forget", "9" * 40),
        ("feeds", "pause", str(2**63)),
        ("sources", "--page", str(2**62)),
        ("feeds", "add", "http://127.0.0.1:9/feed", "--every", str(2**62)),
    ],
)
def test_numbers_too_large_to_name_anything_are_refused(run, argv) -> None:
    """They reached SQLite: "unexpected error: OverflowError: Python int too large"."""
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert "is too large (at most" in err and "unexpected" not in err


def test_an_empty_collection_name_is_refused_like_a_blank_one(run, data: Path) -> None:
    """`--collection ""` silently meant the default collection; "   " was refused."""
    results = [run("--collection", name, "stats") for name in ("", "   ")]
    for code, out, err in results:
        assert code == 2 and out == ""
        assert err.endswith("a collection name is 1 to 100 characters\n")
    assert results[0][2] == results[1][2]
    assert not data.exists()


def test_stats_counts_the_write_ahead_log(run, ingested, data: Path) -> None:
    """The bytes of recent writes still in the WAL were left out of `database_bytes`."""
    db = data / "newsbot.sqlite3"
    keep_open = sqlite3.connect(db)  # as the bot does: the log is not folded in on exit
    keep_open.execute("SELECT COUNT(*) FROM articles").fetchone()
    try:
        more = ingested.with_name("more.jsonl")
        more.write_text(articles(30, "tunnel"))
        assert run("ingest", str(more))[0] == 0
        stats = json.loads(run("stats", "--json")[1])
        wal = db.with_name("newsbot.sqlite3-wal").stat().st_size
        assert wal > 0 and stats["wal_bytes"] == wal
        assert stats["database_bytes"] == db.stat().st_size + wal
    finally:
        keep_open.close()


# -- a full disk ---------------------------------------------------------------------------

# Runs inside a mount namespace of its own, on a 1.5 MB tmpfs: each command is a real process
# (tests/fakecli.py); results go to a file outside the small filesystem.
FULL_DISK_SCRIPT = r"""
import json, os, sqlite3, subprocess, sys
mount, corpus, out = sys.argv[1:4]
data = os.path.join(mount, "data")
def cli(*args):
    p = subprocess.run([sys.executable, "tests/fakecli.py", "--data-dir", data, "-q", *args],
                       capture_output=True, text=True, timeout=120)
    return [p.returncode, p.stdout, p.stderr]
steps = {"ingest": cli("ingest", corpus)}
con = sqlite3.connect(os.path.join(data, "newsbot.sqlite3"))
steps["stored"] = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
con.close()
steps["check"] = cli("check")
steps["stats"] = cli("stats", "--json")
steps["ask"] = cli("ask", "What does the harbor report 17 say about town 221?", "--json")
steps["forget"] = cli("forget", "3")
steps["check after forget"] = cli("check")
steps["files"] = sorted(
    os.path.relpath(os.path.join(d, f), data) for d, _, fs in os.walk(data) for f in fs)
json.dump(steps, open(out, "w"))
"""


def _in_small_filesystem(mount: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run argv with a 1.5 MB tmpfs mounted on ``mount``, in a user and mount namespace of its
    own: root is not needed where unprivileged user namespaces are allowed (Debian's default)."""
    shell = 'mount -t tmpfs -o size=1500k newsbot-test "$0" && exec "$@"'
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", shell, str(mount), *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def small_filesystem_works(tmp_path_factory) -> None:
    mount = tmp_path_factory.mktemp("probe")
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux `unshare` to make a small filesystem for the full disk")
    probe = _in_small_filesystem(mount, ["true"])
    if probe.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs in a user namespace here (unprivileged user namespaces"
            f" disabled, or a container without them): {probe.stderr.strip()}"
        )


def test_a_full_disk_keeps_reads_working_and_says_what_was_stored(
    small_filesystem_works, tmp_path: Path
) -> None:
    """The ingest that filled the disk said "unexpected error … database or disk is full" with
    35 articles stored; then check, stats, ask and even forget failed because the stale index
    could not be saved, and a 0-byte temp file stayed."""
    mount = tmp_path / "small"
    mount.mkdir()
    corpus = tmp_path / "news.jsonl"
    corpus.write_text(articles(300, "harbor"))
    results = tmp_path / "results.json"
    script = [sys.executable, "-c", FULL_DISK_SCRIPT, str(mount), str(corpus), str(results)]
    done = _in_small_filesystem(mount, script)
    assert done.returncode == 0, done.stderr
    steps = json.loads(results.read_text())

    code, _, err = steps["ingest"]
    stored = steps["stored"]
    assert code == 1 and 0 < stored < 300, (stored, err)
    assert err == (
        "newsbot: error: the disk holding newsbot.sqlite3 is full; free some space."
        f" {stored} articles added (#1 … #{stored}) before it are stored, the rest are not:"
        " run the same ingest again to add them (what is stored is skipped)\n"
    )
    code, out, _ = steps["check"]
    # The index saved before the disk filled follows the chunk log to the stored state: nothing
    # to rebuild, so nothing to save (a rebuilt one would answer from memory, with a warning).
    assert code == 0 and out.splitlines() == ["ok"]
    code, out, _ = steps["stats"]
    stats = json.loads(out)
    assert code == 0 and stats["articles"] == stored
    assert stats["indexed_vectors"] == stats["chunks"] > 0
    code, out, _ = steps["ask"]
    assert code == 0 and json.loads(out)["found"]
    # forget works unless SQLite lacks room even for that (README): then it says so, and the
    # article stays (which of the two depends on the few KB the failed ingest left free).
    code, out, err = steps["forget"]
    assert (code == 0 and out.startswith("forgot #3 ")) or (
        code == 1
        and err
        == "newsbot: error: the disk holding newsbot.sqlite3 is full; free some space."
        " this change was not stored\n"
    ), steps["forget"]
    code, out, _ = steps["check after forget"]
    assert code == 0 and out.splitlines()[-1] == "ok"
    assert not [f for f in steps["files"] if f.endswith("tmp")], steps["files"]


def test_check_while_another_process_writes_finds_nothing(data: Path) -> None:
    """Found by the soak: `check` read counts (chunks against full-text rows, the index against
    the chunks) in separate reads, so a write by another process in between read as "full-text
    index holds 28010 rows for 28040 chunks" or "index holds 0 vectors". The other process is a
    plain SQLite connection writing whole articles as newsbot does."""
    with make_service(data) as svc:
        cid = svc.store.collections.id_of("default", create=True)
        stop = threading.Event()
        written = []

        def other_process() -> None:
            con = sqlite3.connect(data / "newsbot.sqlite3", isolation_level=None, timeout=30)
            vector = np.ones(64, dtype=np.float32).tobytes()
            while not stop.is_set():
                con.execute("BEGIN IMMEDIATE")
                article = con.execute(
                    "INSERT INTO articles (collection_id, title, text, content_hash, chunk_count,"
                    " added_at) VALUES (?, 't', 'x', ?, 1, 'now')",
                    (cid, str(len(written))),
                ).lastrowid
                vector_id = con.execute(
                    "INSERT INTO vectors (vector) VALUES (?)", (vector,)
                ).lastrowid
                chunk = con.execute(
                    "INSERT INTO chunks (article_id, ordinal, start, end, text, vector_id)"
                    " VALUES (?, 0, 0, 1, 'x', ?)",
                    (article, vector_id),
                ).lastrowid
                con.execute(
                    "INSERT INTO chunks_fts (rowid, title, text) VALUES (?, 't', 'x')", (chunk,)
                )
                con.execute("UPDATE collections SET version = version + 1 WHERE id = ?", (cid,))
                con.execute(
                    "INSERT INTO chunk_log (collection_id, version, chunk_id, op)"
                    " SELECT id, version, ?, 'a' FROM collections WHERE id = ?",
                    (chunk, cid),
                )
                con.execute("COMMIT")
                written.append(article)
                time.sleep(0.0005)
            con.close()

        writer = threading.Thread(target=other_process)
        writer.start()
        found = []
        try:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                found += svc.check()
        finally:
            stop.set()
            writer.join(10)
        assert len(written) > 100
        assert found == []
