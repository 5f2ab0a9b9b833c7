"""Authentication: HTTP Basic auth with account SIDs or API keys, permissive and strict modes."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_KEY,
    DEMO_KEY_SECRET,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    assert_twilio_error,
    start_server,
    webhooks_path,
)

NEW_ACCOUNT = "AC" + "3" * 32


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_unauthenticated(answer: httpx.Response) -> None:
    body = assert_twilio_error(answer, 401, 20003)
    assert body["message"] == "Authenticate"
    assert answer.headers["www-authenticate"] == 'Basic realm="Twilio API"'


BAD_HEADERS = {
    "missing": {},
    "bearer": {"Authorization": "Bearer abc"},
    "not-base64": {"Authorization": "Basic !!!notbase64"},
    "no-colon": basic(DEMO_ACCOUNT.encode()),
    "empty-password": basic(f"{DEMO_ACCOUNT}:".encode()),
    "empty-username": basic(b":token"),
    "short-sid": basic(b"AC123:token"),
    "not-hex": basic(b"AC" + b"z" * 32 + b":token"),
    "other-prefix": basic(b"IS" + b"0" * 32 + b":token"),
    "not-utf8": basic(b"AC" + b"0" * 32 + b":\xff\xfe"),
    "unknown-key": basic(b"SK" + b"9" * 32 + b":secret"),
    "basic-only": {"Authorization": "Basic"},
}


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", webhooks_path(DEMO_SERVICE)),
        ("POST", webhooks_path(DEMO_SERVICE)),
        ("GET", "/v1/Services"),
        ("POST", "/v1/Services"),
        ("DELETE", f"/v1/Services/{DEMO_SERVICE}"),
        ("GET", "/v1/Unknown/Route"),
        ("PATCH", "/v1/Services"),
    ],
)
def test_bad_credentials_are_401_in_permissive_mode(
    emulator: Server, headers: dict[str, str], method: str, path: str
) -> None:
    before = emulator.snapshot()
    with emulator.anonymous() as client:
        answer = client.request(method, path, headers=headers, data={"FriendlyName": "x", "Method": "GET"})
    assert_unauthenticated(answer)
    assert emulator.snapshot() == before


def test_permissive_mode_accepts_any_account_and_remembers_it(emulator: Server) -> None:
    assert all(NEW_ACCOUNT not in row for row in emulator.snapshot()["account"])
    with emulator.client(NEW_ACCOUNT, "whatever") as client:
        answer = client.post("/v1/Services", data={"FriendlyName": "mine"})
    assert answer.status_code == 201
    assert answer.json()["account_sid"] == NEW_ACCOUNT
    assert any(row[0] == NEW_ACCOUNT for row in emulator.snapshot()["account"])
    with emulator.client(NEW_ACCOUNT, "another token entirely") as client:
        assert [s["friendly_name"] for s in client.get("/v1/Services").json()["services"]] == ["mine"]


def test_permissive_mode_accepts_a_wrong_token_for_a_known_account(emulator: Server) -> None:
    with emulator.client(DEMO_ACCOUNT, "not-the-token") as client:
        assert client.get(webhooks_path(DEMO_SERVICE)).status_code == 200


def test_api_key_maps_to_its_account(emulator: Server) -> None:
    with emulator.client(DEMO_KEY, DEMO_KEY_SECRET) as client:
        answer = client.get(webhooks_path(DEMO_SERVICE))
        assert answer.status_code == 200
        assert answer.json()["account_sid"] == DEMO_ACCOUNT
        created = client.post("/v1/Services", data={"FriendlyName": "via key"}).json()
    assert created["account_sid"] == DEMO_ACCOUNT


def test_permissive_mode_does_not_check_a_known_keys_secret(emulator: Server) -> None:
    with emulator.client(DEMO_KEY, "wrong secret") as client:
        assert client.get(webhooks_path(DEMO_SERVICE)).status_code == 200


def test_unauthenticated_request_to_unknown_v1_path_is_401_not_404(emulator: Server) -> None:
    with emulator.anonymous() as client:
        assert_unauthenticated(client.get("/v1/Nowhere"))


def test_body_size_is_checked_before_credentials(emulator: Server) -> None:
    before = emulator.snapshot()
    with emulator.anonymous() as client:
        answer = client.post(webhooks_path(DEMO_SERVICE), content=b"a" * (1024 * 1024 + 1))
    assert_twilio_error(answer, 413, 20413)
    assert emulator.snapshot() == before


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("strict"), auth_mode="strict")
    yield running
    running.process.stop()


@pytest.fixture
def strict(strict_server: Server) -> Server:
    strict_server.reset()
    return strict_server


@pytest.mark.parametrize(
    ("username", "password"),
    [(DEMO_ACCOUNT, DEMO_TOKEN), (DEMO_KEY, DEMO_KEY_SECRET)],
    ids=["account", "key"],
)
def test_strict_mode_accepts_known_credentials(strict: Server, username: str, password: str) -> None:
    with strict.client(username, password) as client:
        answer = client.get(webhooks_path(DEMO_SERVICE))
    assert answer.status_code == 200
    assert answer.json()["account_sid"] == DEMO_ACCOUNT


@pytest.mark.parametrize(
    ("username", "password"),
    [
        (DEMO_ACCOUNT, "wrong-token"),
        (DEMO_ACCOUNT, DEMO_TOKEN + "x"),
        (DEMO_ACCOUNT, DEMO_TOKEN[:-1]),
        (DEMO_ACCOUNT.lower().replace("ac", "AC", 1)[:-1] + "1", DEMO_TOKEN),
        (NEW_ACCOUNT, "any"),
        (DEMO_KEY, "wrong secret"),
        (DEMO_KEY, DEMO_TOKEN),
        ("SK" + "1" * 32, DEMO_KEY_SECRET),
        (DEMO_ACCOUNT, DEMO_KEY_SECRET),
        (DEMO_ACCOUNT, DEMO_TOKEN * 2000),
        (DEMO_ACCOUNT, "démo-auth-token"),
    ],
)
def test_strict_mode_refuses_unknown_or_wrong_credentials(
    strict: Server, username: str, password: str
) -> None:
    before = strict.snapshot()
    with strict.client(username, password) as client:
        assert_unauthenticated(client.get(webhooks_path(DEMO_SERVICE)))
        assert_unauthenticated(client.post("/v1/Services", data={"FriendlyName": "x"}))
    assert strict.snapshot() == before
