"""Webhook deliveries: simulated actions (`/_emulator/events`) deliver signed webhooks to a receiver.

The receiver is a small threaded HTTP server on 127.0.0.1 that records every request and answers as a test
tells it to, per path: a status, a body, and a delay. Every delivery it records is checked with Twilio's
own `RequestValidator`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from twilio.request_validator import RequestValidator
from twilio_conversations_emulator.testing import free_port

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    assert_twilio_error,
    module_server,
    new_service,
    webhooks_path,
)

ACCOUNT_PATH = "/v1/Configuration/Webhooks"
WEBHOOK_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CONVERSATION = "CH" + "c" * 32
OTHER_ACCOUNT = "AC" + "6" * 32
TOKENLESS_ACCOUNT = "AC" + "7" * 32
TOKENLESS_SERVICE = "IS" + "7" * 32
LOG_KEYS = {
    "time",
    "account_sid",
    "chat_service_sid",
    "event",
    "hook",
    "configuration",
    "method",
    "url",
    "parameters",
    "signature",
    "idempotency_token",
    "status",
    "error",
    "error_message",
    "duration_ms",
    "response_body",
    "redirects",
}


# --- the receiver --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    content_type: str = "text/plain"
    # When set, the answer waits until the test opens it: "still waiting" without a clock to race.
    gate: threading.Event | None = None
    # A redirect's target.
    location: str | None = None
    # What the handler does before it answers (e.g. calls the API, as a bot replying would).
    before: Callable[[], None] | None = None


@dataclass(frozen=True)
class Received:
    method: str
    target: str  # path and query string, as on the request line
    headers: dict[str, str]
    body: bytes
    port: int

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.target}"

    @property
    def params(self) -> dict[str, str]:
        """The webhook's parameters, from the body (POST) or the query string (GET)."""
        text = self.body.decode() if self.method == "POST" else urlsplit(self.target).query
        return dict(parse_qsl(text, keep_blank_values=True))


@dataclass
class Receiver:
    """Records every request; answers each path as `answers` says (default: 200, empty)."""

    port: int = 0
    answers: dict[str, Answer] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.requests.append(Received(self.command, self.path, headers, body, receiver.port))
            receiver.arrived.set()
            answer = receiver.answers.get(urlsplit(self.path).path, Answer())
            time.sleep(answer.delay)
            if answer.before is not None:
                answer.before()
            if answer.gate is not None:
                answer.gate.wait(60)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                if answer.location is not None:
                    self.send_header("Location", answer.location)
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the emulator stopped waiting (a timeout) and closed the connection

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


# --- helpers -------------------------------------------------------------------------------------------


def assert_signed(request: Received, token: str = DEMO_TOKEN) -> None:
    """Twilio's validator accepts the request: for a GET the parameters are part of the URL."""
    validator = RequestValidator(token)
    signature = request.headers["x-twilio-signature"]
    if request.method == "POST":
        assert validator.validate(request.url, request.params, signature), request
    else:
        assert validator.validate(request.url, {}, signature), request


def configure_service(
    api: httpx.Client, sid: str, receiver: Receiver, filters: list[str], **extra: str
) -> None:
    data: dict[str, Any] = {
        "PreWebhookUrl": receiver.url("/pre"),
        "PostWebhookUrl": receiver.url("/post"),
        "Filters": filters,
        "Method": "POST",
        **extra,
    }
    answer = api.post(webhooks_path(sid), data=data)
    assert answer.status_code == 200, answer.text


def configure_account(api: httpx.Client, receiver: Receiver, filters: list[str], **extra: str) -> None:
    data: dict[str, Any] = {
        "PreWebhookUrl": receiver.url("/account-pre"),
        "PostWebhookUrl": receiver.url("/account-post"),
        "Filters": filters,
        **extra,
    }
    answer = api.post(ACCOUNT_PATH, data=data)
    assert answer.status_code == 200, answer.text


def trigger(server: Server, event: str, service: str = DEMO_SERVICE, **body: Any) -> dict[str, Any]:
    payload = {"account_sid": DEMO_ACCOUNT, "chat_service_sid": service, "event": event, **body}
    answer = httpx.post(f"{server.base_url}/_emulator/events", json=payload, timeout=30.0)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def deliveries(server: Server, **filters: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.base_url}/_emulator/deliveries", params=filters)
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["deliveries"]
    return entries


