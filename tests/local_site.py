"""A small aiohttp site on 127.0.0.1 for the tests that fetch: served on the test's own event
loop (async tests), or on a loop in a thread of its own (tests that go through the command line
or ``fetch_sync``, which run their own loop)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from aiohttp import web


@asynccontextmanager
async def serving(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None, quick: bool = False
) -> AsyncIterator[int]:
    """Serve ``app`` on a free port of 127.0.0.1 until the block ends; yields the port.
    ``quick`` cancels handlers still running at the end instead of waiting for them."""
    extra = {"handler_cancellation": True, "shutdown_timeout": 0.1} if quick else {}
    runner = web.AppRunner(app, **extra)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@contextmanager
def serving_in_thread(app: web.Application) -> Iterator[str]:
    """Serve ``app`` from a thread of its own; yields its base URL (``http://127.0.0.1:port``)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started: dict[str, object] = {}
    stop = asyncio.Event()

    async def serve() -> None:
        async with serving(app) as port:
            started["port"] = port
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the test site did not start"
    try:
        yield f"http://127.0.0.1:{started['port']}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
