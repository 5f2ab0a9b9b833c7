"""Inputs that once answered 500, or were stored and then made every later listing answer 500: text that
is not Unicode (JSON's unpaired-surrogate escapes), numbers of thousands of digits, malformed filters, and
invisible characters in webhook URLs. Each is refused at the door with Twilio's envelope and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from twilio_conversations_emulator import db
from twilio_conversations_emulator.db import MAX_CACHED
from twilio_conversations_emulator.main import create_app
from twilio_conversations_emulator.settings import Settings

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    SHIPPED_FIXTURES,
    InProcess,
    Server,
    TestDatabase,
    assert_twilio_error,
    start_server,
)

LONE = '"\\ud800"'  # JSON text for a string holding one unpaired surrogate
HUGE = "9" * 5000
FORM = "application/x-www-form-urlencoded"


def bodies_with_lone_surrogates() -> list[tuple[str, str]]:
    return [
        ("/_emulator/faults", '{"path": ' + LONE + ', "status": 500}'),
        (
            "/_emulator/events",
            '{"account_sid": "' + DEMO_ACCOUNT + '", "chat_service_sid": "' + DEMO_SERVICE + '", '
            '"event": "onMessageAdded", "params": {"Body": ' + LONE + "}}",
        ),
        (
            "/_emulator/fixtures",
            '{"services": [{"sid": "IS' + "1" * 32 + '", "account_sid": "' + DEMO_ACCOUNT + '", '
            '"friendly_name": ' + LONE + "}]}",
        ),
        ("/_emulator/faults", '{"path": "/v1/*", "status": 500, "method": "\\udfff"}'),
    ]


def control_state(client: httpx.Client) -> dict[str, Any]:
    return {name: client.get(f"/_emulator/{name}").json() for name in ("faults", "deliveries")}


@pytest.mark.parametrize(("path", "body"), bodies_with_lone_surrogates())
def test_json_with_an_unpaired_surrogate_is_refused(
    in_process: InProcess, app_api: httpx.Client, path: str, body: str
) -> None:
    before, rows = control_state(app_api), in_process.snapshot()
    answer = app_api.post(path, content=body, headers={"Content-Type": "application/json"})
    error = assert_twilio_error(answer, 400, 20001)
    assert "surrogate" in error["message"]
    assert control_state(app_api) == before
    assert in_process.snapshot() == rows


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_emulator/faults", '{"path": "/v1/*", "status": 500, "times": ' + HUGE + "}"),
        ("/_emulator/fixtures", '{"accounts": [{"sid": ' + HUGE + "}]}"),
        ("/_emulator/events", '{"account_sid": ' + HUGE + "}"),
        ("/_emulator/faults", '{"path": "/v1/*", "delay_ms": 1e' + HUGE + "}"),
    ],
)
def test_numbers_of_thousands_of_digits_are_refused(
    in_process: InProcess, app_api: httpx.Client, path: str, body: str
) -> None:
    before, rows = control_state(app_api), in_process.snapshot()
    answer = app_api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_twilio_error(answer, 400, 20001)
    assert control_state(app_api) == before
    assert in_process.snapshot() == rows


@pytest.mark.parametrize("listing", ["/_emulator/requests", "/_emulator/deliveries"])
def test_a_limit_of_thousands_of_digits_is_refused(app_api: httpx.Client, listing: str) -> None:
    assert_twilio_error(app_api.get(listing, params={"limit": HUGE}), 400, 20002)
    assert app_api.get(listing, params={"limit": "5"}).status_code == 200


@pytest.mark.parametrize("status", ["abc", "\x00", "99", "600", "2000", "Timeout", ""])
def test_a_malformed_delivery_status_filter_is_refused(app_api: httpx.Client, status: str) -> None:
    assert_twilio_error(app_api.get("/_emulator/deliveries", params={"status": status}), 400, 20002)


@pytest.mark.parametrize(
    "status", ["200", "403", "timeout", "refused", "unreachable", "error", "no_auth_token"]
)
def test_every_documented_delivery_status_filter_is_accepted(app_api: httpx.Client, status: str) -> None:
    answer = app_api.get("/_emulator/deliveries", params={"status": status})
    assert answer.status_code == 200
    assert answer.json() == {"deliveries": []}


@pytest.mark.parametrize(
    "character",
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u202e", "\u00ad", "\u180e"],
)
@pytest.mark.parametrize("where", ["host", "path"])
def test_invisible_format_characters_make_a_webhook_url_invalid(
    in_process: InProcess, app_api: httpx.Client, character: str, where: str
) -> None:
    url = (
        f"https://exa{character}mple.com/hook" if where == "host" else f"https://example.com/ho{character}ok"
    )
    rows = in_process.snapshot()
    path = f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks"
    assert_twilio_error(app_api.post(path, data={"PostWebhookUrl": url}), 400, 50078)
    assert_twilio_error(app_api.post(path, data={"PreWebhookUrl": url}), 400, 50077)
    assert_twilio_error(app_api.post("/v1/Configuration/Webhooks", data={"PostWebhookUrl": url}), 400, 50078)
    assert in_process.snapshot() == rows


def test_international_host_names_are_still_accepted(app_api: httpx.Client) -> None:
    path = f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks"
    answer = app_api.post(path, data={"PostWebhookUrl": "https://bücher.example/hook"})
    assert answer.status_code == 200
    assert answer.json()["post_webhook_url"] == "https://bücher.example/hook"


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("hostile-workers"), extra_args=["--workers", "2"])
    yield server
    server.process.stop()


@pytest.mark.parametrize(("path", "body"), bodies_with_lone_surrogates())
def test_with_several_workers_an_unpaired_surrogate_is_refused_and_listings_keep_working(
    two_workers: Server, path: str, body: str, tmp_path: Path
) -> None:
    two_workers.reset()
    with two_workers.anonymous() as client:
        answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert_twilio_error(answer, 400, 20001)
        for listing in ("/_emulator/faults", "/_emulator/deliveries", "/_emulator/requests"):
            for _ in range(4):  # whichever worker answers
                assert client.get(listing).status_code == 200


# --- what a client can make the server hold ------------------------------------------------------------


def test_requests_that_never_authenticated_leave_no_body_in_the_journal(app_api: httpx.Client) -> None:
    app_api.delete("/_emulator/requests")
    junk = b"FriendlyName=" + b"x" * (1024 * 1024 - 100)
    with httpx.Client(transport=app_api._transport, base_url=str(app_api.base_url)) as anonymous:
        for _ in range(5):
            answer = anonymous.post("/v1/Services", content=junk, headers={"Content-Type": FORM})
            assert_twilio_error(answer, 401, 20003)
    listing = app_api.get("/_emulator/requests")
    assert len(listing.content) < 10_000  # five entries, not five megabytes
    entries = listing.json()["requests"]
    assert [entry["status"] for entry in entries] == [401] * 5
    assert all(entry["params"] == [] and entry["truncated"] is True for entry in entries)


def test_a_journal_entry_keeps_at_most_16_kib_of_parameters(app_api: httpx.Client) -> None:
    app_api.delete("/_emulator/requests")
    body = {"FriendlyName": "y" * (900 * 1024), "Other": "z"}
    answer = app_api.post("/v1/Services", data=body, params={"q": "w" * 10_000})
    assert_twilio_error(answer, 400, 20002)  # the name is too long: the request still reached the journal
    (entry,) = app_api.get("/_emulator/requests").json()["requests"]
    assert entry["truncated"] is True
    (name, value), *rest = entry["params"]
    assert name == "FriendlyName"
    assert rest == []
    assert len(name) + len(value) == 16 * 1024
    assert value.endswith("…")
    assert len(entry["query"]) == 4096


def test_an_ordinary_entry_is_whole(app_api: httpx.Client) -> None:
    app_api.delete("/_emulator/requests")
    app_api.post("/v1/Services", data={"FriendlyName": "whole"})
    (entry,) = app_api.get("/_emulator/requests").json()["requests"]
    assert entry["params"] == [["FriendlyName", "whole"]]
    assert entry["truncated"] is False


# A smaller bound than the shipped one, so proving it takes hundreds of requests, not thousands.
SMALL_BOUND = 64


def test_the_shipped_bound_is_a_few_thousand_entries() -> None:
    assert 1000 <= MAX_CACHED <= 10_000


def test_the_read_cache_does_not_keep_every_miss(
    in_process: InProcess, app_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "MAX_CACHED", SMALL_BOUND)
    cache = in_process.http.app.state.database.cache  # type: ignore[attr-defined]
    assert cache is not None
    for number in range(SMALL_BOUND * 4):
        sid = f"IS{number + 1:032x}"  # the demo service is IS000...0
        assert app_api.get(f"/v1/Services/{sid}/Configuration/Webhooks").status_code == 404
    assert len(cache._values) <= SMALL_BOUND
    # Still a cache: a configuration read twice is served from it.
    app_api.get(f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks")
    assert any(DEMO_SERVICE in repr(key) for key in cache._values)


def test_made_up_usernames_in_strict_mode_do_not_grow_the_credential_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "MAX_CACHED", SMALL_BOUND)
    database = TestDatabase(tmp_path)
    settings = Settings(database_url=database.url, fixtures=str(SHIPPED_FIXTURES), auth_mode="strict")
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        cache = client.app.state.database.cache  # type: ignore[attr-defined]
        for number in range(SMALL_BOUND * 4):
            answer = client.get("/v1/Services", auth=(f"AC{number:032x}", "wrong"))
            assert answer.status_code == 401
        assert len(cache._credentials) <= SMALL_BOUND


def test_a_fault_glob_of_thousands_of_wildcards_is_refused(app_api: httpx.Client) -> None:
    for path in ("*a" * 20_000, "/" + "x" * 600, "*" * 17):
        answer = app_api.post("/_emulator/faults", json={"path": path, "status": 500})
        assert_twilio_error(answer, 400, 20001)
    assert app_api.get("/_emulator/faults").json() == {"faults": []}
    assert app_api.post("/_emulator/faults", json={"path": "/v1/*/*", "status": 500}).status_code == 201
    app_api.delete("/_emulator/faults")


def test_a_journal_path_filter_of_thousands_of_wildcards_is_refused(app_api: httpx.Client) -> None:
    for glob in ("*a" * 300, "*" * 17):
        assert_twilio_error(app_api.get("/_emulator/requests", params={"path": glob}), 400, 20002)
    assert app_api.get("/_emulator/requests", params={"path": "/v1/*"}).status_code == 200
