"""Waiting for the bot: every change in the fake wakes the waits, each wait has a deadline.

Why not poll: a fast bot answers within milliseconds, and a wait that re-checks only on a
change never sleeps past the answer nor spins while nothing happens.
"""

# The waits take ``timeout=`` by design (the fake's public API), hence ASYNC109 is off here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Signal:
    """Wakes every pending wait when the fake's state changed.

    ``summary`` describes recent traffic; a wait that times out puts it in its message, so a
    failing test says what the bot did instead.
    """

    def __init__(self, summary: Callable[[], str]) -> None:
        self._summary = summary
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Something changed: every wait checks its condition again."""
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(None)

    def cancel_all(self) -> None:
        """The fake is closing: no wait outlives it."""
        for fut in self._waiters:
            if not fut.done():
                fut.cancel()

    async def wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """The first non-None ``check()``, re-checked on each change, within ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what}; {self._summary()}"
                )
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.add(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(fut)
