"""The official `twilio` Python library (twilio-python 9.x) against the real emulator.

Every client is pointed at the emulator as §6 says (`client.conversations.base_url = ...`, no region or
edge) and records each request it puts on the wire, so a test can check both what the library sent and
what it made of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_KEY,
    DEMO_KEY_SECRET,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    new_service,
    start_server,
    webhooks_path,
)

TWILIO_BASE = "https://conversations.twilio.com"
OTHER_ACCOUNT = "AC" + "1" * 32
UNKNOWN_SERVICE = "IS" + "f" * 32

# The demo service's configuration as fixtures/demo.json ships it.
DEMO_WEBHOOKS = {
    "account_sid": DEMO_ACCOUNT,
    "chat_service_sid": DEMO_SERVICE,
    "pre_webhook_url": None,
    "post_webhook_url": "https://example.com/conversations/post-event",
    "filters": ["onMessageAdded", "onConversationAdded"],
    "method": "POST",
    "url": f"{TWILIO_BASE}/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks",
}
WEBHOOK_ATTRIBUTES = tuple(DEMO_WEBHOOKS)
SERVICE_LINKS = {
    "conversations": "Conversations",
    "users": "Users",
    "roles": "Roles",
    "bindings": "Bindings",
    "configuration": "Configuration",
    "participant_conversations": "ParticipantConversations",
    "conversation_with_participants": "ConversationWithParticipants",
}

FETCH_FAILED = "Unable to fetch record: "
UPDATE_FAILED = "Unable to update record: "
CREATE_FAILED = "Unable to create record: "
DELETE_FAILED = "Unable to delete record: "


@dataclass(frozen=True)
class SentRequest:
    """One request as the library put it on the wire."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | bytes | None

    def form(self) -> list[tuple[str, str]]:
        """The form body's parameters, in order, repeated keys kept."""
        text = self.body.decode() if isinstance(self.body, bytes) else (self.body or "")
        return parse_qsl(text, keep_blank_values=True)


class Sdk:
    """A twilio-python `Client` pointed at one emulator, recording every request it sends."""

    def __init__(self, server: Server, username: str, password: str, account_sid: str | None = None) -> None:
        self.sent: list[SentRequest] = []
        http_client = TwilioHttpClient(request_hooks={"response": [self._record]})
        self.client: Any = Client(username, password, account_sid, http_client=http_client)
        self.client.conversations.base_url = server.base_url
        self.server = server

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        prepared = response.request
        body = prepared.body
        assert body is None or isinstance(body, str | bytes), "the library sent a streamed body"
        headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in prepared.headers.items()
        }
        self.sent.append(SentRequest(str(prepared.method), str(prepared.url), headers, body))

    @property
    def services(self) -> Any:
        return self.client.conversations.v1.services

    def webhooks(self, sid: str) -> Any:
        return self.client.conversations.v1.services(sid).configuration.webhooks()


@pytest.fixture(autouse=True)
def _no_region_or_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a region or edge the library rewrites the emulator's host (clients)."""
    for name in ("TWILIO_REGION", "TWILIO_EDGE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sdk(emulator: Server) -> Sdk:
    return Sdk(emulator, DEMO_ACCOUNT, DEMO_TOKEN)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("strict"), auth_mode="strict")
    try:
        yield running
    finally:
        running.process.stop()


@pytest.fixture
def strict(strict_server: Server) -> Server:
    strict_server.reset()
    return strict_server


def attributes(instance: Any, names: tuple[str, ...] = WEBHOOK_ATTRIBUTES) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in names}


def expect_rest_error(call: Callable[[], object], status: int, code: int, prefix: str) -> Any:
    """The call raises the library's `TwilioRestException` carrying the emulator's status and code."""
    with pytest.raises(TwilioRestException) as caught:
        call()
    error = caught.value
    assert type(error) is TwilioRestException
    assert error.status == status
    assert error.code == code
    assert isinstance(error.msg, str)
    assert error.msg.startswith(prefix), error.msg
    assert len(error.msg) > len(prefix)
    return error


# --- Pointing the library at the emulator (clients) ---


