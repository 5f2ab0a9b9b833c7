"""The SDK path: `POST /_emulator/events` whose params name a stored conversation (for `onConversationAdd`:
none) acts on stored state as a client SDK would. The pre-event goes out with the values as they will be;
4xx/5xx rejects and nothing is stored; a 2xx JSON answer modifies what Twilio lets it, checked by the REST
rules; the result is stored in one transaction and the post-events carry the stored values, to the
configuration and then the scoped webhooks.

Every delivery lands on a real receiver on 127.0.0.1 and is checked with Twilio's own `RequestValidator`;
every test checks the stored state through the REST API, and every refusal that nothing changed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import (
    DEMO_ACCOUNT,
    SERVICE_EVENTS,
    Server,
    assert_twilio_error,
    new_service,
    start_server,
)
from tests.test_deliveries import (
    Answer,
    Received,
    Receiver,
    assert_signed,
    configure_account,
    configure_service,
    deliveries,
    receiver,
)
from tests.test_rest_activity import (
    conversation_params,
    message_params,
    ms,
    participant_params,
    removed,
    scoped_webhook,
    taken,
    without,
)

__all__ = ["receiver"]  # the receiver fixture, shared with test_deliveries

# Long enough for any answer of a local receiver on a busy machine; the timeout test holds its answer.
TIMEOUT = "2"
IDENTITY = "alice-device"
JSON = "application/json"


@pytest.fixture(scope="module")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Deliveries only to 127.0.0.1: the shipped demo service's example.com is never reached."""
    running = start_server(
        tmp_path_factory.mktemp("sdk-path"),
        extra_args=["--webhook-timeout", TIMEOUT, "--webhook-allowed-targets", "127.0.0.1"],
    )
    yield running
    running.process.stop()


@pytest.fixture
def server(sdk_server: Server) -> Iterator[Server]:
    sdk_server.reset()
    yield sdk_server
    for entry in deliveries(sdk_server):
        assert urlsplit(entry["url"]).hostname == "127.0.0.1", entry


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


