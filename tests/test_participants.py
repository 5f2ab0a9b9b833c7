"""Participants in both path forms: the four kinds a create makes, fetch, update and delete by SID or
identity, list in pages; every parameter's rule and code in the documented order, the uniqueness of
identities and address bindings, and that a refused request changes nothing.

Most cases run in process (`in_process`, no socket); the race for one identity and the official library
run against a real server on a free port.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    DEMO_TOKEN,
    InProcess,
    Server,
    assert_twilio_error,
    new_service,
)
from tests.test_openapi import shared_spec_path

BASE = "https://conversations.twilio.com"
KEYS = {
    "account_sid",
    "conversation_sid",
    "sid",
    "identity",
    "attributes",
    "messaging_binding",
    "role_sid",
    "date_created",
    "date_updated",
    "url",
    "last_read_message_index",
    "last_read_timestamp",
}
OTHER_ACCOUNT = "AC" + "5" * 32
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
SERVICE_CONVERSATIONS = f"/v1/Services/{DEMO_SERVICE}/Conversations"

ADDRESS = "MessagingBinding.Address"
PROXY = "MessagingBinding.ProxyAddress"
PROJECTED = "MessagingBinding.ProjectedAddress"
PHONE = "+15558675310"
TWILIO_NUMBER = "+15017122661"
ROLE = "RL" + "a" * 32


def conversation(api: httpx.Client, prefix: str = "/v1/Conversations", **params: str) -> str:
    answer = api.post(prefix, data=params)
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["sid"]
    return sid


def created(api: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    answer = api.post(path, data=params)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def participants(sid: str, prefix: str = "/v1/Conversations") -> str:
    return f"{prefix}/{sid}/Participants"


def sms(address: str = PHONE, proxy: str = TWILIO_NUMBER) -> dict[str, str]:
    return {ADDRESS: address, PROXY: proxy}


def assert_refused(
    in_process: InProcess, answer: httpx.Response, code: int, before: dict[str, Any]
) -> dict[str, Any]:
    body = assert_twilio_error(answer, 400, code)
    assert in_process.snapshot() == before
    return body


@pytest.fixture
def room(app_api: httpx.Client) -> str:
    """A conversation of the default service named `room`, its participants' path."""
    conversation(app_api, UniqueName="room")
    return participants("room")


# --- create: the kinds of participant, both forms -------------------------------------------------------


def test_create_in_the_short_form_has_every_key_and_the_defaults(app_api: httpx.Client) -> None:
    sid = conversation(app_api, UniqueName="short")
    body = created(app_api, participants("short"), Identity="alice")
    assert set(body) == KEYS  # no chat_service_sid, no links
    assert re.fullmatch(r"MB[0-9a-f]{32}", body["sid"])
    assert body["account_sid"] == DEMO_ACCOUNT
    assert body["conversation_sid"] == sid
    assert body["identity"] == "alice"
    assert body["attributes"] == "{}"
    assert body["messaging_binding"] is None
    assert body["role_sid"] is None
    assert body["last_read_message_index"] is None
    assert body["last_read_timestamp"] is None
    assert DATE.fullmatch(body["date_created"])
    assert body["date_created"] == body["date_updated"]
    # The URL names the conversation by SID, whatever the request named it by.
    assert body["url"] == f"{BASE}/v1/Conversations/{sid}/Participants/{body['sid']}"


def test_create_in_the_service_form_carries_chat_service_sid(app_api: httpx.Client) -> None:
    sid = conversation(app_api, SERVICE_CONVERSATIONS, UniqueName="served")
    body = created(app_api, participants("served", SERVICE_CONVERSATIONS), Identity="alice")
    assert set(body) == KEYS | {"chat_service_sid"}
    assert list(body)[:3] == ["account_sid", "chat_service_sid", "conversation_sid"]
    assert body["chat_service_sid"] == DEMO_SERVICE
    assert body["url"] == f"{BASE}{SERVICE_CONVERSATIONS}/{sid}/Participants/{body['sid']}"
    fetched = app_api.get(participants(sid, SERVICE_CONVERSATIONS) + f"/{body['sid']}").json()
    assert fetched == body


KINDS = [
    ({"Identity": "chat"}, "chat", None),
    (
        {"Identity": "gmms", PROJECTED: TWILIO_NUMBER},
        "gmms",
        {"type": "sms", "projected_address": TWILIO_NUMBER},
    ),
    (sms(), None, {"type": "sms", "address": PHONE, "proxy_address": TWILIO_NUMBER}),
    (
        sms("whatsapp:+15558675310", "whatsapp:+15017122661"),
        None,
        {"type": "whatsapp", "address": "whatsapp:+15558675310", "proxy_address": "whatsapp:+15017122661"},
    ),
    (
        sms("rcs:+15558675310", "rcs:+15017122661"),
        None,
        {"type": "rcs", "address": "rcs:+15558675310", "proxy_address": "rcs:+15017122661"},
    ),
    ({ADDRESS: PHONE}, None, {"type": "sms", "address": PHONE}),
]


@pytest.mark.parametrize(("params", "identity", "binding"), KINDS)
def test_each_kind_of_participant_has_its_messaging_binding(
    app_api: httpx.Client, room: str, params: dict[str, str], identity: str | None, binding: Any
) -> None:
    body = created(app_api, room, **params)
    assert body["identity"] == identity
    assert body["messaging_binding"] == binding
    assert app_api.get(f"{room}/{body['sid']}").json() == body