def test_the_client_talks_to_the_emulator_with_basic_auth(sdk: Sdk) -> None:
    assert sdk.client.region is None
    assert sdk.client.edge is None

    sdk.webhooks(DEMO_SERVICE).fetch()

    assert len(sdk.sent) == 1
    sent = sdk.sent[0]
    assert sent.method == "GET"
    assert sent.url == f"{sdk.server.base_url}{webhooks_path(DEMO_SERVICE)}"
    answer = requests.Request("GET", sent.url, auth=(DEMO_ACCOUNT, DEMO_TOKEN)).prepare()
    assert sent.headers["Authorization"] == answer.headers["Authorization"]


# --- Fetch (webhook configuration) ---


def test_fetch_the_demo_services_configuration(sdk: Sdk) -> None:
    before = sdk.server.snapshot()

    configuration = sdk.webhooks(DEMO_SERVICE).fetch()

    assert attributes(configuration) == DEMO_WEBHOOKS
    assert type(configuration.filters) is list
    assert sdk.server.snapshot() == before


def test_fetch_matches_the_raw_http_answer(sdk: Sdk, api: httpx.Client) -> None:
    raw = api.get(webhooks_path(DEMO_SERVICE))
    assert raw.status_code == 200

    configuration = sdk.webhooks(DEMO_SERVICE).fetch()

    assert attributes(configuration) == raw.json()


def test_fetch_a_service_never_configured_has_null_settings(sdk: Sdk, api: httpx.Client) -> None:
    sid = new_service(api, "never configured")
    before = sdk.server.snapshot()

    configuration = sdk.webhooks(sid).fetch()

    assert attributes(configuration) == {
        "account_sid": DEMO_ACCOUNT,
        "chat_service_sid": sid,
        "pre_webhook_url": None,
        "post_webhook_url": None,
        "filters": None,
        "method": None,
        "url": f"{TWILIO_BASE}/v1/Services/{sid}/Configuration/Webhooks",
    }
    assert sdk.server.snapshot() == before


# --- Update (webhook configuration) ---


def test_update_filters_urls_and_lower_case_method(sdk: Sdk) -> None:
    webhooks = sdk.webhooks(DEMO_SERVICE)

    updated = webhooks.update(
        filters=["onMessageAdd", "onParticipantRemoved", "onMessageAdd", "onDeliveryUpdated"],
        pre_webhook_url="https://hooks.example.com/pre?x=1",
        post_webhook_url="http://127.0.0.1:9000/post",
        method="post",
    )

    expected = {
        **DEMO_WEBHOOKS,
        "pre_webhook_url": "https://hooks.example.com/pre?x=1",
        "post_webhook_url": "http://127.0.0.1:9000/post",
        "filters": ["onMessageAdd", "onParticipantRemoved", "onDeliveryUpdated"],
        "method": "POST",
    }
    assert attributes(updated) == expected
    # What the library sent: repeated Filters keys, and the method exactly as given.
    sent = sdk.sent[-1]
    assert sent.method == "POST"
    assert sent.url == f"{sdk.server.base_url}{webhooks_path(DEMO_SERVICE)}"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sorted(sent.form()) == sorted(
        [
            ("PreWebhookUrl", "https://hooks.example.com/pre?x=1"),
            ("PostWebhookUrl", "http://127.0.0.1:9000/post"),
            ("Filters", "onMessageAdd"),
            ("Filters", "onParticipantRemoved"),
            ("Filters", "onMessageAdd"),
            ("Filters", "onDeliveryUpdated"),
            ("Method", "post"),
        ]
    )
    assert [value for name, value in sent.form() if name == "Filters"] == [
        "onMessageAdd",
        "onParticipantRemoved",
        "onMessageAdd",
        "onDeliveryUpdated",
    ]
    # It was stored: a fresh fetch returns the same.
    assert attributes(webhooks.fetch()) == expected


def test_update_get_method_on_a_new_service(sdk: Sdk, api: httpx.Client) -> None:
    sid = new_service(api, "configured by the SDK")

    updated = sdk.webhooks(sid).update(method="get", filters=["onConversationStateUpdated"])

    expected = {
        "account_sid": DEMO_ACCOUNT,
        "chat_service_sid": sid,
        "pre_webhook_url": None,
        "post_webhook_url": None,
        "filters": ["onConversationStateUpdated"],
        "method": "GET",
        "url": f"{TWILIO_BASE}/v1/Services/{sid}/Configuration/Webhooks",
    }
    assert attributes(updated) == expected
    assert attributes(sdk.webhooks(sid).fetch()) == expected