class Service:
    """A service whose configuration sends every event, pre-events included, to the receiver."""

    def __init__(self, server: Server, api: httpx.Client, receiver: Receiver) -> None:
        self.server = server
        self.api = api
        self.receiver = receiver
        self.sid = new_service(api)
        configure_service(api, self.sid, receiver, SERVICE_EVENTS)
        self.conversations = f"/v1/Services/{self.sid}/Conversations"

    def act(self, event: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        answer = self.request(event, params, **fields)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def request(self, event: str, params: dict[str, Any], **fields: Any) -> httpx.Response:
        payload = {
            "account_sid": DEMO_ACCOUNT,
            "chat_service_sid": self.sid,
            "event": event,
            "params": params,
            **fields,
        }
        return httpx.post(f"{self.server.base_url}/_emulator/events", json=payload, timeout=30.0)

    def get(self, path: str) -> dict[str, Any]:
        answer = self.api.get(path)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def create(self, path: str, **data: str) -> dict[str, Any]:
        """A resource made by REST, without hooks."""
        answer = self.api.post(path, data=data)
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def expect(
        self, request: Received, path: str, event: str, values: dict[str, str], *, source: str = "SDK"
    ) -> None:
        """One signed POST of `event` to `path`, with exactly the common parameters and these."""
        assert (request.path, request.method) == (path, "POST")
        common = {
            "AccountSid": DEMO_ACCOUNT,
            "ChatServiceSid": self.sid,
            "EventType": event,
            "Source": source,
            "RetryCount": "0",
        }
        if source == "SDK":
            common["ClientIdentity"] = IDENTITY
        assert request.params == {**common, **values}
        assert_signed(request)


@pytest.fixture
def service(server: Server, api: httpx.Client, receiver: Receiver) -> Service:
    return Service(server, api, receiver)


def conversation_add_params(body: dict[str, Any]) -> dict[str, str]:
    return without(conversation_params(body), "ConversationSid", "DateCreated", "DateUpdated")


def participant_add_params(body: dict[str, Any]) -> dict[str, str]:
    return without(participant_params(body), "ParticipantSid", "DateCreated", "DateUpdated")


def message_add_params(body: dict[str, Any]) -> dict[str, str]:
    return without(message_params(body), "MessageSid", "Index", "DateCreated", "DateUpdated")


def pre_answer(receiver: Receiver, status: int, body: bytes = b"") -> None:
    receiver.answers["/pre"] = Answer(status, body, content_type=JSON)


# --- published -----------------------------------------------------------------------------------------


def test_a_conversation_add_stores_the_conversation_and_both_hooks_carry_its_values(
    service: Service,
) -> None:
    params = {
        "FriendlyName": "Support",
        "UniqueName": "support-1",
        "Attributes": {"topic": "billing"},
        "ClientIdentity": IDENTITY,
    }
    result = service.act("onConversationAdd", params)
    assert (result["outcome"], result["stored"], result["configuration"]) == ("published", True, "service")
    conversation = result["resource"]
    assert conversation == service.get(f"{service.conversations}/{conversation['sid']}")
    assert (conversation["friendly_name"], conversation["attributes"]) == ("Support", '{"topic":"billing"}')
    pre, post = taken(service.receiver)
    service.expect(pre, "/pre", "onConversationAdd", conversation_add_params(conversation))
    service.expect(post, "/post", "onConversationAdded", conversation_params(conversation))
    assert result["params"] == conversation_params(conversation)
    assert [entry["hook"] for entry in result["deliveries"]] == ["pre", "post"]
    assert [entry["hook"] for entry in deliveries(service.server)] == ["pre", "post"]


def test_a_conversations_life_on_the_sdk_path(service: Service) -> None:
    """Every action of §14.4 in turn, each one's deliveries and the stored state after it."""
    receiver = service.receiver
    who = {"ClientIdentity": IDENTITY}
    conversation = service.act("onConversationAdd", {"FriendlyName": "Room", **who})["resource"]
    sid = conversation["sid"]
    path = f"{service.conversations}/{sid}"
    taken(receiver)
    on = {"ConversationSid": sid, **who}

    # onParticipantAdd
    result = service.act("onParticipantAdd", {**on, "Identity": "alice", "Attributes": '{"vip":true}'})
    alice = result["resource"]
    assert alice == service.get(f"{path}/Participants/{alice['sid']}")
    pre, post = taken(receiver)
    service.expect(pre, "/pre", "onParticipantAdd", participant_add_params(alice))
    service.expect(post, "/post", "onParticipantAdded", without(participant_params(alice), "DateUpdated"))

    # onParticipantUpdate, by identity
    result = service.act("onParticipantUpdate", {**on, "Identity": "alice", "LastReadMessageIndex": 3})
    alice = result["resource"]
    assert alice["last_read_message_index"] == 3
    assert alice == service.get(f"{path}/Participants/{alice['sid']}")
    pre, post = taken(receiver)
    service.expect(pre, "/pre", "onParticipantUpdate", participant_params(alice))
    service.expect(
        post, "/post", "onParticipantUpdated", {**participant_params(alice), "LastReadMessageIndex": "3"}
    )

    # onMessageAdd: the author's participant, the first index
    result = service.act("onMessageAdd", {**on, "Author": "alice", "Body": "hello"})
    message = result["resource"]
    assert (message["index"], message["participant_sid"], message["body"]) == (0, alice["sid"], "hello")
    assert message == service.get(f"{path}/Messages/{message['sid']}")
    pre, post = taken(receiver)
    service.expect(pre, "/pre", "onMessageAdd", message_add_params(message))
    service.expect(post, "/post", "onMessageAdded", without(message_params(message), "DateUpdated"))
    assert result["params"]["MessageSid"] == message["sid"]

    # onMessageUpdate
    result = service.act("onMessageUpdate", {**on, "MessageSid": message["sid"], "Body": "hello again"})
    message = result["resource"]
    assert message == service.get(f"{path}/Messages/{message['sid']}")
    assert message["body"] == "hello again"
    pre, post = taken(receiver)
    service.expect(pre, "/pre", "onMessageUpdate", message_params(message))
    service.expect(post, "/post", "onMessageUpdated", message_params(message))

    # onMessageRemove
    result = service.act("onMessageRemove", {**on, "MessageSid": message["sid"]})
    assert (result["stored"], result["resource"]) == (True, None)
    assert_twilio_error(service.api.get(f"{path}/Messages/{message['sid']}"), 404, 20404)
    pre, post = taken(receiver)
    service.expect(pre, "/pre", "onMessageRemove", message_params(message))
    service.expect(post, "/post", "onMessageRemoved", removed(message_params(message), post))

    # onParticipantRemove, by SID
    result = service.act("onParticipantRemove", {**on, "ParticipantSid": alice["sid"]})
    assert result["resource"] is None
    assert_twilio_error(service.api.get(f"{path}/Participants/{alice['sid']}"), 404, 20404)
    pre, post = taken(receiver)
    service.expect(pre, "/pre", "onParticipantRemove", participant_params(alice))
    service.expect(post, "/post", "onParticipantRemoved", removed(participant_params(alice), post))

    # onConversationUpdate with a state change: the state event follows
    result = service.act("onConversationUpdate", {**on, "State": "inactive", "FriendlyName": "Quiet room"})
    conversation = result["resource"]
    assert conversation == service.get(path)
    assert (conversation["state"], conversation["friendly_name"]) == ("inactive", "Quiet room")
    pre, updated, state = taken(receiver)
    service.expect(pre, "/pre", "onConversationUpdate", conversation_params(conversation))
    service.expect(updated, "/post", "onConversationUpdated", conversation_params(conversation))
    service.expect(
        state,
        "/post",
        "onConversationStateUpdated",
        {
            "ConversationSid": sid,
            "StateFrom": "active",
            "StateTo": "inactive",
            "StateUpdated": ms(conversation["date_updated"]),
            "Reason": "API",
        },
    )

    # onConversationStateUpdated: a post-only event, StateFrom from the stored state
    result = service.act("onConversationStateUpdated", {**on, "StateFrom": "ignored", "StateTo": "closed"})
    conversation = result["resource"]
    assert conversation == service.get(path)
    assert conversation["state"] == "closed"
    (state,) = taken(receiver)
    service.expect(
        state,
        "/post",
        "onConversationStateUpdated",
        {
            "ConversationSid": sid,
            "StateFrom": "inactive",
            "StateTo": "closed",
            "StateUpdated": ms(conversation["date_updated"]),
            "Reason": "API",
        },
    )

    # onConversationRemove: allowed when closed, as a REST delete is
    result = service.act("onConversationRemove", on)
    assert result["resource"] is None
    assert_twilio_error(service.api.get(path), 404, 20404)
    pre, post = taken(receiver)
    service.expect(pre, "/pre", "onConversationRemove", conversation_params(conversation))
    service.expect(post, "/post", "onConversationRemoved", removed(conversation_params(conversation), post))


def test_an_api_source_stores_without_a_pre_event_and_without_a_client_identity(service: Service) -> None:
    result = service.act(
        "onConversationAdd", {"FriendlyName": "by the API", "ClientIdentity": IDENTITY}, source="API"
    )
    assert (result["outcome"], result["stored"]) == ("published", True)
    conversation = result["resource"]
    assert conversation == service.get(f"{service.conversations}/{conversation['sid']}")
    (post,) = taken(service.receiver)
    service.expect(post, "/post", "onConversationAdded", conversation_params(conversation), source="API")


def test_the_post_events_reach_the_scoped_webhooks_by_get_and_post_but_no_pre_event_does(
    service: Service,
) -> None:
    receiver = service.receiver
    conversation = service.create(service.conversations, FriendlyName="scoped")
    path = f"{service.conversations}/{conversation['sid']}"
    hooks = {}
    for hook_path, method in (("/scoped-get", "get"), ("/scoped-post", "POST")):
        hooks[hook_path] = scoped_webhook(
            service.api,
            path,
            Target="webhook",
            **{
                "Configuration.Url": receiver.url(hook_path),
                "Configuration.Method": method,
                "Configuration.Filters": ["onMessageAdded", "onConversationRemoved"],
            },
        )
    on = {"ConversationSid": conversation["sid"], "ClientIdentity": IDENTITY}
    message = service.act("onMessageAdd", {**on, "Body": "hi"})["resource"]
    # The targets are served concurrently: what arrives first is up to them; the log keeps their order.
    pre, *posts = taken(receiver)
    assert pre.path == "/pre"
    by_path = {request.path: request for request in posts}
    assert sorted(by_path) == ["/post", "/scoped-get", "/scoped-post"]
    by_get, by_post = by_path["/scoped-get"], by_path["/scoped-post"]
    expected = {
        "AccountSid": DEMO_ACCOUNT,
        "ChatServiceSid": service.sid,
        "EventType": "onMessageAdded",
        "Source": "SDK",
        "RetryCount": "0",
        "ClientIdentity": IDENTITY,
        **without(message_params(message), "DateUpdated"),
    }
    assert by_get.method == "GET"
    for request in (by_get, by_post):
        assert request.params == {**expected, "WebhookSid": hooks[request.path]}
        assert_signed(request)
    service.act("onConversationRemove", on)
    assert sorted(request.path for request in taken(receiver)) == [
        "/post",
        "/pre",
        "/scoped-get",
        "/scoped-post",
    ]
    logged = [(entry["event"], entry["configuration"]) for entry in deliveries(service.server)]
    assert logged == [
        ("onMessageAdd", "service"),
        ("onMessageAdded", "service"),
        ("onMessageAdded", "conversation"),
        ("onMessageAdded", "conversation"),
        ("onConversationRemove", "service"),
        ("onConversationRemoved", "service"),
        ("onConversationRemoved", "conversation"),
        ("onConversationRemoved", "conversation"),
    ]


def test_the_filters_and_the_account_configuration_decide_what_is_asked_and_told(
    server: Server, api: httpx.Client, receiver: Receiver
) -> None:
    sid = new_service(api, "no configuration of its own")
    conversations = f"/v1/Services/{sid}/Conversations"
    conversation = api.post(conversations, data={}).json()
    action = {"account_sid": DEMO_ACCOUNT, "chat_service_sid": sid, "event": "onMessageAdd"}

    def act(body: str) -> dict[str, Any]:
        params = {"ConversationSid": conversation["sid"], "Body": body}
        answer = httpx.post(f"{server.base_url}/_emulator/events", json={**action, "params": params})
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        assert result["stored"] is True
        return result

    # The account's configuration, by GET, filtering the pre-event only: asked, not told.
    configure_account(api, receiver, ["onMessageAdd"], Method="GET")
    result = act("first")
    assert (result["outcome"], result["configuration"]) == ("published", "account")
    (pre,) = taken(receiver)
    assert (pre.method, pre.path, pre.params["EventType"], pre.params["Body"]) == (
        "GET",
        "/account-pre",
        "onMessageAdd",
        "first",
    )
    assert_signed(pre)
    # The service's own configuration wins, filtering the post-event only: told, not asked.
    configure_service(api, sid, receiver, ["onMessageAdded"])
    result = act("second")
    assert result["configuration"] == "service"
    (post,) = taken(receiver)
    assert (post.path, post.params["MessageSid"]) == ("/post", result["resource"]["sid"])
    assert_signed(post)
    stored = api.get(f"{conversations}/{conversation['sid']}/Messages").json()["messages"]
    assert [message["body"] for message in stored] == ["first", "second"]


# --- modified ------------------------------------------------------------------------------------------


def test_a_json_answer_modifies_the_message_before_it_is_stored(service: Service) -> None:
    conversation = service.create(service.conversations)
    pre_answer(
        service.receiver,
        200,
        b'{"body": "HELLO", "author": "bot", "attributes": {"checked": true}, "index": 9, '
        b'"friendly_name": "x"}',
    )
    on = {"ConversationSid": conversation["sid"], "ClientIdentity": IDENTITY}
    result = service.act("onMessageAdd", {**on, "Body": "hello"})
    assert result["outcome"] == "modified"
    message = result["resource"]
    assert (message["body"], message["author"], message["attributes"], message["index"]) == (
        "HELLO",
        "bot",
        '{"checked":true}',
        0,
    )
    assert message == service.get(f"{service.conversations}/{conversation['sid']}/Messages/{message['sid']}")
    pre, post = taken(service.receiver)
    assert (pre.params["Body"], pre.params["Author"]) == ("hello", "system")
    service.expect(post, "/post", "onMessageAdded", without(message_params(message), "DateUpdated"))
    assert result["params"]["Body"] == "HELLO"


def test_a_json_answer_renames_a_conversation_and_nothing_else(service: Service) -> None:
    pre_answer(service.receiver, 201, b'{"friendly_name": "Renamed", "body": "ignored", "unique_name": "no"}')
    result = service.act("onConversationAdd", {"FriendlyName": "Old", "UniqueName": "kept"})
    assert result["outcome"] == "modified"
    conversation = result["resource"]
    assert (conversation["friendly_name"], conversation["unique_name"]) == ("Renamed", "kept")
    assert conversation == service.get(f"{service.conversations}/{conversation['sid']}")


def test_an_answer_repeating_the_values_publishes_unmodified(service: Service) -> None:
    conversation = service.create(service.conversations)
    pre_answer(service.receiver, 200, b'{"body": "same", "author": "system"}')
    result = service.act("onMessageAdd", {"ConversationSid": conversation["sid"], "Body": "same"})
    assert (result["outcome"], result["resource"]["body"]) == ("published", "same")


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (b'{"body": ""}', 50503),  # no body left
        (b'{"body": "' + b"x" * (32 * 1024 + 1) + b'"}', 50504),
        (b'{"attributes": "{not json"}', 50304),
    ],
)
def test_a_modification_the_rest_rules_refuse_stores_nothing_and_sends_no_post_event(
    service: Service, answer: bytes, code: int
) -> None:
    conversation = service.create(service.conversations)
    before = service.server.snapshot()
    pre_answer(service.receiver, 200, answer)
    refused = service.request("onMessageAdd", {"ConversationSid": conversation["sid"], "Body": "hello"})
    assert_twilio_error(refused, 400, code)
    assert service.server.snapshot() == before
    assert [request.path for request in taken(service.receiver)] == ["/pre"]
    assert [entry["hook"] for entry in deliveries(service.server)] == ["pre"]


