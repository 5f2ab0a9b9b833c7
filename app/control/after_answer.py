"""Work a request leaves for after its answer has been sent: a REST call's webhooks when
`--webhook-delivery after-answer` defers them, as Twilio sends them asynchronously.

Each piece runs in a task of its own on the server's loop. `settle()` waits for what is in flight in this
process: a reset does, so that one test's deliveries never land in the next one's log, and so does the
delivery log when asked to (`?wait=true`). Every delivery is bounded by the webhook timeout, so a wait is
too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Work = Callable[[], Awaitable[None]]


class AfterAnswer:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Work) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work())
        # Held until done: the loop keeps only a weak reference to a task.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Return once the work started before this call has ended."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    @property
    def in_flight(self) -> int:
        return len(self._tasks)
