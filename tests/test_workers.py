"""Several workers on one port and one database (`--workers N`), on the backend under test.

Each request goes out on a new connection, so the kernel hands it to any worker: a write answered by one
worker must be seen by the next read, whichever worker answers it, and the control API (journal, faults,
deliveries, reset) must show what every worker did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from twilio_conversations_emulator.activity.sender import tls_context
from twilio_conversations_emulator.control.ring import TRIM_EVERY
from twilio_conversations_emulator.control.tables import log_entry
from twilio_conversations_emulator.testing.server import free_port

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    assert_twilio_error,
    start_server,
    webhooks_path,
)
from tests.test_deliveries import Receiver, assert_signed, receiver

WORKERS = 3
OTHER_ACCOUNT = "AC" + "6" * 32
__all__ = ["receiver"]  # the receiver fixture, shared with test_deliveries


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("workers"), extra_args=["--workers", str(WORKERS)])
    yield running
    running.process.stop()


@pytest.fixture
def cluster(workers: Server) -> Server:
    workers.reset()
    return workers


def call(server: Server, method: str, path: str, **options: Any) -> httpx.Response:
    """One request on a connection of its own: any worker may take it."""
    options.setdefault("auth", (DEMO_ACCOUNT, DEMO_TOKEN))
    with httpx.Client(base_url=server.base_url, timeout=30.0, verify=tls_context()) as client:
        return client.request(method, path, **options)


def pids_answering(server: Server, wanted: int = WORKERS, attempts: int = 200) -> set[int]:
    """The workers seen answering health calls: until `wanted` of them, or `attempts` calls."""
    pids: set[int] = set()
    for _ in range(attempts):
        pids.add(call(server, "GET", "/_emulator/health").json()["pid"])
        if len(pids) >= wanted:
            break
    return pids


def test_several_workers_answer(cluster: Server) -> None:
    pids = pids_answering(cluster)
    assert len(pids) >= 2, pids
    assert cluster.process.process is not None
    assert cluster.process.process.pid not in pids  # the parent only supervises


def test_every_write_is_seen_by_the_next_read_on_any_worker(cluster: Server) -> None:
    sids = []
    for number in range(20):
        created = call(cluster, "POST", "/v1/Services", data={"FriendlyName": f"service {number}"})
        assert created.status_code == 201, created.text
        sid = created.json()["sid"]
        sids.append(sid)
        fetched = call(cluster, "GET", f"/v1/Services/{sid}")
        assert fetched.status_code == 200, fetched.text
        url = f"https://example.com/hooks/{number}"
        updated = call(cluster, "POST", webhooks_path(sid), data={"PostWebhookUrl": url, "Method": "GET"})
        assert updated.status_code == 200, updated.text
        read = call(cluster, "GET", webhooks_path(sid))
        assert (read.json()["post_webhook_url"], read.json()["method"]) == (url, "GET")
    listing = call(cluster, "GET", "/v1/Services", params={"PageSize": 100}).json()["services"]
    assert [service["sid"] for service in listing] == [DEMO_SERVICE, *sids]
    for sid in sids[::2]:
        assert call(cluster, "DELETE", f"/v1/Services/{sid}").status_code == 204
        assert_twilio_error(call(cluster, "GET", f"/v1/Services/{sid}"), 404, 20404)
        assert_twilio_error(call(cluster, "GET", webhooks_path(sid)), 404, 20404)


def test_the_journal_holds_every_workers_requests(cluster: Server) -> None:
    for number in range(30):
        call(cluster, "GET", "/v1/Services", params={"PageSize": number + 1})
    entries = call(cluster, "GET", "/_emulator/requests").json()["requests"]
    assert [entry["query"] for entry in entries] == [f"PageSize={number + 1}" for number in range(30)]
    assert call(cluster, "DELETE", "/_emulator/requests").status_code == 204
    for _ in range(10):
        assert call(cluster, "GET", "/_emulator/requests").json() == {"requests": []}


def test_the_journal_stays_bounded_across_workers(tmp_path: Path) -> None:
    args = ["--workers", "2", "--journal-size", "5", "--delivery-log-size", "5"]
    running = start_server(tmp_path, extra_args=args)
    try:
        # Three deliveries first (to a port nobody listens on: logged as unreachable) ...
        hook = {"PostWebhookUrl": f"http://127.0.0.1:{free_port()}/hook", "Filters": "onMessageAdded"}
        assert call(running, "POST", webhooks_path(DEMO_SERVICE), data=hook).status_code == 200
        event = {"account_sid": DEMO_ACCOUNT, "chat_service_sid": DEMO_SERVICE, "event": "onMessageAdd"}
        for _ in range(3):
            assert (
                call(running, "POST", "/_emulator/events", json={**event, "source": "API"}).status_code == 200
            )
        # ... then far more journal entries than either log keeps.
        with httpx.Client(base_url=running.base_url, auth=(DEMO_ACCOUNT, DEMO_TOKEN)) as client:
            for number in range(300):
                client.get("/v1/Services", params={"PageSize": number + 1})
        entries = call(running, "GET", "/_emulator/requests").json()["requests"]
        assert [entry["query"] for entry in entries] == [f"PageSize={number}" for number in range(296, 301)]
        # The two logs share a table: the journal's trimming never takes the delivery log's entries.
        assert len(call(running, "GET", "/_emulator/deliveries").json()["deliveries"]) == 3
        # Each process trims once every TRIM_EVERY of its entries: storage stays within that of the ring.
        assert running.database.control_rows("emulator_log_entry") <= 5 + 3 + 2 * TRIM_EVERY
    finally:
        running.process.stop()


def test_a_fault_is_used_exactly_its_times_whichever_worker_answers(cluster: Server) -> None:
    fault = {"method": "GET", "path": "/v1/Services", "status": 503, "times": 7}
    assert call(cluster, "POST", "/_emulator/faults", json=fault).status_code == 201
    statuses = [call(cluster, "GET", "/v1/Services").status_code for _ in range(30)]
    assert statuses.count(503) == 7
    assert statuses[:7] == [503] * 7
    assert set(statuses[7:]) == {200}
    assert call(cluster, "GET", "/_emulator/faults").json() == {"faults": []}


def test_a_reset_on_one_worker_is_seen_by_all(cluster: Server) -> None:
    created = call(cluster, "POST", "/v1/Services", data={"FriendlyName": "before reset"})
    sid = created.json()["sid"]
    fault = {"path": "/v1/Services/*", "status": 500, "times": 100}
    assert call(cluster, "POST", "/_emulator/faults", json=fault).status_code == 201
    assert call(cluster, "POST", "/_emulator/reset").status_code == 204
    for _ in range(15):
        assert_twilio_error(call(cluster, "GET", f"/v1/Services/{sid}"), 404, 20404)
        assert call(cluster, "GET", f"/v1/Services/{DEMO_SERVICE}").status_code == 200
    assert call(cluster, "GET", "/_emulator/faults").json() == {"faults": []}


def test_every_worker_puts_back_the_same_fixture_dates(cluster: Server) -> None:
    # A reset puts back the rows the start-up fixtures make, worked out on the first reset. Each worker
    # has its own first reset, seconds apart: the dates must not depend on which worker takes a reset.
    pids, dates = set(), set()
    for _ in range(12):
        assert call(cluster, "POST", "/_emulator/reset").status_code == 204
        service = call(cluster, "GET", f"/v1/Services/{DEMO_SERVICE}").json()
        dates.add((service["date_created"], service["date_updated"]))
        pids.add(call(cluster, "GET", "/_emulator/health").json()["pid"])
        time.sleep(0.3)
    assert len(pids) > 1  # new connections reach several workers: the resets were not all one's
    assert len(dates) == 1, dates


def test_deliveries_sign_with_the_token_seen_by_another_worker(cluster: Server, receiver: Receiver) -> None:
    """Permissive mode signs with the token the account last used, whichever worker saw it."""
    token = "token-seen-by-some-worker"
    auth = (OTHER_ACCOUNT, token)
    created = call(cluster, "POST", "/v1/Services", data={"FriendlyName": "hooks"}, auth=auth)
    sid = created.json()["sid"]
    hook = {"PostWebhookUrl": receiver.url("/post"), "Filters": "onMessageAdded"}
    assert call(cluster, "POST", webhooks_path(sid), data=hook, auth=auth).status_code == 200
    event = {"account_sid": OTHER_ACCOUNT, "chat_service_sid": sid, "event": "onMessageAdd", "source": "API"}
    for _ in range(5):
        result = call(cluster, "POST", "/_emulator/events", json=event)
        assert result.status_code == 200, result.text
        (delivery,) = result.json()["deliveries"]
        assert delivery["status"] == 200, delivery
    assert len(receiver.on("/post")) == 5
    for request in receiver.on("/post"):
        assert_signed(request, token)
    logged = call(cluster, "GET", "/_emulator/deliveries", params={"account_sid": OTHER_ACCOUNT}).json()
    assert len(logged["deliveries"]) == 5


def test_a_delivery_stored_by_another_version_is_still_listed(cluster: Server, receiver: Receiver) -> None:
    """Replicas of two versions may share the control tables: an entry without a key this version added
    (`redirects`), or with one it does not know, is listed with what it has."""
    hook = {"PostWebhookUrl": receiver.url("/post"), "Filters": "onMessageAdded"}
    assert call(cluster, "POST", webhooks_path(DEMO_SERVICE), data=hook).status_code == 200
    event = {"account_sid": DEMO_ACCOUNT, "chat_service_sid": DEMO_SERVICE, "event": "onMessageAdd"}
    (delivered,) = call(cluster, "POST", "/_emulator/events", json={**event, "source": "API"}).json()[
        "deliveries"
    ]
    older = {name: value for name, value in delivered.items() if name != "redirects"}
    with cluster.database.control_connection() as connection:
        for entry in (older, {**delivered, "a_later_versions_key": 1}):
            connection.execute(
                insert(log_entry).values(log="deliveries", account_sid=DEMO_ACCOUNT, entry=entry)
            )
    listed = call(cluster, "GET", "/_emulator/deliveries").json()["deliveries"]
    assert listed == [delivered, delivered, delivered]


def test_deliveries_sign_with_the_last_token_used_whatever_worker_saw_the_others(
    cluster: Server, receiver: Receiver
) -> None:
    account = "AC" + "7" * 32
    created = call(cluster, "POST", "/v1/Services", data={"FriendlyName": "hooks"}, auth=(account, "first"))
    sid = created.json()["sid"]
    hook = {"PostWebhookUrl": receiver.url("/post"), "Filters": "onMessageAdded"}
    assert call(cluster, "POST", webhooks_path(sid), data=hook, auth=(account, "first")).status_code == 200
    # Tokens alternate over requests that land on any worker; the last one used must sign.
    for token in ["second", "first", "second", "first", "second", "first"]:
        assert call(cluster, "GET", f"/v1/Services/{sid}", auth=(account, token)).status_code == 200
    event = {"account_sid": account, "chat_service_sid": sid, "event": "onMessageAdd", "source": "API"}
    assert call(cluster, "POST", "/_emulator/events", json=event).status_code == 200
    (request,) = receiver.on("/post")
    assert_signed(request, "first")


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:workers-memory?mode=memory&cache=shared&uri=true",
        "sqlite:///file::memory:?cache=shared&uri=true",
    ],
)
def test_workers_refuse_an_in_memory_database(url: str) -> None:
    command = [
        sys.executable,
        "-m",
        "twilio_conversations_emulator",
        "serve",
        "--port",
        str(free_port()),
        "--database",
        url,
    ]
    result = subprocess.run(
        [*command, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid --workers" in result.stderr
    assert "in-memory database" in result.stderr


@pytest.mark.backend_independent  # refused before any database
def test_workers_refuse_after_answer_webhooks(tmp_path: Path) -> None:
    """One worker could not wait, at a reset, for another's webhooks, which would land in the shared log
    after it: refused at start, before the database is made."""
    database = tmp_path / "never.db"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "twilio_conversations_emulator", "serve", "--port", str(free_port())),
            *("--database", f"sqlite:///{database}", "--workers", "2", "--webhook-delivery", "after-answer"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "twilio-emulator: invalid --workers: Value error, webhook delivery after-answer needs one process: "
        "workers share one log"
    ]
    assert not database.exists()


def test_a_graceful_stop_ends_every_worker(tmp_path: Path) -> None:
    running = start_server(tmp_path, extra_args=["--workers", "2"])
    pids = pids_answering(running, wanted=2)
    assert len(pids) == 2, pids
    assert running.process.process is not None
    running.process.process.send_signal(signal.SIGTERM)
    assert running.process.process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


# More than uvicorn's own 5 s wait for a new worker's answer to its health ping.
SLOW_WORKER_START_S = 8


@pytest.mark.backend_independent  # uvicorn's supervisor, whatever the storage: once, in the SQLite pass
def test_a_worker_slower_to_start_than_uvicorns_health_ping_is_waited_for(tmp_path: Path) -> None:
    # uvicorn's parent kills a worker that has not answered its health ping in time, and a new worker
    # answers only once its interpreter has started and imported the app: on a loaded machine that took
    # more than uvicorn's 5 s, workers were killed and restarted over and over, and none ever served. Here
    # each worker's interpreter waits first, as a busy machine makes it wait, without taking the CPU that
    # other tests need (a sitecustomize module, which every interpreter imports; only workers wait).
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        f"import sys, time\nif '--multiprocessing-fork' in sys.argv:\n    time.sleep({SLOW_WORKER_START_S})\n"
    )
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    running = start_server(tmp_path, extra_args=["--workers", "2"], env={"PYTHONPATH": path})
    try:
        pids = pids_answering(running, wanted=2)
        created = call(running, "POST", "/v1/Services", data={"FriendlyName": "slow workers"})
    finally:
        running.process.stop()
    assert len(pids) == 2, pids
    assert created.status_code == 201, created.text
    assert "died" not in running.process.log()