def test_a_conversation_renamed_too_long_is_refused(service: Service) -> None:
    before = service.server.snapshot()
    pre_answer(service.receiver, 200, b'{"friendly_name": "' + b"n" * 257 + b'"}')
    assert_twilio_error(service.request("onConversationAdd", {"FriendlyName": "ok"}), 400, 50003)
    assert service.server.snapshot() == before
    assert [request.path for request in taken(service.receiver)] == ["/pre"]


# --- rejected ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 500])
def test_a_rejected_action_stores_nothing(service: Service, status: int) -> None:
    conversation = service.create(service.conversations, FriendlyName="before")
    path = f"{service.conversations}/{conversation['sid']}"
    message = service.create(f"{path}/Messages", Body="kept")
    before = service.server.snapshot()
    pre_answer(service.receiver, status, b"no")
    on = {"ConversationSid": conversation["sid"]}
    for event, params in (
        ("onConversationAdd", {"FriendlyName": "never"}),
        ("onConversationUpdate", {**on, "FriendlyName": "never"}),
        ("onConversationRemove", on),
        ("onParticipantAdd", {**on, "Identity": "never"}),
        ("onMessageAdd", {**on, "Body": "buy spam"}),
        ("onMessageUpdate", {**on, "MessageSid": message["sid"], "Body": "never"}),
        ("onMessageRemove", {**on, "MessageSid": message["sid"]}),
    ):
        result = service.act(event, params)
        assert (result["outcome"], result["stored"], result["resource"]) == ("rejected", True, None), event
        (pre,) = taken(service.receiver)
        assert pre.params["EventType"] == event
        assert_signed(pre)
    assert service.server.snapshot() == before
    assert service.get(path)["friendly_name"] == "before"
    assert {entry["hook"] for entry in deliveries(service.server)} == {"pre"}


