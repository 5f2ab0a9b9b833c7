"""The error envelope on every route and headers on every response."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_SERVICE, Server, assert_twilio_error, start_server, webhooks_path

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
    "access-control-allow-headers": (
        "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, "
        "If-Unmodified-Since, X-Twilio-Webhook-Enabled"
    ),
    "access-control-expose-headers": "ETag",
}


def assert_twilio_headers(answer: httpx.Response, *, cors: bool = True) -> None:
    assert re.fullmatch(r"RQ[0-9a-f]{32}", answer.headers["twilio-request-id"])
    assert re.fullmatch(r"\d+\.\d{3}", answer.headers["twilio-request-duration"])
    assert int(answer.headers["twilio-concurrent-requests"]) >= 1
    for name, value in CORS.items():
        if cors:
            assert answer.headers[name] == value
        else:
            assert name not in answer.headers
    assert "server" not in answer.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", webhooks_path(DEMO_SERVICE), 200),
        ("POST", webhooks_path(DEMO_SERVICE), 200),
        ("GET", "/v1/Services", 200),
        ("GET", f"/v1/Services/{DEMO_SERVICE}", 200),
        ("GET", "/v1/Services/IS0", 404),
        ("PUT", "/v1/Services", 405),
        ("GET", "/nowhere", 404),
        ("GET", "/_emulator/health", 200),
        ("GET", "/_emulator/requests", 200),
        ("OPTIONS", webhooks_path(DEMO_SERVICE), 200),
    ],
)
def test_every_response_carries_twilio_headers(
    api: httpx.Client, method: str, path: str, status: int
) -> None:
    """The control API's answers carry no CORS headers: it is not for web pages (README: Security)."""
    answer = api.request(method, path)
    assert answer.status_code == status
    assert_twilio_headers(answer, cors=not path.startswith("/_emulator/"))


def test_headers_on_authentication_and_size_errors(emulator: Server) -> None:
    with emulator.anonymous() as client:
        assert_twilio_headers(client.get("/v1/Services"))
        assert_twilio_headers(client.post("/v1/Services", content=b"x" * (2 * 1024 * 1024)))


def test_request_ids_are_unique(api: httpx.Client) -> None:
    ids = {api.get("/v1/Services").headers["twilio-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_cors_preflight_needs_no_credentials(emulator: Server) -> None:
    with emulator.anonymous() as client:
        answer = client.options(
            webhooks_path(DEMO_SERVICE),
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        )
    assert answer.status_code == 200
    assert answer.content == b""
    assert_twilio_headers(answer)


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "message"),
    [
        ("GET", "/v1/Nope", 404, 20404, "The requested resource /Nope was not found"),
        ("GET", "/v1", 404, 20404, "The requested resource /v1 was not found"),
        ("GET", "/v2/Services", 404, 20404, "The requested resource /v2/Services was not found"),
        ("GET", "/", 404, 20404, "The requested resource / was not found"),
        (
            "GET",
            f"/v1/Services/{DEMO_SERVICE}/Configuration",
            404,
            20404,
            f"The requested resource /Services/{DEMO_SERVICE}/Configuration was not found",
        ),
        ("GET", "/v1/Services/", 404, 20404, "The requested resource /Services/ was not found"),
        ("PUT", "/v1/Services", 405, 20004, "Method not allowed"),
        ("PATCH", f"/v1/Services/{DEMO_SERVICE}", 405, 20004, "Method not allowed"),
        ("POST", f"/v1/Services/{DEMO_SERVICE}", 405, 20004, "Method not allowed"),
        ("DELETE", webhooks_path(DEMO_SERVICE), 405, 20004, "Method not allowed"),
        ("PUT", webhooks_path(DEMO_SERVICE), 405, 20004, "Method not allowed"),
        ("DELETE", "/v1/Services", 405, 20004, "Method not allowed"),
        ("DELETE", "/_emulator/health", 405, 20004, "Method not allowed"),
        ("GET", "/_emulator/nope", 404, 20404, "The requested resource /_emulator/nope was not found"),
    ],
)
def test_routing_errors_use_the_envelope(
    emulator: Server, api: httpx.Client, method: str, path: str, status: int, code: int, message: str
) -> None:
    before = emulator.snapshot()
    body = assert_twilio_error(api.request(method, path), status, code)
    assert body["message"] == message
    assert emulator.snapshot() == before


