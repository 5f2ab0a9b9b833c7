"""The control API: the request journal, injected faults, fixtures at run time, admin token."""

from __future__ import annotations

import asyncio
import base64
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from twilio_conversations_emulator.control.journal import JournalEntry, RequestJournal

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_KEY,
    DEMO_KEY_SECRET,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    assert_twilio_error,
    new_service,
    start_server,
    webhooks_path,
)

OTHER_ACCOUNT = "AC" + "6" * 32


def journal(server: Server, **filters: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.base_url}/_emulator/requests", params=filters)
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["requests"]
    return entries


def add_fault(server: Server, **fault: Any) -> dict[str, Any]:
    answer = httpx.post(f"{server.base_url}/_emulator/faults", json=fault)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


# The journal


def test_journal_records_what_was_sent_oldest_first(emulator: Server, api: httpx.Client) -> None:
    api.get(webhooks_path(DEMO_SERVICE))
    answer = api.post(
        webhooks_path(DEMO_SERVICE) + "?Ignored=1",
        content=b"Filters=onMessageAdd&Filters=onMessageAdded&Method=post",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    entries = journal(emulator)
    assert [entry["method"] for entry in entries] == ["GET", "POST"]
    posted = entries[1]
    assert posted["path"] == webhooks_path(DEMO_SERVICE)
    assert posted["query"] == "Ignored=1"
    assert posted["params"] == [
        ["Filters", "onMessageAdd"],
        ["Filters", "onMessageAdded"],
        ["Method", "post"],
    ]
    assert posted["account_sid"] == DEMO_ACCOUNT
    assert posted["username"] == DEMO_ACCOUNT
    assert posted["status"] == 200
    assert posted["request_id"] == answer.headers["twilio-request-id"]
    assert posted["duration_ms"] >= 0
    assert posted["time"].endswith("Z")
    assert set(posted) == {
        "time",
        "request_id",
        "method",
        "path",
        "query",
        "params",
        "account_sid",
        "username",
        "status",
        "duration_ms",
        "truncated",
    }
    assert posted["truncated"] is False


def test_journal_records_failures_and_never_credentials(emulator: Server) -> None:
    with emulator.client(DEMO_ACCOUNT, "s3cret-token-value") as client:
        client.get("/v1/Services/IS1")
    with emulator.client(DEMO_KEY, DEMO_KEY_SECRET) as client:
        client.post("/v1/Services", data={"FriendlyName": ""})
    with emulator.anonymous() as client:
        client.get(
            "/v1/Services", headers={"Authorization": "Basic " + base64.b64encode(b"nobody:pw").decode()}
        )
    entries = journal(emulator)
    assert [(entry["status"], entry["username"], entry["account_sid"]) for entry in entries] == [
        (404, DEMO_ACCOUNT, DEMO_ACCOUNT),
        (400, DEMO_KEY, DEMO_ACCOUNT),
        (401, None, None),  # "nobody" is no SID: not recorded, in case it was a secret
    ]
    text = httpx.get(f"{emulator.base_url}/_emulator/requests").text
    for secret in ("s3cret-token-value", DEMO_KEY_SECRET, DEMO_TOKEN, 'pw"'):
        assert secret not in text


def test_journal_only_holds_twilio_api_calls(emulator: Server) -> None:
    httpx.get(f"{emulator.base_url}/_emulator/health")
    httpx.get(f"{emulator.base_url}/nowhere")
    assert journal(emulator) == []


def test_journal_filters(emulator: Server, api: httpx.Client) -> None:
    sid = new_service(api)
    api.get(webhooks_path(sid))
    api.post(webhooks_path(sid), data={"Method": "GET"})
    with emulator.client(OTHER_ACCOUNT, "t") as other:
        other.get("/v1/Services")
    assert [e["method"] for e in journal(emulator, method="post")] == ["POST", "POST"]
    assert [e["path"] for e in journal(emulator, path="/v1/Services/*/Configuration/*")] == [
        webhooks_path(sid),
        webhooks_path(sid),
    ]
    assert [e["account_sid"] for e in journal(emulator, account_sid=OTHER_ACCOUNT)] == [OTHER_ACCOUNT]
    newest = journal(emulator, limit=2)
    assert [e["method"] for e in newest] == ["POST", "GET"]
    assert journal(emulator, limit=0) == []


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "account_sid=AC1"])
def test_bad_journal_filters_are_400(emulator: Server, api: httpx.Client, query: str) -> None:
    api.get("/v1/Services")
    assert_twilio_error(httpx.get(f"{emulator.base_url}/_emulator/requests?{query}"), 400, 20002)
    assert len(journal(emulator)) == 1