# --- timed out -----------------------------------------------------------------------------------------


def test_a_pre_event_left_unanswered_publishes_unmodified(service: Service) -> None:
    conversation = service.create(service.conversations)
    gate = threading.Event()
    service.receiver.answers["/pre"] = Answer(200, b'{"body": "too late"}', content_type=JSON, gate=gate)
    try:
        result = service.act("onMessageAdd", {"ConversationSid": conversation["sid"], "Body": "on time"})
    finally:
        gate.set()
    assert result["outcome"] == "published"
    message = result["resource"]
    assert message["body"] == "on time"
    assert message == service.get(f"{service.conversations}/{conversation['sid']}/Messages/{message['sid']}")
    pre, post = result["deliveries"]
    assert (pre["hook"], pre["status"], pre["error"]) == ("pre", None, "timeout")
    assert (post["hook"], post["status"], post["parameters"]["Body"]) == ("post", 200, "on time")
    assert_signed(service.receiver.on("/post")[0])


# --- refused before anything is sent -------------------------------------------------------------------


def refused_before_sending(
    service: Service, event: str, params: dict[str, Any], status: int, code: int
) -> None:
    before = service.server.snapshot()
    assert_twilio_error(service.request(event, params), status, code)
    assert service.server.snapshot() == before
    assert service.receiver.requests == []
    assert deliveries(service.server) == []