def test_a_websocket_upgrade_is_answered_as_plain_http(emulator: Server, api: httpx.Client) -> None:
    """The server offers no WebSockets: an upgrade request is an ordinary request, answered as Twilio's."""
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    answer = api.get(webhooks_path(DEMO_SERVICE), headers=upgrade)
    assert answer.status_code == 200
    assert answer.json()["chat_service_sid"] == DEMO_SERVICE
    assert_twilio_headers(answer)
    with emulator.anonymous() as client:
        assert_twilio_error(client.get("/v1/Services", headers=upgrade), 401, 20003)


def test_unexpected_failure_is_a_500_envelope_without_details(tmp_path: Path) -> None:
    running = start_server(tmp_path)
    try:
        # Break the storage under the running server: the next query fails in a way no route expects.
        running.database.execute("DROP TABLE service_webhook_configuration")
        with running.client() as api:
            answer = api.get(webhooks_path(DEMO_SERVICE))
            body = assert_twilio_error(answer, 500, 20500)
            assert body["message"] == "Internal Server Error"
            assert "Traceback" not in answer.text
            assert "service_webhook_configuration" not in answer.text
            assert_twilio_headers(answer)
            # The server keeps serving what does not touch the broken table.
            assert api.get(f"/v1/Services/{DEMO_SERVICE}").status_code == 200
        # SQLite: "no such table: ..."; PostgreSQL: 'relation "..." does not exist'.
        log = running.process.log()
        assert "service_webhook_configuration" in log
        assert "no such table" in log or "does not exist" in log
    finally:
        running.process.stop()


# --- web pages: the control API is not for them ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_emulator/reset", b""),
        ("POST", "/_emulator/faults", b'{"status": 500, "path": "/v1/*"}'),
        ("POST", "/_emulator/fixtures", b'{"accounts": [{"sid": "AC' + b"7" * 32 + b'"}]}'),
        ("DELETE", "/_emulator/requests", b""),
        ("GET", "/_emulator/requests", b""),
        ("POST", "/_emulator/events", b"{}"),
    ],
)
def test_a_page_of_another_origin_can_neither_use_nor_read_the_control_api(
    emulator: Server, headers: dict[str, str], method: str, path: str, body: bytes
) -> None:
    """Even a simple request (text/plain, no preflight) from another origin changes nothing."""
    with emulator.client() as client:
        client.post("/v1/Services", data={"FriendlyName": "kept"})
        journal = client.get("/_emulator/requests").json()
    before = emulator.snapshot()
    with emulator.anonymous() as page:
        answer = page.request(method, path, content=body, headers={**headers, "Content-Type": "text/plain"})
    assert_twilio_error(answer, 403, 20403)
    assert "access-control-allow-origin" not in answer.headers
    assert emulator.snapshot() == before
    with emulator.anonymous() as tool:
        assert tool.get("/_emulator/faults").json() == {"faults": []}
        assert tool.get("/_emulator/requests").json() == journal


def test_the_control_api_answers_no_preflight(emulator: Server) -> None:
    with emulator.anonymous() as page:
        answer = page.options(
            "/_emulator/reset",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        )
    assert_twilio_error(answer, 403, 20403)
    assert "access-control-allow-origin" not in answer.headers


def test_a_same_origin_page_and_tools_keep_the_control_api(emulator: Server) -> None:
    host = emulator.base_url.removeprefix("http://")
    with emulator.anonymous() as client:
        assert client.get("/_emulator/health", headers={"Sec-Fetch-Site": "none"}).status_code == 200
        same = client.get("/_emulator/requests", headers={"Origin": emulator.base_url, "Host": host})
        assert same.status_code == 200
        assert client.get("/_emulator/faults").status_code == 200  # no Origin: curl, a test suite


@pytest.mark.parametrize("path", [webhooks_path(DEMO_SERVICE), "/v1/Services", "/_emulator/health"])
def test_private_network_access_preflights_are_refused(emulator: Server, path: str) -> None:
    with emulator.anonymous() as page:
        answer = page.options(
            path,
            headers={
                "Origin": "https://public.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Private-Network": "true",
            },
        )
    assert_twilio_error(answer, 403, 20403)
    assert "access-control-allow-private-network" not in answer.headers


def test_browser_clients_of_the_twilio_api_keep_cors(emulator: Server) -> None:
    with emulator.client() as client:
        answer = client.get("/v1/Services", headers={"Origin": "http://localhost:3000"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "X-Twilio-Webhook-Enabled" in answer.headers["access-control-allow-headers"]
