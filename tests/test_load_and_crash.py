"""Load, then `kill -9` in the middle of it: every acknowledged write survives, nothing is half-written.

64 concurrent clients (asyncio, httpx) mix reads and writes across 60 services in 6 accounts for about
15 seconds; then the server is killed with SIGKILL while requests are in flight, restarted on the same
SQLite file, and checked:

- every service's configuration is its last acknowledged write, or the write that was in flight at the
  kill (writes to one service are never concurrent, so "last" is well defined);
- each write sets all four fields at once, derived from a unique token, so a stored row whose fields
  come from different writes (half-written) is detected; every read during the load is checked the same
  way;
- every service created and acknowledged during the load exists, and any other created then is one
  that was in flight;
- no 5xx, no transport error before the kill, no "database is locked" in any answer or in either server
  log, and `PRAGMA integrity_check` is ok.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import SERVICE_EVENTS, Server, start_server, webhooks_path

CLIENTS = 64
ACCOUNTS = 6
SERVICES_PER_ACCOUNT = 10
LOAD_SECONDS = 15.0
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


async def client_loop(base_url: str, load: Load, seed: int) -> None:
    """One client: its own connection, requests back to back until the server is killed."""
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
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


async def load_then_kill(server: Server) -> Load:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
        services = await make_services(client)
    numbers = iter(range(1, 10**9))
    load = Load(services, lambda: next(numbers))
    clients = [
        asyncio.create_task(client_loop(server.base_url, load, SEED + index)) for index in range(CLIENTS)
    ]
    await asyncio.sleep(LOAD_SECONDS)
    load.in_flight_at_kill = load.in_flight
    load.killed = True
    server.process.kill()  # SIGKILL, with requests in flight
    await asyncio.wait_for(asyncio.gather(*clients), timeout=60)
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


def test_kill_9_under_load_keeps_every_acknowledged_write(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    first = start_server(tmp_path)
    started = time.monotonic()
    try:
        load = asyncio.run(load_then_kill(first))
    finally:
        first.process.kill()
    seconds = time.monotonic() - started
    first_log = first.process.log()

    restarted = time.monotonic()
    second = start_server(tmp_path)  # the same tmp_path: the same database file
    try:
        verified = verify_after_restart(second, load)
        assert second.database.integrity() == "ok"
    finally:
        second.process.stop()
    second_log = second.process.log()
    print(f"\nrestart and verification: {time.monotonic() - restarted:.1f} s")

    total = sum(load.requests.values())
    updated = sum(service.acknowledged is not None for service in load.services)
    print(
        f"\nload and crash: {total} requests in {seconds:.1f} s by {CLIENTS} clients on "
        f"{len(load.services)} services in {ACCOUNTS} accounts ({dict(load.requests)}); statuses "
        f"{dict(load.statuses)}; {load.in_flight_at_kill} requests in flight at the kill; "
        f"{load.writes_acknowledged} writes acknowledged ({load.requests['update webhooks']} updates sent, "
        f"{len(load.created)} creations acknowledged); verified after the restart: {verified} "
        f"(the last acknowledged update of {updated} services, and {len(load.created)} creations)"
    )
    record_property("requests", total)
    record_property("writes_acknowledged", load.writes_acknowledged)
    record_property("writes_verified_after_crash", verified)
    assert not load.problems, load.problems[:20]
    assert not [status for status in load.statuses if status >= 500]
    assert LOCKED not in first_log, first_log[-2000:]
    assert LOCKED not in second_log, second_log[-2000:]
    assert len(load.services) >= 50
    assert len({service.account for service in load.services}) >= 5
    assert load.in_flight_at_kill > 0, "the kill did not land in the middle of the load"
    assert load.writes_acknowledged > 100
    assert verified == updated + len(load.created)