def test_create_keeps_attributes_role_and_dates(app_api: httpx.Client, room: str) -> None:
    body = created(
        app_api,
        room,
        Identity="kept",
        Attributes='{ "role": "driver" }',
        RoleSid=ROLE,
        DateCreated="2015-12-16T22:18:37Z",
        DateUpdated="2015-12-16T22:18:38Z",
    )
    assert body["attributes"] == '{ "role": "driver" }'
    assert body["role_sid"] == ROLE
    assert body["date_created"] == "2015-12-16T22:18:37Z"
    assert body["date_updated"] == "2015-12-16T22:18:38Z"
    alone = created(app_api, room, Identity="dated", DateCreated="2020-07-01T22:18:37Z", RoleSid="")
    assert alone["date_updated"] == "2020-07-01T22:18:37Z"
    assert alone["role_sid"] is None


def test_attributes_may_be_any_json_up_to_4_kb(app_api: httpx.Client, room: str) -> None:
    for number, value in enumerate(('"text"', "[1, 2]", "3", "null", '"' + "é" * 2047 + '"')):
        assert created(app_api, room, Identity=f"a{number}", Attributes=value)["attributes"] == value


def test_an_empty_identity_or_projected_address_is_one_not_given(app_api: httpx.Client, room: str) -> None:
    body = created(app_api, room, Identity="", **{ADDRESS: PHONE, PROXY: TWILIO_NUMBER})
    assert body["identity"] is None
    chat = created(app_api, room, Identity="plain", **{PROJECTED: ""})
    assert chat["messaging_binding"] is None


def test_create_takes_the_webhook_header_and_ignores_unknown_parameters(
    app_api: httpx.Client, room: str
) -> None:
    answer = app_api.post(
        room,
        data={"Identity": "hooked", "MessagingBinding.ProxyAddressFallback": "+12025552661"},
        headers={"X-Twilio-Webhook-Enabled": "true"},
    )
    assert answer.status_code == 201, answer.text


# --- create: every error, in the documented order ----------------------------------------------------

CREATE_ERRORS = [
    ({}, 50204),
    ({"Identity": ""}, 50204),
    ({PROJECTED: TWILIO_NUMBER}, 50204),
    ({ADDRESS: PHONE, PROJECTED: TWILIO_NUMBER}, 50204),
    ({"Attributes": "{}", "RoleSid": ROLE}, 50204),
    ({"Identity": "a", ADDRESS: PHONE}, 50211),
    ({"Identity": "a", PROXY: TWILIO_NUMBER}, 50211),
    ({"Identity": "a", ADDRESS: ""}, 50211),
    ({"Identity": "x" * 257}, 50207),
    ({ADDRESS: ""}, 50411),
    ({PROXY: TWILIO_NUMBER}, 50411),
    ({ADDRESS: "", PROXY: ""}, 50411),
    (sms(proxy=""), 50412),
    (sms("not a number", ""), 50412),
    ({ADDRESS: "5558675310"}, 50407),
    ({ADDRESS: "+05558675310"}, 50407),
    ({ADDRESS: "+1555867531012345"}, 50407),  # 16 digits: longer than E.164
    ({ADDRESS: "+" + "1" * 256}, 50407),
    (sms("WhatsApp:+15558675310", "whatsapp:+15017122661"), 50407),
    (sms("sms:+15558675310"), 50407),
    ({ADDRESS: "whatsapp:+15558675310"}, 50407),  # only a phone number takes part without a proxy
    (sms("bad", "bad"), 50407),
    (sms(proxy="+1501-712-2661"), 50408),
    (sms(proxy="x" * 257), 50408),
    (sms(PHONE, PHONE), 50409),
    (sms("whatsapp:+15558675310", "whatsapp:+15558675310"), 50409),
    (sms("whatsapp:+15558675310", TWILIO_NUMBER), 50414),
    (sms("rcs:+15558675310", "whatsapp:+15017122661"), 50414),
    ({**sms(PHONE, "rcs:+15017122661"), "Attributes": "{"}, 50414),
    ({"Identity": "a", "Attributes": "{not json"}, 50304),
    ({"Identity": "a", "Attributes": ""}, 50304),
    ({"Identity": "a", "Attributes": "[Infinity]"}, 50304),
    ({"Identity": "a", "Attributes": '"' + "x" * 4095 + '"'}, 50303),
    ({"Identity": "a", "Attributes": "{", "RoleSid": "RL1"}, 50304),
    ({"Identity": "a", PROJECTED: "whatsapp:+15017122661"}, 20002),
    ({"Identity": "a", PROJECTED: "null"}, 20002),
    ({"Identity": "a", "RoleSid": "RL123"}, 20002),
    ({"Identity": "a", "RoleSid": "MB" + "a" * 32}, 20002),
    ({"Identity": "a", "DateCreated": "yesterday"}, 20002),
    ({"Identity": "a", "DateUpdated": "2020-13-01T00:00:00Z"}, 20002),
    ({"Identity": "nul\x00"}, 20002),
]


