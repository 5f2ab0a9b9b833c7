"""Many writers at once: every request is answered properly and every acknowledged write is kept.

SQLite allows one writer at a time; the server must queue writers (BEGIN IMMEDIATE, busy timeout) rather
than answer 500 or "database is locked". Each test runs its own server so its log is its own.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_TOKEN,
    REPO,
    SERVICE_EVENTS,
    ForkedEmulatorProcess,
    Server,
    TestDatabase,
    start_server,
    webhooks_path,
)

ACCOUNTS = [
    (DEMO_ACCOUNT, DEMO_TOKEN),
    ("AC" + "1" * 32, "token-one"),  # first seen during the test (permissive mode)
    ("AC" + "2" * 32, "token-two"),
]
SERVICES = 20
THREADS = 16
WRITES_PER_THREAD = 25
PROBLEMS = ("database is locked", "Traceback", "Internal Server Error", "OperationalError")


def assert_clean_answer(answer: httpx.Response, allowed: tuple[int, ...]) -> None:
    assert answer.status_code in allowed, f"{answer.request.method} {answer.request.url}: {answer.text}"
    for problem in PROBLEMS:
        assert problem not in answer.text, answer.text


def assert_clean_log(server: Server) -> None:
    log = server.process.log()
    for problem in (*PROBLEMS, "ERROR"):
        assert problem not in log, log[-5000:]


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) in `count` threads released at the same moment; re-raise any failure."""
    gate = threading.Barrier(count)

    def gated(index: int) -> Any:
        gate.wait(timeout=30)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(gated, range(count)))


