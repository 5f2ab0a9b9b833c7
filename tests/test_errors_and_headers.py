"""The error envelope on every route and headers on every response."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_SERVICE, Server, assert_twilio_error, start_server, webhooks_path

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
    "access-control-allow-headers": (
        "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since"
    ),
    "access-control-expose-headers": "ETag",
}


def assert_twilio_headers(answer: httpx.Response) -> None:
    assert re.fullmatch(r"RQ[0-9a-f]{32}", answer.headers["twilio-request-id"])
    assert re.fullmatch(r"\d+\.\d{3}", answer.headers["twilio-request-duration"])
    assert int(answer.headers["twilio-concurrent-requests"]) >= 1
    for name, value in CORS.items():
        assert answer.headers[name] == value
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
        ("OPTIONS", webhooks_path(DEMO_SERVICE), 200),
    ],
)
def test_every_response_carries_twilio_headers(
    api: httpx.Client, method: str, path: str, status: int
) -> None:
    answer = api.request(method, path)
    assert answer.status_code == status
    assert_twilio_headers(answer)


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