@pytest.mark.parametrize(("params", "code"), CREATE_ERRORS)
def test_create_refuses_a_bad_parameter_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, room: str, params: dict[str, str], code: int
) -> None:
    before = in_process.snapshot()
    assert_refused(in_process, app_api.post(room, data=params), code, before)


def test_the_messages_of_documented_errors(app_api: httpx.Client, room: str) -> None:
    body = assert_twilio_error(app_api.post(room, data={}), 400, 50204)
    assert body["message"] == "Identity not provided"


def test_a_closed_conversation_takes_no_participant_but_parameters_are_checked_first(
    in_process: InProcess, app_api: httpx.Client
) -> None:
    sid = conversation(app_api, UniqueName="closing")
    created(app_api, participants(sid), Identity="alice")
    assert app_api.post(f"/v1/Conversations/{sid}", data={"State": "closed"}).status_code == 200
    before = in_process.snapshot()
    for params, code in (
        ({"Identity": "bob"}, 50377),
        ({"Identity": "alice"}, 50377),  # closed comes before the identity conflict
        ({"Identity": "bob", "Attributes": "{"}, 50304),
    ):
        assert_refused(in_process, app_api.post(participants(sid), data=params), code, before)


def test_an_identity_is_unique_in_its_conversation_only(
    in_process: InProcess, app_api: httpx.Client, room: str
) -> None:
    created(app_api, room, Identity="alice")
    before = in_process.snapshot()
    assert_refused(in_process, app_api.post(room, data={"Identity": "alice"}), 50433, before)
    # The conflict comes after every parameter's own check.
    assert_refused(in_process, app_api.post(room, data={"Identity": "alice", "RoleSid": "x"}), 20002, before)
    assert created(app_api, room, Identity="Alice")["identity"] == "Alice"  # exact, case-sensitive
    other = conversation(app_api)
    assert created(app_api, participants(other), Identity="alice")["identity"] == "alice"
    gmms = {"Identity": "alice", PROJECTED: TWILIO_NUMBER}
    assert_twilio_error(app_api.post(room, data=gmms), 400, 50433)


def test_an_address_and_proxy_pair_is_bound_once_in_the_account(
    in_process: InProcess, app_api: httpx.Client, room: str
) -> None:
    first = created(app_api, room, **sms())
    elsewhere = conversation(app_api, SERVICE_CONVERSATIONS)  # another service of the account
    another_prefix = f"/v1/Services/{new_service(app_api)}/Conversations"
    another_service = participants(conversation(app_api, another_prefix), another_prefix)
    before = in_process.snapshot()
    message = (
        "A binding for this participant and proxy address already exists in Conversation "
        f"{first['conversation_sid']}"
    )
    for path in (room, participants(elsewhere, SERVICE_CONVERSATIONS), another_service):
        body = assert_refused(in_process, app_api.post(path, data=sms()), 50416, before)
        assert body["message"] == message
    # The same address with another proxy, or the same proxy with another address, is another binding.
    created(app_api, participants(elsewhere, SERVICE_CONVERSATIONS), **sms(proxy="+15017122662"))
    created(app_api, participants(elsewhere, SERVICE_CONVERSATIONS), **sms(address="+15558675399"))
    # A group-MMS participant of that address is no binding to a proxy.
    created(app_api, room, **{ADDRESS: PHONE})


def test_another_account_may_bind_the_same_pair(in_process: InProcess) -> None:
    in_process.reset()
    mine = in_process.client()
    created(mine, participants(conversation(mine)), **sms())
    other = in_process.client(OTHER_ACCOUNT, "other-token")
    created(other, participants(conversation(other)), **sms())
    in_process.client()


def test_an_inactive_conversation_keeps_its_bindings_and_closing_it_frees_them(
    in_process: InProcess, app_api: httpx.Client
) -> None:
    held = conversation(app_api, State="inactive")
    created(app_api, participants(held), **sms())
    later = conversation(app_api)
    before = in_process.snapshot()
    assert_refused(in_process, app_api.post(participants(later), data=sms()), 50416, before)
    closed = app_api.post(f"/v1/Conversations/{held}", data={"State": "closed"})
    assert closed.json()["state"] == "closed"
    body = created(app_api, participants(later), **sms())
    assert body["messaging_binding"]["proxy_address"] == TWILIO_NUMBER
    # Now the binding is the new conversation's.
    third = conversation(app_api)
    refused = assert_twilio_error(app_api.post(participants(third), data=sms()), 400, 50416)
    assert refused["message"].endswith(later)


def test_deleting_the_participant_or_its_conversation_frees_the_binding(app_api: httpx.Client) -> None:
    first = conversation(app_api)
    body = created(app_api, participants(first), **sms())
    second = conversation(app_api)
    assert_twilio_error(app_api.post(participants(second), data=sms()), 400, 50416)
    assert app_api.delete(f"{participants(first)}/{body['sid']}").status_code == 204
    created(app_api, participants(second), **sms())
    assert app_api.delete(f"/v1/Conversations/{second}").status_code == 204
    created(app_api, participants(first), **sms())


def test_a_group_mms_address_is_unique_in_its_conversation(
    in_process: InProcess, app_api: httpx.Client, room: str
) -> None:
    created(app_api, room, **{ADDRESS: PHONE})
    before = in_process.snapshot()
    assert_refused(in_process, app_api.post(room, data={ADDRESS: PHONE}), 50437, before)
    created(app_api, room, **{ADDRESS: "+15558675311"})
    created(app_api, participants(conversation(app_api)), **{ADDRESS: PHONE})


