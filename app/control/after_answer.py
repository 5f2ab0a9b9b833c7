"""Work a request leaves for after its answer has been sent: a REST call's webhooks when
`--webhook-delivery after-answer` defers them, as Twilio sends them asynchronously.

Each piece runs in a task of its own on the server's loop, at most `MAX_IN_FLIGHT` at once: past that,
the request that leaves more waits for a slot, as the answer itself waits in `before-answer` mode, so
a burst of writes to a slow handler cannot pile up tasks without bound. `settle()` waits until nothing
is in flight in this process, including what the work itself sets off (a handler that replies through
the API), for at most `SETTLE_LIMIT_S`: a reset does, so one test's webhooks never land in the next
one's log, and so do the delivery log's `?wait=true` and its clearing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Work = Callable[[], Awaitable[None]]

MAX_IN_FLIGHT = 100
# Two bots answering each other would never leave the process quiet.
SETTLE_LIMIT_S = 60.0


class AfterAnswer:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        # Work handed over but still waiting for a slot: in flight too, for settle().
        self._waiting = 0

    async def start(self, work: Work) -> None:
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        task: asyncio.Task[None] = asyncio.ensure_future(work())
        # Held until done: the loop keeps only a weak reference to a task.
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def settle(self) -> None:
        """Return once nothing is in flight, or after `SETTLE_LIMIT_S`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_LIMIT_S
        while (self._tasks or self._waiting) and loop.time() < deadline:
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=deadline - loop.time())
            else:
                await asyncio.sleep(0)  # a slot is free: the waiting work takes it on this turn
