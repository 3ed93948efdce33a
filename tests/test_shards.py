"""Discord shards: two ``python -m bot`` processes, one shard each (``NEWSBOT_SHARD_COUNT=2``,
``NEWSBOT_SHARD_IDS``), on one PostgreSQL store, against the fake Discord that routes each
server's events to its shard's session. Each server is answered by its own process, which loads
only its own servers' indexes; nothing leaks across servers."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator

import pytest

from bot_helpers import ingest_file, slash
from fakediscord import FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import REPO

psycopg = pytest.importorskip("psycopg", reason="the 'postgres' extra is not installed")

pytestmark = pytest.mark.timeout(240)

SHARD = 1 << 22  # a server's shard is (id >> 22) % shard count
ANN, BEN = FakeUser(201, "ann"), FakeUser(202, "ben")
MEMBER_0, MEMBER_1 = FakeMember(ANN, permissions=0xC00), FakeMember(BEN, permissions=0xC00)
GUILD_0 = FakeGuild(
    10 * SHARD + 7, "Even", owner_id=990, channels=[(3001, "news")], members=[MEMBER_0]
)
GUILD_1 = FakeGuild(
    11 * SHARD + 7, "Odd", owner_id=991, channels=[(3002, "news")], members=[MEMBER_1]
)

RAIL = """# Rail strike halts trains across Germany

Germany's train drivers began a 24-hour strike on Thursday, halting most long-distance services
run by Deutsche Bahn. The GDL union is demanding a 35-hour working week without a cut in pay.

Deutsche Bahn said only about one in five long-distance trains would run.
"""
VOLCANO = """# Volcano erupts in Iceland

A volcano erupted on the Reykjanes peninsula on Monday, sending lava toward the town of
Grindavik. Officials evacuated about 4,000 residents as a precaution.

Scientists said the eruption could last for weeks.
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD_0, GUILD_1], heartbeat_interval_ms=200) as server:
        yield server


async def start_bot(fake: FakeDiscord, url: str, data, shard: int, model_cache):
    env = {
        **os.environ,
        "DISCORD_TOKEN": "fake-token",
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "NEWSBOT_DATA_DIR": str(data),
        "NEWSBOT_DATABASE_URL": url,
        "NEWSBOT_SHARD_COUNT": "2",
        "NEWSBOT_SHARD_IDS": str(shard),
        "NEWSBOT_TORCH_THREADS": "1",
        "NEWSBOT_ASK_COOLDOWN": "0",
        "NEWSBOT_INGEST_COOLDOWN": "0",
        "NEWSBOT_LOG_LEVEL": "INFO",
        "NEWSBOT_MODEL_CACHE": str(model_cache),  # the session's export, not the user's
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_two_processes_on_two_shards_each_answer_their_own_servers(
    fake, pg_database, tmp_path, model_cache, real_embedder
):
    procs = [
        await start_bot(fake, pg_database, tmp_path / f"shard{i}", i, model_cache) for i in (0, 1)
    ]
    early = [b"", b""]
    try:
        await fake.wait_ready(timeout=90, shards=2)
        assert fake.gateway.shard_count == 2
        assert (
            "Rail strike"
            in (await ingest_file(fake, GUILD_0, ANN, "rail.md", RAIL.encode()))["content"]
        )
        assert (
            "Volcano"
            in (await ingest_file(fake, GUILD_1, BEN, "volcano.md", VOLCANO.encode()))["content"]
        )
        rail_q = "What working week is the GDL union demanding?"
        volcano_q = "Which town did the lava from the volcano flow toward?"
        own = await slash(fake, GUILD_0, MEMBER_0, "ask", question=rail_q)
        assert "35-hour" in (await own.wait_final(timeout=60))["embeds"][0]["description"]
        own = await slash(fake, GUILD_1, MEMBER_1, "ask", question=volcano_q)
        assert "Grindavik" in str((await own.wait_final(timeout=60))["embeds"][0])
        for guild, member, question, absent in (
            (GUILD_1, MEMBER_1, rail_q, "35-hour"),
            (GUILD_0, MEMBER_0, volcano_q, "Grindavik"),
        ):
            other = await slash(fake, guild, member, "ask", question=question)
            text = str((await other.wait_final(timeout=60))["embeds"][0])
            assert absent not in text
        # on_ready comes once a shard's servers are all in: with the model cached, the
        # questions above can be answered before it
        async with asyncio.timeout(30):
            for k, proc in enumerate(procs):
                while b"connected as" not in early[k] and not proc.stdout.at_eof():
                    early[k] += await proc.stdout.readline()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        logs = [
            (early[k] + (await asyncio.wait_for(p.communicate(), 30))[0]).decode()
            for k, p in enumerate(procs)
        ]
    assert fake.errors == []
    with psycopg.connect(pg_database, autocommit=True) as conn:
        ids = dict(conn.execute("SELECT name, id FROM collections").fetchall())
    assert set(ids) == {f"guild-{GUILD_0.id}", f"guild-{GUILD_1.id}"}
    for shard, guild in ((0, GUILD_0), (1, GUILD_1)):
        loaded = {int(c) for c in re.findall(r"collection (\d+): index of", logs[shard])}
        assert loaded == {ids[f"guild-{guild.id}"]}, logs[shard][-3000:]
        assert "connected as" in logs[shard]