def test_an_action_the_rest_rules_refuse_sends_nothing(service: Service) -> None:
    taken_name = service.create(service.conversations, UniqueName="taken")
    closed = service.create(service.conversations)
    assert (
        service.api.post(f"{service.conversations}/{closed['sid']}", data={"State": "closed"}).status_code
        == 200
    )
    on = {"ConversationSid": taken_name["sid"]}
    cases: list[tuple[str, dict[str, Any], int, int]] = [
        ("onConversationAdd", {"UniqueName": "taken"}, 400, 50353),
        ("onConversationAdd", {"State": "closed"}, 400, 50384),
        ("onConversationAdd", {"Attributes": "{"}, 400, 50304),
        ("onConversationUpdate", {"ConversationSid": closed["sid"], "FriendlyName": "x"}, 400, 50377),
        ("onConversationUpdate", {**on, "State": "open"}, 400, 20002),
        ("onConversationStateUpdated", on, 400, 20001),
        ("onConversationStateUpdated", {**on, "StateTo": "initializing"}, 400, 20002),
        ("onParticipantAdd", on, 400, 50204),
        ("onParticipantAdd", {"ConversationSid": closed["sid"], "Identity": "bob"}, 400, 50377),
        ("onParticipantUpdate", {**on, "Identity": "nobody"}, 404, 20404),
        ("onParticipantUpdate", on, 404, 20404),
        ("onParticipantRemove", {**on, "ParticipantSid": "MB" + "0" * 32}, 404, 20404),
        ("onMessageAdd", on, 400, 50503),
        ("onMessageAdd", {**on, "MediaSid": "nope"}, 400, 20002),
        ("onMessageUpdate", {**on, "MessageSid": "IM" + "0" * 32, "Body": "x"}, 404, 20404),
        ("onMessageRemove", on, 404, 20404),
    ]
    for event, params, status, code in cases:
        refused_before_sending(service, event, params, status, code)