# --- fetch, and what is not found ------------------------------------------------------------------------


def test_fetch_by_sid_or_identity_in_both_forms(app_api: httpx.Client) -> None:
    sid = conversation(app_api, SERVICE_CONVERSATIONS, UniqueName="both")
    body = created(app_api, participants(sid, SERVICE_CONVERSATIONS), Identity="alice")
    for path in (participants(sid, SERVICE_CONVERSATIONS), participants("both", SERVICE_CONVERSATIONS)):
        assert app_api.get(f"{path}/{body['sid']}").json() == body
        assert app_api.get(f"{path}/alice").json() == body
    assert_twilio_error(app_api.get(f"{participants(sid, SERVICE_CONVERSATIONS)}/Alice"), 404, 20404)
    short = conversation(app_api, UniqueName="short-form")
    mine = created(app_api, participants(short), Identity="bob")
    assert app_api.get(f"{participants('short-form')}/bob").json() == mine


def test_an_identity_shaped_like_a_sid_is_still_found(app_api: httpx.Client, room: str) -> None:
    shaped = "MB" + "c" * 32
    body = created(app_api, room, Identity=shaped)
    assert app_api.get(f"{room}/{shaped}").json()["sid"] == body["sid"]


def test_an_address_names_no_participant(app_api: httpx.Client, room: str) -> None:
    created(app_api, room, **sms())
    created(app_api, room, **{ADDRESS: "+15558675311"})
    for address in (PHONE, TWILIO_NUMBER, "+15558675311"):
        assert_twilio_error(app_api.get(f"{room}/{address}"), 404, 20404)
        assert_twilio_error(app_api.post(f"{room}/{address}", data={}), 404, 20404)
        assert_twilio_error(app_api.delete(f"{room}/{address}"), 404, 20404)


def test_unknown_conversations_and_participants_are_404(app_api: httpx.Client, room: str) -> None:
    body = created(app_api, room, Identity="alice")
    other = conversation(app_api)
    paths = [
        f"{room}/MB" + "0" * 32,
        f"{room}/MB123",
        f"{room}/nobody",
        f"{participants(other)}/{body['sid']}",  # another conversation's participant
        f"{participants(other)}/alice",
        "/v1/Conversations/CH" + "0" * 32 + "/Participants/alice",
        "/v1/Conversations/no-such-room/Participants",
        f"{SERVICE_CONVERSATIONS}/room/Participants",  # room is in the default service
        f"/v1/Services/IS{'0' * 31}9/Conversations/{body['conversation_sid']}/Participants",
        "/v1/Services/not-a-sid/Conversations/room/Participants",
    ]
    for path in paths:
        answer = assert_twilio_error(app_api.get(path), 404, 20404)
        assert answer["message"] == f"The requested resource {path[3:]} was not found"
    assert_twilio_error(app_api.post("/v1/Conversations/nowhere/Participants", data={}), 404, 20404)


def test_another_accounts_participant_is_404_and_untouched(in_process: InProcess) -> None:
    in_process.reset()
    mine = in_process.client()
    sid = conversation(mine, UniqueName="mine")
    body = created(mine, participants(sid), Identity="alice")
    other = in_process.client(OTHER_ACCOUNT, "other-token")
    other.get("/v1/Conversations")  # the other account and its default service exist before the snapshot
    before = in_process.snapshot()
    for path in (f"{participants(sid)}/{body['sid']}", f"{participants('mine')}/alice"):
        assert_twilio_error(other.get(path), 404, 20404)
        assert_twilio_error(other.post(path, data={"Attributes": "[]"}), 404, 20404)
        assert_twilio_error(other.delete(path), 404, 20404)
    assert_twilio_error(other.get(participants(sid)), 404, 20404)
    assert_twilio_error(other.post(participants(sid), data={"Identity": "x"}), 404, 20404)
    assert in_process.snapshot() == before
    in_process.client()


# --- update -----------------------------------------------------------------------------------------------


def test_update_changes_only_what_it_names(app_api: httpx.Client, room: str) -> None:
    body = created(
        app_api,
        room,
        Identity="alice",
        Attributes='{"a": 1}',
        RoleSid=ROLE,
        DateCreated="2020-01-01T00:00:00Z",
    )
    updated = app_api.post(
        f"{room}/{body['sid']}",
        data={"LastReadMessageIndex": "3", "LastReadTimestamp": "2024-05-06T07:08:09.123Z"},
    ).json()
    assert updated["last_read_message_index"] == 3
    assert updated["last_read_timestamp"] == "2024-05-06T07:08:09.123Z"
    assert updated["attributes"] == '{"a": 1}'
    assert updated["role_sid"] == ROLE
    assert updated["date_created"] == "2020-01-01T00:00:00Z"
    assert updated["date_updated"] > "2025"  # an update moves date_updated unless it is given
    assert set(updated) == KEYS
    again = app_api.post(
        f"{room}/alice",
        data={
            "Attributes": "[]",
            "RoleSid": "",
            "LastReadMessageIndex": "",
            "LastReadTimestamp": "whatever the client says",
            "DateCreated": "2019-01-01T00:00:00Z",
            "DateUpdated": "2019-01-02T00:00:00Z",
        },
    ).json()
    assert again["attributes"] == "[]"
    assert again["role_sid"] is None
    assert again["last_read_message_index"] is None
    assert again["last_read_timestamp"] == "whatever the client says"  # verbatim
    assert again["date_created"] == "2019-01-01T00:00:00Z"
    assert again["date_updated"] == "2019-01-02T00:00:00Z"
    assert app_api.post(f"{room}/alice", data={"LastReadTimestamp": ""}).json()["last_read_timestamp"] is None
    assert app_api.get(f"{room}/alice").json()["attributes"] == "[]"


