"""Services: POST/GET /v1/Services, GET/DELETE /v1/Services/{Sid}, through HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    Server,
    assert_twilio_error,
    new_service,
    start_server,
    webhooks_path,
)

LINK_SEGMENTS = {
    "conversations": "Conversations",
    "users": "Users",
    "roles": "Roles",
    "bindings": "Bindings",
    "configuration": "Configuration",
    "participant_conversations": "ParticipantConversations",
    "conversation_with_participants": "ConversationWithParticipants",
}
OTHER_ACCOUNT = "AC" + "2" * 32


def assert_service_shape(body: dict[str, Any], base: str = "https://conversations.twilio.com") -> None:
    assert set(body) == {
        "account_sid",
        "sid",
        "friendly_name",
        "date_created",
        "date_updated",
        "url",
        "links",
    }
    assert re.fullmatch(r"IS[0-9a-f]{32}", body["sid"])
    for key in ("date_created", "date_updated"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body[key])
    url = f"{base}/v1/Services/{body['sid']}"
    assert body["url"] == url
    assert body["links"] == {name: f"{url}/{segment}" for name, segment in LINK_SEGMENTS.items()}


def test_create_answers_201_with_the_service(api: httpx.Client) -> None:
    answer = api.post("/v1/Services", data={"FriendlyName": "Support chat ✓"})
    assert answer.status_code == 201
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert_service_shape(body)
    assert body["account_sid"] == DEMO_ACCOUNT
    assert body["friendly_name"] == "Support chat ✓"
    created = datetime.strptime(body["date_created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert body["date_updated"] == body["date_created"]


def test_created_service_can_be_fetched_and_configured(api: httpx.Client) -> None:
    created = api.post("/v1/Services", data={"FriendlyName": "x"}).json()
    fetched = api.get(f"/v1/Services/{created['sid']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert api.get(webhooks_path(created["sid"])).status_code == 200


def test_each_create_mints_a_new_sid(api: httpx.Client) -> None:
    sids = {new_service(api, "same name") for _ in range(5)}
    assert len(sids) == 5


def test_friendly_name_of_256_characters_is_accepted(api: httpx.Client) -> None:
    answer = api.post("/v1/Services", data={"FriendlyName": "é" * 256})
    assert answer.status_code == 201
    assert answer.json()["friendly_name"] == "é" * 256


@pytest.mark.parametrize(
    "data", [{}, {"FriendlyName": ""}, {"friendlyname": "lower case is another parameter"}]
)
def test_missing_friendly_name_is_20001(emulator: Server, api: httpx.Client, data: dict[str, str]) -> None:
    before = emulator.snapshot()
    body = assert_twilio_error(api.post("/v1/Services", data=data), 400, 20001)
    assert body["message"] == "Missing required parameter FriendlyName in the post body"
    assert emulator.snapshot() == before


def test_friendly_name_longer_than_256_is_20002(emulator: Server, api: httpx.Client) -> None:
    before = emulator.snapshot()
    body = assert_twilio_error(api.post("/v1/Services", data={"FriendlyName": "x" * 257}), 400, 20002)
    assert "256" in body["message"]
    assert emulator.snapshot() == before


def test_fetch_the_demo_service(api: httpx.Client) -> None:
    body = api.get(f"/v1/Services/{DEMO_SERVICE}").json()
    assert_service_shape(body)
    assert body["sid"] == DEMO_SERVICE
    assert body["friendly_name"] == "Demo service"


@pytest.mark.parametrize("sid", ["IS" + "e" * 32, "IS1", "ISnothex" + "0" * 26, "CH" + "0" * 32])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_or_malformed_service_is_404(
    emulator: Server, api: httpx.Client, sid: str, method: str
) -> None:
    before = emulator.snapshot()
    body = assert_twilio_error(api.request(method, f"/v1/Services/{sid}"), 404, 20404)
    assert body["message"] == f"The requested resource /Services/{sid} was not found"
    assert emulator.snapshot() == before


def test_delete_answers_204_and_removes_service_and_configuration(
    emulator: Server, api: httpx.Client
) -> None:
    sid = new_service(api)
    assert api.post(webhooks_path(sid), data={"Method": "POST"}).status_code == 200
    answer = api.delete(f"/v1/Services/{sid}")
    assert answer.status_code == 204
    assert answer.content == b""
    assert_twilio_error(api.get(f"/v1/Services/{sid}"), 404, 20404)
    assert_twilio_error(api.get(webhooks_path(sid)), 404, 20404)
    tables = emulator.snapshot()
    assert all(sid not in row for row in tables["conversation_service"])
    assert all(sid not in row for row in tables["service_webhook_configuration"])
    assert_twilio_error(api.delete(f"/v1/Services/{sid}"), 404, 20404)


def test_another_accounts_service_is_invisible(emulator: Server, api: httpx.Client) -> None:
    sid = new_service(api)
    with emulator.client(OTHER_ACCOUNT, "token") as other:
        other.get("/v1/Services")  # registers the account in permissive mode
        before = emulator.snapshot()
        assert_twilio_error(other.get(f"/v1/Services/{sid}"), 404, 20404)
        assert_twilio_error(other.delete(f"/v1/Services/{sid}"), 404, 20404)
        assert other.get("/v1/Services").json()["services"] == []
        assert emulator.snapshot() == before
    assert api.get(f"/v1/Services/{sid}").status_code == 200


def list_page(client: httpx.Client, url: str) -> dict[str, Any]:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_list_shape_and_defaults(emulator: Server, api: httpx.Client) -> None:
    body = list_page(api, "/v1/Services")
    assert set(body) == {"services", "meta"}
    assert [service["sid"] for service in body["services"]] == [DEMO_SERVICE]
    assert_service_shape(body["services"][0])
    base = emulator.base_url
    assert body["meta"] == {
        "page": 0,
        "page_size": 50,
        "first_page_url": f"{base}/v1/Services?PageSize=50&Page=0",
        "previous_page_url": None,
        "next_page_url": None,
        "url": f"{base}/v1/Services?PageSize=50&Page=0",
        "key": "services",
    }


def test_paging_follows_next_page_url_through_every_service_in_creation_order(api: httpx.Client) -> None:
    created = [DEMO_SERVICE] + [new_service(api, f"service {index}") for index in range(6)]
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    url: str | None = "/v1/Services?PageSize=3"
    while url:
        page = list_page(api, url)
        pages.append(page)
        assert page["meta"]["page"] == len(pages) - 1
        assert page["meta"]["page_size"] == 3
        seen += [service["sid"] for service in page["services"]]
        url = page["meta"]["next_page_url"]
    assert seen == created
    assert [len(page["services"]) for page in pages] == [3, 3, 1]
    # Going back from the last page gives the middle page again.
    previous = pages[-1]["meta"]["previous_page_url"]
    assert previous is not None
    assert [s["sid"] for s in list_page(api, previous)["services"]] == created[3:6]
    assert pages[0]["meta"]["previous_page_url"] is None


def test_page_number_without_token_uses_an_offset(api: httpx.Client) -> None:
    created = [DEMO_SERVICE] + [new_service(api) for _ in range(4)]
    page = list_page(api, "/v1/Services?PageSize=2&Page=1")
    assert [s["sid"] for s in page["services"]] == created[2:4]
    assert page["meta"]["page"] == 1
    assert page["meta"]["previous_page_url"] is not None
    assert page["meta"]["next_page_url"] is not None


def test_page_urls_point_back_at_the_emulator(emulator: Server, api: httpx.Client) -> None:
    new_service(api)
    meta = list_page(api, "/v1/Services?PageSize=1")["meta"]
    for key in ("first_page_url", "url", "next_page_url"):
        parts = urlsplit(meta[key])
        assert f"{parts.scheme}://{parts.netloc}" == emulator.base_url
        assert parts.path == "/v1/Services"
    assert parse_qs(urlsplit(meta["next_page_url"]).query)["PageToken"][0].startswith("PA")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("evil.example", "own"),
        ("evil.example:8443", "own"),
        ("10.0.0.1:8080", "own"),
        ("localhost:18080", "http://localhost:18080"),
        ("127.0.0.2", "http://127.0.0.2"),
        ("[::1]:9", "http://[::1]:9"),
    ],
)
def test_page_urls_never_follow_a_host_header_away_from_the_emulator(
    emulator: Server, api: httpx.Client, host: str, expected: str
) -> None:
    """A `Host` header naming another machine is not taken as the emulator's name: the page URLs an SDK
    follows use the address the request arrived on. A loopback name (a port mapping's own port) is kept."""
    new_service(api)
    new_service(api)
    meta = api.get("/v1/Services?PageSize=1", headers={"Host": host}).json()["meta"]
    base = emulator.base_url if expected == "own" else expected
    for key in ("first_page_url", "url", "next_page_url"):
        parts = urlsplit(meta[key])
        assert f"{parts.scheme}://{parts.netloc}" == base, meta[key]


@pytest.mark.parametrize(
    "query", ["PageSize=0", "PageSize=1001", "PageSize=abc", "PageSize=-1", "Page=-1", "PageToken=bogus"]
)
def test_invalid_paging_parameters_are_400(emulator: Server, api: httpx.Client, query: str) -> None:
    before = emulator.snapshot()
    body = assert_twilio_error(api.get(f"/v1/Services?{query}"), 400, 20002)
    assert query.split("=")[0] in body["message"]
    assert emulator.snapshot() == before


def test_page_size_of_1000_is_accepted(api: httpx.Client) -> None:
    assert list_page(api, "/v1/Services?PageSize=1000")["meta"]["page_size"] == 1000


@pytest.fixture(scope="module")
def public_base_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("public-base"), extra_args=["--public-base-url", "https://emu.example"]
    )
    yield running
    running.process.stop()


def test_explicit_public_base_url_is_used_for_resources_and_pages(public_base_server: Server) -> None:
    with public_base_server.client() as api:
        body = list_page(api, "/v1/Services")
    assert_service_shape(body["services"][0], base="https://emu.example")
    assert body["meta"]["url"] == "https://emu.example/v1/Services?PageSize=50&Page=0"