def test_a_404_names_the_resource_the_action_addresses(service: Service) -> None:
    conversation = service.create(service.conversations)
    missing = "MB" + "1" * 32
    answer = service.request(
        "onParticipantUpdate", {"ConversationSid": conversation["sid"], "ParticipantSid": missing}
    )
    body = assert_twilio_error(answer, 404, 20404)
    assert body["message"] == (
        f"The requested resource /Services/{service.sid}/Conversations/{conversation['sid']}"
        f"/Participants/{missing} was not found"
    )


def test_a_conversation_sid_that_conflicts_with_the_request_is_refused(
    service: Service, api: httpx.Client
) -> None:
    conversation = service.create(service.conversations)
    other = new_service(api, "other")
    elsewhere = service.create(f"/v1/Services/{other}/Conversations")
    for event, params in (
        ("onConversationAdd", {"ConversationSid": conversation["sid"]}),
        ("onMessageAdd", {"ConversationSid": elsewhere["sid"], "Body": "hi"}),
        ("onConversationRemove", {"ConversationSid": elsewhere["sid"]}),
    ):
        refused_before_sending(service, event, params, 400, 20001)


# --- simulations as before -----------------------------------------------------------------------------


def test_made_up_sids_and_other_events_keep_the_pure_simulation(service: Service) -> None:
    made_up = "CH" + "c" * 32
    before = service.server.snapshot()
    for event, params in (
        ("onMessageAdd", {"ConversationSid": made_up, "Body": "hi"}),
        ("onConversationAdd", {"ConversationSid": made_up}),
        ("onParticipantUpdate", {"ConversationSid": made_up}),
        ("onDeliveryUpdated", {}),
        ("onUserUpdate", {}),
    ):
        result = service.act(event, params)
        assert (result["stored"], result["resource"]) == (False, None), event
    assert service.server.snapshot() == before
    (added, *_) = service.receiver.on("/post")
    assert added.params["ConversationSid"] == made_up
