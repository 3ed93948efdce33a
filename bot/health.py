"""``NEWSBOT_HEALTH_PORT``: ``GET /healthz`` and ``GET /metrics`` for whoever runs the bot
(a load balancer, a monitor, Prometheus), served by aiohttp inside the bot's own event loop.

``/healthz`` is 200 when every shard's gateway is connected, the store answers and the model
is loaded; otherwise 503 with the same JSON and ``problems`` naming what is wrong. The store is
probed in a worker thread with a short deadline (a hung database must not hang the probe, nor
the event loop), one probe at a time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from discord.ext import commands

from .metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from .client import NewsBot

log = logging.getLogger("newsbot.health")

STORE_TIMEOUT = 2.0  # seconds the store has to answer a probe


def gateway_shards(bot: NewsBot) -> list[tuple[int, bool, float | None]]:
    """(shard id, connected, heartbeat latency in seconds or None) of each shard served."""
    if isinstance(bot, commands.AutoShardedBot):
        served = bot.settings.shards()
        wanted = served[1] if served else sorted(bot.shards)
        out = []
        for shard_id in wanted:
            info = bot.get_shard(shard_id)
            connected = info is not None and not bot.is_closed() and not info.is_closed()
            out.append((shard_id, connected, _seconds(info.latency) if info else None))
        return out
    ws = bot.ws
    connected = ws is not None and ws.open and not bot.is_closed() and bot.is_ready()
    return [(bot.shard_id or 0, connected, _seconds(ws.latency) if ws is not None else None)]


def _seconds(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


class HealthServer:
    """The two endpoints, started in ``setup_hook`` and stopped when the bot closes."""

    def __init__(self, bot: NewsBot, host: str, port: int) -> None:
        self.bot = bot
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._probe: asyncio.Future[None] | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("health and metrics on http://%s:%d/healthz and /metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- what is checked ---------------------------------------------------------------------
    async def _store_problem(self) -> str | None:
        """None when the store answered a read in time, else what went wrong."""
        if self._probe is not None and not self._probe.done():
            return f"the store did not answer within {STORE_TIMEOUT:g} s"
        store = self.bot.service.store
        self._probe = asyncio.ensure_future(asyncio.to_thread(store.get_meta, "embedding_model"))
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), STORE_TIMEOUT)
        except TimeoutError:
            return f"the store did not answer within {STORE_TIMEOUT:g} s"
        except Exception as exc:
            return f"the store cannot be read: {exc}"
        return None

    async def report(self) -> tuple[bool, dict[str, Any]]:
        bot = self.bot
        shards = gateway_shards(bot)
        problems = [f"gateway shard {shard} is not connected" for shard, up, _ in shards if not up]
        started = time.perf_counter()
        store_problem = await self._store_problem()
        store_ms = (time.perf_counter() - started) * 1000
        if store_problem:
            problems.append(store_problem)
        model = bot.service.model_loaded
        if model is None:
            problems.append("the model is still loading")
        elif model is False:
            problems.append("the model failed to load (see the log)")
        latencies = [lat for _, _, lat in shards if lat is not None]
        body = {
            "ok": not problems,
            "problems": problems,
            "gateway": {
                "connected": all(up for _, up, _ in shards),
                "latency_ms": round(1000 * max(latencies), 1) if latencies else None,
                "shards": [
                    {
                        "id": shard,
                        "connected": up,
                        "latency_ms": None if lat is None else round(1000 * lat, 1),
                    }
                    for shard, up, lat in shards
                ],
            },
            "store": {"reachable": store_problem is None, "ms": round(store_ms, 1)},
            "shards": {"count": bot.shard_count or 1, "served": [s for s, _, _ in shards]},
            "model": {"loaded": model is True, "name": bot.service.embedder.name},
        }
        return not problems, body

    # -- endpoints -----------------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        ok, body = await self.report()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        self.bot.metrics.gateway(gateway_shards(self.bot))
        return web.Response(body=self.bot.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
