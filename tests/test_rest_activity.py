"""REST calls fire their post-event hooks: a create, update or delete of a conversation, participant or
message with `X-Twilio-Webhook-Enabled: true` delivers its post-events, signed, to the configuration that
applies and to the conversation's scoped webhooks, before the answer; without the header, nothing.

Every delivery lands on a real receiver on 127.0.0.1 (tests/test_deliveries.py) and is checked with
Twilio's own `RequestValidator`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio_conversations_emulator.conversations.services.service import default_service_sid
from twilio_conversations_emulator.testing import free_port

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_TOKEN,
    SERVICE_EVENTS,
    Server,
    assert_twilio_error,
    module_server,
    new_service,
    start_server,
    webhooks_path,
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

__all__ = ["receiver"]  # the receiver fixture, shared with test_deliveries

ENABLED = {"X-Twilio-Webhook-Enabled": "true"}
SHORT = "/v1/Conversations"
WEBHOOK_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MESSAGING_SERVICE = "MG" + "1" * 32
ROLE = "RL" + "2" * 32
MEDIA = "ME" + "3" * 32
FLOW = "FW" + "4" * 32


def ms(date: str) -> str:
    """A REST answer's date (`...:37Z`) as a webhook writes it (`...:37.000Z`)."""
    assert date.endswith("Z"), date
    return date[:-1] + ".000Z"


