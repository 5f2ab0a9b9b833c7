"""The official `twilio` Node library (6.3.1) against the real emulator.

`tests/node/run_calls.js` runs a batch of calls in one Node process, each through the library with
`client.conversations.baseUrl` pointed at the emulator, and prints what the library returned or raised and
what it sent. npm installs the pinned library once per session into `tests/node/node_modules`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from twilio_conversations_emulator.testing.processes import run

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_KEY,
    DEMO_KEY_SECRET,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    new_service,
    webhooks_path,
)
from tests.npm import NpmError, ensure_installed

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

NODE_DIR = Path(__file__).resolve().parent / "node"
RUNNER = NODE_DIR / "run_calls.js"
TWILIO_NODE_VERSION = "6.3.1"
# Generous: a busy machine starts Node and loads the library slowly; a hang still ends.
NODE_TIMEOUT = 300.0

TWILIO_BASE = "https://conversations.twilio.com"
UNKNOWN_SERVICE = "IS" + "e" * 32

# The demo service's configuration as the Node library presents it (camelCase, from fixtures/demo.json).
DEMO_WEBHOOKS = {
    "accountSid": DEMO_ACCOUNT,
    "chatServiceSid": DEMO_SERVICE,
    "preWebhookUrl": None,
    "postWebhookUrl": "https://example.com/conversations/post-event",
    "filters": ["onMessageAdded", "onConversationAdded"],
    "method": "POST",
    "url": f"{TWILIO_BASE}/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks",
}


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with twilio@6.3.1 installed in tests/node (npm install on first use)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required for tests/test_node_sdk.py: no `node` on PATH (install Node.js 18+)")
    try:
        ensure_installed(NODE_DIR, "twilio", TWILIO_NODE_VERSION)
    except NpmError as exc:
        pytest.fail(str(exc))
    return node


def run_node(
    node: str,
    server: Server,
    steps: list[dict[str, Any]],
    *,
    username: str = DEMO_ACCOUNT,
    password: str = DEMO_TOKEN,
    account: str | None = None,
    auto_retry: int | None = None,
) -> list[dict[str, Any]]:
    """Run the steps in one Node process; one result per step."""
    # No TWILIO_* from the caller's environment: a region or edge would rewrite the host (clients).
    env = {name: value for name, value in os.environ.items() if not name.startswith("TWILIO_")}
    env.update(EMULATOR_BASE_URL=server.base_url, TWILIO_USERNAME=username, TWILIO_PASSWORD=password)
    if account is not None:
        env["TWILIO_ACCOUNT"] = account
    if auto_retry is not None:
        env["TWILIO_AUTO_RETRY"] = str(auto_retry)
    # In a process group of its own, killed with anything it started on a timeout, a failure or Ctrl-C.
    completed = run([node, str(RUNNER), json.dumps(steps)], cwd=NODE_DIR, env=env, timeout=NODE_TIMEOUT)
    assert completed.returncode == 0, f"run_calls.js failed:\n{completed.stderr}"
    document = json.loads(completed.stdout)
    assert document["version"] == TWILIO_NODE_VERSION
    results: list[dict[str, Any]] = document["results"]
    assert len(results) == len(steps)
    # Every request the library sent went to the emulator itself.
    for result in results:
        for sent in result["requests"]:
            assert sent["url"].startswith(server.base_url + "/v1/"), sent
    return results


def value(result: dict[str, Any]) -> Any:
    assert result["ok"] is True, result
    return result["value"]


def rest_error(result: dict[str, Any], status: int, code: int) -> dict[str, Any]:
    """The step failed with the library's RestException carrying the emulator's status and code."""
    assert result["ok"] is False, result
    error: dict[str, Any] = result["error"]
    assert error["name"] == "RestException", error
    assert error["status"] == status
    assert error["code"] == code
    assert error["moreInfo"] == f"https://www.twilio.com/docs/errors/{code}"
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def only_request(result: dict[str, Any]) -> dict[str, Any]:
    assert len(result["requests"]) == 1, result["requests"]
    sent: dict[str, Any] = result["requests"][0]
    return sent


def snake_case(configuration: dict[str, Any]) -> dict[str, Any]:
    names = {
        "accountSid": "account_sid",
        "chatServiceSid": "chat_service_sid",
        "preWebhookUrl": "pre_webhook_url",
        "postWebhookUrl": "post_webhook_url",
    }
    return {names.get(name, name): item for name, item in configuration.items()}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_update_then_fetch(node: str, emulator: Server, api: httpx.Client) -> None:
    service = DEMO_SERVICE
    results = run_node(
        node,
        emulator,
        [
            {"call": "webhooks.fetch", "service": service},
            {
                "call": "webhooks.update",
                "service": service,
                "params": {
                    "filters": [
                        "onMessageAdd",
                        "onConversationRemoved",
                        "onMessageAdd",
                        "onParticipantAdded",
                    ],
                    "method": "get",
                    "preWebhookUrl": "https://hooks.example.com/pre?team=a&x=1",
                    "postWebhookUrl": "http://localhost:8081/post",
                },
            },
            {"call": "webhooks.fetch", "service": service},
        ],
    )

    assert value(results[0]) == DEMO_WEBHOOKS
    expected = {
        **DEMO_WEBHOOKS,
        "preWebhookUrl": "https://hooks.example.com/pre?team=a&x=1",
        "postWebhookUrl": "http://localhost:8081/post",
        "filters": ["onMessageAdd", "onConversationRemoved", "onParticipantAdded"],
        "method": "GET",
    }
    assert value(results[1]) == expected
    assert value(results[2]) == expected
    # What the library sent: the repeated-key encoding, the method as given.
    fetched, updated = only_request(results[0]), only_request(results[1])
    assert (fetched["method"], fetched["url"]) == ("GET", emulator.base_url + webhooks_path(service))
    assert fetched["authorization"] == basic(DEMO_ACCOUNT, DEMO_TOKEN)
    assert (updated["method"], updated["url"]) == ("POST", emulator.base_url + webhooks_path(service))
    assert parse_qsl(updated["body"], keep_blank_values=True) == [
        ("PreWebhookUrl", "https://hooks.example.com/pre?team=a&x=1"),
        ("PostWebhookUrl", "http://localhost:8081/post"),
        ("Filters", "onMessageAdd"),
        ("Filters", "onConversationRemoved"),
        ("Filters", "onMessageAdd"),
        ("Filters", "onParticipantAdded"),
        ("Method", "get"),
    ]
    # Stored: the raw API answers the same.
    raw = api.get(webhooks_path(service))
    assert raw.status_code == 200
    assert raw.json() == snake_case(expected)


def test_null_clears_urls_and_method(node: str, emulator: Server, api: httpx.Client) -> None:
    service = new_service(api, "cleared by node")
    results = run_node(
        node,
        emulator,
        [
            {
                "call": "webhooks.update",
                "service": service,
                "params": {
                    "preWebhookUrl": "https://hooks.example.com/pre",
                    "postWebhookUrl": "https://hooks.example.com/post",
                    "filters": ["onMessageAdd", "onMessageAdded"],
                    "method": "POST",
                },
            },
            {
                "call": "webhooks.update",
                "service": service,
                "params": {"preWebhookUrl": None, "method": None},
            },
            {"call": "webhooks.fetch", "service": service},
            {"call": "webhooks.update", "service": service, "params": {"postWebhookUrl": None}},
        ],
    )

    configured = {
        "accountSid": DEMO_ACCOUNT,
        "chatServiceSid": service,
        "preWebhookUrl": "https://hooks.example.com/pre",
        "postWebhookUrl": "https://hooks.example.com/post",
        "filters": ["onMessageAdd", "onMessageAdded"],
        "method": "POST",
        "url": f"{TWILIO_BASE}/v1/Services/{service}/Configuration/Webhooks",
    }
    assert value(results[0]) == configured
    # The Node library sends null as an empty value; the emulator clears the field (webhook configuration).
    assert only_request(results[1])["body"] == "PreWebhookUrl=&Method="
    cleared = {**configured, "preWebhookUrl": None, "method": None}
    assert value(results[1]) == cleared
    assert value(results[2]) == cleared
    assert only_request(results[3])["body"] == "PostWebhookUrl="
    assert value(results[3]) == {**cleared, "postWebhookUrl": None}
    raw = api.get(webhooks_path(service))
    assert raw.json() == snake_case({**cleared, "postWebhookUrl": None})


def test_empty_filters_list_sends_no_parameters_and_changes_nothing(node: str, emulator: Server) -> None:
    """The Node library (qs) drops an empty array: the POST body is empty, a no-op update."""
    before = emulator.snapshot()

    results = run_node(
        node, emulator, [{"call": "webhooks.update", "service": DEMO_SERVICE, "params": {"filters": []}}]
    )

    assert only_request(results[0])["body"] == ""
    assert value(results[0]) == DEMO_WEBHOOKS
    assert emulator.snapshot() == before


def test_errors_carry_status_code_and_more_info(node: str, emulator: Server) -> None:
    before = emulator.snapshot()
    update = "webhooks.update"

    results = run_node(
        node,
        emulator,
        [
            {"call": update, "service": DEMO_SERVICE, "params": {"filters": ["onMessageAdded", "bogus"]}},
            {"call": update, "service": DEMO_SERVICE, "params": {"filters": ["onmessageadded"]}},
            {
                "call": update,
                "service": DEMO_SERVICE,
                "params": {"method": "PUT", "filters": ["onMessageAdd"]},
            },
            {"call": update, "service": DEMO_SERVICE, "params": {"preWebhookUrl": "ftp://example.com/pre"}},
            {
                "call": update,
                "service": DEMO_SERVICE,
                "params": {"postWebhookUrl": "https://exa mple.com/post", "method": "GET"},
            },
            {"call": "webhooks.fetch", "service": UNKNOWN_SERVICE},
            {"call": update, "service": UNKNOWN_SERVICE, "params": {"method": "GET"}},
            {"call": "services.fetch", "sid": UNKNOWN_SERVICE},
            {"call": "services.remove", "sid": UNKNOWN_SERVICE},
            {"call": "services.create", "params": {"friendlyName": ""}},
            {"call": "webhooks.fetch", "service": DEMO_SERVICE},
        ],
    )

    assert "bogus" in rest_error(results[0], 400, 50054)["message"]
    assert "onmessageadded" in rest_error(results[1], 400, 50054)["message"]
    assert "PUT" in rest_error(results[2], 400, 50055)["message"]
    rest_error(results[3], 400, 50077)
    rest_error(results[4], 400, 50078)
    webhooks_missing = (
        f"The requested resource /Services/{UNKNOWN_SERVICE}/Configuration/Webhooks was not found"
    )
    assert rest_error(results[5], 404, 20404)["message"] == webhooks_missing
    assert rest_error(results[6], 404, 20404)["message"] == webhooks_missing
    service_missing = f"The requested resource /Services/{UNKNOWN_SERVICE} was not found"
    assert rest_error(results[7], 404, 20404)["message"] == service_missing
    assert rest_error(results[8], 404, 20404)["message"] == service_missing
    assert (
        rest_error(results[9], 400, 20001)["message"]
        == "Missing required parameter FriendlyName in the post body"
    )
    # Nothing any of them asked for was written.
    assert value(results[10]) == DEMO_WEBHOOKS
    assert emulator.snapshot() == before


def test_services_create_fetch_list_remove(node: str, emulator: Server) -> None:
    results = run_node(
        node,
        emulator,
        [
            {"call": "services.create", "params": {"friendlyName": "Made by Node ✓"}},
            {"call": "services.fetch", "sid": "$0.sid"},
            {"call": "webhooks.fetch", "service": "$0.sid"},
            {"call": "webhooks.update", "service": "$0.sid", "params": {"filters": ["onMessageAdded"]}},
            {"call": "services.list", "params": {"pageSize": 1}},
            {"call": "services.remove", "sid": "$0.sid"},
        ],
    )

    created = value(results[0])
    sid = created["sid"]
    assert isinstance(sid, str)
    assert sid.startswith("IS")
    assert len(sid) == 34
    assert sid[2:] == sid[2:].lower()
    assert int(sid[2:], 16) >= 0
    url = f"{TWILIO_BASE}/v1/Services/{sid}"
    assert created["accountSid"] == DEMO_ACCOUNT
    assert created["friendlyName"] == "Made by Node ✓"
    assert created["url"] == url
    assert created["dateCreated"] == created["dateUpdated"]
    assert created["dateCreated"].endswith("Z")
    assert created["links"]["configuration"] == f"{url}/Configuration"
    assert len(created["links"]) == 7
    sent = only_request(results[0])
    assert (sent["method"], sent["url"]) == ("POST", f"{emulator.base_url}/v1/Services")
    assert parse_qsl(sent["body"]) == [("FriendlyName", "Made by Node ✓")]

    assert value(results[1]) == created
    assert value(results[2]) == {
        "accountSid": DEMO_ACCOUNT,
        "chatServiceSid": sid,
        "preWebhookUrl": None,
        "postWebhookUrl": None,
        "filters": None,
        "method": None,
        "url": f"{url}/Configuration/Webhooks",
    }
    assert value(results[3])["filters"] == ["onMessageAdded"]

    # Paging: one service per page, the library follows next_page_url back to the emulator.
    listed = value(results[4])
    assert [service["sid"] for service in listed] == [DEMO_SERVICE, sid]
    assert listed[1] == created
    pages = results[4]["requests"]
    assert len(pages) == 2
    assert [urlsplit(page["url"]).path for page in pages] == ["/v1/Services"] * 2
    assert dict(parse_qsl(urlsplit(pages[0]["url"]).query)) == {"PageSize": "1"}
    assert dict(parse_qsl(urlsplit(pages[1]["url"]).query))["Page"] == "1"

    assert value(results[5]) is True
    assert only_request(results[5])["method"] == "DELETE"
    # The service and its configuration are gone from storage ...
    before = emulator.snapshot()
    assert not any(sid in repr(row) for rows in before.values() for row in rows)

    # ... and from the API: 404 for every call on it, changing nothing.
    gone = run_node(
        node,
        emulator,
        [
            {"call": "services.fetch", "sid": sid},
            {"call": "webhooks.fetch", "service": sid},
            {"call": "webhooks.update", "service": sid, "params": {"method": "GET"}},
            {"call": "services.remove", "sid": sid},
        ],
    )
    service_missing = f"The requested resource /Services/{sid} was not found"
    webhooks_missing = f"The requested resource /Services/{sid}/Configuration/Webhooks was not found"
    assert rest_error(gone[0], 404, 20404)["message"] == service_missing
    assert rest_error(gone[1], 404, 20404)["message"] == webhooks_missing
    assert rest_error(gone[2], 404, 20404)["message"] == webhooks_missing
    assert rest_error(gone[3], 404, 20404)["message"] == service_missing
    assert emulator.snapshot() == before


def test_api_key_maps_to_its_account(node: str, emulator: Server) -> None:
    results = run_node(
        node,
        emulator,
        [
            {"call": "webhooks.fetch", "service": DEMO_SERVICE},
            {"call": "webhooks.update", "service": DEMO_SERVICE, "params": {"method": "get"}},
            {"call": "services.create", "params": {"friendlyName": "keyed"}},
        ],
        username=DEMO_KEY,
        password=DEMO_KEY_SECRET,
        account=DEMO_ACCOUNT,
    )

    assert value(results[0]) == DEMO_WEBHOOKS
    assert value(results[1]) == {**DEMO_WEBHOOKS, "method": "GET"}
    assert value(results[2])["accountSid"] == DEMO_ACCOUNT
    for result in results:
        assert only_request(result)["authorization"] == basic(DEMO_KEY, DEMO_KEY_SECRET)


def test_unknown_api_key_is_401(node: str, emulator: Server) -> None:
    before = emulator.snapshot()

    results = run_node(
        node,
        emulator,
        [
            {"call": "webhooks.fetch", "service": DEMO_SERVICE},
            {"call": "webhooks.update", "service": DEMO_SERVICE, "params": {"method": "GET"}},
        ],
        username="SK" + "7" * 32,
        password="any-secret",
        account=DEMO_ACCOUNT,
    )

    for result in results:
        assert rest_error(result, 401, 20003)["message"] == "Authenticate"
    assert emulator.snapshot() == before


def test_auto_retry_rides_out_injected_429s(node: str, emulator: Server) -> None:
    """Twilio's own retry logic (autoRetry) works against an injected rate limit, as against Twilio."""
    fault = httpx.post(
        f"{emulator.base_url}/_emulator/faults",
        json={
            "method": "GET",
            "path": "/v1/Services/*/Configuration/Webhooks",
            "status": 429,
            "times": 2,
            "retry_after": 0,
        },
    )
    assert fault.status_code == 201
    [fetched] = run_node(node, emulator, [{"call": "webhooks.fetch", "service": DEMO_SERVICE}], auto_retry=3)
    assert value(fetched) == DEMO_WEBHOOKS
    journal = httpx.get(f"{emulator.base_url}/_emulator/requests", params={"method": "GET"}).json()
    assert [entry["status"] for entry in journal["requests"]] == [429, 429, 200]
    assert httpx.get(f"{emulator.base_url}/_emulator/faults").json() == {"faults": []}


def test_without_auto_retry_the_429_reaches_the_caller(node: str, emulator: Server) -> None:
    httpx.post(f"{emulator.base_url}/_emulator/faults", json={"path": "/v1/Services", "status": 429})
    [listed] = run_node(node, emulator, [{"call": "services.list", "params": {}}])
    error = rest_error(listed, 429, 20429)
    assert error["message"] == "Too Many Requests"
