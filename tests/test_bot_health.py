"""``NEWSBOT_HEALTH_PORT``: /healthz and /metrics over real HTTP on 127.0.0.1 while the real bot
runs against the fake Discord, as a monitor or Prometheus would read them; and ``python -m bot``
configured only by its environment, logging JSON lines to stdout."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.client import NewsBot
from bot_helpers import ingest_file, running_bot, slash
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import FAKE_EMBEDDER_BARS, REPO, eventually, make_service
from index.service import NewsService

pytestmark = pytest.mark.timeout(120)

ALICE = FakeUser(101, "alice")
ADMIN = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
GUILD = FakeGuild(
    1001, "Alpha Gazette Readers", owner_id=999, channels=[(2001, "news")], members=[ADMIN]
)

ARTICLE = """# Rail strike halts trains across Germany

Germany's train drivers began a 24-hour strike on Thursday, halting most long-distance services
run by Deutsche Bahn. The GDL union is demanding a 35-hour working week without a cut in pay.

Deutsche Bahn said only about one in five long-distance trains would run.
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


@pytest.fixture
def service(tmp_path: Path) -> Iterator[NewsService]:
    with make_service(tmp_path / "data", chunk_tokens=60, **FAKE_EMBEDDER_BARS) as svc:
        yield svc


@pytest.fixture
async def bot(fake: FakeDiscord, service: NewsService) -> AsyncIterator[NewsBot]:
    async with running_bot(fake, service, health_port=0) as client:
        yield client


async def get(bot: NewsBot, path: str) -> tuple[int, str, Any]:
    """(status, text, JSON or None) of ``GET path`` on the bot's health server."""
    assert bot.health is not None
    url = f"http://127.0.0.1:{bot.health.port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" else None
        return response.status, text, body


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            got = dict(re.findall(r'(\w+)="([^"]*)"', series))
            if series.split("{")[0] == name and got == labels:
                return float(value)
    return 0.0


async def test_healthz_says_what_is_up_and_a_question_moves_the_counters(fake, bot):
    await eventually(lambda: bot.service.model_loaded, seconds=20)
    status, _, health = await get(bot, "/healthz")
    assert status == 200, health
    assert health["ok"] is True and health["problems"] == []
    assert health["gateway"]["connected"] is True
    assert health["gateway"]["shards"][0]["id"] == 0
    assert health["store"]["reachable"] is True
    assert health["shards"] == {"count": 1, "served": [0]}
    assert health["model"]["loaded"] is True

    _, before, _ = await get(bot, "/metrics")
    assert sample(before, "newsbot_questions_total", shard="0", outcome="answered") == 0

    await ingest_file(fake, GUILD, ALICE, "rail.md", ARTICLE.encode())
    asked = await slash(fake, GUILD, ADMIN, "ask", question="What week is the GDL demanding?")
    await asked.wait_final(timeout=20)
    unknown = await slash(fake, GUILD, ADMIN, "ask", question="Who won the chess olympiad?")
    refused = (await unknown.wait_final(timeout=20))["embeds"][0]["description"]
    assert "couldn't find anything relevant" in refused

    status, metrics, _ = await get(bot, "/metrics")
    assert status == 200
    assert sample(metrics, "newsbot_questions_total", shard="0", outcome="answered") == 1
    assert sample(metrics, "newsbot_questions_total", shard="0", outcome="refused") == 1
    assert sample(metrics, "newsbot_answer_seconds_count", shard="0") == 2
    added = {"shard": "0", "via": "member", "result": "added"}
    assert sample(metrics, "newsbot_ingested_articles_total", **added) == 1
    assert sample(metrics, "newsbot_gateway_connected", shard="0") == 1
    assert "newsbot_gateway_latency_seconds" in metrics
    for name in ("newsbot_feed_polls_total", "newsbot_digests_total", "newsbot_rebuilds_total"):
        assert f"# TYPE {name} counter" in metrics
    # Labelled by shard only: no server's name or id, no member, no question.
    # Sample values are numbers that may hold any digits (a latency of 0.1011… s holds "101"):
    # what must not name anyone is the metric names, labels and help texts.
    described = "\n".join(
        line if line.startswith("#") else line.rsplit(" ", 1)[0] for line in metrics.splitlines()
    )
    for private in (GUILD.name, str(GUILD.id), "alice", str(ALICE.id), "GDL"):
        assert private not in described
    assert fake.unhandled == [] and fake.errors == []


async def test_a_lost_gateway_turns_healthz_to_503_until_it_is_back(fake, bot):
    await eventually(lambda: bot.service.model_loaded, seconds=20)
    assert (await get(bot, "/healthz"))[0] == 200
    await fake.gateway_down()

    async def down() -> dict[str, Any]:
        while True:
            status, _, body = await get(bot, "/healthz")
            if status == 503:
                return body
            await asyncio.sleep(0.05)

    body = await asyncio.wait_for(down(), 10)
    assert body["ok"] is False
    assert body["problems"] == ["gateway shard 0 is not connected"]
    assert body["gateway"]["connected"] is False
    assert body["store"]["reachable"] is True and body["model"]["loaded"] is True
    _, metrics, _ = await get(bot, "/metrics")
    assert sample(metrics, "newsbot_gateway_connected", shard="0") == 0

    fake.gateway_up()  # discord.py's next retry connects and resumes

    async def up() -> None:
        while True:
            if (await get(bot, "/healthz"))[0] == 200:
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(up(), 60)
    assert fake.resumes, "the bot resumed its session"


async def test_no_health_server_unless_a_port_is_set(fake, service):
    async with running_bot(fake, service) as client:
        assert client.health is None


@pytest.mark.timeout(240)
async def test_python_m_bot_serves_healthz_and_logs_json_lines(
    tmp_path, model_cache, real_embedder
):
    """The bot as systemd runs it: configured by its environment, logs on stdout as JSON."""
    token = "MTIz.health-secret-token.XYZ"
    async with FakeDiscord(guilds=[GUILD], token=token) as fake:
        env = {
            **os.environ,
            "DISCORD_TOKEN": token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "NEWSBOT_DATA_DIR": str(tmp_path / "d"),
            "NEWSBOT_TORCH_THREADS": "1",
            "NEWSBOT_MODEL_CACHE": str(model_cache),
            "NEWSBOT_HEALTH_PORT": "0",
            "NEWSBOT_LOG_FORMAT": "json",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        lines: list[str] = []
        try:
            async with asyncio.timeout(60):
                port = None
                while port is None:
                    line = (await proc.stdout.readline()).decode()
                    assert line, "the bot ended: " + "".join(lines)
                    lines.append(line)
                    found = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", line)
                    port = found and int(found.group(1))
            async with asyncio.timeout(120), aiohttp.ClientSession() as http:
                while True:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        body = await response.json()
                        if response.status == 200:
                            break
                    await asyncio.sleep(0.2)
            assert body["gateway"]["connected"] and body["model"]["loaded"]
        finally:
            proc.terminate()
            rest, err = await asyncio.wait_for(proc.communicate(), 30)
    lines += rest.decode().splitlines(keepends=True)
    entries = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["message"].startswith("connected as") for e in entries)
    assert token not in "".join(lines) + err.decode()
