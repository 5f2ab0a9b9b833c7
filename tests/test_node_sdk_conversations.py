"""The official `twilio` Node library (6.3.1) against the emulator: conversations, participants, messages and
conversation-scoped webhooks, every operation in both path forms.

Each test runs both forms in one Node process (`tests/node/run_calls.js`): the short form,
`client.conversations.v1.conversations`, in the account's default service, and the service form,
`client.conversations.v1.services(sid).conversations`, in the demo service. Besides what the library
returns or raises, each test checks what it sent: the encoding of dates, dotted and repeated parameters,
unique names in paths, and the pages `list()` follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest

from tests.conftest import DEMO_ACCOUNT, DEMO_SERVICE, SERVICE_EVENTS, Server, new_service
from tests.test_conversations import default_service
from tests.test_deliveries import Receiver, assert_signed, configure_service, receiver
from tests.test_node_sdk import TWILIO_BASE, node, only_request, rest_error, run_node, value

__all__ = ["node", "receiver"]  # fixtures shared with test_node_sdk and test_deliveries

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

# The two path forms: no service (the short form), or the demo service.
FORMS: tuple[str | None, ...] = (None, DEMO_SERVICE)

MESSAGING_SERVICE = "MG" + "1" * 32
ROLE = "RL" + "2" * 32
MEDIA_SID = "ME" + "a" * 32
CONTENT_SID = "HX" + "b" * 32
FLOW = "FW" + "ab" * 16
OTHER_FLOW = "FW" + "cd" * 16
HOOK_URL = "https://example.com/hook?team=a&x=1"
TWILIO_NUMBER = "+15017122661"
OTHER_TWILIO_NUMBER = "+15017122662"

# A date as a caller passes it (a Date, milliseconds and all) and as the library sends and returns it.
GIVEN_DATE = {"$date": "2020-01-02T03:04:05.678Z"}
SENT_DATE = "2020-01-02T03:04:05Z"
RETURNED_DATE = "2020-01-02T03:04:05.000Z"


@dataclass
class Steps:
    """A batch of run_calls.js steps; `add` returns the step's index, for `ref` and the results."""

    steps: list[dict[str, Any]] = field(default_factory=list)

    def add(self, call: str, service: str | None, **fields: Any) -> int:
        step: dict[str, Any] = {"call": call, **fields}
        if service is not None:
            step["service"] = service
        self.steps.append(step)
        return len(self.steps) - 1

    @staticmethod
    def ref(index: int, key: str = "sid") -> str:
        return f"${index}.{key}"


def conversations_path(service: str | None) -> str:
    return "/v1/Conversations" if service is None else f"/v1/Services/{service}/Conversations"


def service_of(service: str | None) -> str:
    return default_service() if service is None else service