def test_journal_delete_clears_it(emulator: Server, api: httpx.Client) -> None:
    api.get("/v1/Services")
    assert httpx.delete(f"{emulator.base_url}/_emulator/requests").status_code == 204
    assert journal(emulator) == []


def test_reset_clears_the_journal(emulator: Server, api: httpx.Client) -> None:
    api.get("/v1/Services")
    emulator.reset()
    assert journal(emulator) == []


@pytest.fixture(scope="module")
def small_journal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("journal"), extra_args=["--journal-size", "5"])
    yield running
    running.process.stop()


def test_journal_is_bounded_over_http(small_journal_server: Server) -> None:
    small_journal_server.reset()
    with small_journal_server.client() as api:
        answers = [api.get("/v1/Services", params={"n": str(n)}) for n in range(40)]
    entries = journal(small_journal_server)
    assert [entry["query"] for entry in entries] == [f"n={n}" for n in range(35, 40)]
    assert [entry["request_id"] for entry in entries] == [
        a.headers["twilio-request-id"] for a in answers[-5:]
    ]


def test_journal_stays_bounded_after_100000_requests() -> None:
    """The ring buffer's memory is flat: 100,000 records into a cap of 50 leave 50, and no growth."""
    ring = RequestJournal(50)

    def entry(number: int) -> JournalEntry:
        return JournalEntry(
            time=0.0,
            request_id=f"RQ{number:032x}",
            method="POST",
            path="/v1/Services",
            query="",
            params=[["FriendlyName", "x" * 100]],
            account_sid=DEMO_ACCOUNT,
            username=DEMO_ACCOUNT,
            status=201,
            duration_ms=1.0,
        )

    async def record(numbers: range) -> None:
        for number in numbers:
            await ring.record(entry(number))

    asyncio.run(record(range(1_000)))
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    asyncio.run(record(range(1_000, 100_000)))
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(ring) == 50
    assert ring.entries()[-1].request_id == f"RQ{99_999:032x}"
    assert current - baseline < 64 * 1024


def test_journal_size_zero_turns_it_off(tmp_path_factory: pytest.TempPathFactory) -> None:
    running = start_server(tmp_path_factory.mktemp("nojournal"), extra_args=["--journal-size", "0"])
    try:
        with running.client() as api:
            assert api.get("/v1/Services").status_code == 200
        assert journal(running) == []
    finally:
        running.process.stop()


# Faults


def test_a_429_fault_answers_twilio_envelope_with_retry_after(emulator: Server, api: httpx.Client) -> None:
    created = add_fault(
        emulator, method="POST", path="/v1/Services/*/Configuration/Webhooks", status=429, retry_after=7
    )
    assert created == {
        "id": created["id"],
        "method": "POST",
        "path": "/v1/Services/*/Configuration/Webhooks",
        "account_sid": None,
        "status": 429,
        "code": 20429,  # the status's own, as the answer will carry it
        "times": 1,
        "delay_ms": 0,
        "retry_after": 7,
    }
    before = emulator.snapshot()
    answer = api.post(webhooks_path(DEMO_SERVICE), data={"Method": "GET"})
    body = assert_twilio_error(answer, 429, 20429)
    assert body["message"] == "Too Many Requests"
    assert answer.headers["retry-after"] == "7"
    assert emulator.snapshot() == before
    # Used up: the next request goes through.
    assert api.post(webhooks_path(DEMO_SERVICE), data={"Method": "GET"}).json()["method"] == "GET"