def present(values: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


def conversation_params(body: dict[str, Any]) -> dict[str, str]:
    return present(
        {
            "ConversationSid": body["sid"],
            "DateCreated": ms(body["date_created"]),
            "DateUpdated": ms(body["date_updated"]),
            "FriendlyName": body["friendly_name"],
            "UniqueName": body["unique_name"],
            "Attributes": body["attributes"],
            "MessagingServiceSid": body["messaging_service_sid"],
            "State": body["state"],
        }
    )


def binding_params(body: dict[str, Any]) -> dict[str, str]:
    binding = body["messaging_binding"] or {}
    return present(
        {
            "MessagingBinding.Address": binding.get("address"),
            "MessagingBinding.ProxyAddress": binding.get("proxy_address"),
            "MessagingBinding.ProjectedAddress": binding.get("projected_address"),
            "MessagingBinding.Type": binding["type"].upper() if binding else "CHAT",
        }
    )


def participant_params(body: dict[str, Any]) -> dict[str, str]:
    return present(
        {
            "ConversationSid": body["conversation_sid"],
            "ParticipantSid": body["sid"],
            "DateCreated": ms(body["date_created"]),
            "DateUpdated": ms(body["date_updated"]),
            "Identity": body["identity"],
            "RoleSid": body["role_sid"],
            "Attributes": body["attributes"],
            **binding_params(body),
        }
    )


def message_params(body: dict[str, Any]) -> dict[str, str]:
    return present(
        {
            "ConversationSid": body["conversation_sid"],
            "MessageSid": body["sid"],
            "Index": str(body["index"]),
            "DateCreated": ms(body["date_created"]),
            "DateUpdated": ms(body["date_updated"]),
            "Body": body["body"],
            "Author": body["author"],
            "ParticipantSid": body["participant_sid"],
            "Attributes": body["attributes"],
        }
    )


def without(values: dict[str, str], *names: str) -> dict[str, str]:
    return {name: value for name, value in values.items() if name not in names}


def removed(values: dict[str, str], request: Received) -> dict[str, str]:
    """The event's values plus the moment of the removal, which only the delivery knows."""
    assert WEBHOOK_DATE.fullmatch(request.params["DateRemoved"])
    return {**values, "DateRemoved": request.params["DateRemoved"]}


def taken(receiver: Receiver) -> list[Received]:
    """What arrived since the last call."""
    arrived = list(receiver.requests)
    receiver.requests.clear()
    return arrived


@dataclass
class Form:
    """One path form with every event configured to reach the receiver at `path`."""

    api: httpx.Client
    server: Server
    receiver: Receiver
    conversations: str  # the conversations collection's path
    service: str
    configuration: str  # "service" or "account": whose configuration the deliveries follow
    path: str

    def call(self, method: str, path: str, status: int, *, hooks: bool = True, **options: Any) -> Any:
        answer = self.api.request(method, path, headers=ENABLED if hooks else None, **options)
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def expect(self, request: Received, event: str, values: dict[str, str]) -> None:
        """One signed POST of `event` to the configuration's URL, with exactly these parameters."""
        assert (request.path, request.method) == (self.path, "POST")
        assert request.params == {
            "AccountSid": DEMO_ACCOUNT,
            "ChatServiceSid": self.service,
            "EventType": event,
            "Source": "API",
            "RetryCount": "0",
            **values,
        }
        assert_signed(request)


@pytest.fixture(autouse=True)
def _deliveries_stay_local(request: pytest.FixtureRequest) -> Iterator[None]:
    """The shipped demo service posts to example.com: no test may let a delivery go there."""
    # The session's server outlives this fixture; `emulator`, which resets it, does not.
    server: Server | None = request.getfixturevalue("server") if "emulator" in request.fixturenames else None
    yield
    if server is not None:
        for entry in deliveries(server):
            assert urlsplit(entry["url"]).hostname == "127.0.0.1", entry


@pytest.fixture(params=["short", "service"])
def form(request: pytest.FixtureRequest, emulator: Server, api: httpx.Client, receiver: Receiver) -> Form:
    """The short form's default service follows the account's configuration (it has none of its own);
    the service form's service has its own. Both filter every event, pre-events included."""
    if request.param == "short":
        assert api.get(SHORT).status_code == 200  # makes the default service
        configure_account(api, receiver, SERVICE_EVENTS)
        return Form(
            api, emulator, receiver, SHORT, default_service_sid(DEMO_ACCOUNT), "account", "/account-post"
        )
    sid = new_service(api)
    configure_service(api, sid, receiver, SERVICE_EVENTS)
    return Form(api, emulator, receiver, f"/v1/Services/{sid}/Conversations", sid, "service", "/post")


def hooked_service(api: httpx.Client, receiver: Receiver, filters: list[str]) -> str:
    sid = new_service(api)
    configure_service(api, sid, receiver, filters)
    return sid


def scoped_webhook(api: httpx.Client, conversation_path: str, **configuration: Any) -> str:
    """A new scoped webhook's SID."""
    answer = api.post(f"{conversation_path}/Webhooks", data=configuration)
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["sid"]
    return sid


# --- every REST call of a conversation's life ----------------------------------------------------------


def test_every_write_fires_its_post_events_in_order(form: Form) -> None:
    receiver = form.receiver
    conversation = form.call(
        "POST",
        form.conversations,
        201,
        data={
            "FriendlyName": "Support",
            "UniqueName": "support-1",
            "Attributes": '{"topic": "billing"}',
            "MessagingServiceSid": MESSAGING_SERVICE,
        },
    )
    path = f"{form.conversations}/{conversation['sid']}"
    (added,) = taken(receiver)
    form.expect(added, "onConversationAdded", conversation_params(conversation))

    renamed = form.call("POST", path, 200, data={"FriendlyName": "Support desk"})
    (updated,) = taken(receiver)
    form.expect(updated, "onConversationUpdated", conversation_params(renamed))

    alice = form.call(
        "POST", f"{path}/Participants", 201, data={"Identity": "alice", "Attributes": '{"vip": true}'}
    )
    (participant_added,) = taken(receiver)
    form.expect(participant_added, "onParticipantAdded", without(participant_params(alice), "DateUpdated"))
    assert participant_added.params["MessagingBinding.Type"] == "CHAT"

    alice = form.call(
        "POST",
        f"{path}/Participants/{alice['sid']}",
        200,
        data={"RoleSid": ROLE, "LastReadMessageIndex": "0"},
    )
    (participant_updated,) = taken(receiver)
    form.expect(
        participant_updated,
        "onParticipantUpdated",
        {**participant_params(alice), "LastReadMessageIndex": "0"},
    )

    message = form.call("POST", f"{path}/Messages", 201, data={"Author": "alice", "Body": "hello"})
    assert message["participant_sid"] == alice["sid"]
    (message_added,) = taken(receiver)
    form.expect(
        message_added,
        "onMessageAdded",
        {**without(message_params(message), "DateUpdated"), "MessagingServiceSid": MESSAGING_SERVICE},
    )

    message = form.call("POST", f"{path}/Messages/{message['sid']}", 200, data={"Body": "hello again"})
    (message_updated,) = taken(receiver)
    form.expect(message_updated, "onMessageUpdated", message_params(message))

    form.call("DELETE", f"{path}/Messages/{message['sid']}", 204)
    (message_removed,) = taken(receiver)
    form.expect(message_removed, "onMessageRemoved", removed(message_params(message), message_removed))

    form.call("DELETE", f"{path}/Participants/{alice['sid']}", 204)
    (participant_removed,) = taken(receiver)
    form.expect(
        participant_removed,
        "onParticipantRemoved",
        removed(participant_params(alice), participant_removed),
    )

    inactive = form.call("POST", path, 200, data={"State": "inactive", "Attributes": "{}"})
    changed, state_changed = taken(receiver)
    form.expect(changed, "onConversationUpdated", conversation_params(inactive))
    form.expect(
        state_changed,
        "onConversationStateUpdated",
        {
            "ConversationSid": conversation["sid"],
            "StateFrom": "active",
            "StateTo": "inactive",
            "StateUpdated": ms(inactive["date_updated"]),
            "Reason": "API",
            "MessagingServiceSid": MESSAGING_SERVICE,
        },
    )

    # Children removed with the conversation fire nothing of their own.
    form.call("POST", f"{path}/Participants", 201, data={"Identity": "bob"}, hooks=False)
    form.call("POST", f"{path}/Messages", 201, data={"Body": "bye"}, hooks=False)
    form.call("DELETE", path, 204)
    (conversation_removed,) = taken(receiver)
    form.expect(
        conversation_removed,
        "onConversationRemoved",
        removed(conversation_params(inactive), conversation_removed),
    )

    logged = deliveries(form.server)
    assert [entry["event"] for entry in logged] == [
        "onConversationAdded",
        "onConversationUpdated",
        "onParticipantAdded",
        "onParticipantUpdated",
        "onMessageAdded",
        "onMessageUpdated",
        "onMessageRemoved",
        "onParticipantRemoved",
        "onConversationUpdated",
        "onConversationStateUpdated",
        "onConversationRemoved",
    ]
    for entry in logged:
        assert (entry["hook"], entry["configuration"], entry["status"]) == ("post", form.configuration, 200)
        assert entry["chat_service_sid"] == form.service
    assert receiver.requests == []


def test_the_same_calls_without_the_header_send_nothing(form: Form) -> None:
    conversation = form.call("POST", form.conversations, 201, hooks=False, data={"FriendlyName": "quiet"})
    path = f"{form.conversations}/{conversation['sid']}"
    form.call("POST", path, 200, hooks=False, data={"State": "inactive"})
    alice = form.call("POST", f"{path}/Participants", 201, hooks=False, data={"Identity": "alice"})
    form.call("POST", f"{path}/Participants/alice", 200, hooks=False, data={"Attributes": "{}"})
    message = form.call("POST", f"{path}/Messages", 201, hooks=False, data={"Body": "psst"})
    form.call("POST", f"{path}/Messages/{message['sid']}", 200, hooks=False, data={"Body": "shh"})
    form.call("DELETE", f"{path}/Messages/{message['sid']}", 204, hooks=False)
    form.call("DELETE", f"{path}/Participants/{alice['sid']}", 204, hooks=False)
    form.call("DELETE", path, 204, hooks=False)
    assert form.receiver.requests == []
    assert deliveries(form.server) == []


def test_a_state_left_as_it_was_sends_no_state_event(form: Form) -> None:
    conversation = form.call("POST", form.conversations, 201, hooks=False)
    form.call("POST", f"{form.conversations}/{conversation['sid']}", 200, data={"State": "active"})
    assert [request.params["EventType"] for request in form.receiver.requests] == ["onConversationUpdated"]


@pytest.mark.parametrize(
    ("value", "fires"),
    [
        ("true", True),
        ("TRUE", True),
        ("tRuE", True),
        ("false", False),
        ("FALSE", False),
        ("", False),
        ("1", False),
        ("yes", False),
        ("truex", False),
        ("true,true", False),
    ],
)
def test_only_true_in_any_case_turns_the_hooks_on(
    emulator: Server, api: httpx.Client, receiver: Receiver, value: str, fires: bool
) -> None:
    sid = hooked_service(api, receiver, ["onConversationAdded"])
    answer = api.post(
        f"/v1/Services/{sid}/Conversations", headers={"X-Twilio-Webhook-Enabled": value}, data={}
    )
    assert answer.status_code == 201, answer.text
    assert len(receiver.requests) == (1 if fires else 0)
    assert len(deliveries(emulator)) == (1 if fires else 0)


# --- what the parameters carry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (
            {"MessagingBinding.Address": "+15550001111", "MessagingBinding.ProxyAddress": "+15550002222"},
            "SMS",
        ),
        (
            {
                "MessagingBinding.Address": "whatsapp:+15550001111",
                "MessagingBinding.ProxyAddress": "whatsapp:+15550002222",
            },
            "WHATSAPP",
        ),
        (
            {
                "MessagingBinding.Address": "rcs:+15550001111",
                "MessagingBinding.ProxyAddress": "rcs:+15550002222",
            },
            "RCS",
        ),
        ({"MessagingBinding.Address": "+15550003333"}, "SMS"),
        ({"Identity": "carol", "MessagingBinding.ProjectedAddress": "+15550004444"}, "SMS"),
        ({"Identity": "dave"}, "CHAT"),
    ],
)
def test_a_participant_carries_its_messaging_binding(
    api: httpx.Client, receiver: Receiver, data: dict[str, str], kind: str
) -> None:
    sid = hooked_service(api, receiver, ["onParticipantAdded"])
    path = f"/v1/Services/{sid}/Conversations"
    conversation = api.post(path, data={}).json()
    answer = api.post(f"{path}/{conversation['sid']}/Participants", headers=ENABLED, data=data)
    assert answer.status_code == 201, answer.text
    (request,) = receiver.requests
    bindings = {name: value for name, value in request.params.items() if name.startswith("MessagingBinding.")}
    assert bindings == binding_params(answer.json())
    assert bindings["MessagingBinding.Type"] == kind
    for parameter in ("MessagingBinding.Address", "MessagingBinding.ProxyAddress"):
        assert bindings.get(parameter) == data.get(parameter)


