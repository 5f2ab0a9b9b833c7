"""Fixture documents seed conversations with their participants, messages and scoped webhooks, checked by
the same rules as the REST API, idempotently, refused whole (naming the entry) when any entry is bad."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DEMO_ACCOUNT, DEMO_SERVICE, InProcess, assert_twilio_error, start_server
from tests.test_conversations import default_service

OTHER_ACCOUNT = "AC" + "6" * 32
ROOM = "CH" + "1" * 32
SUPPORT = "CH" + "2" * 32
ALICE = "MB" + "1" * 32
SMS = "MB" + "2" * 32
HELLO = "IM" + "1" * 32
REPLY = "IM" + "2" * 32
HOOK = "WH" + "1" * 32

DOCUMENT: dict[str, Any] = {
    "conversations": [
        {
            "sid": ROOM,
            "account_sid": DEMO_ACCOUNT,
            "friendly_name": "Room",
            "unique_name": "room",
            "attributes": '{"topic": "billing"}',
            "participants": [
                {"sid": ALICE, "identity": "alice", "attributes": '{"role": "agent"}'},
                {
                    "sid": SMS,
                    "messaging_binding": {"address": "+15551230000", "proxy_address": "+15559990000"},
                },
            ],
            "messages": [
                {"sid": HELLO, "author": "alice", "body": "Hello"},
                {"sid": REPLY, "author": "+15551230000", "body": "Hi!", "attributes": '{"n": 1}'},
            ],
            "webhooks": [
                {
                    "sid": HOOK,
                    "target": "webhook",
                    "configuration": {
                        "url": "http://127.0.0.1:9/hook",
                        "method": "GET",
                        "filters": ["onMessageAdded", "onParticipantAdded"],
                    },
                }
            ],
        },
        {
            "sid": SUPPORT,
            "account_sid": DEMO_ACCOUNT,
            "chat_service_sid": DEMO_SERVICE,
            "unique_name": "support",
            "state": "closed",
            "participants": [{"sid": "MB" + "3" * 32, "identity": "bob"}],
            "messages": [{"sid": "IM" + "3" * 32, "author": "bob", "body": "bye"}],
        },
    ]
}


def apply(api: httpx.Client, document: dict[str, Any]) -> httpx.Response:
    return api.post("/_emulator/fixtures", json=document)


def test_a_document_seeds_conversations_and_everything_under_them(app_api: httpx.Client) -> None:
    assert apply(app_api, DOCUMENT).status_code == 204
    room = app_api.get("/v1/Conversations/room").json()
    assert room["sid"] == ROOM
    assert room["chat_service_sid"] == default_service()
    assert room["attributes"] == '{"topic": "billing"}'
    participants = app_api.get(f"/v1/Conversations/{ROOM}/Participants").json()["participants"]
    assert [item["sid"] for item in participants] == [ALICE, SMS]
    assert participants[0]["identity"] == "alice"
    assert participants[1]["messaging_binding"] == {
        "type": "sms",
        "address": "+15551230000",
        "proxy_address": "+15559990000",
    }
    messages = app_api.get(f"/v1/Conversations/{ROOM}/Messages").json()["messages"]
    assert [(item["sid"], item["index"], item["participant_sid"]) for item in messages] == [
        (HELLO, 0, ALICE),
        (REPLY, 1, SMS),
    ]
    (hook,) = app_api.get(f"/v1/Conversations/{ROOM}/Webhooks").json()["webhooks"]
    assert hook["sid"] == HOOK
    assert hook["configuration"] == {
        "url": "http://127.0.0.1:9/hook",
        "method": "get",
        "filters": ["onMessageAdded", "onParticipantAdded"],
    }
    support = app_api.get(f"/v1/Services/{DEMO_SERVICE}/Conversations/support").json()
    assert support["state"] == "closed"  # closed after its children went in
    bob = app_api.get(f"/v1/Services/{DEMO_SERVICE}/Conversations/support/Messages").json()["messages"]
    assert [item["body"] for item in bob] == ["bye"]
    # A new message continues the seeded indexes.
    answer = app_api.post(f"/v1/Conversations/{ROOM}/Messages", data={"Body": "next"})
    assert answer.json()["index"] == 2


def test_applying_the_same_document_again_changes_nothing(
    in_process: InProcess, app_api: httpx.Client
) -> None:
    assert apply(app_api, DOCUMENT).status_code == 204
    before = in_process.snapshot()
    assert apply(app_api, DOCUMENT).status_code == 204
    assert in_process.snapshot() == before


def test_a_document_sets_what_it_names_and_keeps_what_clients_did_to_children(
    app_api: httpx.Client,
) -> None:
    apply(app_api, DOCUMENT)
    app_api.post(f"/v1/Conversations/{ROOM}/Messages/{HELLO}", data={"Body": "edited by a client"})
    renamed = copy.deepcopy(DOCUMENT)
    renamed["conversations"][0]["friendly_name"] = "Renamed room"
    renamed["conversations"][0]["messages"][0]["body"] = "Hello again"
    assert apply(app_api, renamed).status_code == 204
    assert app_api.get(f"/v1/Conversations/{ROOM}").json()["friendly_name"] == "Renamed room"
    message = app_api.get(f"/v1/Conversations/{ROOM}/Messages/{HELLO}").json()
    assert message["body"] == "edited by a client"


def broken(path: list[Any], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (broken(["conversations", 0, "attributes"], "{not json"), "conversations[0]"),
        (broken(["conversations", 0, "unique_name"], "CH" + "a" * 32), "conversations[0]"),
        (broken(["conversations", 0, "state"], "initializing"), "conversations[0]"),
        (broken(["conversations", 0, "sid"], "CH123"), "conversations[0].sid"),
        (
            broken(["conversations", 0, "participants", 1, "messaging_binding", "address"], "555"),
            "conversations[0]",
        ),
        (broken(["conversations", 0, "participants", 0, "sid"], "IM" + "0" * 32), "participants[0].sid"),
        (broken(["conversations", 0, "messages", 0, "body"], ""), "conversations[0]"),
        (broken(["conversations", 0, "webhooks", 0, "target"], "email"), "conversations[0]"),
        (
            broken(["conversations", 0, "webhooks", 0, "configuration", "filters"], ["onMessageAdd"]),
            "conversations[0]",
        ),
        (broken(["conversations", 1, "chat_service_sid"], "IS" + "9" * 32), "conversations[1]"),
        (broken(["conversations", 0, "unknown"], 1), "conversations[0].unknown"),
    ],
)
def test_a_bad_entry_refuses_the_whole_document_naming_it(
    in_process: InProcess, app_api: httpx.Client, document: dict[str, Any], named: str
) -> None:
    before = in_process.snapshot()
    body = assert_twilio_error(apply(app_api, document), 400, 20001)
    assert named in body["message"]
    assert in_process.snapshot() == before


def test_a_conversation_sid_of_another_account_is_refused(
    in_process: InProcess, app_api: httpx.Client
) -> None:
    other = copy.deepcopy(DOCUMENT)
    other["conversations"] = [dict(DOCUMENT["conversations"][0], account_sid=OTHER_ACCOUNT, unique_name="x")]
    other["conversations"][0]["participants"] = []
    other["conversations"][0]["messages"] = []
    other["conversations"][0]["webhooks"] = []
    assert apply(app_api, other).status_code == 204
    before = in_process.snapshot()
    body = assert_twilio_error(apply(app_api, DOCUMENT), 400, 20001)
    assert "belongs to another account" in body["message"]
    assert in_process.snapshot() == before


def test_start_up_fixtures_with_conversations_come_back_after_a_reset(tmp_path: Path) -> None:
    folder = tmp_path / "fixtures"
    folder.mkdir()
    shipped = Path(__file__).resolve().parent.parent / "fixtures" / "demo.json"
    (folder / "00-demo.json").write_text(shipped.read_text())
    (folder / "10-conversations.json").write_text(json.dumps(DOCUMENT))
    server = start_server(tmp_path, fixtures=folder)
    try:
        with server.client() as api:
            assert api.get("/v1/Conversations/room/Messages").json()["messages"][1]["sid"] == REPLY
            assert api.delete(f"/v1/Conversations/{ROOM}").status_code == 204
            server.reset()
            assert api.get("/v1/Conversations/room").json()["sid"] == ROOM
            assert len(api.get(f"/v1/Conversations/{ROOM}/Participants").json()["participants"]) == 2
    finally:
        server.process.stop()
