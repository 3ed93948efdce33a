"""The gateway websocket: HELLO, heartbeats, IDENTIFY/READY, RESUME, and dispatching events.

Frames go out as TEXT: the client asks for ``compress=zlib-stream`` but only inflates binary
frames.

Shards: an IDENTIFY with ``shard: [id, count]`` opens that shard's session (several processes
may each hold some); READY and GUILD_CREATE name only the shard's servers, and an event goes
to the session of its server's shard, ``(guild_id >> 22) % count``, as Discord routes them
(events without a server, DMs, to shard 0).
"""

# The public waits take ``timeout=`` by design (the fake's API), hence ASYNC109 is off here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .models import INTENT_GUILDS
from .waits import Signal
from .world import World

log = logging.getLogger("fakediscord")


@dataclass(eq=False)  # identity-hashed: kept in a set
class _Conn:
    """One gateway websocket connection."""

    ws: web.WebSocketResponse
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Gateway:
    """One bot's gateway session, and what the client sent on it."""

    def __init__(
        self,
        world: World,
        signal: Signal,
        *,
        url: Callable[[], str],
        heartbeat_interval_ms: int,
        token: str | None,
        errors: list[str],
    ) -> None:
        self._world = world
        self._signal = signal
        self._url = url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._token = token
        self._errors = errors
        # observations
        self.identify: dict[str, Any] | None = None
        self.resumes: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.heartbeats: list[float] = []
        self.ready = False
        self.ready_shards: set[int] = set()  # shards that got READY
        self.shard_count = 1
        self._conns: set[_Conn] = set()
        self._shard_conns: dict[int, _Conn] = {}  # shard id -> its live session's socket
        self._sessions: dict[str, int] = {}  # session id -> shard id
        self._seq = 0
        self.refusing = False  # an outage: new connections are turned away (``go_down``)

    @property
    def _session_conn(self) -> _Conn | None:
        """The live session of shard 0 (the only one unless the client shards)."""
        return self._shard_conns.get(0)

    def shard_of(self, data: dict[str, Any]) -> int:
        """The shard an event goes to: its server's, or 0."""
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        if guild_id is None or self.shard_count <= 1:
            return 0
        return (int(guild_id) >> 22) % self.shard_count

    @property
    def intents(self) -> int:
        """The intents the client identified with (0 before IDENTIFY)."""
        return int((self.identify or {}).get("intents", 0))

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one websocket until the client or the fake closes it."""
        if self.refusing:
            return web.Response(status=503, text="gateway down")  # type: ignore[return-value]
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.add(conn)
        self.gateway_queries.append(dict(request.query))
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fakediscord"]}
            await self._send(conn, {"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        await self._on_frame(conn, json.loads(msg.data))
                    except Exception as exc:  # keep serving; surface through .errors
                        log.exception("gateway handler failed")
                        self._errors.append(f"gateway: {exc!r}")
                elif msg.type is WSMsgType.BINARY:
                    self._errors.append("gateway: unexpected binary frame from client")
        finally:
            self._conns.discard(conn)
            for shard, live in list(self._shard_conns.items()):
                if live is conn:
                    del self._shard_conns[shard]
            self._signal.notify()
        return ws

    async def close(self) -> None:
        """Close every connection (code 1001, going away)."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001), 2)
        self._conns.clear()
        self._shard_conns.clear()

    async def dispatch(self, event: str, data: dict[str, Any], timeout: float = 5) -> None:
        """Send a DISPATCH event on the live session of its shard (waits for a (re)connected
        session)."""
        shard = self.shard_of(data)

        def live() -> _Conn | None:
            conn = self._shard_conns.get(shard)
            return conn if conn is not None and not conn.ws.closed else None

        conn = await self._signal.wait_until(
            live, timeout, f"an identified gateway session of shard {shard} (is it running?)"
        )
        await self._send_dispatch(conn, event, data)

    async def drop(self, code: int = 4000) -> None:
        """Close the live socket with ``code``; discord.py reconnects and RESUMEs."""
        conn = self._shard_conns.pop(0, None)
        if conn is not None:
            await asyncio.wait_for(conn.ws.close(code=code), 5)

    async def go_down(self) -> None:
        """An outage: every socket closes (4000) and reconnections are refused until ``come_up``
        (discord.py keeps retrying, backing off)."""
        self.refusing = True
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=4000), 5)
        self._shard_conns.clear()
        self._signal.notify()

    def come_up(self) -> None:
        """The outage is over: the client's next retry connects (and RESUMEs)."""
        self.refusing = False

    async def _send(self, conn: _Conn, payload: dict[str, Any]) -> None:
        async with conn.lock:
            await conn.ws.send_str(json.dumps(payload))

    async def _send_dispatch(self, conn: _Conn, event: str, data: dict[str, Any]) -> None:
        async with conn.lock:
            self._seq += 1
            frame = {"op": 0, "t": event, "s": self._seq, "d": data}
            await conn.ws.send_str(json.dumps(frame))

    async def _on_frame(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d")
        if op == 1:  # HEARTBEAT
            self.heartbeats.append(time.monotonic())
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
            self._signal.notify()
        elif op == 2:  # IDENTIFY
            await self._on_identify(conn, data)
        elif op == 6:  # RESUME
            await self._on_resume(conn, data)
        else:
            log.debug("ignoring gateway op %s", op)

    async def _on_resume(self, conn: _Conn, data: dict[str, Any]) -> None:
        self.resumes.append(data)
        shard = self._sessions.get(data.get("session_id"))
        if shard is None:
            await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        self._shard_conns[shard] = conn
        await self._send_dispatch(conn, "RESUMED", {"_trace": ["fakediscord"]})
        self._signal.notify()

    async def _on_identify(self, conn: _Conn, data: dict[str, Any]) -> None:
        self.identify = data
        if self._token is not None and data.get("token") != self._token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard, count = (data.get("shard") or [0, 1])[:2]
        shard, count = int(shard), max(1, int(count))
        if count != self.shard_count and self._shard_conns:
            self._errors.append(f"gateway: shard count {count} after {self.shard_count}")
        self.shard_count = count
        session_id = uuid.uuid4().hex
        self._sessions[session_id] = shard
        self._shard_conns[shard] = conn
        world = self._world
        guilds = [g for g in world.guilds.values() if self.shard_of({"guild_id": g.id}) == shard]
        ready = {
            "v": 10,
            "user": world.bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session_id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "shard": data.get("shard", [0, 1]),
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fakediscord"],
        }
        await self._send_dispatch(conn, "READY", ready)
        if self.intents & INTENT_GUILDS:  # Discord sends no GUILD_CREATE without the intent
            for guild in guilds:
                await self._send_dispatch(conn, "GUILD_CREATE", world.guild_payload(guild))
        self.ready = True
        self.ready_shards.add(shard)
        self._signal.notify()