def test_update_changes_only_the_parameters_sent(sdk: Sdk) -> None:
    updated = sdk.webhooks(DEMO_SERVICE).update(method="GET")

    assert attributes(updated) == {**DEMO_WEBHOOKS, "method": "GET"}
    assert sdk.sent[-1].form() == [("Method", "GET")]
    assert attributes(sdk.webhooks(DEMO_SERVICE).fetch()) == {**DEMO_WEBHOOKS, "method": "GET"}


def test_update_filters_replaces_the_list(sdk: Sdk) -> None:
    updated = sdk.webhooks(DEMO_SERVICE).update(filters=["onParticipantAdded"])

    assert updated.filters == ["onParticipantAdded"]
    assert attributes(sdk.webhooks(DEMO_SERVICE).fetch()) == {
        **DEMO_WEBHOOKS,
        "filters": ["onParticipantAdded"],
    }


def test_update_with_an_empty_url_clears_it(sdk: Sdk) -> None:
    updated = sdk.webhooks(DEMO_SERVICE).update(post_webhook_url="")

    assert sdk.sent[-1].form() == [("PostWebhookUrl", "")]
    assert attributes(updated) == {**DEMO_WEBHOOKS, "post_webhook_url": None}
    assert sdk.webhooks(DEMO_SERVICE).fetch().post_webhook_url is None


def test_update_accepts_urls_of_exactly_2048_characters(sdk: Sdk) -> None:
    pre = "https://pre.example.com/" + "p" * (2048 - len("https://pre.example.com/"))
    post = "http://post.example.com/" + "q" * (2048 - len("http://post.example.com/"))
    assert len(pre) == len(post) == 2048

    updated = sdk.webhooks(DEMO_SERVICE).update(pre_webhook_url=pre, post_webhook_url=post)

    expected = {**DEMO_WEBHOOKS, "pre_webhook_url": pre, "post_webhook_url": post}
    assert attributes(updated) == expected
    assert attributes(sdk.webhooks(DEMO_SERVICE).fetch()) == expected


def test_update_with_empty_filters_sends_an_empty_chunked_body_and_changes_nothing(sdk: Sdk) -> None:
    """twilio-python drops an empty list: the POST has no parameters, so it is a no-op."""
    before = sdk.server.snapshot()

    updated = sdk.webhooks(DEMO_SERVICE).update(filters=[])

    sent = sdk.sent[-1]
    assert sent.method == "POST"
    assert sent.body == ""
    # No Content-Length on a body that is not None: `requests` sends it with chunked transfer encoding.
    assert "Content-Length" not in sent.headers
    assert attributes(updated) == DEMO_WEBHOOKS
    assert sdk.server.snapshot() == before
    assert attributes(sdk.webhooks(DEMO_SERVICE).fetch()) == DEMO_WEBHOOKS


def test_update_with_empty_filters_on_a_service_never_configured(sdk: Sdk, api: httpx.Client) -> None:
    sid = new_service(api, "still unconfigured")
    before = sdk.server.snapshot()

    updated = sdk.webhooks(sid).update(filters=[])

    assert (updated.pre_webhook_url, updated.post_webhook_url, updated.filters, updated.method) == (
        None,
        None,
        None,
        None,
    )
    assert updated.chat_service_sid == sid
    assert sdk.server.snapshot() == before


# --- Errors (errors, clients): TwilioRestException, and nothing changed ---


