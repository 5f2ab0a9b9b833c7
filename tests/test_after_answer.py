"""`AfterAnswer`, which runs the webhooks of `--webhook-delivery after-answer` once their answers are sent:
its bound on work in flight and what `settle()` waits for. On its own event loop: the server tests
(tests/test_rest_activity.py) cover how requests use it."""

from __future__ import annotations

import asyncio

import pytest
from twilio_conversations_emulator.control.after_answer import (
    MAX_IN_FLIGHT,
    SETTLE_LIMIT_S,
    AfterAnswer,
    Work,
)
from twilio_conversations_emulator.testing.control import CONTROL_TIMEOUT_S

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)


def held_work(release: asyncio.Event, ended: list[int], number: int) -> Work:
    async def work() -> None:
        await release.wait()
        ended.append(number)

    return work


def test_work_past_the_bound_waits_for_a_slot_and_settle_waits_for_it_too() -> None:
    async def scenario() -> None:
        after_answer, release = AfterAnswer(), asyncio.Event()
        ended: list[int] = []
        for number in range(MAX_IN_FLIGHT):
            await after_answer.start(held_work(release, ended, number))
        # One more: its start cannot finish while every slot is held.
        extra = asyncio.ensure_future(after_answer.start(held_work(release, ended, MAX_IN_FLIGHT)))
        await asyncio.sleep(0)
        assert not extra.done()
        settling = asyncio.ensure_future(after_answer.settle())
        await asyncio.sleep(0)
        assert not settling.done()
        release.set()
        await settling
        # Settled means the waiting one ran too, not only the hundred that held slots when settle began.
        assert sorted(ended) == list(range(MAX_IN_FLIGHT + 1))
        assert extra.done()

    asyncio.run(scenario())


def test_settle_waits_for_work_started_while_it_waits() -> None:
    async def scenario() -> None:
        after_answer, release = AfterAnswer(), asyncio.Event()
        ended: list[int] = []

        async def first() -> None:
            await release.wait()
            # A webhook handler's reply: new work, started as the first ends.
            await after_answer.start(second)
            ended.append(1)

        async def second() -> None:
            await asyncio.sleep(0.01)
            ended.append(2)

        await after_answer.start(first)
        settling = asyncio.ensure_future(after_answer.settle())
        await asyncio.sleep(0)
        release.set()
        await settling
        assert ended == [1, 2]

    asyncio.run(scenario())


def test_the_control_clients_wait_longer_than_a_settle_can_take() -> None:
    assert CONTROL_TIMEOUT_S > SETTLE_LIMIT_S