def test_update_in_the_service_form(app_api: httpx.Client) -> None:
    sid = conversation(app_api, SERVICE_CONVERSATIONS)
    body = created(app_api, participants(sid, SERVICE_CONVERSATIONS), Identity="alice")
    updated = app_api.post(f"{participants(sid, SERVICE_CONVERSATIONS)}/alice", data={"Attributes": "1"})
    assert updated.status_code == 200
    assert updated.json() == {**body, "attributes": "1", "date_updated": updated.json()["date_updated"]}


UPDATE_ERRORS = [
    ("chat", {"Attributes": "{"}, 50304),
    ("chat", {"Attributes": '"' + "x" * 4095 + '"'}, 50303),
    ("chat", {"RoleSid": "RL1"}, 20002),
    ("chat", {"DateCreated": "yesterday"}, 20002),
    ("chat", {"DateUpdated": "2020-02-30T00:00:00Z"}, 20002),
    ("chat", {"LastReadMessageIndex": "-1"}, 20002),
    ("chat", {"LastReadMessageIndex": "1.5"}, 20002),
    ("chat", {"LastReadMessageIndex": "three"}, 20002),
    ("chat", {"LastReadMessageIndex": "٣"}, 20002),  # a digit, but not an ASCII one
    ("chat", {"LastReadMessageIndex": "9" * 20}, 20002),
    ("chat", {"LastReadTimestamp": "nul\x00"}, 20002),
    ("chat", {"Identity": "x" * 257}, 50207),
    ("chat", {"Identity": "renamed"}, 50444),
    ("gmms", {"Identity": "renamed"}, 50444),
    ("sms", {"Identity": "renamed"}, 50444),
    ("group", {"Identity": "renamed"}, 50444),
    ("sms", {PROXY: ""}, 50412),
    ("sms", {PROXY: "1501712266"}, 50408),
    ("chat", {PROXY: TWILIO_NUMBER}, 50441),
    ("gmms", {PROXY: "null"}, 50441),
    ("group", {PROXY: "null"}, 50440),
    ("whatsapp", {PROXY: "null"}, 50441),  # a WhatsApp participant needs its proxy
    ("sms", {PROXY: PHONE}, 50409),
    ("sms", {PROXY: "whatsapp:+15017122661"}, 50414),
    ("whatsapp", {PROXY: TWILIO_NUMBER}, 50414),
    ("chat", {PROJECTED: "+1501-712"}, 20002),
    ("sms", {PROJECTED: TWILIO_NUMBER}, 50443),
    ("group", {PROJECTED: "null"}, 50443),
    # The checks of each parameter's value come before those that need the participant.
    ("chat", {"Identity": "renamed", "Attributes": "{"}, 50304),
    ("sms", {"Identity": "renamed", PROXY: "bad"}, 50408),
    ("sms", {"Identity": "renamed", PROXY: PHONE}, 50444),
    ("chat", {PROXY: TWILIO_NUMBER, PROJECTED: "+1"}, 20002),
]


@pytest.fixture
def kinds(app_api: httpx.Client, room: str) -> dict[str, str]:
    """One participant of each kind in `room`: their paths."""
    made = {
        "chat": {"Identity": "chat"},
        "gmms": {"Identity": "gmms", PROJECTED: TWILIO_NUMBER},
        "sms": sms(),
        "whatsapp": sms("whatsapp:+15558675310", "whatsapp:+15017122661"),
        "group": {ADDRESS: "+15558675311"},
    }
    return {kind: f"{room}/{created(app_api, room, **params)['sid']}" for kind, params in made.items()}


@pytest.mark.parametrize(("kind", "params", "code"), UPDATE_ERRORS)
def test_update_refuses_a_bad_parameter_and_changes_nothing(
    in_process: InProcess,
    app_api: httpx.Client,
    kinds: dict[str, str],
    kind: str,
    params: dict[str, str],
    code: int,
) -> None:
    before = in_process.snapshot()
    assert_refused(in_process, app_api.post(kinds[kind], data=params), code, before)


def test_an_unknown_participant_is_404_before_its_parameters_are_read(
    app_api: httpx.Client, room: str
) -> None:
    assert_twilio_error(app_api.post(f"{room}/nobody", data={"Attributes": "{"}), 404, 20404)