@pytest.mark.parametrize(
    ("parameters", "code", "named"),
    [
        pytest.param({"filters": ["onMessageSent"]}, 50054, "onMessageSent", id="unknown-event"),
        pytest.param({"filters": ["onmessageadded"]}, 50054, "onmessageadded", id="event-wrong-case"),
        pytest.param(
            {"filters": ["onMessageAdded", "bogus"], "method": "GET"}, 50054, "bogus", id="one-bad-filter"
        ),
        pytest.param({"method": "PUT"}, 50055, "PUT", id="method-put"),
        pytest.param({"method": "get ", "filters": ["onMessageAdd"]}, 50055, "get", id="method-space"),
        pytest.param({"pre_webhook_url": "ftp://example.com/hook"}, 50077, None, id="pre-ftp"),
        pytest.param({"pre_webhook_url": "https://exa mple.com/hook"}, 50077, None, id="pre-space"),
        pytest.param({"pre_webhook_url": "/relative/hook"}, 50077, None, id="pre-relative"),
        pytest.param({"post_webhook_url": "not a url"}, 50078, None, id="post-not-url"),
        pytest.param({"post_webhook_url": "https://"}, 50078, None, id="post-no-host"),
        pytest.param(
            {"post_webhook_url": "https://example.com/" + "a" * 2048}, 50078, None, id="post-too-long"
        ),
        pytest.param(
            {"pre_webhook_url": "https://ok.example.com/pre", "post_webhook_url": "https://example.com/\t"},
            50078,
            None,
            id="post-tab-with-valid-pre",
        ),
    ],
)
def test_invalid_update_raises_and_changes_nothing(
    sdk: Sdk, parameters: dict[str, Any], code: int, named: str | None
) -> None:
    before = sdk.server.snapshot()

    error = expect_rest_error(
        lambda: sdk.webhooks(DEMO_SERVICE).update(**parameters), 400, code, UPDATE_FAILED
    )

    if named is not None:
        assert named in error.msg
    assert error.method == "POST"
    assert error.uri == f"/Services/{DEMO_SERVICE}/Configuration/Webhooks"
    assert sdk.server.snapshot() == before
    assert attributes(sdk.webhooks(DEMO_SERVICE).fetch()) == DEMO_WEBHOOKS


def test_unknown_service_is_404_for_fetch_and_update(sdk: Sdk) -> None:
    before = sdk.server.snapshot()
    missing = f"The requested resource /Services/{UNKNOWN_SERVICE}/Configuration/Webhooks was not found"

    fetched = expect_rest_error(lambda: sdk.webhooks(UNKNOWN_SERVICE).fetch(), 404, 20404, FETCH_FAILED)
    updated = expect_rest_error(
        lambda: sdk.webhooks(UNKNOWN_SERVICE).update(method="POST", filters=["onMessageAdded"]),
        404,
        20404,
        UPDATE_FAILED,
    )

    assert fetched.msg == FETCH_FAILED + missing
    assert fetched.method == "GET"
    assert updated.msg == UPDATE_FAILED + missing
    assert updated.method == "POST"
    assert sdk.server.snapshot() == before


def test_malformed_service_sid_is_404(sdk: Sdk) -> None:
    before = sdk.server.snapshot()

    error = expect_rest_error(lambda: sdk.webhooks("ISnot-a-sid").fetch(), 404, 20404, FETCH_FAILED)

    assert error.msg == FETCH_FAILED + (
        "The requested resource /Services/ISnot-a-sid/Configuration/Webhooks was not found"
    )
    assert sdk.server.snapshot() == before


def test_another_accounts_service_is_404(sdk: Sdk) -> None:
    with sdk.server.client(OTHER_ACCOUNT, "other-token") as other:
        theirs = new_service(other, "not yours")
        assert other.post(webhooks_path(theirs), data={"Method": "GET"}).status_code == 200
    before = sdk.server.snapshot()

    expect_rest_error(lambda: sdk.webhooks(theirs).fetch(), 404, 20404, FETCH_FAILED)
    expect_rest_error(lambda: sdk.webhooks(theirs).update(method="POST"), 404, 20404, UPDATE_FAILED)
    expect_rest_error(lambda: sdk.services(theirs).fetch(), 404, 20404, FETCH_FAILED)
    expect_rest_error(lambda: sdk.services(theirs).delete(), 404, 20404, DELETE_FAILED)

    assert sdk.server.snapshot() == before


# --- Authentication (authentication) ---


def test_api_key_authenticates_as_its_account(emulator: Server) -> None:
    keyed = Sdk(emulator, DEMO_KEY, DEMO_KEY_SECRET, DEMO_ACCOUNT)

    fetched = keyed.webhooks(DEMO_SERVICE).fetch()
    updated = keyed.webhooks(DEMO_SERVICE).update(method="get")
    created = keyed.services.create(friendly_name="made with a key")

    assert attributes(fetched) == DEMO_WEBHOOKS
    assert attributes(updated) == {**DEMO_WEBHOOKS, "method": "GET"}
    assert created.account_sid == DEMO_ACCOUNT
    # The key, not the account, is what went on the wire (clients).
    expected = requests.Request("GET", "http://x", auth=(DEMO_KEY, DEMO_KEY_SECRET)).prepare()
    assert {sent.headers["Authorization"] for sent in keyed.sent} == {expected.headers["Authorization"]}
    # The service belongs to the key's account: the account's own credentials see it.
    assert Sdk(emulator, DEMO_ACCOUNT, DEMO_TOKEN).services(created.sid).fetch().sid == created.sid


