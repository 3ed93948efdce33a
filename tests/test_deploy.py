"""deploy/: the systemd units say what the README promises (their own user, the env file,
restart on failure, read-only but the data folder), systemd itself accepts them when it is here,
and the bot behaves as the unit expects (a bad token exits 2, which is not retried)."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fakecli
from fakecli import articles
from fakediscord import FakeDiscord
from helpers import REPO
from index.settings import CoreSettings, describe
from index.store.backup import read_manifest

DEPLOY = REPO / "deploy"
UNITS = ("newsbot.service", "newsbot-backup.service", "newsbot-backup.timer")
CLI = Path(fakecli.__file__).resolve()  # the real command line, with the fake embedder


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values…]}}`` of a unit file (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (DEPLOY / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_bot_unit_runs_as_its_own_user_restarts_and_writes_only_its_data():
    service = unit("newsbot.service")["Service"]
    assert service["User"] == ["newsbot"] and service["Group"] == ["newsbot"]
    assert service["EnvironmentFile"] == ["/etc/newsbot/newsbot.env"]
    assert service["Restart"] == ["on-failure"]
    assert service["ExecStart"] == ["/opt/newsbot/.venv/bin/python -m bot"]
    assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]
    env = dict(e.split("=", 1) for e in service["Environment"])
    assert service["ReadWritePaths"] == [env["NEWSBOT_DATA_DIR"]] == ["/var/lib/newsbot"]
    assert env["HOME"] == env["NEWSBOT_DATA_DIR"]  # caches land in the writable folder
    declared = {name for name, _, _ in describe(CoreSettings)}
    assert {k for k in env if k.startswith("NEWSBOT_")} <= declared
    assert service["RestartPreventExitStatus"] == ["2"]
    assert unit("newsbot.service")["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.timeout(120)
def test_the_nightly_backup_writes_a_dated_backup_and_keeps_the_last_14(tmp_path: Path):
    """The unit's own commands, run by the shell as systemd would, with this machine's paths."""
    service = unit("newsbot-backup.service")["Service"]
    assert service["User"] == ["newsbot"] and service["Type"] == ["oneshot"]
    assert unit("newsbot-backup.timer")["Timer"]["Persistent"] == ["true"]
    data = tmp_path / "lib"
    (tmp_path / "c.jsonl").write_text(articles(2, "museum"))
    assert fakecli.run(data, "ingest", str(tmp_path / "c.jsonl")).returncode == 0
    backups = data / "backups"
    backups.mkdir()
    for day in range(1, 17):  # older backups, oldest first
        old = backups / f"newsbot-2020-01-{day:02d}.tar.gz"
        old.write_bytes(b"")
        os.utime(old, (1_600_000_000 + day, 1_600_000_000 + day))

    def shell(line: str) -> subprocess.CompletedProcess:
        script = shlex.split(line.replace("%%", "%"))[-1]
        script = script.replace("/opt/newsbot/.venv/bin/newsbot", f"{sys.executable} {CLI}")
        script = script.replace("/var/lib/newsbot", str(data))
        return subprocess.run(
            ["/bin/sh", "-c", script],
            env={**os.environ, "NEWSBOT_DATA_DIR": str(data)},
            capture_output=True,
            text=True,
            timeout=90,
        )

    made = shell(service["ExecStart"][0])
    assert made.returncode == 0, made.stderr
    assert "backed up newsbot.sqlite3" in made.stdout
    pruned = shell(service["ExecStartPost"][0])
    assert pruned.returncode == 0, pruned.stderr
    kept = sorted(p.name for p in backups.iterdir())
    today = [n for n in kept if not n.startswith("newsbot-2020")]
    assert len(kept) == 14 and len(today) == 1
    assert "newsbot-2020-01-01.tar.gz" not in kept and "newsbot-2020-01-16.tar.gz" in kept
    assert read_manifest(backups / today[0]).counts["articles"] == 2


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path: Path):
    for name in UNITS:  # the programs at this machine's paths; the rest as shipped
        text = (DEPLOY / name).read_text()
        text = text.replace("/opt/newsbot/.venv/bin/python", sys.executable)
        text = text.replace("/opt/newsbot/.venv/bin/newsbot", sys.executable)
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


@pytest.mark.timeout(60)
async def test_a_bad_token_or_log_format_exits_2_which_systemd_does_not_retry(tmp_path):
    async with FakeDiscord(token="the-right-token") as fake:

        async def run(**env: str) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=REPO,
                env={
                    **os.environ,
                    "DISCORD_API_BASE": fake.api_base,
                    "DISCORD_GATEWAY_URL": fake.gateway_url,
                    "NEWSBOT_DATA_DIR": str(tmp_path / "d"),
                    "NEWSBOT_EMBED_BACKEND": "torch",  # never loaded: it stops before
                    **env,
                },
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 50)
            return proc.returncode, out.decode()

        code, out = await run(DISCORD_TOKEN="a-wrong-token")
        assert code == 2, out
        assert "Discord refused the token: check DISCORD_TOKEN" in out
        assert "a-wrong-token" not in out
        code, out = await run(DISCORD_TOKEN="the-right-token", NEWSBOT_LOG_FORMAT="xml")
        assert code == 2 and "NEWSBOT_LOG_FORMAT must be text or json" in out