@pytest.mark.parametrize(
    ("status", "code", "expected_code", "message"),
    [
        (500, None, 20500, "Internal Server Error"),
        (503, None, 20503, "Service Unavailable"),
        (401, None, 20003, "Authenticate"),
        (400, 50054, 50054, "Bad Request"),
    ],
)
def test_fault_status_and_code(
    emulator: Server, api: httpx.Client, status: int, code: int | None, expected_code: int, message: str
) -> None:
    add_fault(emulator, path="/v1/Services", status=status, code=code)
    answer = api.get("/v1/Services")
    body = assert_twilio_error(answer, status, expected_code)
    assert body["message"] == message
    assert "retry-after" not in answer.headers  # only a 429 says when to retry unless told
    # An injected 401 is Twilio's own, challenge included; no other status carries one.
    challenge = answer.headers.get("www-authenticate")
    assert challenge == ('Basic realm="Twilio API"' if status == 401 else None)


def test_a_429_fault_that_names_no_retry_after_says_one_second(emulator: Server, api: httpx.Client) -> None:
    created = add_fault(emulator, method="GET", path="/v1/Services", status=429)
    assert created["retry_after"] == 1  # the listing shows what the answer will carry
    before = emulator.snapshot()
    answer = api.get("/v1/Services")
    assert_twilio_error(answer, 429, 20429)
    assert answer.headers["retry-after"] == "1"
    assert emulator.snapshot() == before


def test_fault_times_and_matching(emulator: Server, api: httpx.Client) -> None:
    add_fault(emulator, method="GET", path="/v1/Services/IS*", status=500, times=2)
    assert api.get("/v1/Services").status_code == 200  # the glob does not match the list
    assert api.post(webhooks_path(DEMO_SERVICE)).status_code == 200  # nor a POST
    assert api.get(webhooks_path(DEMO_SERVICE)).status_code == 500
    assert api.get(f"/v1/Services/{DEMO_SERVICE}").status_code == 500
    assert api.get(webhooks_path(DEMO_SERVICE)).status_code == 200
    assert httpx.get(f"{emulator.base_url}/_emulator/faults").json() == {"faults": []}


def test_fault_scoped_to_an_account(emulator: Server, api: httpx.Client) -> None:
    add_fault(emulator, path="*", status=503, account_sid=OTHER_ACCOUNT)
    assert api.get("/v1/Services").status_code == 200
    with emulator.client(OTHER_ACCOUNT, "t") as other:
        assert_twilio_error(other.get("/v1/Services"), 503, 20503)


def test_faults_come_after_authentication_and_routing(emulator: Server, api: httpx.Client) -> None:
    add_fault(emulator, path="*", status=500, times=3)
    with emulator.anonymous() as client:
        assert_twilio_error(client.get("/v1/Services"), 401, 20003)
    assert_twilio_error(api.get("/v1/Nope"), 404, 20404)
    assert_twilio_error(api.put("/v1/Services"), 405, 20004)
    assert [
        fault["times"] for fault in httpx.get(f"{emulator.base_url}/_emulator/faults").json()["faults"]
    ] == [3]
    # ...and before the resource's own validation.
    assert_twilio_error(api.post(webhooks_path(DEMO_SERVICE), data={"Method": "BAD"}), 500, 20500)


def test_delay_without_status_is_a_slow_but_correct_answer(emulator: Server, api: httpx.Client) -> None:
    add_fault(emulator, method="GET", path="/v1/Services", delay_ms=300)
    started = time.monotonic()
    answer = api.get("/v1/Services")
    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert [s["sid"] for s in answer.json()["services"]] == [DEMO_SERVICE]