def test_the_proxy_of_an_address_participant_can_change_and_go(
    app_api: httpx.Client, kinds: dict[str, str]
) -> None:
    moved = app_api.post(kinds["sms"], data={PROXY: "+15017122662"}).json()
    assert moved["messaging_binding"] == {"type": "sms", "address": PHONE, "proxy_address": "+15017122662"}
    gone = app_api.post(kinds["sms"], data={PROXY: "null"}).json()
    assert gone["messaging_binding"] == {"type": "sms", "address": PHONE}  # now in group MMS
    back = app_api.post(kinds["group"], data={PROXY: TWILIO_NUMBER}).json()
    assert back["messaging_binding"] == {
        "type": "sms",
        "address": "+15558675311",
        "proxy_address": TWILIO_NUMBER,
    }
    whatsapp = app_api.post(kinds["whatsapp"], data={PROXY: "whatsapp:+15017122662"}).json()
    assert whatsapp["messaging_binding"]["proxy_address"] == "whatsapp:+15017122662"


def test_the_projected_address_of_a_chat_participant_can_change_and_go(
    app_api: httpx.Client, kinds: dict[str, str]
) -> None:
    projected = app_api.post(kinds["chat"], data={PROJECTED: TWILIO_NUMBER}).json()
    assert projected["messaging_binding"] == {"type": "sms", "projected_address": TWILIO_NUMBER}
    assert app_api.post(kinds["gmms"], data={PROJECTED: "null"}).json()["messaging_binding"] is None
    assert app_api.post(kinds["gmms"], data={PROJECTED: "null"}).json()["messaging_binding"] is None
    assert app_api.post(kinds["chat"], data={PROJECTED: ""}).json()["messaging_binding"] is None


def test_update_checks_the_uniqueness_rules_on_the_result(
    in_process: InProcess, app_api: httpx.Client, room: str, kinds: dict[str, str]
) -> None:
    elsewhere = conversation(app_api)
    other = created(app_api, participants(elsewhere), **sms(proxy="+15017122662"))
    before = in_process.snapshot()
    # Moving to a proxy the address is already bound to, in any open conversation of the account.
    body = assert_refused(in_process, app_api.post(kinds["sms"], data={PROXY: "+15017122662"}), 50416, before)
    assert body["message"].endswith(elsewhere)
    created(app_api, room, **{ADDRESS: PHONE})
    before = in_process.snapshot()
    # Leaving the proxy makes a group-MMS participant, and the conversation has one of that address.
    assert_refused(in_process, app_api.post(kinds["sms"], data={PROXY: "null"}), 50437, before)
    # Keeping one's own binding is no conflict.
    assert app_api.post(kinds["sms"], data={PROXY: TWILIO_NUMBER}).status_code == 200
    assert (
        app_api.post(f"{participants(elsewhere)}/{other['sid']}", data={"Attributes": "[]"}).status_code
        == 200
    )


def test_identity_can_be_given_to_a_participant_known_by_its_projected_address_alone(
    in_process: InProcess, app_api: httpx.Client, room: str
) -> None:
    # No request makes such a participant (a projected address needs an identity), so the test writes one.
    body = created(app_api, room, Identity="gmms", **{PROJECTED: TWILIO_NUMBER})
    created(app_api, room, Identity="taken")
    in_process.database.execute(
        f"UPDATE conversation_participant SET identity = NULL WHERE sid = '{body['sid']}'"  # noqa: S608
    )
    path = f"{room}/{body['sid']}"
    before = in_process.snapshot()
    assert_refused(in_process, app_api.post(path, data={"Identity": "taken"}), 50433, before)
    named = app_api.post(path, data={"Identity": "named"}).json()
    assert named["identity"] == "named"
    assert named["messaging_binding"] == {"type": "sms", "projected_address": TWILIO_NUMBER}
    assert_twilio_error(app_api.post(path, data={"Identity": "again"}), 400, 50444)


def test_a_closed_conversation_refuses_participant_updates_but_not_deletes(
    in_process: InProcess, app_api: httpx.Client
) -> None:
    sid = conversation(app_api)
    created(app_api, participants(sid), Identity="alice")
    app_api.post(f"/v1/Conversations/{sid}", data={"State": "closed"})
    before = in_process.snapshot()
    assert_refused(in_process, app_api.post(f"{participants(sid)}/alice", data={}), 50377, before)
    assert app_api.get(f"{participants(sid)}/alice").status_code == 200
    assert app_api.delete(f"{participants(sid)}/alice").status_code == 204


# --- list -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/v1/Conversations", SERVICE_CONVERSATIONS])
def test_list_is_in_creation_order_and_pages_like_twilio(app_api: httpx.Client, prefix: str) -> None:
    sid = conversation(app_api, prefix, UniqueName="listed")
    noise = conversation(app_api, prefix)
    made = [created(app_api, participants("listed", prefix), Identity=f"p{n}") for n in range(5)]
    created(app_api, participants(noise, prefix), Identity="elsewhere")
    first = app_api.get(participants("listed", prefix), params={"PageSize": 2}).json()
    assert set(first) == {"participants", "meta"}
    assert first["meta"]["key"] == "participants"
    assert first["meta"]["page_size"] == 2
    assert first["participants"] == made[:2]
    seen = list(first["participants"])
    url = first["meta"]["next_page_url"]
    pages = 1
    while url:
        # Back to the emulator, never Twilio, with the conversation by SID.
        assert url.startswith(f"http://127.0.0.1{prefix}/{sid}/Participants?")
        page = app_api.get(url).json()
        seen += page["participants"]
        url = page["meta"]["next_page_url"]
        pages += 1
    assert pages == 3
    assert seen == made
    back = app_api.get(page["meta"]["previous_page_url"]).json()
    assert [item["sid"] for item in back["participants"]] == [item["sid"] for item in made[2:4]]