def test_a_message_with_media_carries_it_as_json_and_no_empty_body(
    api: httpx.Client, receiver: Receiver
) -> None:
    sid = hooked_service(api, receiver, ["onMessageAdded"])
    path = f"/v1/Services/{sid}/Conversations"
    conversation = api.post(path, data={}).json()
    answer = api.post(f"{path}/{conversation['sid']}/Messages", headers=ENABLED, data={"MediaSid": MEDIA})
    assert answer.status_code == 201, answer.text
    (request,) = receiver.requests
    assert request.params["Media"] == f'[{{"Sid":"{MEDIA}","Filename":null,"ContentType":null,"Size":null}}]'
    # No body, no participant for the author `system`, no messaging service: left out, not sent empty.
    for absent in ("Body", "ParticipantSid", "MessagingServiceSid", "ClientIdentity"):
        assert absent not in request.params
    assert request.params["Author"] == "system"
    assert_signed(request)


def test_a_message_without_media_has_no_media_parameter(api: httpx.Client, receiver: Receiver) -> None:
    sid = hooked_service(api, receiver, ["onMessageAdded"])
    path = f"/v1/Services/{sid}/Conversations"
    conversation = api.post(path, data={}).json()
    attributes = '{"é": [1, 2]}'
    data = {"Body": "plain", "Attributes": attributes}
    assert api.post(f"{path}/{conversation['sid']}/Messages", headers=ENABLED, data=data).status_code == 201
    (request,) = receiver.requests
    assert "Media" not in request.params
    assert request.params["Attributes"] == attributes
    assert_signed(request)