def test_unknown_api_key_is_401(emulator: Server) -> None:
    before = emulator.snapshot()
    stranger = Sdk(emulator, "SK" + "9" * 32, "whatever", DEMO_ACCOUNT)

    error = expect_rest_error(lambda: stranger.webhooks(DEMO_SERVICE).fetch(), 401, 20003, FETCH_FAILED)

    assert error.msg == FETCH_FAILED + "Authenticate"
    assert emulator.snapshot() == before


def test_strict_mode_refuses_a_wrong_auth_token(strict: Server) -> None:
    before = strict.snapshot()
    wrong = Sdk(strict, DEMO_ACCOUNT, "not-the-token")

    fetched = expect_rest_error(lambda: wrong.webhooks(DEMO_SERVICE).fetch(), 401, 20003, FETCH_FAILED)
    updated = expect_rest_error(
        lambda: wrong.webhooks(DEMO_SERVICE).update(method="GET"), 401, 20003, UPDATE_FAILED
    )

    assert fetched.msg == FETCH_FAILED + "Authenticate"
    assert updated.msg == UPDATE_FAILED + "Authenticate"
    assert strict.snapshot() == before


@pytest.mark.parametrize(
    ("username", "password", "account_sid"),
    [
        pytest.param(OTHER_ACCOUNT, "any-token", None, id="unknown-account"),
        pytest.param(DEMO_KEY, "not-the-secret", DEMO_ACCOUNT, id="wrong-key-secret"),
        pytest.param("SK" + "9" * 32, DEMO_KEY_SECRET, DEMO_ACCOUNT, id="unknown-key"),
    ],
)
def test_strict_mode_refuses_unknown_credentials(
    strict: Server, username: str, password: str, account_sid: str | None
) -> None:
    before = strict.snapshot()
    caller = Sdk(strict, username, password, account_sid)

    expect_rest_error(lambda: caller.webhooks(DEMO_SERVICE).update(method="GET"), 401, 20003, UPDATE_FAILED)
    expect_rest_error(lambda: caller.services.create(friendly_name="no"), 401, 20003, CREATE_FAILED)

    assert strict.snapshot() == before


def test_strict_mode_accepts_the_known_token_and_key(strict: Server) -> None:
    by_token = Sdk(strict, DEMO_ACCOUNT, DEMO_TOKEN)
    by_key = Sdk(strict, DEMO_KEY, DEMO_KEY_SECRET, DEMO_ACCOUNT)

    assert attributes(by_token.webhooks(DEMO_SERVICE).fetch()) == DEMO_WEBHOOKS
    updated = by_key.webhooks(DEMO_SERVICE).update(filters=["onMessageRemoved"])

    assert attributes(updated) == {**DEMO_WEBHOOKS, "filters": ["onMessageRemoved"]}
    assert attributes(by_token.webhooks(DEMO_SERVICE).fetch()) == {
        **DEMO_WEBHOOKS,
        "filters": ["onMessageRemoved"],
    }


# --- Services: create, list with paging, fetch, delete (services) ---


def check_service(instance: Any, friendly_name: str) -> None:
    assert instance.account_sid == DEMO_ACCOUNT
    assert re.fullmatch(r"IS[0-9a-f]{32}", instance.sid)
    assert instance.friendly_name == friendly_name
    assert isinstance(instance.date_created, datetime)
    assert instance.date_created.tzinfo is not None
    assert instance.date_created.utcoffset() == timedelta(0)
    assert instance.date_updated == instance.date_created
    url = f"{TWILIO_BASE}/v1/Services/{instance.sid}"
    assert instance.url == url
    assert instance.links == {name: f"{url}/{segment}" for name, segment in SERVICE_LINKS.items()}