def test_list_default_and_largest_page_sizes(app_api: httpx.Client, room: str) -> None:
    empty = app_api.get(room).json()
    assert empty["participants"] == []
    assert empty["meta"]["page_size"] == 50
    assert empty["meta"]["next_page_url"] is None
    assert parse_qs(urlsplit(empty["meta"]["url"]).query) == {"PageSize": ["50"], "Page": ["0"]}
    assert app_api.get(room, params={"PageSize": 1000}).json()["meta"]["page_size"] == 100


@pytest.mark.parametrize(
    "params", [{"PageSize": "0"}, {"PageSize": "1001"}, {"Page": "-1"}, {"PageToken": "x"}]
)
def test_list_refuses_a_bad_page(app_api: httpx.Client, room: str, params: dict[str, str]) -> None:
    assert_twilio_error(app_api.get(room, params=params), 400, 20002)


# --- deletes, cascades and resets -----------------------------------------------------------------------


def test_delete_by_sid_or_identity_answers_204_and_frees_the_identity(
    app_api: httpx.Client, room: str
) -> None:
    body = created(app_api, room, Identity="alice")
    answer = app_api.delete(f"{room}/{body['sid']}")
    assert answer.status_code == 204
    assert answer.content == b""
    assert_twilio_error(app_api.get(f"{room}/{body['sid']}"), 404, 20404)
    assert_twilio_error(app_api.delete(f"{room}/{body['sid']}"), 404, 20404)
    again = created(app_api, room, Identity="alice")
    assert again["sid"] != body["sid"]
    assert app_api.delete(f"{room}/alice").status_code == 204
    assert app_api.get(room).json()["participants"] == []


def test_delete_in_the_service_form(app_api: httpx.Client) -> None:
    sid = conversation(app_api, SERVICE_CONVERSATIONS)
    created(app_api, participants(sid, SERVICE_CONVERSATIONS), **sms())
    listed = app_api.get(participants(sid, SERVICE_CONVERSATIONS)).json()["participants"]
    path = f"{participants(sid, SERVICE_CONVERSATIONS)}/{listed[0]['sid']}"
    assert app_api.delete(path).status_code == 204
    assert_twilio_error(app_api.get(path), 404, 20404)


def test_deleting_a_conversation_or_its_service_deletes_its_participants(
    in_process: InProcess, app_api: httpx.Client
) -> None:
    kept = conversation(app_api)
    created(app_api, participants(kept), Identity="kept")
    gone = conversation(app_api)
    created(app_api, participants(gone), Identity="gone")
    assert app_api.delete(f"/v1/Conversations/{gone}").status_code == 204
    rows = in_process.snapshot()["conversation_participant"]
    assert [gone in row for row in rows] == [False]
    service = new_service(app_api)
    under = conversation(app_api, f"/v1/Services/{service}/Conversations")
    created(app_api, participants(under, f"/v1/Services/{service}/Conversations"), **sms())
    assert app_api.delete(f"/v1/Services/{service}").status_code == 204
    rows = in_process.snapshot()["conversation_participant"]
    assert len(rows) == 1
    assert any("kept" in row for row in rows)


def test_reset_removes_participants(in_process: InProcess, app_api: httpx.Client, room: str) -> None:
    created(app_api, room, Identity="before-reset")
    in_process.reset()
    assert in_process.snapshot()["conversation_participant"] == []


def test_reset_of_one_account_keeps_the_others(in_process: InProcess) -> None:
    in_process.reset()
    mine = in_process.client()
    created(mine, participants(conversation(mine)), Identity="demo-kept")
    other = in_process.client(OTHER_ACCOUNT, "token")
    created(other, participants(conversation(other)), Identity="other-gone")
    in_process.http.post("/_emulator/reset", params={"account_sid": OTHER_ACCOUNT}).raise_for_status()
    rows = [repr(row) for row in in_process.snapshot()["conversation_participant"]]
    assert len(rows) == 1
    assert "demo-kept" in rows[0]
    in_process.client()


# --- /openapi.json ----------------------------------------------------------------------------------------

OPERATIONS = [
    (path, method, f"{verb}{stem}ConversationParticipant")
    for stem, prefix in (
        ("", "/v1/Conversations"),
        ("Service", "/v1/Services/{ChatServiceSid}/Conversations"),
    )
    for path, method, verb in (
        (f"{prefix}/{{ConversationSid}}/Participants", "post", "Create"),
        (f"{prefix}/{{ConversationSid}}/Participants", "get", "List"),
        (f"{prefix}/{{ConversationSid}}/Participants/{{Sid}}", "get", "Fetch"),
        (f"{prefix}/{{ConversationSid}}/Participants/{{Sid}}", "post", "Update"),
        (f"{prefix}/{{ConversationSid}}/Participants/{{Sid}}", "delete", "Delete"),
    )
]


@pytest.fixture(scope="module")
def documents(in_process: InProcess) -> tuple[dict[str, Any], dict[str, Any]]:
    """The emulator's `/openapi.json` and Twilio's file."""
    spec = json.loads(shared_spec_path().read_text(encoding="utf-8"))
    return in_process.http.get("/openapi.json").json(), spec