MESSAGE = {"ConversationSid": CONVERSATION, "Body": "hi", "Author": "alice"}


# --- a whole action ------------------------------------------------------------------------------------


def test_message_add_sends_signed_pre_and_post_hooks(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    result = trigger(emulator, "onMessageAdd", source="SDK", params={**MESSAGE, "ClientIdentity": "alice"})

    assert result["outcome"] == "published"
    assert (result["event"], result["post_event"], result["configuration"]) == (
        "onMessageAdd",
        "onMessageAdded",
        "service",
    )
    pre, post = receiver.requests
    assert (pre.path, post.path) == ("/pre", "/post")
    for request, event in ((pre, "onMessageAdd"), (post, "onMessageAdded")):
        assert_signed(request)
        assert request.method == "POST"
        assert request.headers["user-agent"] == "TwilioProxy/1.1"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        params = request.params
        assert params["AccountSid"] == DEMO_ACCOUNT
        assert params["ChatServiceSid"] == DEMO_SERVICE
        assert params["EventType"] == event
        assert (params["Source"], params["RetryCount"], params["ClientIdentity"]) == ("SDK", "0", "alice")
        assert (params["ConversationSid"], params["Body"], params["Author"]) == (CONVERSATION, "hi", "alice")
        assert (params["Attributes"], params["Index"]) == ("{}", "0")
        assert re.fullmatch(r"MB[0-9a-f]{32}", params["ParticipantSid"])
        assert WEBHOOK_DATE.fullmatch(params["DateCreated"])
    assert pre.headers["i-twilio-idempotency-token"] != post.headers["i-twilio-idempotency-token"]
    # The message exists only once published: its SID is in the post-event alone.
    assert "MessageSid" not in pre.params
    message_sid = post.params["MessageSid"]
    assert re.fullmatch(r"IM[0-9a-f]{32}", message_sid)
    assert pre.params["ParticipantSid"] == post.params["ParticipantSid"]
    assert result["params"] == {
        name: value
        for name, value in post.params.items()
        if name not in ("AccountSid", "ChatServiceSid", "EventType", "Source", "RetryCount")
    }

    # The answer and the delivery log tell the same story as the receiver.
    assert [entry["hook"] for entry in result["deliveries"]] == ["pre", "post"]
    assert deliveries(emulator) == result["deliveries"]
    for entry, request in zip(result["deliveries"], receiver.requests, strict=True):
        assert set(entry) == LOG_KEYS
        assert entry["url"] == request.url
        assert entry["parameters"] == request.params
        assert entry["signature"] == request.headers["x-twilio-signature"]
        assert entry["idempotency_token"] == request.headers["i-twilio-idempotency-token"]
        assert (entry["status"], entry["error"], entry["response_body"]) == (200, None, "")
        assert entry["duration_ms"] >= 0
        assert entry["configuration"] == "service"


def test_get_sends_the_parameters_in_the_query_string(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    answer = api.post(
        webhooks_path(DEMO_SERVICE),
        data={
            "PreWebhookUrl": receiver.url("/pre?team=a%20b"),
            "PostWebhookUrl": receiver.url("/post"),
            "Filters": ["onMessageAdd", "onMessageAdded"],
            "Method": "GET",
        },
    )
    assert answer.status_code == 200
    trigger(emulator, "onMessageAdd", params={**MESSAGE, "Body": "héllo & more"})
    pre, post = receiver.requests
    for request in (pre, post):
        assert request.method == "GET"
        assert request.body == b""
        assert "content-type" not in request.headers
        assert request.params["Body"] == "héllo & more"
        assert_signed(request)
    assert pre.params["team"] == "a b"
    assert pre.params["EventType"] == "onMessageAdd"


def test_only_events_in_filters_fire(emulator: Server, api: httpx.Client, receiver: Receiver) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded", "onConversationUpdate"])
    first = trigger(emulator, "onMessageAdd", params=MESSAGE)
    assert [entry["event"] for entry in first["deliveries"]] == ["onMessageAdded"]
    second = trigger(emulator, "onConversationUpdate", params={"ConversationSid": CONVERSATION})
    assert [entry["event"] for entry in second["deliveries"]] == ["onConversationUpdate"]
    third = trigger(emulator, "onParticipantAdd", params={"ConversationSid": CONVERSATION})
    assert third["deliveries"] == []
    assert [(request.path, request.params["EventType"]) for request in receiver.requests] == [
        ("/post", "onMessageAdded"),
        ("/pre", "onConversationUpdate"),
    ]


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_a_4xx_or_5xx_pre_hook_answer_rejects_the_action(
    emulator: Server, api: httpx.Client, receiver: Receiver, status: int
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    receiver.answers["/pre"] = Answer(status, b"no thanks")
    result = trigger(emulator, "onMessageAdd", params=MESSAGE)
    assert result["outcome"] == "rejected"
    assert [request.path for request in receiver.requests] == ["/pre"]
    (entry,) = result["deliveries"]
    assert (entry["hook"], entry["status"], entry["response_body"]) == ("pre", status, "no thanks")
    assert "MessageSid" not in result["params"]


def test_a_2xx_json_answer_modifies_the_fields_twilio_allows(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    receiver.answers["/pre"] = Answer(
        200,
        b'{"body": "edited", "author": "bot", "attributes": {"k": 1}, "friendly_name": "no", "index": 9}',
        content_type="application/json",
    )
    result = trigger(emulator, "onMessageAdd", params=MESSAGE)
    assert result["outcome"] == "modified"
    post = receiver.on("/post")[0].params
    assert (post["Body"], post["Author"], post["Attributes"]) == ("edited", "bot", '{"k":1}')
    assert post["Index"] == "0"
    assert "FriendlyName" not in post
    assert result["params"]["Body"] == "edited"
    assert_signed(receiver.on("/post")[0])


def test_a_conversation_answer_may_modify_only_its_friendly_name(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onConversationUpdate", "onConversationUpdated"])
    receiver.answers["/pre"] = Answer(201, b'{"friendly_name": "Renamed", "body": "ignored"}')
    result = trigger(
        emulator,
        "onConversationUpdate",
        params={"ConversationSid": CONVERSATION, "FriendlyName": "Old", "Attributes": {"a": [1, 2]}},
    )
    assert result["outcome"] == "modified"
    post = receiver.on("/post")[0].params
    assert (post["FriendlyName"], post["ConversationSid"], post["Attributes"]) == (
        "Renamed",
        CONVERSATION,
        '{"a":[1,2]}',
    )
    assert "Body" not in post


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"OK",
        b"[1, 2]",
        b'{"body": null}',
        b'{"unrelated": 1}',
        # Not a modification either: Python cannot read an integer this long, and it must not cost a 500.
        b'{"body": ' + b"9" * 5000 + b"}",
    ],
)
def test_a_2xx_answer_without_changes_publishes_unmodified(
    emulator: Server, api: httpx.Client, receiver: Receiver, body: bytes
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    receiver.answers["/pre"] = Answer(200, body)
    result = trigger(emulator, "onMessageAdd", params=MESSAGE)
    assert result["outcome"] == "published"
    assert receiver.on("/post")[0].params["Body"] == "hi"


def test_an_unreachable_pre_hook_publishes_unmodified(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"], PreWebhookUrl=closed)
    result = trigger(emulator, "onMessageAdd", params=MESSAGE)
    assert result["outcome"] == "published"
    pre, post = result["deliveries"]
    assert (pre["status"], pre["error"], pre["url"]) == (None, "refused", closed)
    assert pre["error_message"]
    assert pre["response_body"] is None
    assert post["status"] == 200
    assert [request.path for request in receiver.requests] == ["/post"]


def test_an_api_action_fires_no_pre_event_hook(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    result = trigger(emulator, "onMessageAdd", source="API", params=MESSAGE)
    assert [request.path for request in receiver.requests] == ["/post"]
    assert receiver.requests[0].params["Source"] == "API"
    assert result["outcome"] == "published"


@pytest.mark.parametrize(
    ("event", "params", "expected"),
    [
        (
            "onDeliveryUpdated",
            {"ConversationSid": CONVERSATION, "Status": "read"},
            {"Status": "read", "ConversationSid": CONVERSATION},
        ),
        (
            "onConversationStateUpdated",
            {
                "ConversationSid": CONVERSATION,
                "StateFrom": "inactive",
                "StateTo": "closed",
                "Reason": "TIMER",
            },
            {"StateFrom": "inactive", "StateTo": "closed", "Reason": "TIMER"},
        ),
    ],
)
def test_post_only_events_send_one_hook(
    emulator: Server,
    api: httpx.Client,
    receiver: Receiver,
    event: str,
    params: dict[str, str],
    expected: dict[str, str],
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, [event])
    result = trigger(emulator, event, params=params)
    assert (result["outcome"], result["event"], result["post_event"]) == ("published", event, event)
    (request,) = receiver.requests
    assert request.path == "/post"
    assert request.params["EventType"] == event
    assert expected.items() <= request.params.items()
    assert_signed(request)


def test_null_params_leave_a_default_out(emulator: Server, api: httpx.Client, receiver: Receiver) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded"])
    trigger(emulator, "onMessageAdd", params={**MESSAGE, "ParticipantSid": None, "Index": 7})
    params = receiver.requests[0].params
    assert "ParticipantSid" not in params
    assert params["Index"] == "7"


# --- which configuration applies -----------------------------------------------------------------------


def test_the_account_configuration_applies_when_the_service_has_none(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, ["onMessageAdd", "onMessageAdded"], Method="GET")
    sid = new_service(api)
    result = trigger(emulator, "onMessageAdd", service=sid, params=MESSAGE)
    assert result["configuration"] == "account"
    assert [(r.path, r.method) for r in receiver.requests] == [
        ("/account-pre", "GET"),
        ("/account-post", "GET"),
    ]
    for request in receiver.requests:
        assert request.params["ChatServiceSid"] == sid
        assert_signed(request)


def test_a_service_with_a_url_overrides_the_account(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, ["onMessageAdd", "onMessageAdded"])
    sid = new_service(api)
    # The service's own configuration wins even though its filters leave the pre-event out.
    configure_service(api, sid, receiver, ["onMessageAdded"])
    result = trigger(emulator, "onMessageAdd", service=sid, params=MESSAGE)
    assert result["configuration"] == "service"
    assert [request.path for request in receiver.requests] == ["/post"]


def test_a_service_configured_without_urls_falls_back_to_the_account(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, ["onMessageAdded"])
    sid = new_service(api)
    api.post(webhooks_path(sid), data={"Method": "GET", "Filters": "onMessageAdd"})
    result = trigger(emulator, "onMessageAdd", service=sid, params=MESSAGE)
    assert result["configuration"] == "account"
    assert [request.path for request in receiver.requests] == ["/account-post"]


def test_user_events_fire_from_the_account_configuration(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, ["onUserUpdate", "onUserUpdated", "onUserAdded"])
    sid = new_service(api)
    trigger(emulator, "onUserUpdate", service=sid, params={"Identity": "alice"})
    trigger(emulator, "onUserAdded", service=sid, params={"Identity": "bob"})
    assert [request.params["EventType"] for request in receiver.requests] == [
        "onUserUpdate",
        "onUserUpdated",
        "onUserAdded",
    ]
    assert receiver.requests[0].params["UserSid"] == receiver.requests[1].params["UserSid"]
    assert receiver.requests[2].params["UserSid"].startswith("US")


def test_a_flex_target_sends_nothing_to_the_urls(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, ["onMessageAdd", "onMessageAdded"], Target="flex")
    sid = new_service(api)
    result = trigger(emulator, "onMessageAdd", service=sid, params=MESSAGE)
    assert (result["configuration"], result["deliveries"]) == ("account", [])
    assert receiver.requests == []


def test_a_service_with_no_configuration_at_all_fires_nothing(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    sid = new_service(api)
    for event in ("onMessageAdd", "onConversationAdd", "onDeliveryUpdated"):
        result = trigger(emulator, event, service=sid, params={"ConversationSid": CONVERSATION})
        assert (result["outcome"], result["configuration"], result["deliveries"]) == ("published", None, [])
    assert deliveries(emulator) == []
    assert receiver.requests == []


# --- the signing key -----------------------------------------------------------------------------------


def test_permissive_accounts_sign_with_the_token_they_last_used(emulator: Server, receiver: Receiver) -> None:
    account = "AC" + "8" * 32
    with emulator.client(account, "first-token") as first:
        sid = new_service(first)
        configure_service(first, sid, receiver, ["onMessageAdded"])
    payload = {"account_sid": account, "chat_service_sid": sid, "event": "onMessageAdd", "params": MESSAGE}
    httpx.post(f"{emulator.base_url}/_emulator/events", json=payload).raise_for_status()
    with emulator.client(account, "second-token") as second:
        assert second.get("/v1/Services").status_code == 200
    httpx.post(f"{emulator.base_url}/_emulator/events", json=payload).raise_for_status()
    first_delivery, second_delivery = receiver.requests
    assert_signed(first_delivery, "first-token")
    assert_signed(second_delivery, "second-token")


def test_an_account_with_no_known_token_gets_no_delivery(emulator: Server, receiver: Receiver) -> None:
    fixture = {
        "accounts": [{"sid": TOKENLESS_ACCOUNT}],
        "services": [
            {
                "sid": TOKENLESS_SERVICE,
                "account_sid": TOKENLESS_ACCOUNT,
                "friendly_name": "no token",
                "webhooks": {"post_webhook_url": receiver.url("/post"), "filters": ["onMessageAdded"]},
            }
        ],
    }
    httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=fixture).raise_for_status()
    payload = {
        "account_sid": TOKENLESS_ACCOUNT,
        "chat_service_sid": TOKENLESS_SERVICE,
        "event": "onMessageAdd",
    }
    answer = httpx.post(f"{emulator.base_url}/_emulator/events", json=payload)
    assert answer.status_code == 200
    (entry,) = answer.json()["deliveries"]
    assert (entry["status"], entry["error"], entry["signature"]) == (None, "no_auth_token", None)
    assert TOKENLESS_ACCOUNT in entry["error_message"]
    assert receiver.requests == []


# --- the delivery log ----------------------------------------------------------------------------------


def test_the_delivery_log_filters_and_clears(emulator: Server, api: httpx.Client, receiver: Receiver) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded", "onDeliveryUpdated"])
    other = new_service(api)
    configure_service(api, other, receiver, ["onMessageAdded"])
    receiver.answers["/pre"] = Answer(403)
    trigger(emulator, "onMessageAdd", params=MESSAGE)  # rejected: one pre delivery, 403
    receiver.answers.clear()
    trigger(emulator, "onMessageAdd", params=MESSAGE)  # pre and post, 200
    trigger(emulator, "onMessageAdd", service=other, params=MESSAGE)  # post, 200
    assert len(deliveries(emulator)) == 4
    assert [entry["event"] for entry in deliveries(emulator, chat_service_sid=other)] == ["onMessageAdded"]
    assert len(deliveries(emulator, event="onMessageAdd")) == 2
    assert [entry["status"] for entry in deliveries(emulator, status="403")] == [403]
    assert len(deliveries(emulator, status="200")) == 3
    assert deliveries(emulator, status="timeout") == []
    assert deliveries(emulator, limit=1) == deliveries(emulator)[-1:]
    assert deliveries(emulator, limit=0) == []
    assert deliveries(emulator, account_sid=OTHER_ACCOUNT) == []

    assert httpx.delete(f"{emulator.base_url}/_emulator/deliveries").status_code == 204
    assert deliveries(emulator) == []
    trigger(emulator, "onMessageAdd", params=MESSAGE)
    emulator.reset()
    assert deliveries(emulator) == []


@pytest.mark.parametrize(
    "query",
    [{"limit": "-1"}, {"limit": "x"}, {"chat_service_sid": "IS123"}, {"account_sid": "nope"}],
)
def test_a_bad_delivery_log_filter_is_refused(emulator: Server, query: dict[str, str]) -> None:
    answer = httpx.get(f"{emulator.base_url}/_emulator/deliveries", params=query)
    assert_twilio_error(answer, 400, 20002)


# --- refused simulations -------------------------------------------------------------------------------


VALID = {"account_sid": DEMO_ACCOUNT, "chat_service_sid": DEMO_SERVICE, "event": "onMessageAdd"}


def without(name: str) -> bytes:
    return json.dumps({key: value for key, value in VALID.items() if key != name}).encode()


def valid_and(**fields: Any) -> bytes:
    return json.dumps({**VALID, **fields}).encode()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "JSON"),
        (b"", "JSON object"),
        (b"[]", "JSON object"),
        (without("account_sid"), "account_sid"),
        (without("chat_service_sid"), "chat_service_sid"),
        (without("event"), "event"),
        (valid_and(account_sid="AC1"), "account_sid"),
        (valid_and(chat_service_sid=DEMO_ACCOUNT), "chat_service_sid"),
        (valid_and(event="onMessageSend"), "onMessageSend"),
        (valid_and(event="onMessageAdded"), "onMessageAdd"),
        (valid_and(event=None), "None"),
        (valid_and(source="sdk"), "source"),
        (valid_and(params="Body=hi"), "params"),
        (valid_and(params={"EventType": "x"}), "EventType"),
        (valid_and(parameters={}), "parameters"),
    ],
)
def test_a_bad_simulation_request_is_refused_and_sends_nothing(
    emulator: Server, api: httpx.Client, receiver: Receiver, body: bytes, named: str
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    before = emulator.snapshot()
    answer = httpx.post(
        f"{emulator.base_url}/_emulator/events", content=body, headers={"Content-Type": "application/json"}
    )
    error = assert_twilio_error(answer, 400, 20001)
    assert named in error["message"]
    assert emulator.snapshot() == before
    assert receiver.requests == []
    assert deliveries(emulator) == []


@pytest.mark.parametrize(
    ("account", "service"),
    [
        ("AC" + "9" * 32, DEMO_SERVICE),  # an account the emulator never saw
        (DEMO_ACCOUNT, "IS" + "9" * 32),  # a service that does not exist
        (OTHER_ACCOUNT, DEMO_SERVICE),  # another account's service
    ],
)
def test_an_unknown_account_or_service_is_404(
    emulator: Server, api: httpx.Client, receiver: Receiver, account: str, service: str
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    with emulator.client(OTHER_ACCOUNT, "t") as other:
        assert other.get("/v1/Services").status_code == 200
    before = emulator.snapshot()
    payload = {"account_sid": account, "chat_service_sid": service, "event": "onMessageAdd"}
    answer = httpx.post(f"{emulator.base_url}/_emulator/events", json=payload)
    assert_twilio_error(answer, 404, 20404)
    assert emulator.snapshot() == before
    assert receiver.requests == []
    assert deliveries(emulator) == []


# --- never blocking ------------------------------------------------------------------------------------


def test_a_slow_receiver_delays_only_its_own_action(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    fast = new_service(api)
    configure_service(api, fast, receiver, ["onMessageAdded"], PostWebhookUrl=receiver.url("/fast"))
    held = threading.Event()
    receiver.answers["/pre"] = Answer(200, gate=held)
    slow_result: dict[str, Any] = {}

    def slow_action() -> None:
        slow_result.update(trigger(emulator, "onMessageAdd", params=MESSAGE))

    worker = threading.Thread(target=slow_action)
    worker.start()
    try:
        assert receiver.arrived.wait(30)
        # While the slow pre-event hook is held, the server answers everything else: these calls all
        # come back while the slow action is still waiting (no clock: the hook answers only when let go).
        for _ in range(5):
            assert api.get("/v1/Services").status_code == 200
        fast_result = trigger(emulator, "onMessageAdd", service=fast, params=MESSAGE)
        assert fast_result["deliveries"][0]["status"] == 200
        assert worker.is_alive()
        assert slow_result == {}
    finally:
        held.set()
    worker.join(30)
    assert slow_result["outcome"] == "published"
    assert [entry["status"] for entry in slow_result["deliveries"]] == [200, 200]


# --- a server with a short timeout and a small log -----------------------------------------------------


short_server = module_server("short", "--webhook-timeout", "0.5", "--delivery-log-size", "2")


def test_a_pre_hook_that_times_out_publishes_unmodified(short_server: Server, receiver: Receiver) -> None:
    short_server.reset()
    with short_server.client() as api:
        configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    held = threading.Event()  # the hook answers only after the emulator has given up on it
    receiver.answers["/pre"] = Answer(200, b'{"body": "too late"}', gate=held)
    try:
        result = trigger(short_server, "onMessageAdd", params=MESSAGE)
    finally:
        held.set()
    assert result["outcome"] == "published"
    pre, post = result["deliveries"]
    assert (pre["status"], pre["error"]) == (None, "timeout")
    assert pre["duration_ms"] >= 450  # the 0.5 s timeout, never earlier
    assert post["status"] == 200
    assert receiver.on("/post")[0].params["Body"] == "hi"
    assert [entry["error"] for entry in deliveries(short_server, status="timeout")] == ["timeout"]


def test_the_delivery_log_keeps_only_the_newest_entries(short_server: Server, receiver: Receiver) -> None:
    short_server.reset()
    with short_server.client() as api:
        configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    trigger(short_server, "onMessageAdd", params={**MESSAGE, "Body": "one"})
    result = trigger(short_server, "onMessageAdd", params={**MESSAGE, "Body": "two"})
    assert deliveries(short_server) == result["deliveries"]
    assert [entry["parameters"]["Body"] for entry in deliveries(short_server)] == ["two", "two"]


# --- redirects ----------------------------------------------------------------------------------------


def published_pre_delivery(
    server: Server, api: httpx.Client, receiver: Receiver, answers: dict[str, Answer]
) -> Any:
    """Hooks to the receiver, its paths answered as given; an SDK message add that publishes unmodified
    (nothing rejects, nothing modifies): its pre-event's log entry."""
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    receiver.answers.update(answers)
    result = trigger(server, "onMessageAdd", params=MESSAGE)
    assert result["outcome"] == "published"
    pre, post = result["deliveries"]
    assert (pre["hook"], post["hook"]) == ("pre", "post")
    return pre


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
def test_a_pre_hook_that_redirects_is_answered_by_where_it_points(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    """A 307 repeats the POST at its Location (a relative one too), signed for that URL; the last answer
    decides, as the first would have."""
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    receiver.answers["/pre"] = Answer(307, location="/pre/")
    receiver.answers["/pre/"] = Answer(403, b"no thanks")
    result = trigger(emulator, "onMessageAdd", params=MESSAGE)
    assert result["outcome"] == "rejected"
    first, second = receiver.requests
    assert [(request.method, request.path) for request in receiver.requests] == [
        ("POST", "/pre"),
        ("POST", "/pre/"),
    ]
    assert second.params == first.params
    assert second.headers["i-twilio-idempotency-token"] == first.headers["i-twilio-idempotency-token"]
    for request in receiver.requests:
        assert_signed(request)
    (entry,) = result["deliveries"]
    assert (entry["url"], entry["redirects"]) == (receiver.url("/pre"), [receiver.url("/pre/")])
    assert (entry["status"], entry["response_body"], entry["error"]) == (403, "no thanks", None)
    assert entry["signature"] == first.headers["x-twilio-signature"]
    assert deliveries(emulator) == result["deliveries"]


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_post_redirected_by_301_302_or_303_goes_on_as_a_get(
    emulator: Server, api: httpx.Client, receiver: Receiver, status: int
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded"])
    receiver.answers["/post"] = Answer(status, location=receiver.url("/moved?team=a"))
    trigger(emulator, "onMessageAdd", source="API", params=MESSAGE)
    post, moved = receiver.requests
    assert (post.method, moved.method) == ("POST", "GET")
    # As HTTP clients do: the GET is the Location as given, without the form.
    assert (moved.target, moved.body) == ("/moved?team=a", b"")
    assert_signed(moved)
    (entry,) = deliveries(emulator)
    assert (entry["method"], entry["status"], entry["redirects"]) == (
        "POST",
        200,
        [receiver.url("/moved?team=a")],
    )


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Answer(308, location="/pre/"), id="308: not among the redirects Twilio follows"),
        pytest.param(Answer(304, location="/pre/"), id="304"),
        pytest.param(Answer(302), id="302 without a Location"),
        pytest.param(Answer(302, location="ftp://127.0.0.1/pre"), id="302 to another scheme"),
        pytest.param(Answer(302, location="http://127.0.0.1:99999/pre"), id="302 to a port out of range"),
        pytest.param(Answer(307, location="http://"), id="307 to a scheme and no host"),
        pytest.param(Answer(307, location="//"), id="307 to no host"),
        pytest.param(Answer(302, location=f"http://{'a' * 64}.test/pre"), id="302 to a label too long"),
    ],
)
def test_a_redirect_twilio_does_not_follow_is_the_answer(
    emulator: Server, api: httpx.Client, receiver: Receiver, answer: Answer
) -> None:
    # Not a 2xx: no modification. Not a 4xx or 5xx: no rejection either.
    pre = published_pre_delivery(emulator, api, receiver, {"/pre": answer})
    assert [request.path for request in receiver.requests] == ["/pre", "/post"]
    assert (pre["status"], pre["redirects"], pre["error"]) == (answer.status, [], None)


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
def test_a_location_that_is_no_url_at_all_is_a_broken_answer(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    pre = published_pre_delivery(emulator, api, receiver, {"/pre": Answer(302, location="http://[::1/pre")})
    assert (pre["status"], pre["error"], pre["redirects"]) == (None, "error", [])
    assert "location" in pre["error_message"].lower()


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
def test_a_redirect_is_signed_and_logged_without_its_fragment(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded"])
    receiver.answers["/post"] = Answer(307, location="/moved#part")
    trigger(emulator, "onMessageAdd", source="API", params=MESSAGE)
    _, moved = receiver.requests
    assert moved.target == "/moved"
    assert_signed(moved)
    (entry,) = deliveries(emulator)
    assert entry["redirects"] == [receiver.url("/moved")]


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
def test_a_get_hook_redirected_by_307_requests_the_location_as_given(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded"], Method="GET")
    receiver.answers["/post"] = Answer(307, location="/moved?team=a")
    trigger(emulator, "onMessageAdd", source="API", params=MESSAGE)
    first, moved = receiver.requests
    assert first.params["EventType"] == "onMessageAdded"  # the first GET carries the parameters
    assert (moved.method, moved.target) == ("GET", "/moved?team=a")
    assert_signed(moved)


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
def test_a_pre_hook_redirected_to_a_modification_modifies(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    receiver.answers["/pre"] = Answer(307, location="/pre/")
    receiver.answers["/pre/"] = Answer(200, b'{"body": "edited"}', content_type="application/json")
    result = trigger(emulator, "onMessageAdd", params=MESSAGE)
    assert result["outcome"] == "modified"
    assert receiver.on("/post")[0].params["Body"] == "edited"


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
def test_one_timeout_covers_every_redirect(short_server: Server, receiver: Receiver) -> None:
    """Each answer comes within the 0.5 s timeout, both together do not: the delivery times out. (A busy
    machine only makes that likelier.)"""
    short_server.reset()
    with short_server.client() as api:
        redirect, refusal = Answer(307, delay=0.3, location="/pre/"), Answer(403, delay=0.3)
        pre = published_pre_delivery(short_server, api, receiver, {"/pre": redirect, "/pre/": refusal})
    assert (pre["status"], pre["error"]) == (None, "timeout")


@pytest.mark.backend_independent  # the sender's HTTP, whatever stores the hooks
def test_a_redirect_loop_is_given_up_after_ten_redirects(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    # No answer from a pre-event hook publishes unmodified.
    pre = published_pre_delivery(emulator, api, receiver, {"/pre": Answer(307, location="/pre")})
    assert [request.path for request in receiver.on("/pre")] == ["/pre"] * 11
    assert (pre["status"], pre["error"]) == (None, "too_many_redirects")
    assert pre["redirects"] == [receiver.url("/pre")] * 10
    assert deliveries(emulator, status="too_many_redirects") == [pre]


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("path", ["/hook/é", "/h|k{x}", "/q?x=ü&y=a|b"])
def test_urls_with_characters_that_must_be_encoded_are_signed_as_sent(
    emulator: Server, api: httpx.Client, receiver: Receiver, method: str, path: str
) -> None:
    answer = api.post(
        webhooks_path(DEMO_SERVICE),
        data={"PostWebhookUrl": receiver.url(path), "Filters": "onMessageAdded", "Method": method},
    )
    assert answer.status_code == 200, answer.text
    trigger(emulator, "onMessageAdd", params=MESSAGE)
    (delivered,) = receiver.requests
    assert_signed(delivered)


def test_reset_forgets_the_tokens_accounts_last_used(emulator: Server, receiver: Receiver) -> None:
    account = "AC" + "8" * 32
    fixture = {
        "services": [
            {
                "sid": "IS" + "8" * 32,
                "account_sid": account,
                "friendly_name": "after reset",
                "webhooks": {"post_webhook_url": receiver.url("/post"), "filters": ["onMessageAdded"]},
            }
        ],
    }
    with emulator.client(account, "old-token") as client:
        assert client.get("/v1/Services").status_code == 200
    emulator.reset()
    httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=fixture).raise_for_status()
    payload = {"account_sid": account, "chat_service_sid": "IS" + "8" * 32, "event": "onMessageAdd"}
    answer = httpx.post(f"{emulator.base_url}/_emulator/events", json=payload)
    (entry,) = answer.json()["deliveries"]
    assert entry["error"] == "no_auth_token"
    assert receiver.requests == []


@pytest.mark.parametrize("route", ["/_emulator/events", "/_emulator/fixtures", "/_emulator/faults"])
def test_a_body_nested_too_deeply_is_refused(emulator: Server, route: str) -> None:
    before = emulator.snapshot()
    answer = httpx.post(f"{emulator.base_url}{route}", content=b"[" * 100_000)
    assert_twilio_error(answer, 400, 20001)
    assert emulator.snapshot() == before