def test_service_create_fetch_delete(sdk: Sdk) -> None:
    started = datetime.now(UTC).replace(microsecond=0)

    created = sdk.services.create(friendly_name="Créé par le SDK")

    check_service(created, "Créé par le SDK")
    assert started.timestamp() - 5 <= created.date_created.timestamp() <= datetime.now(UTC).timestamp()
    sent = sdk.sent[-1]
    assert (sent.method, sent.url) == ("POST", f"{sdk.server.base_url}/v1/Services")
    assert sent.form() == [("FriendlyName", "Créé par le SDK")]

    fetched = sdk.services(created.sid).fetch()
    check_service(fetched, "Créé par le SDK")
    assert attributes(fetched, ("sid", "date_created", "url", "links")) == attributes(
        created, ("sid", "date_created", "url", "links")
    )
    assert created.sid in [service.sid for service in sdk.services.list()]

    sdk.webhooks(created.sid).update(method="POST", filters=["onMessageAdded"])
    assert sdk.services(created.sid).delete() is True
    assert sdk.sent[-1].method == "DELETE"

    before = sdk.server.snapshot()
    missing = f"The requested resource /Services/{created.sid} was not found"
    gone = expect_rest_error(lambda: sdk.services(created.sid).fetch(), 404, 20404, FETCH_FAILED)
    assert gone.msg == FETCH_FAILED + missing
    again = expect_rest_error(lambda: sdk.services(created.sid).delete(), 404, 20404, DELETE_FAILED)
    assert again.msg == DELETE_FAILED + missing
    # Its webhook configuration went with it.
    expect_rest_error(lambda: sdk.webhooks(created.sid).fetch(), 404, 20404, FETCH_FAILED)
    expect_rest_error(lambda: sdk.webhooks(created.sid).update(method="GET"), 404, 20404, UPDATE_FAILED)
    assert sdk.server.snapshot() == before
    assert not any(created.sid in repr(row) for rows in before.values() for row in rows)


def test_service_create_without_friendly_name_is_20001(sdk: Sdk) -> None:
    before = sdk.server.snapshot()

    error = expect_rest_error(lambda: sdk.services.create(friendly_name=""), 400, 20001, CREATE_FAILED)

    assert error.msg == CREATE_FAILED + "Missing required parameter FriendlyName in the post body"
    assert sdk.server.snapshot() == before


def test_service_create_with_a_too_long_friendly_name_is_20002(sdk: Sdk) -> None:
    before = sdk.server.snapshot()

    expect_rest_error(lambda: sdk.services.create(friendly_name="n" * 257), 400, 20002, CREATE_FAILED)

    assert sdk.server.snapshot() == before


def test_list_follows_next_page_url_on_the_emulator(sdk: Sdk) -> None:
    names = [f"paged {number}" for number in range(5)]
    created = [sdk.services.create(friendly_name=name).sid for name in names]
    every = [DEMO_SERVICE, *created]
    sdk.sent.clear()

    listed = sdk.services.list(page_size=2)

    assert [service.sid for service in listed] == every
    assert [service.friendly_name for service in listed] == ["Demo service", *names]
    for service in listed:
        assert service.account_sid == DEMO_ACCOUNT
    # Three pages of two, each fetched from the emulator itself (never the real Twilio).
    assert len(sdk.sent) == 3
    for sent in sdk.sent:
        assert sent.method == "GET"
        assert sent.url.startswith(f"{sdk.server.base_url}/v1/Services?")
    first = dict(parse_qsl(urlsplit(sdk.sent[0].url).query))
    assert first["PageSize"] == "2"
    later = [dict(parse_qsl(urlsplit(sent.url).query)) for sent in sdk.sent[1:]]
    assert [query["Page"] for query in later] == ["1", "2"]
    assert all(query["PageSize"] == "2" for query in later)


def test_list_with_a_limit_stops_early(sdk: Sdk) -> None:
    created = [sdk.services.create(friendly_name=f"limited {number}").sid for number in range(5)]
    sdk.sent.clear()

    listed = sdk.services.list(page_size=2, limit=3)

    assert [service.sid for service in listed] == [DEMO_SERVICE, *created[:2]]
    assert len(sdk.sent) == 2
    assert all(sent.url.startswith(f"{sdk.server.base_url}/v1/Services?") for sent in sdk.sent)


def test_page_objects_link_back_to_the_emulator(sdk: Sdk) -> None:
    created = [sdk.services.create(friendly_name=f"page {number}").sid for number in range(3)]

    first = sdk.services.page(page_size=3)
    second = first.next_page()

    assert [service.sid for service in first] == [DEMO_SERVICE, *created[:2]]
    assert [service.sid for service in second] == created[2:]
    assert second.next_page() is None
    back = second.previous_page()
    assert [service.sid for service in back] == [DEMO_SERVICE, *created[:2]]
    assert [sent.url.split("?")[0] for sent in sdk.sent[-3:]] == [f"{sdk.server.base_url}/v1/Services"] * 3