def test_a_delayed_request_does_not_hold_up_others(emulator: Server, api: httpx.Client) -> None:
    # The delayed request is still being held when the others come back: no clock decides that, only
    # the order of answers (8 s is far more than a loaded machine needs for the other calls).
    add_fault(emulator, method="GET", path="/v1/Services/*/Configuration/Webhooks", delay_ms=8000)
    import threading

    slow: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: slow.append(emulator.client().get(webhooks_path(DEMO_SERVICE))))
    thread.start()
    while httpx.get(f"{emulator.base_url}/_emulator/faults").json()["faults"]:
        time.sleep(0.01)  # until the delayed request has taken its fault
    for _ in range(3):
        assert api.get("/v1/Services").status_code == 200
    assert thread.is_alive()
    assert slow == []
    thread.join(30)
    assert slow[0].status_code == 200


def test_faults_list_clear_and_reset(emulator: Server) -> None:
    first = add_fault(emulator, status=500)
    second = add_fault(emulator, status=503, method="delete", path="/v1/Services/*")
    assert second["id"] > first["id"]
    assert second["method"] == "DELETE"
    listed = httpx.get(f"{emulator.base_url}/_emulator/faults").json()["faults"]
    assert [fault["id"] for fault in listed] == [first["id"], second["id"]]
    assert httpx.delete(f"{emulator.base_url}/_emulator/faults").status_code == 204
    assert httpx.get(f"{emulator.base_url}/_emulator/faults").json() == {"faults": []}
    add_fault(emulator, status=500)
    emulator.reset()
    assert httpx.get(f"{emulator.base_url}/_emulator/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"status": 200},
        {"status": 600},
        {"status": "429"},
        {"status": 429, "times": 0},
        {"status": 429, "method": "PUT"},
        {"status": 429, "account_sid": "AC1"},
        {"status": 429, "delay_ms": -1},
        {"status": 429, "unknown": True},
        {"status": 429, "path": "/v1/\u0000"},
        {"status": 429, "times": 2**31},
        {"status": 429, "retry_after": 2**31},
        [],
    ],
)
def test_bad_faults_are_refused(emulator: Server, fault: Any) -> None:
    answer = httpx.post(f"{emulator.base_url}/_emulator/faults", json=fault)
    assert_twilio_error(answer, 400, 20001)
    assert httpx.get(f"{emulator.base_url}/_emulator/faults").json() == {"faults": []}


def test_a_fault_body_that_is_not_json_is_refused(emulator: Server) -> None:
    answer = httpx.post(f"{emulator.base_url}/_emulator/faults", content=b"status=429")
    body = assert_twilio_error(answer, 400, 20001)
    assert "JSON" in body["message"]


# Fixtures at run time

RUNTIME_ACCOUNT = "AC" + "7" * 32
RUNTIME_SERVICE = "IS" + "7" * 32


def test_fixtures_applied_at_run_time_are_idempotent(emulator: Server) -> None:
    document = {
        "accounts": [{"sid": RUNTIME_ACCOUNT, "auth_token": "rt"}],
        "services": [
            {
                "sid": RUNTIME_SERVICE,
                "account_sid": RUNTIME_ACCOUNT,
                "friendly_name": "run time",
                "webhooks": {"post_webhook_url": "https://post.example.com/", "filters": ["onMessageAdded"]},
            }
        ],
    }
    for _ in range(2):
        answer = httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=document)
        assert answer.status_code == 204
        after = emulator.snapshot()
    assert httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=document).status_code == 204
    assert emulator.snapshot() == after
    with emulator.client(RUNTIME_ACCOUNT, "rt") as api:
        body = api.get(webhooks_path(RUNTIME_SERVICE)).json()
    assert body["post_webhook_url"] == "https://post.example.com/"
    assert body["filters"] == ["onMessageAdded"]
    assert body["method"] is None


