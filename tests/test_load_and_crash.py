"""Load, then `kill -9` in the middle of it: every acknowledged write survives, nothing is half-written.

64 concurrent clients (asyncio, httpx) mix reads and writes across 60 services in 6 accounts for at
least 15 seconds and until 150 writes are acknowledged, however long a busy machine takes; then the
server is killed with SIGKILL while requests are in flight, restarted on the same SQLite file, and
checked:

- every service's configuration is its last acknowledged write, or the write that was in flight at the
  kill (writes to one service are never concurrent, so "last" is well defined);
- each write sets all four fields at once, derived from a unique token, so a stored row whose fields
  come from different writes (half-written) is detected; every read during the load is checked the same
  way;
- every service created and acknowledged during the load exists, and any other created then is one
  that was in flight;
- no 5xx, no transport error before the kill, no "database is locked" in any answer or in either server
  log, and `PRAGMA integrity_check` is ok.

The same load runs again with every core kept busy by other processes: writes must keep being
acknowledged (and survive the kill) while reads are answered. Nothing here is timed against a deadline
but a stall: a run fails only if no write is acknowledged for two minutes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SERVICE_EVENTS, BusyCores, Server, start_server, webhooks_path

CLIENTS = 64
ACCOUNTS = 6
SERVICES_PER_ACCOUNT = 10
# The load lasts at least this long, and until this many writes are acknowledged.
LOAD_SECONDS = 15.0
WRITES_BEFORE_KILL = 150
# No write acknowledged for this long: the writes are starved, and the test fails. Also each request's
# limit: a request a busy machine answers late is late, not lost.
STALL_SECONDS = 120.0
SEED = 1729
LOCKED = "database is locked"


@dataclass(frozen=True)
class Write:
    """One update that sets all four fields; each is derived from the write's unique number."""

    number: int

    def form(self) -> dict[str, str | list[str]]:
        return {
            "PreWebhookUrl": f"https://pre.example/w/{self.number}",
            "PostWebhookUrl": f"https://post.example/w/{self.number}",
            "Filters": self.filters(),
            "Method": self.method(),
        }

    def filters(self) -> list[str]:
        return [SERVICE_EVENTS[self.number % 20], SERVICE_EVENTS[(self.number // 20) % 20 or 1]]

    def method(self) -> str:
        return "GET" if self.number % 2 else "POST"

    def fields(self) -> dict[str, Any]:
        return {
            "pre_webhook_url": f"https://pre.example/w/{self.number}",
            "post_webhook_url": f"https://post.example/w/{self.number}",
            # Duplicates are dropped, order kept (webhook configuration).
            "filters": list(dict.fromkeys(self.filters())),
            "method": self.method(),
        }


NEVER_CONFIGURED = {"pre_webhook_url": None, "post_webhook_url": None, "filters": None, "method": None}


def write_of(configuration: dict[str, Any]) -> Write | None:
    """The write a stored configuration comes from, all four fields agreeing; AssertionError otherwise."""
    stored = {name: configuration[name] for name in NEVER_CONFIGURED}
    if stored == NEVER_CONFIGURED:
        return None
    url = stored["pre_webhook_url"]
    assert isinstance(url, str), stored
    write = Write(int(url.rsplit("/", 1)[1]))
    assert stored == write.fields(), f"half-written: {stored} is not write {write.number}"
    return write


@dataclass
class Service:
    sid: str
    account: tuple[str, str]
    acknowledged: Write | None = None
    in_flight: Write | None = None


@dataclass
class Load:
    services: list[Service]
    numbers: Callable[[], int]
    killed: bool = False
    stalled: bool = False
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    writes_acknowledged: int = 0
    in_flight: int = 0
    in_flight_at_kill: int = 0
    created: dict[str, str] = field(default_factory=dict)  # acknowledged: sid -> friendly name
    creating: set[str] = field(default_factory=set)  # friendly names sent, not acknowledged
    problems: list[str] = field(default_factory=list)

    def check_answer(self, what: str, answer: httpx.Response, expected: int) -> bool:
        self.statuses[answer.status_code] += 1
        if LOCKED in answer.text:
            self.problems.append(f"{what}: {LOCKED!r} in the answer: {answer.text[:200]}")
        if answer.status_code != expected:
            self.problems.append(f"{what}: {answer.status_code} {answer.text[:200]}")
            return False
        return True


def accounts() -> list[tuple[str, str]]:
    # Permissive mode (the default): a well-formed account SID with any token is an account.
    return [(f"AC{index:032x}", f"load-token-{index}") for index in range(1, ACCOUNTS + 1)]


async def make_services(client: httpx.AsyncClient) -> list[Service]:
    async def create(account: tuple[str, str], index: int) -> Service:
        answer = await client.post("/v1/Services", data={"FriendlyName": f"load {index}"}, auth=account)
        assert answer.status_code == 201, answer.text
        return Service(answer.json()["sid"], account)

    return list(
        await asyncio.gather(
            *(create(account, index) for account in accounts() for index in range(SERVICES_PER_ACCOUNT))
        )
    )


async def one_request(client: httpx.AsyncClient, load: Load, rng: random.Random) -> None:
    service = rng.choice(load.services)
    roll = rng.random()
    if roll < 0.25 and service.in_flight is None:
        await update(client, load, service)
    elif roll < 0.30:
        await create(client, load, rng.choice(load.services).account)
    elif roll < 0.40:
        load.requests["fetch service"] += 1
        answer = await client.get(f"/v1/Services/{service.sid}", auth=service.account)
        load.check_answer("fetch service", answer, 200)
    elif roll < 0.45:
        load.requests["list services"] += 1
        answer = await client.get("/v1/Services", params={"PageSize": 20}, auth=service.account)
        load.check_answer("list services", answer, 200)
    else:
        load.requests["fetch webhooks"] += 1
        answer = await client.get(webhooks_path(service.sid), auth=service.account)
        if load.check_answer("fetch webhooks", answer, 200):
            try:
                write_of(answer.json())  # never a mix of two writes, even while one is committing
            except AssertionError as exc:
                load.problems.append(f"read {service.sid}: {exc}")


async def update(client: httpx.AsyncClient, load: Load, service: Service) -> None:
    write = Write(load.numbers())
    service.in_flight = write  # one write per service at a time: the last acknowledged is the last
    load.requests["update webhooks"] += 1
    answer = await client.post(webhooks_path(service.sid), data=write.form(), auth=service.account)
    if load.check_answer("update webhooks", answer, 200):
        if answer.json() != {**answer.json(), **write.fields()}:
            load.problems.append(f"update {service.sid}: answered {answer.text[:300]} for write {write}")
        service.acknowledged = write
        load.writes_acknowledged += 1
    service.in_flight = None


async def create(client: httpx.AsyncClient, load: Load, account: tuple[str, str]) -> None:
    name = f"created during load {load.numbers()}"
    load.creating.add(name)
    load.requests["create service"] += 1
    answer = await client.post("/v1/Services", data={"FriendlyName": name}, auth=account)
    if load.check_answer("create service", answer, 201):
        load.created[answer.json()["sid"]] = name
        load.writes_acknowledged += 1
    load.creating.discard(name)


async def client_loop(client: httpx.AsyncClient, load: Load, seed: int) -> None:
    """One client: its own connection, requests back to back until the server is killed."""
    rng = random.Random(seed)
    async with client:
        while not load.killed:
            load.in_flight += 1
            try:
                await one_request(client, load, rng)
            except httpx.TransportError as exc:
                if not load.killed:
                    load.problems.append(f"transport error before the kill: {exc!r}")
                return
            finally:
                load.in_flight -= 1


def new_client(base_url: str) -> httpx.AsyncClient:
    # Plain HTTP to 127.0.0.1: no TLS, so no CA bundle to load, which costs each client about 0.1 s of CPU
    # (64 of them, loaded while the load runs, once took most of a busy machine's 15 s).
    return httpx.AsyncClient(base_url=base_url, timeout=STALL_SECONDS, verify=False)  # noqa: S501


async def wait_for_load(load: Load, seconds: float, writes: int) -> None:
    """Until `seconds` have passed and `writes` writes are acknowledged, or writes stall or go wrong."""
    started = progressed = time.monotonic()
    seen = 0
    while time.monotonic() - started < seconds or load.writes_acknowledged < writes:
        await asyncio.sleep(0.1)
        if load.writes_acknowledged != seen:
            seen, progressed = load.writes_acknowledged, time.monotonic()
        elif time.monotonic() - progressed > STALL_SECONDS:
            load.stalled = True
            return
        if load.problems:
            return


async def load_then_kill(
    server: Server, clients: int = CLIENTS, seconds: float = LOAD_SECONDS, writes: int = WRITES_BEFORE_KILL
) -> Load:
    async with new_client(server.base_url) as client:
        services = await make_services(client)
    numbers = iter(range(1, 10**9))
    load = Load(services, lambda: next(numbers))
    # Every client is made before the load starts, so none of its time goes to making them.
    made = [new_client(server.base_url) for _ in range(clients)]
    tasks = [
        asyncio.create_task(client_loop(client, load, SEED + index)) for index, client in enumerate(made)
    ]
    await wait_for_load(load, seconds, writes)
    load.in_flight_at_kill = load.in_flight
    load.killed = True
    server.process.kill()  # SIGKILL, with requests in flight
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=STALL_SECONDS)
    return load


def verify_after_restart(server: Server, load: Load) -> int:
    """Check every service and creation against what was acknowledged; how many were verified."""
    with server.anonymous() as client:
        return _verify(client, load)


def _verify(client: httpx.Client, load: Load) -> int:
    verified = 0
    for service in load.services:
        answer = client.get(webhooks_path(service.sid), auth=service.account)
        assert answer.status_code == 200, answer.text
        stored = write_of(answer.json())
        assert stored in (service.acknowledged, service.in_flight), (
            f"{service.sid}: stored write {stored}, last acknowledged {service.acknowledged}, "
            f"in flight {service.in_flight}"
        )
        verified += service.acknowledged is not None
    stored_names: dict[str, str] = {}
    for account in accounts():
        answer = client.get("/v1/Services", params={"PageSize": 1000}, auth=account)
        assert answer.status_code == 200, answer.text
        assert answer.json()["meta"]["next_page_url"] is None
        stored_names.update({item["sid"]: item["friendly_name"] for item in answer.json()["services"]})
    for sid, name in load.created.items():
        assert stored_names.get(sid) == name, f"acknowledged service {sid} {name!r} lost"
        verified += 1
    for sid, name in stored_names.items():
        if name.startswith("created during load") and sid not in load.created:
            assert name in load.creating, f"{sid} {name!r} was never acknowledged nor in flight"
    return verified


@dataclass
class Outcome:
    load: Load
    verified: int
    first_log: str
    second_log: str


def load_crash_and_verify(
    tmp_path: Path, clients: int, seconds: float, writes: int, busy_cores: bool = False
) -> Outcome:
    """The load on a server, its kill, a restart on the same database, and the check of what it kept.

    With `busy_cores`, every core is kept busy by other processes while the load runs (only then: the
    starts and the check after are not what is tested, and the loops' CPU is the rest of the suite's)."""
    first = start_server(tmp_path)
    started = time.monotonic()
    try:
        with BusyCores() if busy_cores else nullcontext() as busy:
            load = asyncio.run(load_then_kill(first, clients, seconds, writes))
            assert busy is None or busy.all_running(), "the busy loops ended before the load did"
    finally:
        first.process.kill()
    elapsed = time.monotonic() - started
    second = start_server(tmp_path)  # the same tmp_path: the same database file
    try:
        verified = verify_after_restart(second, load)
        assert second.database.integrity() == "ok"
    finally:
        second.process.stop()
    total = sum(load.requests.values())
    updated = sum(service.acknowledged is not None for service in load.services)
    print(
        f"\nload and crash: {total} requests in {elapsed:.1f} s by {clients} clients on "
        f"{len(load.services)} services in {ACCOUNTS} accounts ({dict(load.requests)}); statuses "
        f"{dict(load.statuses)}; {load.in_flight_at_kill} requests in flight at the kill; "
        f"{load.writes_acknowledged} writes acknowledged ({load.requests['update webhooks']} updates sent, "
        f"{len(load.created)} creations acknowledged); verified after the restart: {verified} "
        f"(the last acknowledged update of {updated} services, and {len(load.created)} creations)"
    )
    outcome = Outcome(load, verified, first.process.log(), second.process.log())
    assert not load.stalled, (
        f"no write acknowledged for {STALL_SECONDS:.0f} s; statuses {dict(load.statuses)}"
    )
    assert not load.problems, load.problems[:20]
    assert not [status for status in load.statuses if status >= 500]
    assert LOCKED not in outcome.first_log, outcome.first_log[-2000:]
    assert LOCKED not in outcome.second_log, outcome.second_log[-2000:]
    assert load.in_flight_at_kill > 0, "the kill did not land in the middle of the load"
    assert load.writes_acknowledged >= writes
    assert verified == updated + len(load.created)
    return outcome


# Long by design on a busy machine: the load runs until its writes are acknowledged.
@pytest.mark.timeout(900)
def test_kill_9_under_load_keeps_every_acknowledged_write(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    outcome = load_crash_and_verify(tmp_path, CLIENTS, LOAD_SECONDS, WRITES_BEFORE_KILL)
    load = outcome.load
    record_property("requests", sum(load.requests.values()))
    record_property("writes_acknowledged", load.writes_acknowledged)
    record_property("writes_verified_after_crash", outcome.verified)
    assert len(load.services) >= 50
    assert len({service.account for service in load.services}) >= 5


@pytest.mark.timeout(900)
def test_writes_keep_being_acknowledged_while_every_core_is_busy_with_other_work(tmp_path: Path) -> None:
    # Fewer clients and writes than above: the point is that writes are acknowledged at all, and kept,
    # while reads are answered and other processes take the CPU.
    outcome = load_crash_and_verify(tmp_path, clients=32, seconds=5.0, writes=60, busy_cores=True)
    load = outcome.load
    reads = sum(load.statuses.values()) - load.writes_acknowledged
    assert reads > 0
    assert load.writes_acknowledged >= 60