# --- where they go -------------------------------------------------------------------------------------


def test_only_the_events_in_the_filters_fire(api: httpx.Client, receiver: Receiver) -> None:
    sid = hooked_service(api, receiver, ["onMessageAdded", "onConversationRemoved"])
    path = f"/v1/Services/{sid}/Conversations"
    conversation = api.post(path, headers=ENABLED, data={}).json()
    path = f"{path}/{conversation['sid']}"
    api.post(path, headers=ENABLED, data={"State": "inactive"}).raise_for_status()
    api.post(f"{path}/Participants", headers=ENABLED, data={"Identity": "alice"}).raise_for_status()
    message = api.post(f"{path}/Messages", headers=ENABLED, data={"Body": "one"}).json()
    api.post(f"{path}/Messages/{message['sid']}", headers=ENABLED, data={"Body": "two"}).raise_for_status()
    api.delete(path, headers=ENABLED).raise_for_status()
    assert [(request.path, request.params["EventType"]) for request in receiver.requests] == [
        ("/post", "onMessageAdded"),
        ("/post", "onConversationRemoved"),
    ]


def test_the_service_configuration_wins_over_the_accounts(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, ["onConversationAdded"])
    sid = hooked_service(api, receiver, ["onConversationAdded"])
    api.post(f"/v1/Services/{sid}/Conversations", headers=ENABLED, data={}).raise_for_status()
    assert [request.path for request in receiver.requests] == ["/post"]
    assert [entry["configuration"] for entry in deliveries(emulator)] == ["service"]


def test_the_accounts_configuration_applies_when_the_service_has_none(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, ["onConversationAdded"], Method="GET")
    sid = new_service(api)
    api.post(f"/v1/Services/{sid}/Conversations", headers=ENABLED, data={}).raise_for_status()
    (request,) = receiver.requests
    assert (request.path, request.method) == ("/account-post", "GET")
    assert request.params["ChatServiceSid"] == sid
    assert_signed(request)
    assert [entry["configuration"] for entry in deliveries(emulator)] == ["account"]