@pytest.mark.parametrize(
    ("document", "entry"),
    [
        (
            {"services": [{"sid": "IS1", "account_sid": RUNTIME_ACCOUNT, "friendly_name": "x"}]},
            "services[0].sid",
        ),
        (
            {
                "accounts": [{"sid": RUNTIME_ACCOUNT}],
                "services": [
                    {
                        "sid": RUNTIME_SERVICE,
                        "account_sid": RUNTIME_ACCOUNT,
                        "friendly_name": "x",
                        "webhooks": {"method": "PUT"},
                    }
                ],
            },
            "services[0]",
        ),
        (
            {"services": [{"sid": DEMO_SERVICE, "account_sid": RUNTIME_ACCOUNT, "friendly_name": "x"}]},
            "another",
        ),
        ({"api_keys": [{"sid": DEMO_KEY, "secret": "s", "account_sid": RUNTIME_ACCOUNT}]}, "api_keys[0]"),
        ({"accounts": [{"sid": RUNTIME_ACCOUNT, "auth_token": "a\u0000b"}]}, "accounts[0].auth_token"),
        (
            {
                "services": [
                    {"sid": RUNTIME_SERVICE, "account_sid": RUNTIME_ACCOUNT, "friendly_name": "\u0000"}
                ]
            },
            "services[0].friendly_name",
        ),
        ([1, 2], "document"),
    ],
)
def test_a_refused_run_time_fixture_changes_nothing(emulator: Server, document: Any, entry: str) -> None:
    before = emulator.snapshot()
    answer = httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=document)
    body = assert_twilio_error(answer, 400, 20001)
    assert entry in body["message"]
    assert emulator.snapshot() == before


def test_run_time_fixtures_are_not_reapplied_by_reset(emulator: Server) -> None:
    document = {"services": [{"sid": RUNTIME_SERVICE, "account_sid": RUNTIME_ACCOUNT, "friendly_name": "rt"}]}
    assert httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=document).status_code == 204
    emulator.reset()
    assert all(RUNTIME_SERVICE not in row for row in emulator.snapshot()["conversation_service"])


# Admin token


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("admin"), env={"TWILIO_EMULATOR_ADMIN_TOKEN": "let-me-in"})
    yield running
    running.process.stop()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_emulator/reset"),
        ("GET", "/_emulator/requests"),
        ("DELETE", "/_emulator/requests"),
        ("POST", "/_emulator/faults"),
        ("GET", "/_emulator/faults"),
        ("POST", "/_emulator/fixtures"),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Bearer", "let-me-in", "Basic bGV0LW1lLWlu", "Bearer let-me-inx"]
)
def test_admin_token_guards_the_control_api(
    guarded: Server, method: str, path: str, authorization: str | None
) -> None:
    before = guarded.snapshot()
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = httpx.request(method, f"{guarded.base_url}{path}", headers=headers, json={"status": 500})
    assert_twilio_error(answer, 401, 20003)
    assert guarded.snapshot() == before
    faults = httpx.get(f"{guarded.base_url}/_emulator/faults", headers={"Authorization": "Bearer let-me-in"})
    assert faults.json() == {"faults": []}


def test_admin_token_lets_the_holder_in_and_health_stays_open(guarded: Server) -> None:
    headers = {"Authorization": "Bearer let-me-in"}
    assert httpx.get(f"{guarded.base_url}/_emulator/health").status_code == 200
    assert httpx.post(f"{guarded.base_url}/_emulator/reset", headers=headers).status_code == 204
    assert httpx.get(f"{guarded.base_url}/_emulator/requests", headers=headers).status_code == 200
    # The Twilio API itself still takes Twilio credentials, not the admin token.
    with guarded.client() as api:
        assert api.get(webhooks_path(DEMO_SERVICE)).status_code == 200
