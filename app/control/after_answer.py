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

    async def start(self, work: Work) -> None:
        await self._slots.acquire()
        task: asyncio.Task[None] = asyncio.ensure_future(work())
        # Held until done: the loop keeps only a weak reference to a task.
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def settle(self) -> None:
        """Return once nothing is in flight, or after `SETTLE_LIMIT_S`."""
        deadline = asyncio.get_running_loop().time() + SETTLE_LIMIT_S
        while self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)