def test_concurrent_writers_on_many_services_keep_every_acknowledged_write(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        # Services for three accounts, created all at once; two accounts are first seen right here.
        def create(index: int) -> tuple[int, str]:
            account, token = ACCOUNTS[index % len(ACCOUNTS)]
            with server.client(account, token) as client:
                answer = client.post("/v1/Services", data={"FriendlyName": f"concurrent {index}"})
            assert_clean_answer(answer, (201,))
            assert answer.json()["account_sid"] == account
            return index % len(ACCOUNTS), str(answer.json()["sid"])

        services: list[tuple[int, str]] = run_together(SERVICES, create)
        assert len({sid for _, sid in services}) == SERVICES

        # Writers on one service take turns (so "the last acknowledged" is well defined); writers on
        # different services run at once, and all of them compete for the one SQLite write lock.
        turns = {sid: threading.Lock() for _, sid in services}
        last: dict[str, dict[str, Any]] = {}
        answered = {"writes": 0, "reads": 0}
        count_lock = threading.Lock()

        def write(thread: int) -> None:
            clients = [server.client(account, token) for account, token in ACCOUNTS]
            try:
                for number in range(WRITES_PER_THREAD):
                    owner, sid = services[(thread * 7 + number * 3) % SERVICES]
                    client = clients[owner]
                    tag = f"{thread}-{number}"
                    data = {
                        "PreWebhookUrl": f"https://example.com/pre/{sid}/{tag}",
                        "PostWebhookUrl": f"https://example.com/post/{sid}/{tag}",
                        "Filters": [
                            SERVICE_EVENTS[(thread + number) % 20],
                            SERVICE_EVENTS[(thread * number + 1) % 20],
                        ],
                        "Method": "get" if (thread + number) % 2 else "POST",
                    }
                    with turns[sid]:
                        answer = client.post(webhooks_path(sid), data=data)
                        assert_clean_answer(answer, (200,))
                        body = answer.json()
                        assert body["pre_webhook_url"] == data["PreWebhookUrl"]
                        assert body["post_webhook_url"] == data["PostWebhookUrl"]
                        last[sid] = body
                    if number % 5 == 0:
                        listing = client.get("/v1/Services", params={"PageSize": 1000})
                        assert_clean_answer(listing, (200,))
                        assert sid in {service["sid"] for service in listing.json()["services"]}
                        with count_lock:
                            answered["reads"] += 1
                    with count_lock:
                        answered["writes"] += 1
            finally:
                for client in clients:
                    client.close()

        run_together(THREADS, write)
        assert answered["writes"] == THREADS * WRITES_PER_THREAD
        assert set(last) == {sid for _, sid in services}

        for owner, sid in services:
            account, token = ACCOUNTS[owner]
            with server.client(account, token) as client:
                answer = client.get(webhooks_path(sid))
                assert_clean_answer(answer, (200,))
                assert answer.json() == last[sid]
                # Another account cannot see it, even after all that.
                other, other_token = ACCOUNTS[(owner + 1) % len(ACCOUNTS)]
                with server.client(other, other_token) as stranger:
                    assert stranger.get(webhooks_path(sid)).status_code == 404
        for index, (account, token) in enumerate(ACCOUNTS):
            with server.client(account, token) as client:
                listing = client.get("/v1/Services", params={"PageSize": 1000}).json()["services"]
            mine = {sid for owner, sid in services if owner == index}
            assert mine <= {service["sid"] for service in listing}
    finally:
        server.process.stop()
    assert_clean_log(server)


def test_create_configure_delete_races_never_fail(tmp_path: Path) -> None:
    """Services are created, configured and deleted while others write to them: 404 at worst, never 500."""
    server = start_server(tmp_path)
    try:
        # One event loop, so the shared pool needs no lock.
        pool: list[str] = []
        deleted: set[str] = set()

        async def churn(worker: int) -> None:
            account, token = ACCOUNTS[worker % len(ACCOUNTS)]
            randomness = random.Random(worker)
            async with httpx.AsyncClient(
                base_url=server.base_url, auth=(account, token), timeout=30
            ) as client:
                for step in range(15):
                    created = await client.post("/v1/Services", data={"FriendlyName": f"churn {worker}"})
                    assert_clean_answer(created, (201,))
                    sid = created.json()["sid"]
                    pool.append(sid)
                    target = randomness.choice(pool)
                    # Maybe another account's service, maybe one being deleted right now: 200 or 404.
                    answer = await client.post(
                        webhooks_path(target), data={"Method": "GET", "Filters": SERVICE_EVENTS[step % 20]}
                    )
                    assert_clean_answer(answer, (200, 404))
                    if answer.status_code == 404:
                        assert answer.json()["code"] == 20404
                    if step % 2:
                        removed = await client.delete(f"/v1/Services/{sid}")
                        assert_clean_answer(removed, (204,))
                        deleted.add(sid)

        async def everyone() -> None:
            await asyncio.gather(*(churn(worker) for worker in range(12)))

        asyncio.run(everyone())

        survivors = set(pool) - deleted
        clients = [server.client(account, token) for account, token in ACCOUNTS]
        try:
            for sid in pool:
                found = [client.get(f"/v1/Services/{sid}").status_code for client in clients]
                assert sorted(found) == ([200, 404, 404] if sid in survivors else [404, 404, 404]), sid
        finally:
            for client in clients:
                client.close()
        # A deleted service leaves no configuration behind, and every configuration has its service.
        rows = server.snapshot()
        service_sids = {row[1] for row in rows["conversation_service"]}
        assert survivors <= service_sids
        assert not deleted & service_sids
        assert {row[0] for row in rows["service_webhook_configuration"]} <= service_sids
    finally:
        server.process.stop()
    assert_clean_log(server)


def test_two_servers_on_one_database_file_queue_their_writers(tmp_path: Path) -> None:
    """Two processes write to one SQLite file at once (e.g. a test runner and a dev server)."""
    first = start_server(tmp_path)
    second = start_server(tmp_path, fixtures="")
    try:
        servers = [first, second]
        with first.client() as client:
            sids = [
                str(client.post("/v1/Services", data={"FriendlyName": f"shared {index}"}).json()["sid"])
                for index in range(8)
            ]
        last: dict[str, str] = {}

        def write(worker: int) -> None:
            # Worker w owns service w; it alternates between the two servers on every write.
            sid = sids[worker]
            clients = [running.client() for running in servers]
            try:
                for number in range(20):
                    url = f"https://example.com/{sid}/{number}"
                    answer = clients[number % 2].post(webhooks_path(sid), data={"PostWebhookUrl": url})
                    assert_clean_answer(answer, (200,))
                    assert answer.json()["post_webhook_url"] == url
                    last[sid] = url
            finally:
                for client in clients:
                    client.close()

        run_together(len(sids), write)
        for running in servers:
            with running.client() as client:
                for sid in sids:
                    assert client.get(webhooks_path(sid)).json()["post_webhook_url"] == last[sid]
    finally:
        second.process.stop()
        first.process.stop()
    assert_clean_log(first)
    assert_clean_log(second)


def test_a_write_through_one_process_is_seen_by_the_next_read_of_another(tmp_path: Path) -> None:
    """Both servers cache reads; neither may answer from its cache after the other one committed."""
    first = start_server(tmp_path, auth_mode="strict")
    second = start_server(tmp_path, auth_mode="strict", fixtures="")
    try:
        with first.client() as writer, second.client() as reader:
            sid = str(writer.post("/v1/Services", data={"FriendlyName": "shared"}).json()["sid"])
            for number in range(25):
                assert reader.get(webhooks_path(sid)).status_code == 200  # fills the reader's cache
                url = f"https://example.com/hook/{number}"
                assert writer.post(webhooks_path(sid), data={"PreWebhookUrl": url}).status_code == 200
                assert reader.get(webhooks_path(sid)).json()["pre_webhook_url"] == url
        # Credentials are cached too: a new token set through one process counts at once in the other.
        account = "AC" + "9" * 32
        for token in ("first-token", "second-token"):
            document = {"accounts": [{"sid": account, "auth_token": token}]}
            assert httpx.post(f"{first.base_url}/_emulator/fixtures", json=document).status_code == 204
            with second.client(account, token) as current:
                assert current.get("/v1/Services").status_code == 200
        with second.client(account, "first-token") as stale:
            assert stale.get("/v1/Services").status_code == 401
    finally:
        second.process.stop()
        first.process.stop()


def test_several_processes_can_start_on_one_new_database_at_once(tmp_path: Path) -> None:
    """Replicas or restarts sharing a database create the schema and apply fixtures without locking out."""
    url = TestDatabase(tmp_path).url
    processes = [ForkedEmulatorProcess(url, fixtures=REPO / "fixtures") for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            started = list(pool.map(lambda process: process.start(), processes))
        for process in started:
            answer = httpx.get(f"{process.base_url}/v1/Services", auth=(DEMO_ACCOUNT, DEMO_TOKEN))
            assert answer.status_code == 200
            assert "database is locked" not in process.log()
    finally:
        for process in processes:
            process.stop()