def test_a_flex_account_sends_nothing_but_the_scoped_hooks_still_fire(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    configure_account(api, receiver, SERVICE_EVENTS, Target="flex")
    sid = new_service(api)
    path = f"/v1/Services/{sid}/Conversations"
    conversation = api.post(path, headers=ENABLED, data={}).json()
    assert receiver.requests == []
    path = f"{path}/{conversation['sid']}"
    scoped_webhook(
        api,
        path,
        Target="webhook",
        **{"Configuration.Url": receiver.url("/scoped"), "Configuration.Filters": "onParticipantAdded"},
    )
    api.post(f"{path}/Participants", headers=ENABLED, data={"Identity": "alice"}).raise_for_status()
    assert [request.path for request in receiver.requests] == ["/scoped"]
    assert [entry["configuration"] for entry in deliveries(emulator)] == ["conversation"]


def test_no_configuration_and_no_scoped_hooks_send_nothing(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    sid = new_service(api)
    conversation = api.post(f"/v1/Services/{sid}/Conversations", headers=ENABLED, data={})
    assert conversation.status_code == 201
    assert receiver.requests == []
    assert deliveries(emulator) == []


def test_scoped_webhooks_fire_after_the_services_in_creation_order(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    sid = hooked_service(api, receiver, ["onMessageAdded"])
    conversation = api.post(f"/v1/Services/{sid}/Conversations", data={}).json()
    path = f"/v1/Services/{sid}/Conversations/{conversation['sid']}"
    by_post = scoped_webhook(
        api,
        path,
        Target="webhook",
        **{
            "Configuration.Url": receiver.url("/scoped-post"),
            "Configuration.Method": "post",
            "Configuration.Filters": ["onMessageAdded", "onParticipantAdded"],
        },
    )
    by_get = scoped_webhook(
        api,
        path,
        Target="webhook",
        **{
            "Configuration.Url": receiver.url("/scoped-get?team=a%20b"),
            "Configuration.Method": "GET",
            "Configuration.Filters": ["onMessageAdded", "onMessageUpdated"],
        },
    )
    trigger = scoped_webhook(
        api,
        path,
        Target="trigger",
        **{"Configuration.Url": receiver.url("/trigger"), "Configuration.Triggers": ["help", "call me"]},
    )
    scoped_webhook(api, path, Target="studio", **{"Configuration.FlowSid": FLOW})

    api.post(f"{path}/Participants", headers=ENABLED, data={"Identity": "alice"}).raise_for_status()
    assert [request.path for request in taken(receiver)] == ["/scoped-post"]

    message = api.post(f"{path}/Messages", headers=ENABLED, data={"Body": "Please HELP, now"}).json()
    arrived = {request.path: request for request in taken(receiver)}
    assert set(arrived) == {"/post", "/scoped-post", "/scoped-get", "/trigger"}
    for request in arrived.values():
        assert_signed(request)
        assert request.params["MessageSid"] == message["sid"]
    assert arrived["/scoped-get"].method == "GET"
    assert arrived["/scoped-get"].body == b""
    assert arrived["/scoped-get"].params["team"] == "a b"
    assert arrived["/scoped-post"].method == arrived["/trigger"].method == "POST"
    # Every target gets the same parameters; a scoped webhook's also name it, the service's hook none.
    expected = arrived["/post"].params
    assert "WebhookSid" not in expected
    assert arrived["/scoped-post"].params == {**expected, "WebhookSid": by_post}
    assert arrived["/trigger"].params == {**expected, "WebhookSid": trigger}
    assert without(arrived["/scoped-get"].params, "team") == {**expected, "WebhookSid": by_get}

    # The log lists them in order: the service's, then the conversation's in creation order.
    logged = deliveries(emulator)
    assert [(entry["configuration"], urlsplit(entry["url"]).path) for entry in logged[1:]] == [
        ("service", "/post"),
        ("conversation", "/scoped-post"),
        ("conversation", "/scoped-get"),
        ("conversation", "/trigger"),
    ]
    assert [entry["method"] for entry in logged[1:]] == ["POST", "POST", "GET", "POST"]

    # A keyword inside a longer word does not trigger; a keyword of two words does, in any case.
    api.post(f"{path}/Messages", headers=ENABLED, data={"Body": "helpless"}).raise_for_status()
    assert sorted(request.path for request in taken(receiver)) == ["/post", "/scoped-get", "/scoped-post"]
    api.post(f"{path}/Messages", headers=ENABLED, data={"Body": "ok, Call Me!"}).raise_for_status()
    assert "/trigger" in {request.path for request in taken(receiver)}

    # A trigger fires for added messages only.
    answer = api.post(f"{path}/Messages/{message['sid']}", headers=ENABLED, data={"Body": "help"})
    assert answer.status_code == 200
    (updated,) = taken(receiver)
    assert (updated.path, updated.params["EventType"]) == ("/scoped-get", "onMessageUpdated")
    assert updated.params["WebhookSid"] == by_get
    assert_signed(updated)


def test_removing_a_conversation_reaches_its_own_scoped_hooks(
    emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    sid = new_service(api)
    conversation = api.post(f"/v1/Services/{sid}/Conversations", data={"UniqueName": "gone"}).json()
    path = f"/v1/Services/{sid}/Conversations/{conversation['sid']}"
    hook = scoped_webhook(
        api,
        path,
        Target="webhook",
        **{
            "Configuration.Url": receiver.url("/scoped"),
            "Configuration.Filters": ["onConversationRemoved", "onParticipantRemoved"],
        },
    )
    api.post(f"{path}/Participants", data={"Identity": "alice"}).raise_for_status()
    # By unique name: the hooks are found through the conversation it names.
    answer = api.delete(f"/v1/Services/{sid}/Conversations/gone", headers=ENABLED)
    assert answer.status_code == 204
    (request,) = receiver.requests
    assert (request.path, request.params["EventType"]) == ("/scoped", "onConversationRemoved")
    assert request.params["ConversationSid"] == conversation["sid"]
    assert request.params["UniqueName"] == "gone"
    # The webhook is gone with the conversation, but its delivery still names it.
    assert request.params["WebhookSid"] == hook
    assert_signed(request)
    assert [entry["configuration"] for entry in deliveries(emulator)] == ["conversation"]
    assert api.get(f"{path}/Webhooks").status_code == 404


def test_scoped_webhook_routes_fire_nothing(emulator: Server, api: httpx.Client, receiver: Receiver) -> None:
    sid = hooked_service(api, receiver, SERVICE_EVENTS)
    conversation = api.post(f"/v1/Services/{sid}/Conversations", data={}).json()
    path = f"/v1/Services/{sid}/Conversations/{conversation['sid']}/Webhooks"
    data = {
        "Target": "webhook",
        "Configuration.Url": receiver.url("/x"),
        "Configuration.Filters": "onMessageAdded",
    }
    created = api.post(path, headers=ENABLED, data=data)
    assert created.status_code == 201
    webhook = f"{path}/{created.json()['sid']}"
    assert api.post(webhook, headers=ENABLED, data={"Configuration.Method": "GET"}).status_code == 200
    assert api.get(webhook, headers=ENABLED).status_code == 200
    assert api.delete(webhook, headers=ENABLED).status_code == 204
    assert receiver.requests == []
    assert deliveries(emulator) == []


# --- what does not change ------------------------------------------------------------------------------


def test_a_refused_request_fires_nothing(emulator: Server, api: httpx.Client, receiver: Receiver) -> None:
    sid = hooked_service(api, receiver, SERVICE_EVENTS)
    conversations = f"/v1/Services/{sid}/Conversations"
    conversation = api.post(conversations, data={"UniqueName": "taken"}).json()
    path = f"{conversations}/{conversation['sid']}"
    closed = api.post(conversations, data={}).json()
    api.post(f"{conversations}/{closed['sid']}", data={"State": "closed"}).raise_for_status()
    refused = [
        ("POST", conversations, {"Attributes": "{"}, 400),
        ("POST", conversations, {"UniqueName": "taken"}, 400),
        ("POST", f"{conversations}/{closed['sid']}", {"FriendlyName": "no"}, 400),
        ("POST", f"{conversations}/{'CH' + '0' * 32}", {"FriendlyName": "no"}, 404),
        ("DELETE", f"{conversations}/unknown", None, 404),
        ("POST", f"{path}/Participants", {"Attributes": "{}"}, 400),
        ("POST", f"{path}/Participants/nobody", {"Attributes": "{}"}, 404),
        ("DELETE", f"{path}/Participants/nobody", None, 404),
        ("POST", f"{conversations}/{closed['sid']}/Participants", {"Identity": "x"}, 400),
        ("POST", f"{path}/Messages", {"Author": "alice"}, 400),
        ("POST", f"{path}/Messages/{'IM' + '0' * 32}", {"Body": "x"}, 404),
        ("DELETE", f"{path}/Messages/{'IM' + '0' * 32}", None, 404),
    ]
    for method, url, data, status in refused:
        answer = api.request(method, url, headers=ENABLED, data=data)
        assert answer.status_code == status, (method, url, answer.text)
    assert receiver.requests == []
    assert deliveries(emulator) == []


@pytest.mark.parametrize("failure", ["500", "refused"])
def test_a_failing_handler_leaves_the_answer_as_it_was(
    emulator: Server, api: httpx.Client, receiver: Receiver, failure: str
) -> None:
    sid = hooked_service(api, receiver, ["onConversationAdded", "onMessageAdded", "onMessageRemoved"])
    if failure == "refused":
        closed = f"http://127.0.0.1:{free_port()}/nobody"
        api.post(webhooks_path(sid), data={"PostWebhookUrl": closed}).raise_for_status()
    receiver.answers["/post"] = Answer(500, b"broken")
    conversations = f"/v1/Services/{sid}/Conversations"
    created = api.post(conversations, headers=ENABLED, data={"FriendlyName": "still here"})
    assert created.status_code == 201
    path = f"{conversations}/{created.json()['sid']}"
    assert api.get(path).json() == created.json()
    message = api.post(f"{path}/Messages", headers=ENABLED, data={"Body": "hi"})
    assert message.status_code == 201
    assert api.get(f"{path}/Messages/{message.json()['sid']}").json() == message.json()
    deleted = api.delete(f"{path}/Messages/{message.json()['sid']}", headers=ENABLED)
    assert (deleted.status_code, deleted.content) == (204, b"")
    logged = deliveries(emulator)
    assert len(logged) == 3
    if failure == "500":
        assert {(entry["status"], entry["response_body"]) for entry in logged} == {(500, "broken")}
    else:
        assert {(entry["status"], entry["error"]) for entry in logged} == {(None, "refused")}


# Short waits, and deliveries only to 127.0.0.1.
impatient = module_server("impatient", "--webhook-timeout", "0.3", "--webhook-allowed-targets", "127.0.0.1")


def test_a_slow_or_blocked_handler_leaves_the_answer_as_it_was(impatient: Server, receiver: Receiver) -> None:
    impatient.reset()
    receiver.answers["/post"] = Answer(200, b"late", delay=1.5)
    with impatient.client() as api:
        sid = hooked_service(api, receiver, ["onMessageAdded"])
        conversation = api.post(f"/v1/Services/{sid}/Conversations", data={}).json()
        path = f"/v1/Services/{sid}/Conversations/{conversation['sid']}"
        blocked = f"http://127.0.0.2:{receiver.port}/blocked"
        scoped_webhook(
            api,
            path,
            Target="webhook",
            **{"Configuration.Url": blocked, "Configuration.Filters": "onMessageAdded"},
        )
        scoped_webhook(
            api,
            path,
            Target="webhook",
            **{"Configuration.Url": receiver.url("/fine"), "Configuration.Filters": "onMessageAdded"},
        )
        message = api.post(f"{path}/Messages", headers=ENABLED, data={"Body": "hi"})
        assert message.status_code == 201
        assert api.get(f"{path}/Messages/{message.json()['sid']}").json() == message.json()
    logged = deliveries(impatient)
    assert [(entry["configuration"], entry["status"], entry["error"]) for entry in logged] == [
        ("service", None, "timeout"),
        ("conversation", None, "blocked"),
        ("conversation", 200, None),
    ]
    assert [request.path for request in receiver.on("/blocked")] == []
    assert_signed(receiver.on("/fine")[0])


# --- after the answer (`--webhook-delivery after-answer`) ----------------------------------------------


# A long timeout: a held webhook must not time out before a busy machine lets the test release it.
after_answer_server = module_server(
    "after-answer", "--webhook-delivery", "after-answer", "--webhook-timeout", "60"
)


@pytest.fixture
def after_answer(after_answer_server: Server) -> Server:
    after_answer_server.reset()
    return after_answer_server


def held_message(server: Server, receiver: Receiver, held: threading.Event) -> dict[str, Any]:
    """A message created with webhooks on, whose post-event the receiver holds until `held` is set: the
    answer, which came while the webhook was held."""
    receiver.answers["/post"] = Answer(200, b"ok", gate=held)
    with server.client() as api:
        sid = hooked_service(api, receiver, ["onMessageAdded"])
        conversation = api.post(f"/v1/Services/{sid}/Conversations", data={}).json()
        path = f"/v1/Services/{sid}/Conversations/{conversation['sid']}"
        answer = api.post(f"{path}/Messages", headers=ENABLED, data={"Body": "hi"})
    assert answer.status_code == 201, answer.text
    message: dict[str, Any] = answer.json()
    return message


@pytest.mark.backend_independent  # when deliveries go, whatever stores them
def test_after_answer_the_call_answers_before_its_webhook_is_answered(
    after_answer: Server, receiver: Receiver
) -> None:
    """Before the answer, the held webhook would time out (5 s) before the call could answer; here the call
    answers, the webhook waits for the test to let it go, and the log then shows it answered."""
    held = threading.Event()
    try:
        message = held_message(after_answer, receiver, held)
        assert receiver.arrived.wait(30)
    finally:
        held.set()
    (logged,) = deliveries(after_answer, wait="true")
    assert (logged["status"], logged["error"]) == (200, None)
    (request,) = receiver.requests
    assert request.params["MessageSid"] == message["sid"]
    assert_signed(request)


def emptying(server: Server, how: str) -> None:
    """Empty the delivery log: by a reset, or by clearing the log alone."""
    if how == "reset":
        server.reset()
    else:
        httpx.delete(f"{server.base_url}/_emulator/deliveries")


@pytest.mark.backend_independent  # when deliveries go, whatever stores them
@pytest.mark.parametrize("how", ["reset", "clear"])
def test_after_answer_emptying_the_log_waits_for_the_webhooks_in_flight(
    after_answer: Server, receiver: Receiver, how: str
) -> None:
    """The delivery ends before the reset (or the clear) empties the log, so the next test starts with
    nothing of it."""
    held = threading.Event()
    try:
        held_message(after_answer, receiver, held)
        assert receiver.arrived.wait(30)
        resetting = threading.Thread(target=emptying, args=(after_answer, how))
        resetting.start()
        resetting.join(0.3)  # the reset is waiting by now; on a busy machine it may not have arrived yet
    finally:
        held.set()
    resetting.join(30)
    assert not resetting.is_alive()
    assert deliveries(after_answer, wait="true") == []


@pytest.mark.backend_independent  # when deliveries go, whatever stores them
def test_after_answer_the_log_waits_for_the_webhooks_a_handler_sets_off(
    after_answer: Server, receiver: Receiver
) -> None:
    """A handler that replies through the API, as a bot would, starts a delivery while its own is in flight:
    `wait=true` waits for that one too."""
    replied = threading.Event()
    with after_answer.client() as api:
        sid = hooked_service(api, receiver, ["onMessageAdded"])
        conversation = api.post(f"/v1/Services/{sid}/Conversations", data={}).json()
        path = f"/v1/Services/{sid}/Conversations/{conversation['sid']}/Messages"

        def reply_once() -> None:
            if replied.is_set():
                # The reply's own delivery: slower than the first's, so a wait that missed it would show.
                time.sleep(0.5)
                return
            replied.set()
            with after_answer.client() as bot:
                bot.post(path, headers=ENABLED, data={"Body": "reply", "Author": "bot"}).raise_for_status()

        receiver.answers["/post"] = Answer(200, b"ok", before=reply_once)
        api.post(path, headers=ENABLED, data={"Body": "first"}).raise_for_status()
    logged = deliveries(after_answer, wait="true")
    # In the order they ended, which is up to the handler's threads.
    assert sorted((entry["parameters"]["Body"], entry["status"]) for entry in logged) == [
        ("first", 200),
        ("reply", 200),
    ]


@pytest.mark.backend_independent  # when deliveries go, whatever stores them
def test_after_answer_a_graceful_stop_lets_the_webhooks_in_flight_end(
    tmp_path: Path, receiver: Receiver
) -> None:
    server = start_server(
        tmp_path, extra_args=["--webhook-delivery", "after-answer", "--webhook-timeout", "60"]
    )
    held = threading.Event()
    try:
        held_message(server, receiver, held)
        assert receiver.arrived.wait(30)
        process = server.process.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.5)  # still delivering (a busy machine only makes the stop slower)
        held.set()
        # uvicorn re-raises the signal once it has shut down: "killed by SIGTERM", after the shutdown.
        assert process.wait(timeout=60) == -signal.SIGTERM
        assert "Application shutdown complete." in server.process.log()
        (request,) = receiver.requests
        assert request.params["Body"] == "hi"
    finally:
        held.set()
        server.process.stop()


@pytest.mark.backend_independent  # when deliveries go, whatever stores them
@pytest.mark.parametrize("wait", ["yes", "True", "1", ""])
def test_a_bad_wait_is_refused(after_answer: Server, wait: str) -> None:
    before = deliveries(after_answer)
    answer = httpx.get(f"{after_answer.base_url}/_emulator/deliveries", params={"wait": wait})
    assert_twilio_error(answer, 400, 20002)
    assert "Invalid wait: must be true or false" in answer.json()["message"]
    assert deliveries(after_answer) == before


# --- signing -------------------------------------------------------------------------------------------


def test_a_permissive_account_signs_with_the_token_of_the_call_itself(
    emulator: Server, receiver: Receiver
) -> None:
    account = "AC" + "9" * 32
    with emulator.client(account, "first-token") as first:
        sid = hooked_service(first, receiver, ["onConversationAdded"])
    with emulator.client(account, "second-token") as second:
        answer = second.post(f"/v1/Services/{sid}/Conversations", headers=ENABLED, data={})
        assert answer.status_code == 201
    (request,) = receiver.requests
    assert request.params["AccountSid"] == account
    assert_signed(request, "second-token")


# --- the official library ------------------------------------------------------------------------------


class Library:
    """The official client pointed at the emulator, keeping the headers of every request it sent."""

    def __init__(self, server: Server) -> None:
        self.sent: list[dict[str, str]] = []
        http_client = TwilioHttpClient(request_hooks={"response": [self._record]})
        self.client: Any = Client(DEMO_ACCOUNT, DEMO_TOKEN, http_client=http_client)
        self.client.conversations.base_url = server.base_url

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        headers = response.request.headers
        self.sent.append({str(name): str(value) for name, value in headers.items()})

    def asked_for_hooks(self) -> bool:
        """Whether the last request carried the header."""
        return self.sent[-1].get("X-Twilio-Webhook-Enabled") == "true"


def test_the_python_library_drives_the_hooks(
    emulator: Server, api: httpx.Client, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TWILIO_REGION", "TWILIO_EDGE"):
        monkeypatch.delenv(name, raising=False)  # either would rewrite the emulator's host
    sid = hooked_service(api, receiver, SERVICE_EVENTS)
    library = Library(emulator)
    service = library.client.conversations.v1.services(sid)
    on = "true"

    def fired() -> list[str]:
        return [request.params["EventType"] for request in taken(receiver)]

    conversation = service.conversations.create(friendly_name="sdk", x_twilio_webhook_enabled=on)
    assert fired() == ["onConversationAdded"]
    handle = service.conversations(conversation.sid)
    handle.update(state="inactive", x_twilio_webhook_enabled=on)
    assert fired() == ["onConversationUpdated", "onConversationStateUpdated"]
    participant = handle.participants.create(identity="alice", x_twilio_webhook_enabled=on)
    assert fired() == ["onParticipantAdded"]
    handle.participants(participant.sid).update(attributes='{"a": 1}', x_twilio_webhook_enabled=on)
    assert fired() == ["onParticipantUpdated"]
    message = handle.messages.create(body="hi", author="alice", x_twilio_webhook_enabled=on)
    (added,) = receiver.requests
    assert (added.params["MessageSid"], added.params["ParticipantSid"]) == (message.sid, participant.sid)
    assert_signed(added)
    assert fired() == ["onMessageAdded"]
    handle.messages(message.sid).update(body="edited", x_twilio_webhook_enabled=on)
    assert fired() == ["onMessageUpdated"]
    # Not asked: no header, no hook.
    handle.messages.create(body="quiet", author="alice")
    assert not library.asked_for_hooks()
    assert fired() == []
    # Creates and updates carry the header when asked, and only then.
    assert [headers.get("X-Twilio-Webhook-Enabled") for headers in library.sent] == [on] * 6 + [None]

    # twilio-python 9.x takes the argument on deletes but its generated code drops the header before
    # sending; whatever a version does, a hook fires exactly when the header was on the wire.
    for remove, event in (
        (handle.messages(message.sid).delete, "onMessageRemoved"),
        (handle.participants(participant.sid).delete, "onParticipantRemoved"),
    ):
        assert remove(x_twilio_webhook_enabled=on) is True
        assert fired() == ([event] if library.asked_for_hooks() else [])
    # The way round it the README gives: the client's own request, with the header.
    url = f"{emulator.base_url}/v1/Services/{sid}/Conversations/{conversation.sid}"
    answer = library.client.request("DELETE", url, headers={"X-Twilio-Webhook-Enabled": "true"})
    assert answer.status_code == 204
    assert fired() == ["onConversationRemoved"]

    # The short form too.
    configure_account(api, receiver, ["onConversationAdded"])
    conversations = library.client.conversations.v1.conversations
    short = conversations.create(friendly_name="short", x_twilio_webhook_enabled=on)
    (request,) = taken(receiver)
    assert (request.path, request.params["ConversationSid"]) == ("/account-post", short.sid)
    assert request.params["ChatServiceSid"] == default_service_sid(DEMO_ACCOUNT)
    assert_signed(request)


# --- several workers -----------------------------------------------------------------------------------


def test_with_several_workers_a_hook_fires_once_for_rest_calls_and_sdk_actions(
    tmp_path: Path, receiver: Receiver
) -> None:
    server = start_server(tmp_path, extra_args=["--workers", "2"])
    try:
        calls = 6
        with server.client() as api:
            sid = hooked_service(api, receiver, ["onConversationAdded", "onMessageAdd", "onMessageAdded"])
        created = []
        for number in range(calls):
            # A connection of its own each time: any worker may take it.
            with server.client() as api:
                answer = api.post(
                    f"/v1/Services/{sid}/Conversations", headers=ENABLED, data={"FriendlyName": str(number)}
                )
                assert answer.status_code == 201, answer.text
                created.append(answer.json()["sid"])
        assert [request.params["ConversationSid"] for request in receiver.requests] == created
        for request in receiver.requests:
            assert_signed(request)
        assert [entry["parameters"]["ConversationSid"] for entry in deliveries(server)] == created
        # The SDK path too: each action's hooks fire once, whichever worker takes it.
        receiver.requests.clear()
        room = created[0]
        for number in range(calls):
            action = {
                "account_sid": DEMO_ACCOUNT,
                "chat_service_sid": sid,
                "event": "onMessageAdd",
                "params": {"ConversationSid": room, "Body": f"message {number}"},
            }
            answer = httpx.post(f"{server.base_url}/_emulator/events", json=action, timeout=30.0)
            assert answer.status_code == 200, answer.text
            assert answer.json()["stored"] is True
        bodies = [f"message {number}" for number in range(calls)]
        with server.client() as api:
            stored = api.get(f"/v1/Services/{sid}/Conversations/{room}/Messages").json()["messages"]
        assert [(message["index"], message["body"]) for message in stored] == list(enumerate(bodies))
        assert [(request.path, request.params["Body"]) for request in receiver.requests] == [
            (path, body) for body in bodies for path in ("/pre", "/post")
        ]
        assert [request.params["MessageSid"] for request in receiver.on("/post")] == [
            message["sid"] for message in stored
        ]
        for request in receiver.requests:
            assert_signed(request)
        for entry in deliveries(server):
            assert urlsplit(entry["url"]).hostname == "127.0.0.1"
    finally:
        server.process.stop()