def body_of(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The form parameters of the step's one request, sorted: the two forms' code sends them in different
    orders, and a repeated key keeps its values' order."""
    body = only_request(result)["body"]
    assert isinstance(body, str)
    return sorted(parse_qsl(body, keep_blank_values=True), key=lambda pair: pair[0])


def pages(result: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The path and query of each page the library fetched for a list()."""
    fetched = []
    for sent in result["requests"]:
        assert sent["method"] == "GET"
        url = urlsplit(sent["url"])
        fetched.append((url.path, dict(parse_qsl(url.query))))
    return fetched


def sids(listed: list[dict[str, Any]]) -> list[str]:
    return [item["sid"] for item in listed]


# --- conversations -------------------------------------------------------------------------------------


def conversation_steps(steps: Steps, service: str | None, n: int) -> dict[str, int]:
    """Every conversation operation in one form; the step indexes by name."""
    tag = f"f{n}"
    name = f"Room ✓ {tag}"
    at: dict[str, int] = {}
    at["create"] = steps.add(
        "conversations.create",
        service,
        params={
            "friendlyName": "Friendly ✓",
            "uniqueName": name,
            "attributes": '{"topic": "node", "n": 1}',
            "dateCreated": GIVEN_DATE,
            "messagingServiceSid": MESSAGING_SERVICE,
            "timers.inactive": "PT5M",
            "timers.closed": "PT20M",
            "bindings.email.address": "room@example.com",
            "bindings.email.name": "Room",
            "xTwilioWebhookEnabled": "true",
        },
    )
    at["more"] = steps.add("conversations.create", service, params={"uniqueName": f"node-{tag}-1"})
    steps.add("conversations.create", service, params={"uniqueName": f"node-{tag}-2", "state": "inactive"})
    steps.add("conversations.create", service, params={"friendlyName": "no unique name", "state": "inactive"})
    at["last"] = steps.add("conversations.create", service, params={"uniqueName": f"node-{tag}-4"})
    at["by_name"] = steps.add("conversations.fetch", service, sid=name)
    at["by_sid"] = steps.add("conversations.fetch", service, sid=steps.ref(at["create"]))
    at["list"] = steps.add("conversations.list", service, params={"pageSize": 2})
    at["inactive"] = steps.add("conversations.list", service, params={"state": "inactive", "pageSize": 1})
    at["limited"] = steps.add("conversations.list", service, params={"pageSize": 2, "limit": 3})
    at["update"] = steps.add(
        "conversations.update",
        service,
        sid=name,
        params={
            "friendlyName": "Renamed",
            "attributes": "[1, 2]",
            "state": "inactive",
            "dateUpdated": GIVEN_DATE,
            "uniqueName": f"renamed-{tag}",
            "xTwilioWebhookEnabled": "false",
        },
    )
    at["clear"] = steps.add(
        "conversations.update",
        service,
        sid=f"renamed-{tag}",
        params={"friendlyName": None, "messagingServiceSid": None},
    )
    at["old_name"] = steps.add("conversations.fetch", service, sid=name)
    at["taken"] = steps.add("conversations.create", service, params={"uniqueName": f"node-{tag}-1"})
    at["closed_create"] = steps.add("conversations.create", service, params={"state": "closed"})
    at["close"] = steps.add("conversations.update", service, sid=f"node-{tag}-4", params={"state": "closed"})
    at["closed_update"] = steps.add(
        "conversations.update", service, sid=f"node-{tag}-4", params={"friendlyName": "too late"}
    )
    at["remove"] = steps.add(
        "conversations.remove", service, sid=f"renamed-{tag}", params={"xTwilioWebhookEnabled": "true"}
    )
    at["removed"] = steps.add("conversations.fetch", service, sid=steps.ref(at["create"]))
    at["remove_again"] = steps.add("conversations.remove", service, sid=steps.ref(at["create"]))
    return at


def test_conversations_round_trip_every_operation_on_both_forms(
    node: str, emulator: Server, api: httpx.Client
) -> None:
    steps = Steps()
    batches = [(service, conversation_steps(steps, service, n)) for n, service in enumerate(FORMS)]
    # The short form's conversations are not the demo service's: unknown there, by SID or unique name.
    elsewhere = [
        steps.add("conversations.fetch", DEMO_SERVICE, sid=steps.ref(batches[0][1]["more"])),
        steps.add("conversations.fetch", DEMO_SERVICE, sid="node-f0-1"),
        steps.add("conversations.fetch", None, sid="node-f1-1"),
    ]

    results = run_node(node, emulator, steps.steps)

    for n, (service, at) in enumerate(batches):
        prefix = conversations_path(service)
        made = value(results[at["create"]])
        sid = made["sid"]
        url = f"{TWILIO_BASE}{prefix}/{sid}"
        assert made == {
            "accountSid": DEMO_ACCOUNT,
            "chatServiceSid": service_of(service),
            "messagingServiceSid": MESSAGING_SERVICE,
            "sid": sid,
            "friendlyName": "Friendly ✓",
            "uniqueName": f"Room ✓ f{n}",
            "attributes": '{"topic": "node", "n": 1}',
            "state": "active",
            "dateCreated": RETURNED_DATE,
            "dateUpdated": RETURNED_DATE,
            "timers": made["timers"],
            "url": url,
            "links": {
                "participants": f"{url}/Participants",
                "messages": f"{url}/Messages",
                "webhooks": f"{url}/Webhooks",
                "export": f"{url}/Export",
            },
            "bindings": {"email": {"projected_address": "room@example.com", "name": "Room"}},
        }
        assert set(made["timers"]) == {"date_inactive", "date_closed"}
        sent = only_request(results[at["create"]])
        assert (sent["method"], sent["url"]) == ("POST", emulator.base_url + prefix)
        assert sent["webhookEnabled"] == "true"
        assert body_of(results[at["create"]]) == [
            ("Attributes", '{"topic": "node", "n": 1}'),
            ("Bindings.Email.Address", "room@example.com"),
            ("Bindings.Email.Name", "Room"),
            ("DateCreated", SENT_DATE),
            ("FriendlyName", "Friendly ✓"),
            ("MessagingServiceSid", MESSAGING_SERVICE),
            ("Timers.Closed", "PT20M"),
            ("Timers.Inactive", "PT5M"),
            ("UniqueName", f"Room ✓ f{n}"),
        ]

        # Fetched by unique name (sent percent-encoded in the path) and by SID alike.
        assert value(results[at["by_name"]]) == made
        assert only_request(results[at["by_name"]])["url"] == (
            f"{emulator.base_url}{prefix}/{quote(f'Room ✓ f{n}')}"
        )
        assert value(results[at["by_sid"]]) == made

        # Five conversations over three pages of two, in creation order.
        created = [value(results[index])["sid"] for index in range(at["create"], at["last"] + 1)]
        listed = value(results[at["list"]])
        assert sids(listed) == created
        assert listed[0] == made
        fetched = pages(results[at["list"]])
        assert [path for path, _ in fetched] == [prefix] * 3
        assert fetched[0][1] == {"PageSize": "2"}
        assert [(query["PageSize"], query["Page"]) for _, query in fetched[1:]] == [("2", "1"), ("2", "2")]
        # A filter is repeated on every page the library follows.
        inactive = value(results[at["inactive"]])
        assert [item["uniqueName"] for item in inactive] == [f"node-f{n}-2", None]
        assert [query["State"] for _, query in pages(results[at["inactive"]])] == ["inactive"] * 2
        # A limit stops the library once it has enough.
        assert sids(value(results[at["limited"]])) == created[:3]
        assert len(results[at["limited"]]["requests"]) == 2

        updated = value(results[at["update"]])
        assert updated == {
            **made,
            "friendlyName": "Renamed",
            "uniqueName": f"renamed-f{n}",
            "attributes": "[1, 2]",
            "state": "inactive",
            "dateUpdated": RETURNED_DATE,
        }
        assert only_request(results[at["update"]])["webhookEnabled"] == "false"
        assert body_of(results[at["update"]]) == [
            ("Attributes", "[1, 2]"),
            ("DateUpdated", SENT_DATE),
            ("FriendlyName", "Renamed"),
            ("State", "inactive"),
            ("UniqueName", f"renamed-f{n}"),
        ]
        # The library sends null as an empty value, which clears the field.
        assert body_of(results[at["clear"]]) == [("FriendlyName", ""), ("MessagingServiceSid", "")]
        cleared = value(results[at["clear"]])
        assert (cleared["friendlyName"], cleared["messagingServiceSid"]) == (None, None)
        assert cleared["dateUpdated"] != RETURNED_DATE
        rest_error(results[at["old_name"]], 404, 20404)

        rest_error(results[at["taken"]], 400, 50353)
        rest_error(results[at["closed_create"]], 400, 50384)
        assert value(results[at["close"]])["state"] == "closed"
        rest_error(results[at["closed_update"]], 400, 50377)

        assert value(results[at["remove"]]) is True
        removed = only_request(results[at["remove"]])
        assert (removed["method"], removed["url"], removed["body"]) == (
            "DELETE",
            f"{emulator.base_url}{prefix}/renamed-f{n}",
            None,
        )
        assert removed["webhookEnabled"] == "true"
        missing = rest_error(results[at["removed"]], 404, 20404)
        resource = f"{prefix.removeprefix('/v1')}/{sid}"
        assert missing["message"] == f"The requested resource {resource} was not found"
        rest_error(results[at["remove_again"]], 404, 20404)

    for index in elsewhere:
        rest_error(results[index], 404, 20404)

    # Stored: the raw API sees what the library was told.
    for service, at in batches:
        kept = value(results[at["close"]])
        raw = api.get(f"{conversations_path(service)}/{kept['sid']}")
        assert raw.status_code == 200
        assert (raw.json()["state"], raw.json()["chat_service_sid"]) == ("closed", service_of(service))


# --- participants --------------------------------------------------------------------------------------


def participant_steps(steps: Steps, service: str | None, n: int) -> dict[str, int]:
    """Every participant operation in one form, in a conversation named by its unique name."""
    room = f"roster-{n}"
    # An address and proxy pair is bound once in the account: each form's conversation has its own.
    phone, group_phone = f"+1555867531{n}", f"+1555867532{n}"
    at: dict[str, int] = {
        "conversation": steps.add("conversations.create", service, params={"uniqueName": room})
    }

    def add(call: str, **fields: Any) -> int:
        return steps.add(f"participants.{call}", service, conversation=room, **fields)

    at["alice"] = add(
        "create",
        params={
            "identity": "ålice ✓",
            "attributes": '{"n": 0}',
            "roleSid": ROLE,
            "dateCreated": GIVEN_DATE,
            "xTwilioWebhookEnabled": "true",
        },
    )
    at["bob"] = add("create", params={"identity": "bob"})
    at["carol"] = add("create", params={"identity": "carol"})
    at["texting"] = add(
        "create",
        params={"messagingBinding.address": phone, "messagingBinding.proxyAddress": TWILIO_NUMBER},
    )
    at["gmms"] = add(
        "create", params={"identity": "dave", "messagingBinding.projectedAddress": TWILIO_NUMBER}
    )
    at["group"] = add("create", params={"messagingBinding.address": group_phone})
    at["by_identity"] = add("fetch", sid="ålice ✓")
    at["by_sid"] = add("fetch", sid=steps.ref(at["alice"]))
    at["list"] = add("list", params={"pageSize": 2})
    at["update"] = add(
        "update",
        sid="bob",
        params={
            "attributes": "[]",
            "roleSid": ROLE,
            "lastReadMessageIndex": 4,
            "lastReadTimestamp": "2024-01-01T00:00:00Z",
            "dateUpdated": GIVEN_DATE,
            "xTwilioWebhookEnabled": "false",
        },
    )
    at["clear"] = add("update", sid="bob", params={"roleSid": None, "lastReadMessageIndex": None})
    at["move_proxy"] = add(
        "update", sid=steps.ref(at["texting"]), params={"messagingBinding.proxyAddress": OTHER_TWILIO_NUMBER}
    )
    # The literal string "null" removes a proxy address (a JavaScript null would send an empty one).
    at["drop_proxy"] = add(
        "update", sid=steps.ref(at["texting"]), params={"messagingBinding.proxyAddress": "null"}
    )
    at["move_projected"] = add(
        "update", sid="dave", params={"messagingBinding.projectedAddress": OTHER_TWILIO_NUMBER}
    )
    at["taken"] = add("create", params={"identity": "bob"})
    at["identity_and_address"] = add(
        "create", params={"identity": "erin", "messagingBinding.address": "+15558675399"}
    )
    at["no_identity"] = add("create", params={"attributes": "{}"})
    at["identity_fixed"] = add("update", sid="ålice ✓", params={"identity": "alice"})
    at["no_address"] = add("update", sid="ålice ✓", params={"messagingBinding.proxyAddress": TWILIO_NUMBER})
    at["remove"] = add("remove", sid="carol", params={"xTwilioWebhookEnabled": "true"})
    at["remove_by_sid"] = add("remove", sid=steps.ref(at["bob"]))
    at["removed"] = add("fetch", sid="carol")
    at["remove_again"] = add("remove", sid=steps.ref(at["bob"]))
    at["after"] = add("list", params={})
    at["unknown_room"] = steps.add(
        "participants.list", service, conversation="no-such-room", params={"pageSize": 2}
    )
    return at


def test_participants_round_trip_every_operation_on_both_forms(node: str, emulator: Server) -> None:
    steps = Steps()
    batches = [(service, participant_steps(steps, service, n)) for n, service in enumerate(FORMS)]

    results = run_node(node, emulator, steps.steps)

    for n, (service, at) in enumerate(batches):
        prefix = conversations_path(service)
        phone, group_phone = f"+1555867531{n}", f"+1555867532{n}"
        conversation = value(results[at["conversation"]])["sid"]
        roster = f"{prefix}/roster-{n}/Participants"
        service_key = {} if service is None else {"chatServiceSid": service}

        alice = value(results[at["alice"]])
        url = f"{TWILIO_BASE}{prefix}/{conversation}/Participants/{alice['sid']}"
        assert alice == {
            "accountSid": DEMO_ACCOUNT,
            **service_key,
            "conversationSid": conversation,
            "sid": alice["sid"],
            "identity": "ålice ✓",
            "attributes": '{"n": 0}',
            "messagingBinding": None,
            "roleSid": ROLE,
            "dateCreated": RETURNED_DATE,
            "dateUpdated": RETURNED_DATE,
            "url": url,
            "lastReadMessageIndex": None,
            "lastReadTimestamp": None,
        }
        sent = only_request(results[at["alice"]])
        assert (sent["method"], sent["url"]) == ("POST", emulator.base_url + roster)
        assert sent["webhookEnabled"] == "true"
        assert body_of(results[at["alice"]]) == [
            ("Attributes", '{"n": 0}'),
            ("DateCreated", SENT_DATE),
            ("Identity", "ålice ✓"),
            ("RoleSid", ROLE),
        ]
        texting = value(results[at["texting"]])
        assert texting["identity"] is None
        assert texting["messagingBinding"] == {
            "type": "sms",
            "address": phone,
            "proxy_address": TWILIO_NUMBER,
        }
        assert body_of(results[at["texting"]]) == [
            ("MessagingBinding.Address", phone),
            ("MessagingBinding.ProxyAddress", TWILIO_NUMBER),
        ]
        gmms = value(results[at["gmms"]])
        assert gmms["messagingBinding"] == {"type": "sms", "projected_address": TWILIO_NUMBER}
        assert ("MessagingBinding.ProjectedAddress", TWILIO_NUMBER) in body_of(results[at["gmms"]])
        assert value(results[at["group"]])["messagingBinding"] == {"type": "sms", "address": group_phone}

        # Fetched by identity (percent-encoded in the path) and by SID.
        assert value(results[at["by_identity"]]) == alice
        assert only_request(results[at["by_identity"]])["url"] == (
            f"{emulator.base_url}{roster}/{quote('ålice ✓')}"
        )
        assert value(results[at["by_sid"]]) == alice

        # Six participants over three pages of two, in creation order; the pages after the first name
        # the conversation by SID.
        created = [value(results[at[name]])["sid"] for name in ("alice", "bob", "carol", "texting", "gmms")]
        created.append(value(results[at["group"]])["sid"])
        listed = value(results[at["list"]])
        assert sids(listed) == created
        assert listed[0] == alice
        fetched = pages(results[at["list"]])
        by_sid = f"{prefix}/{conversation}/Participants"
        assert [path for path, _ in fetched] == [roster, by_sid, by_sid]
        assert [query.get("Page") for _, query in fetched] == [None, "1", "2"]

        bob = value(results[at["bob"]])
        updated = value(results[at["update"]])
        assert updated == {
            **bob,
            "attributes": "[]",
            "roleSid": ROLE,
            "lastReadMessageIndex": 4,
            "lastReadTimestamp": "2024-01-01T00:00:00Z",
            "dateUpdated": RETURNED_DATE,
        }
        assert only_request(results[at["update"]])["webhookEnabled"] == "false"
        assert body_of(results[at["update"]]) == [
            ("Attributes", "[]"),
            ("DateUpdated", SENT_DATE),
            ("LastReadMessageIndex", "4"),
            ("LastReadTimestamp", "2024-01-01T00:00:00Z"),
            ("RoleSid", ROLE),
        ]
        # null goes out empty and clears.
        assert body_of(results[at["clear"]]) == [("LastReadMessageIndex", ""), ("RoleSid", "")]
        cleared = value(results[at["clear"]])
        assert (cleared["roleSid"], cleared["lastReadMessageIndex"]) == (None, None)

        assert value(results[at["move_proxy"]])["messagingBinding"] == {
            "type": "sms",
            "address": phone,
            "proxy_address": OTHER_TWILIO_NUMBER,
        }
        assert body_of(results[at["drop_proxy"]]) == [("MessagingBinding.ProxyAddress", "null")]
        assert value(results[at["drop_proxy"]])["messagingBinding"] == {"type": "sms", "address": phone}
        assert value(results[at["move_projected"]])["messagingBinding"] == {
            "type": "sms",
            "projected_address": OTHER_TWILIO_NUMBER,
        }

        rest_error(results[at["taken"]], 400, 50433)
        rest_error(results[at["identity_and_address"]], 400, 50211)
        rest_error(results[at["no_identity"]], 400, 50204)
        rest_error(results[at["identity_fixed"]], 400, 50444)
        rest_error(results[at["no_address"]], 400, 50441)

        assert value(results[at["remove"]]) is True
        removed = only_request(results[at["remove"]])
        assert (removed["method"], removed["url"]) == ("DELETE", f"{emulator.base_url}{roster}/carol")
        assert removed["webhookEnabled"] == "true"
        assert value(results[at["remove_by_sid"]]) is True
        rest_error(results[at["removed"]], 404, 20404)
        rest_error(results[at["remove_again"]], 404, 20404)
        assert sids(value(results[at["after"]])) == [created[0], *created[3:]]
        rest_error(results[at["unknown_room"]], 404, 20404)


# --- messages ------------------------------------------------------------------------------------------


def message_steps(steps: Steps, service: str | None, n: int) -> dict[str, int]:
    """Every message operation in one form, in a conversation named by its unique name."""
    room = f"chat-{n}"
    at: dict[str, int] = {
        "conversation": steps.add("conversations.create", service, params={"uniqueName": room})
    }
    at["alice"] = steps.add("participants.create", service, conversation=room, params={"identity": "alice"})

    def add(call: str, **fields: Any) -> int:
        return steps.add(f"messages.{call}", service, conversation=room, **fields)

    at["first"] = add(
        "create",
        params={
            "author": "alice",
            "body": "Hello ✓ & goodbye",
            "attributes": '{"importance": "high"}',
            "dateCreated": GIVEN_DATE,
            "xTwilioWebhookEnabled": "true",
        },
    )
    for index in range(1, 5):
        add("create", params={"body": f"message {index}"})
    at["media"] = add("create", params={"mediaSid": MEDIA_SID, "subject": "not kept"})
    at["template"] = add(
        "create", params={"contentSid": CONTENT_SID, "contentVariables": '{"1": "Ann"}', "body": "ignored"}
    )
    at["fetch"] = add("fetch", sid=steps.ref(at["first"]))
    at["list"] = add("list", params={"pageSize": 3})
    at["newest"] = add("list", params={"order": "desc", "pageSize": 3, "limit": 4})
    at["update"] = add(
        "update",
        sid=steps.ref(at["first"]),
        params={
            "body": "edited",
            "author": "system",
            "attributes": "{}",
            "dateUpdated": GIVEN_DATE,
            "xTwilioWebhookEnabled": "false",
        },
    )
    at["author_again"] = add("update", sid=steps.ref(at["first"]), params={"author": "alice"})
    at["no_body"] = add("create", params={"author": "nobody"})
    # null goes out as an empty body, which is no body: refused where no media or content remains.
    at["clear_body"] = add("update", sid=steps.ref(at["first"]), params={"body": None})
    at["clear_media_body"] = add("update", sid=steps.ref(at["media"]), params={"body": None})
    at["bad_attributes"] = add("create", params={"body": "x", "attributes": "{"})
    at["remove"] = add("remove", sid=steps.ref(at["first"] + 1), params={"xTwilioWebhookEnabled": "true"})
    at["removed"] = add("fetch", sid=steps.ref(at["first"] + 1))
    at["remove_again"] = add("remove", sid=steps.ref(at["first"] + 1))
    at["not_a_sid"] = add("fetch", sid="hello")
    at["after"] = add("list", params={})
    return at


def test_messages_round_trip_every_operation_on_both_forms(node: str, emulator: Server) -> None:
    steps = Steps()
    batches = [(service, message_steps(steps, service, n)) for n, service in enumerate(FORMS)]

    results = run_node(node, emulator, steps.steps)

    for n, (service, at) in enumerate(batches):
        prefix = conversations_path(service)
        conversation = value(results[at["conversation"]])["sid"]
        chat = f"{prefix}/chat-{n}/Messages"
        service_key = {} if service is None else {"chatServiceSid": service}

        first = value(results[at["first"]])
        url = f"{TWILIO_BASE}{prefix}/{conversation}/Messages/{first['sid']}"
        assert first == {
            "accountSid": DEMO_ACCOUNT,
            **service_key,
            "conversationSid": conversation,
            "sid": first["sid"],
            "index": 0,
            "author": "alice",
            "body": "Hello ✓ & goodbye",
            "media": None,
            "attributes": '{"importance": "high"}',
            "participantSid": value(results[at["alice"]])["sid"],
            "dateCreated": RETURNED_DATE,
            "dateUpdated": RETURNED_DATE,
            "url": url,
            "delivery": None,
            "links": {
                "delivery_receipts": f"{url}/Receipts",
                "channel_metadata": f"{url}/ChannelMetadata",
            },
            "contentSid": None,
        }
        sent = only_request(results[at["first"]])
        assert (sent["method"], sent["url"]) == ("POST", emulator.base_url + chat)
        assert sent["webhookEnabled"] == "true"
        assert body_of(results[at["first"]]) == [
            ("Attributes", '{"importance": "high"}'),
            ("Author", "alice"),
            ("Body", "Hello ✓ & goodbye"),
            ("DateCreated", SENT_DATE),
        ]
        plain = value(results[at["first"] + 1])
        assert (plain["index"], plain["author"], plain["participantSid"]) == (1, "system", None)
        media = value(results[at["media"]])
        assert (media["body"], media["index"]) == (None, 5)
        assert media["media"] == [{"sid": MEDIA_SID, "content_type": None, "filename": None, "size": None}]
        template = value(results[at["template"]])
        assert (template["contentSid"], template["body"], template["index"]) == (CONTENT_SID, None, 6)
        assert ("ContentVariables", '{"1": "Ann"}') in body_of(results[at["template"]])

        assert value(results[at["fetch"]]) == first
        assert only_request(results[at["fetch"]])["url"] == f"{emulator.base_url}{chat}/{first['sid']}"

        # Seven messages by index over three pages of three; newest first, stopped by a limit.
        listed = value(results[at["list"]])
        assert [message["index"] for message in listed] == list(range(7))
        assert listed[0] == first
        fetched = pages(results[at["list"]])
        by_sid = f"{prefix}/{conversation}/Messages"
        assert [path for path, _ in fetched] == [chat, by_sid, by_sid]
        assert [query.get("Page") for _, query in fetched] == [None, "1", "2"]
        newest = value(results[at["newest"]])
        assert [message["index"] for message in newest] == [6, 5, 4, 3]
        assert [query["Order"] for _, query in pages(results[at["newest"]])] == ["desc", "desc"]

        updated = value(results[at["update"]])
        assert updated == {
            **first,
            "body": "edited",
            "author": "system",
            "participantSid": None,
            "attributes": "{}",
            "dateUpdated": RETURNED_DATE,
        }
        assert only_request(results[at["update"]])["webhookEnabled"] == "false"
        assert body_of(results[at["update"]]) == [
            ("Attributes", "{}"),
            ("Author", "system"),
            ("Body", "edited"),
            ("DateUpdated", SENT_DATE),
        ]
        assert value(results[at["author_again"]])["participantSid"] == first["participantSid"]

        rest_error(results[at["no_body"]], 400, 50503)
        assert body_of(results[at["clear_body"]]) == [("Body", "")]
        rest_error(results[at["clear_body"]], 400, 50503)
        assert value(results[at["clear_media_body"]])["body"] is None
        rest_error(results[at["bad_attributes"]], 400, 50304)

        assert value(results[at["remove"]]) is True
        removed = only_request(results[at["remove"]])
        assert (removed["method"], removed["url"]) == ("DELETE", f"{emulator.base_url}{chat}/{plain['sid']}")
        assert removed["webhookEnabled"] == "true"
        rest_error(results[at["removed"]], 404, 20404)
        rest_error(results[at["remove_again"]], 404, 20404)
        rest_error(results[at["not_a_sid"]], 404, 20404)
        # The refused create took no index; the deleted message's index is not reused.
        assert [message["index"] for message in value(results[at["after"]])] == [0, 2, 3, 4, 5, 6]


# --- conversation-scoped webhooks ----------------------------------------------------------------------


def scoped_webhook_steps(steps: Steps, service: str | None, n: int) -> dict[str, int]:
    """Every scoped-webhook operation in one form, in a conversation named by its unique name."""
    room = f"hooks-{n}"
    at: dict[str, int] = {
        "conversation": steps.add("conversations.create", service, params={"uniqueName": room})
    }

    def add(call: str, **fields: Any) -> int:
        return steps.add(f"scopedWebhooks.{call}", service, conversation=room, **fields)

    at["hook"] = add(
        "create",
        params={
            "target": "webhook",
            "configuration.url": HOOK_URL,
            "configuration.method": "GET",
            "configuration.filters": ["onMessageAdded", "onParticipantAdded", "onMessageAdded"],
            "configuration.replayAfter": 0,
        },
    )
    at["trigger"] = add(
        "create",
        params={
            "target": "trigger",
            "configuration.url": HOOK_URL,
            "configuration.triggers": ["help", "agent"],
        },
    )
    at["studio"] = add("create", params={"target": "studio", "configuration.flowSid": FLOW})
    at["single"] = add(
        "create",
        params={
            "target": "webhook",
            "configuration.url": HOOK_URL,
            "configuration.filters": ["onMessageAdded"],
        },
    )
    at["fetch"] = add("fetch", sid=steps.ref(at["trigger"]))
    at["list"] = add("list", params={"pageSize": 2})
    at["big_page"] = add("list", params={"pageSize": 50})
    at["update"] = add(
        "update",
        sid=steps.ref(at["hook"]),
        params={
            "configuration.method": "post",
            "configuration.filters": ["onMessageRemoved", "onConversationUpdated"],
        },
    )
    at["retrigger"] = add("update", sid=steps.ref(at["trigger"]), params={"configuration.triggers": ["sos"]})
    at["reflow"] = add("update", sid=steps.ref(at["studio"]), params={"configuration.flowSid": OTHER_FLOW})
    # The library drops an empty array: nothing is sent, nothing changes.
    at["no_filters"] = add("update", sid=steps.ref(at["hook"]), params={"configuration.filters": []})
    at["missing_filters"] = add("create", params={"target": "webhook", "configuration.url": HOOK_URL})
    at["bad_target"] = add("create", params={"target": "email", "configuration.url": HOOK_URL})
    at["pre_event"] = add(
        "create",
        params={
            "target": "webhook",
            "configuration.url": HOOK_URL,
            "configuration.filters": ["onMessageAdd"],
        },
    )
    at["bad_url"] = add(
        "update", sid=steps.ref(at["hook"]), params={"configuration.url": "ftp://example.com/"}
    )
    # The library itself requires a target: nothing is sent.
    at["no_target"] = add("create", params={"configuration.url": HOOK_URL})
    at["remove"] = add("remove", sid=steps.ref(at["single"]))
    at["removed"] = add("fetch", sid=steps.ref(at["single"]))
    at["remove_again"] = add("remove", sid=steps.ref(at["single"]))
    at["not_a_sid"] = add("fetch", sid="hello")
    at["fourth"] = add("create", params={"target": "studio", "configuration.flowSid": FLOW})
    at["fifth"] = add("create", params={"target": "studio", "configuration.flowSid": FLOW})
    at["sixth"] = add("create", params={"target": "studio", "configuration.flowSid": FLOW})
    at["after"] = add("list", params={})
    return at


def test_scoped_webhooks_round_trip_every_operation_on_both_forms(node: str, emulator: Server) -> None:
    steps = Steps()
    batches = [(service, scoped_webhook_steps(steps, service, n)) for n, service in enumerate(FORMS)]

    results = run_node(node, emulator, steps.steps)

    for n, (service, at) in enumerate(batches):
        prefix = conversations_path(service)
        conversation = value(results[at["conversation"]])["sid"]
        hooks = f"{prefix}/hooks-{n}/Webhooks"
        service_key = {} if service is None else {"chatServiceSid": service}

        hook = value(results[at["hook"]])
        assert hook == {
            "sid": hook["sid"],
            "accountSid": DEMO_ACCOUNT,
            **service_key,
            "conversationSid": conversation,
            "target": "webhook",
            "url": f"{TWILIO_BASE}{prefix}/{conversation}/Webhooks/{hook['sid']}",
            "configuration": {
                "url": HOOK_URL,
                "method": "get",
                "filters": ["onMessageAdded", "onParticipantAdded"],
            },
            "dateCreated": hook["dateCreated"],
            "dateUpdated": hook["dateCreated"],
        }
        assert hook["sid"].startswith("WH")
        sent = only_request(results[at["hook"]])
        assert (sent["method"], sent["url"]) == ("POST", emulator.base_url + hooks)
        # Arrays go out as repeated keys, in order, duplicates and all.
        assert body_of(results[at["hook"]]) == [
            ("Configuration.Filters", "onMessageAdded"),
            ("Configuration.Filters", "onParticipantAdded"),
            ("Configuration.Filters", "onMessageAdded"),
            ("Configuration.Method", "GET"),
            ("Configuration.ReplayAfter", "0"),
            ("Configuration.Url", HOOK_URL),
            ("Target", "webhook"),
        ]
        trigger = value(results[at["trigger"]])
        assert trigger["configuration"] == {"url": HOOK_URL, "method": "post", "triggers": ["help", "agent"]}
        assert body_of(results[at["trigger"]])[:2] == [
            ("Configuration.Triggers", "help"),
            ("Configuration.Triggers", "agent"),
        ]
        studio = value(results[at["studio"]])
        assert (studio["target"], studio["configuration"]) == ("studio", {"flow_sid": FLOW})
        single = value(results[at["single"]])
        assert single["configuration"]["filters"] == ["onMessageAdded"]
        assert ("Configuration.Filters", "onMessageAdded") in body_of(results[at["single"]])

        assert value(results[at["fetch"]]) == trigger
        assert only_request(results[at["fetch"]])["url"] == f"{emulator.base_url}{hooks}/{trigger['sid']}"

        # Four webhooks over two pages of two; a page holds at most five, so 50 asks for one page.
        made = [hook["sid"], trigger["sid"], studio["sid"], single["sid"]]
        listed = value(results[at["list"]])
        assert sids(listed) == made
        assert listed[0] == hook
        fetched = pages(results[at["list"]])
        assert [path for path, _ in fetched] == [hooks, f"{prefix}/{conversation}/Webhooks"]
        assert sids(value(results[at["big_page"]])) == made
        assert len(results[at["big_page"]]["requests"]) == 1

        updated = value(results[at["update"]])
        assert updated["configuration"] == {
            "url": HOOK_URL,
            "method": "post",
            "filters": ["onMessageRemoved", "onConversationUpdated"],
        }
        assert body_of(results[at["update"]]) == [
            ("Configuration.Filters", "onMessageRemoved"),
            ("Configuration.Filters", "onConversationUpdated"),
            ("Configuration.Method", "post"),
        ]
        assert value(results[at["retrigger"]])["configuration"]["triggers"] == ["sos"]
        assert value(results[at["reflow"]])["configuration"] == {"flow_sid": OTHER_FLOW}
        assert only_request(results[at["no_filters"]])["body"] == ""
        assert value(results[at["no_filters"]])["configuration"] == updated["configuration"]

        rest_error(results[at["missing_filters"]], 400, 50370)
        rest_error(results[at["bad_target"]], 400, 50364)
        rest_error(results[at["pre_event"]], 400, 50365)
        rest_error(results[at["bad_url"]], 400, 50078)
        refused = results[at["no_target"]]
        assert (refused["ok"], refused["error"]["name"], refused["requests"]) == (False, "Error", [])

        assert value(results[at["remove"]]) is True
        removed = only_request(results[at["remove"]])
        assert (removed["method"], removed["url"]) == (
            "DELETE",
            f"{emulator.base_url}{hooks}/{single['sid']}",
        )
        rest_error(results[at["removed"]], 404, 20404)
        rest_error(results[at["remove_again"]], 404, 20404)
        rest_error(results[at["not_a_sid"]], 404, 20404)

        # Five webhooks at most: the sixth is refused.
        value(results[at["fifth"]])
        rest_error(results[at["sixth"]], 400, 50361)
        after = value(results[at["after"]])
        assert sids(after) == [
            *made[:3],
            value(results[at["fourth"]])["sid"],
            value(results[at["fifth"]])["sid"],
        ]
        assert after[0]["configuration"] == updated["configuration"]


# --- REST calls that ask for their hooks -----------------------------------------------------------------


def test_the_node_library_drives_the_post_event_hooks(
    node: str, emulator: Server, api: httpx.Client, receiver: Receiver
) -> None:
    """`xTwilioWebhookEnabled: "true"` on every create, update and remove sends the header, and each call
    fires its post-events, signed; a call without it fires nothing."""
    sid = new_service(api, "node hooks")
    configure_service(api, sid, receiver, SERVICE_EVENTS)
    on = {"xTwilioWebhookEnabled": "true"}
    steps = Steps()
    room = steps.add("conversations.create", sid, params={"friendlyName": "node", **on})
    nested = {"conversation": steps.ref(room)}
    steps.add("conversations.update", sid, sid=steps.ref(room), params={"state": "inactive", **on})
    alice = steps.add("participants.create", sid, **nested, params={"identity": "alice", **on})
    steps.add("participants.update", sid, **nested, sid=steps.ref(alice), params={"attributes": "{}", **on})
    hello = steps.add("messages.create", sid, **nested, params={"author": "alice", "body": "hello", **on})
    steps.add("messages.update", sid, **nested, sid=steps.ref(hello), params={"body": "edited", **on})
    steps.add("messages.create", sid, **nested, params={"body": "quiet"})
    steps.add("messages.remove", sid, **nested, sid=steps.ref(hello), params=on)
    steps.add("participants.remove", sid, **nested, sid=steps.ref(alice), params=on)
    steps.add("conversations.remove", sid, sid=steps.ref(room), params=on)
    results = run_node(node, emulator, steps.steps)
    sent = [only_request(result)["webhookEnabled"] for result in results]
    assert sent == ["true"] * 6 + [None] + ["true"] * 3
    assert [request.params["EventType"] for request in receiver.requests] == [
        "onConversationAdded",
        "onConversationUpdated",
        "onConversationStateUpdated",
        "onParticipantAdded",
        "onParticipantUpdated",
        "onMessageAdded",
        "onMessageUpdated",
        "onMessageRemoved",
        "onParticipantRemoved",
        "onConversationRemoved",
    ]
    conversation = value(results[room])
    for request in receiver.requests:
        assert request.path == "/post"
        assert (request.params["Source"], request.params["ConversationSid"]) == ("API", conversation["sid"])
        assert_signed(request)
    added = receiver.requests[5].params
    assert (added["MessageSid"], added["ParticipantSid"]) == (
        value(results[hello])["sid"],
        value(results[alice])["sid"],
    )