@pytest.mark.parametrize(("path", "method", "operation_id"), OPERATIONS)
def test_openapi_carries_twilios_operations_and_the_errors_they_answer(
    documents: tuple[dict[str, Any], dict[str, Any]], path: str, method: str, operation_id: str
) -> None:
    ours, theirs = (document["paths"][path][method] for document in documents)
    assert ours["operationId"] == theirs["operationId"] == operation_id
    assert ours.get("parameters") == theirs.get("parameters")
    assert ours.get("requestBody") == theirs.get("requestBody")
    successes = {status: response for status, response in ours["responses"].items() if status[0] in "23"}
    assert successes == theirs["responses"]
    errors = {status for status in ours["responses"] if status[0] not in "23"}
    expected = {"401", "404", "429", "500", "default"}
    if method == "post":
        expected |= {"400", "413"}
    if method == "get" and path.endswith("Participants"):
        expected.add("400")
    assert errors == expected
    # The 404 example names an example path, no placeholders.
    missing = ours["responses"]["404"]["content"]["application/json"]["example"]["message"]
    assert "{" not in missing
    assert ("/Participants/MB" in missing) == path.endswith("{Sid}")


# --- against a real server: a race, and the official library ---------------------------------------------


def test_two_creates_racing_for_one_identity_give_one_participant(emulator: Server) -> None:
    with emulator.client() as client:
        sid = conversation(client)
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def create() -> None:
        with emulator.client() as client:
            barrier.wait()
            answers.append(client.post(participants(sid), data={"Identity": "racer"}))

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [201, 400]
    refused = next(answer for answer in answers if answer.status_code == 400)
    assert_twilio_error(refused, 400, 50433)
    rows = emulator.snapshot()["conversation_participant"]
    assert sum("racer" in row for row in rows) == 1


def test_many_creates_racing_for_one_binding_give_one_participant(emulator: Server) -> None:
    with emulator.client() as client:
        sids = [conversation(client) for _ in range(6)]
    barrier = threading.Barrier(len(sids))
    codes: list[int] = []

    def create(sid: str) -> None:
        with emulator.client() as client:
            barrier.wait()
            answer = client.post(participants(sid), data=sms())
            codes.append(201 if answer.status_code == 201 else answer.json()["code"])

    threads = [threading.Thread(target=create, args=(sid,)) for sid in sids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [201] + [50416] * 5
    assert len(emulator.snapshot()["conversation_participant"]) == 1


def test_the_python_library_round_trips_every_operation_on_both_forms(emulator: Server) -> None:
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    client = Client(DEMO_ACCOUNT, DEMO_TOKEN)
    client.conversations.base_url = emulator.base_url
    v1 = client.conversations.v1
    for conversations, service_sid in (
        (v1.conversations, None),
        (v1.services(DEMO_SERVICE).conversations, DEMO_SERVICE),
    ):
        sid = conversations.create(friendly_name="sdk").sid
        roster = conversations(sid).participants
        made = [roster.create(identity=f"sdk-{n}", attributes=f'{{"n": {n}}}') for n in range(5)]
        assert made[0].sid.startswith("MB")
        assert made[0].messaging_binding is None
        assert getattr(made[0], "chat_service_sid", None) == service_sid
        texting = roster.create(
            messaging_binding_address=PHONE, messaging_binding_proxy_address=TWILIO_NUMBER
        )
        assert texting.messaging_binding == {"type": "sms", "address": PHONE, "proxy_address": TWILIO_NUMBER}
        gmms = roster.create(
            identity="sdk-gmms", messaging_binding_projected_address=TWILIO_NUMBER, role_sid=ROLE
        )
        assert gmms.messaging_binding == {"type": "sms", "projected_address": TWILIO_NUMBER}
        assert roster("sdk-3").fetch().sid == made[3].sid  # by identity
        listed = roster.list(page_size=2)  # follows next_page_url over four pages
        assert [item.sid for item in listed] == [item.sid for item in made] + [texting.sid, gmms.sid]
        assert len(roster.list(limit=500)) == 7  # PageSize=500 is accepted and cut to 100
        updated = roster(made[0].sid).update(
            attributes="[]", last_read_message_index=4, last_read_timestamp="2024-01-01T00:00:00Z"
        )
        assert updated.attributes == "[]"
        assert updated.last_read_message_index == 4
        assert updated.last_read_timestamp == "2024-01-01T00:00:00Z"
        moved = roster(texting.sid).update(messaging_binding_proxy_address="+15017122662")
        assert moved.messaging_binding["proxy_address"] == "+15017122662"
        assert roster(made[1].sid).delete() is True
        assert roster("sdk-2").delete() is True
        with pytest.raises(TwilioRestException) as refused:
            roster.create(identity="sdk-3")
        assert refused.value.status == 400
        assert refused.value.code == 50433
        with pytest.raises(TwilioRestException) as not_changeable:
            roster(made[0].sid).update(messaging_binding_proxy_address=TWILIO_NUMBER)
        assert not_changeable.value.code == 50441
        with pytest.raises(TwilioRestException) as missing:
            roster(made[1].sid).fetch()
        assert missing.value.status == 404
        assert missing.value.code == 20404
        # Free the binding for the next form's conversation.
        conversations(sid).delete()
