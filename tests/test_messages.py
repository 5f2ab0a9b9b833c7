"""Messages in both path forms: create, fetch, update, delete, list by index in either order; every
parameter's rule and code, and that a refused request changes nothing; the index counter, which never
hands out a number twice; cascades and resets.

Most cases run in process (`in_process`, no socket); parallel creates and the official library run against
a real server on a free port.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    DEMO_TOKEN,
    InProcess,
    Server,
    assert_twilio_error,
    new_service,
)
from tests.test_conversations import default_service

BASE = "https://conversations.twilio.com"
KEYS = {
    "account_sid",
    "conversation_sid",
    "sid",
    "index",
    "author",
    "body",
    "media",
    "attributes",
    "participant_sid",
    "date_created",
    "date_updated",
    "url",
    "delivery",
    "links",
    "content_sid",
}
SERVICE_KEYS = KEYS | {"chat_service_sid"}
OTHER_ACCOUNT = "AC" + "5" * 32
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
MEDIA_SID = "ME" + "a" * 32
CONTENT_SID = "HX" + "b" * 32
UNKNOWN_MESSAGE = "IM" + "0" * 32


def new_conversation(api: httpx.Client, path: str = "/v1/Conversations", **params: str) -> str:
    answer = api.post(path, data=params)
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["sid"]
    return sid


def messages_path(conversation: str, service: str | None = None) -> str:
    if service is None:
        return f"/v1/Conversations/{conversation}/Messages"
    return f"/v1/Services/{service}/Conversations/{conversation}/Messages"


def created(api: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    answer = api.post(path, data=params)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def assert_shape(body: dict[str, Any], conversation_url: str, *, service_form: bool) -> None:
    assert set(body) == (SERVICE_KEYS if service_form else KEYS)
    assert re.fullmatch(r"IM[0-9a-f]{32}", body["sid"])
    assert DATE.fullmatch(body["date_created"])
    assert DATE.fullmatch(body["date_updated"])
    url = f"{BASE}{conversation_url}/Messages/{body['sid']}"
    assert body["url"] == url
    assert body["links"] == {
        "delivery_receipts": f"{url}/Receipts",
        "channel_metadata": f"{url}/ChannelMetadata",
    }
    assert body["delivery"] is None


@pytest.fixture
def conversation(app_api: httpx.Client) -> str:
    """A conversation in the default service, named `room`."""
    return new_conversation(app_api, UniqueName="room")


@pytest.fixture
def path(conversation: str) -> str:
    return messages_path(conversation)


# --- create, both forms -------------------------------------------------------------------------------


def test_create_in_the_short_form_has_every_key_and_the_defaults(app_api: httpx.Client, path: str) -> None:
    conversation = path.split("/")[3]
    body = created(app_api, path, Body="Hello")
    assert_shape(body, f"/v1/Conversations/{conversation}", service_form=False)
    assert body["account_sid"] == DEMO_ACCOUNT
    assert body["conversation_sid"] == conversation
    assert body["index"] == 0
    assert body["author"] == "system"
    assert body["body"] == "Hello"
    assert body["media"] is None
    assert body["attributes"] == "{}"
    assert body["participant_sid"] is None
    assert body["content_sid"] is None
    assert body["date_created"] == body["date_updated"]


def test_create_in_the_service_form_carries_chat_service_sid(app_api: httpx.Client) -> None:
    conversations = f"/v1/Services/{DEMO_SERVICE}/Conversations"
    conversation = new_conversation(app_api, conversations, UniqueName="svc-room")
    body = created(app_api, messages_path("svc-room", DEMO_SERVICE), Body="Hi")
    assert_shape(body, f"{conversations}/{conversation}", service_form=True)
    assert body["chat_service_sid"] == DEMO_SERVICE
    assert body["conversation_sid"] == conversation
    fetched = app_api.get(f"{messages_path(conversation, DEMO_SERVICE)}/{body['sid']}").json()
    assert fetched == body
    # A conversation of another service is not there in the short form.
    assert_twilio_error(app_api.get(f"{messages_path(conversation)}/{body['sid']}"), 404, 20404)


def test_both_forms_reach_the_same_messages_of_the_default_service(
    app_api: httpx.Client, conversation: str
) -> None:
    short = created(app_api, messages_path("room"), Body="one")
    service_path = messages_path(conversation, default_service())
    fetched = app_api.get(f"{service_path}/{short['sid']}").json()
    assert_shape(fetched, f"/v1/Services/{default_service()}/Conversations/{conversation}", service_form=True)
    assert {
        name: value for name, value in fetched.items() if name not in ("chat_service_sid", "url", "links")
    } == {name: value for name, value in short.items() if name not in ("url", "links")}
    assert fetched["chat_service_sid"] == default_service()


def test_the_webhook_header_is_taken_on_create_update_and_delete(app_api: httpx.Client, path: str) -> None:
    header = {"X-Twilio-Webhook-Enabled": "true"}
    answer = app_api.post(path, data={"Body": "x"}, headers=header)
    assert answer.status_code == 201
    sid = answer.json()["sid"]
    assert app_api.post(f"{path}/{sid}", data={"Body": "y"}, headers=header).status_code == 200
    assert app_api.delete(f"{path}/{sid}", headers={"X-Twilio-Webhook-Enabled": "false"}).status_code == 204


def test_every_field_is_stored_and_returned(app_api: httpx.Client, path: str) -> None:
    body = created(
        app_api,
        path,
        Author="alice",
        Body="Grüße ✓",
        Attributes='{"importance": "high"}',
        DateCreated="2015-12-16T22:18:37Z",
        DateUpdated="2015-12-16T22:18:38Z",
    )
    assert body["author"] == "alice"
    assert body["body"] == "Grüße ✓"
    assert body["attributes"] == '{"importance": "high"}'
    assert body["date_created"] == "2015-12-16T22:18:37Z"
    assert body["date_updated"] == "2015-12-16T22:18:38Z"
    assert app_api.get(f"{path}/{body['sid']}").json() == body


def test_a_given_creation_date_is_also_the_update_date(app_api: httpx.Client, path: str) -> None:
    body = created(app_api, path, Body="x", DateCreated="2020-01-02T03:04:05+02:00")
    assert body["date_created"] == body["date_updated"] == "2020-01-02T01:04:05Z"


def test_media_sid_makes_a_media_message_without_a_body(app_api: httpx.Client, path: str) -> None:
    body = created(app_api, path, MediaSid=MEDIA_SID)
    assert body["body"] is None
    assert body["media"] == [{"sid": MEDIA_SID, "content_type": None, "filename": None, "size": None}]
    with_text = created(app_api, path, MediaSid=MEDIA_SID, Body="caption")
    assert with_text["body"] == "caption"
    assert with_text["media"][0]["sid"] == MEDIA_SID
    assert created(app_api, path, MediaSid=MEDIA_SID, Body="")["body"] is None


def test_content_sid_ignores_body_and_media_and_keeps_no_variables(
    app_api: httpx.Client, in_process: InProcess, path: str
) -> None:
    body = created(
        app_api,
        path,
        ContentSid=CONTENT_SID,
        Body="ignored",
        MediaSid=MEDIA_SID,
        ContentVariables='{"name": "John-the-variable", "count": 3}',
    )
    assert body["content_sid"] == CONTENT_SID
    assert body["body"] is None
    assert body["media"] is None
    assert "John-the-variable" not in repr(in_process.snapshot())
    assert created(app_api, path, ContentSid=CONTENT_SID)["content_sid"] == CONTENT_SID


def test_subject_is_accepted_and_neither_returned_nor_kept(
    app_api: httpx.Client, in_process: InProcess, path: str
) -> None:
    body = created(app_api, path, Body="x", Subject="subject-of-the-message")
    assert "subject" not in body
    assert "subject-of-the-message" not in repr(in_process.snapshot())
    assert created(app_api, path, Body="x", Subject="s" * 256)["body"] == "x"


def test_the_body_limit_is_32_kb_of_utf_8(app_api: httpx.Client, path: str) -> None:
    exactly = "é" * (16 * 1024)  # two bytes each
    assert created(app_api, path, Body=exactly)["body"] == exactly
    assert_twilio_error(app_api.post(path, data={"Body": exactly + "e"}), 400, 50504)


def test_attributes_take_any_json_up_to_4_kb(app_api: httpx.Client, path: str) -> None:
    for value in ('"text"', "[1, 2]", "3", "null", '{"a": {"b": []}}', '"' + "x" * (4 * 1024 - 2) + '"'):
        assert created(app_api, path, Body="x", Attributes=value)["attributes"] == value


CREATE_ERRORS = [
    ({}, 50503),
    ({"Body": ""}, 50503),
    ({"Author": "alice", "Attributes": "{}"}, 50503),
    ({"MediaSid": ""}, 50503),
    ({"Body": "x" * (32 * 1024 + 1)}, 50504),
    ({"Body": "x", "Attributes": "{not json"}, 50304),
    ({"Body": "x", "Attributes": ""}, 50304),
    ({"Body": "x", "Attributes": '{"a": NaN}'}, 50304),
    ({"Body": "x", "Attributes": '"' + "x" * 4 * 1024 + '"'}, 50303),
    ({"MediaSid": "ME123"}, 20002),
    ({"MediaSid": "IM" + "a" * 32}, 20002),
    ({"ContentSid": "HX" + "a" * 31}, 20002),
    ({"ContentSid": CONTENT_SID, "ContentVariables": "[]"}, 50527),
    ({"ContentSid": CONTENT_SID, "ContentVariables": "not json"}, 50527),
    ({"ContentSid": CONTENT_SID, "ContentVariables": ""}, 50527),
    ({"ContentSid": CONTENT_SID, "ContentVariables": json.dumps({"v": "x" * 257})}, 50541),
    # More digits than Python converts to an int (it answered 500): JSON, and far too long a value.
    ({"ContentSid": CONTENT_SID, "ContentVariables": '{"v": ' + "1" * 5000 + "}"}, 50541),
    ({"ContentSid": CONTENT_SID, "ContentVariables": "1" * 5000}, 50527),
    ({"ContentSid": CONTENT_SID, "ContentVariables": '{"v": NaN}'}, 50527),
    ({"ContentSid": CONTENT_SID, "Body": "x" * (32 * 1024 + 1)}, 50504),
    ({"Body": "x", "Subject": "s" * 257}, 20002),
    ({"Body": "x", "DateCreated": "yesterday"}, 20002),
    ({"Body": "x", "DateUpdated": "2020-13-01T00:00:00Z"}, 20002),
    ({"Body": "nul\x00"}, 20002),
    ({"Body": "x", "Author": "nul\x00"}, 20002),
]


@pytest.mark.parametrize(("params", "code"), CREATE_ERRORS)
def test_create_refuses_a_bad_parameter_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, path: str, params: dict[str, str], code: int
) -> None:
    created(app_api, path, Body="before")  # the counter exists: a refusal must not move it
    before = in_process.snapshot()
    body = assert_twilio_error(app_api.post(path, data=params), 400, code)
    if code == 50503:
        assert body["message"] == "Message body not provided"
    assert in_process.snapshot() == before


def test_content_variable_values_may_be_256_characters(app_api: httpx.Client, path: str) -> None:
    variables = json.dumps({"a": "x" * 256, "b": 12})
    assert created(app_api, path, ContentSid=CONTENT_SID, ContentVariables=variables)["index"] == 0


def test_a_closed_conversation_takes_no_message_and_no_edit_but_allows_deletes(
    app_api: httpx.Client, in_process: InProcess, path: str
) -> None:
    sid = created(app_api, path, Body="before closing")["sid"]
    assert app_api.post("/v1/Conversations/room", data={"State": "closed"}).status_code == 200
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(path, data={"Body": "after"}), 400, 50377)
    assert_twilio_error(app_api.post(f"{path}/{sid}", data={"Body": "edited"}), 400, 50377)
    assert in_process.snapshot() == before
    assert app_api.get(f"{path}/{sid}").json()["body"] == "before closing"
    assert app_api.delete(f"{path}/{sid}").status_code == 204


def test_an_inactive_conversation_still_takes_messages(app_api: httpx.Client, path: str) -> None:
    assert app_api.post("/v1/Conversations/room", data={"State": "inactive"}).status_code == 200
    assert created(app_api, path, Body="still here")["index"] == 0


# --- the index ------------------------------------------------------------------------------------------


def test_indexes_count_up_per_conversation_and_are_never_reused(app_api: httpx.Client, path: str) -> None:
    sids = [created(app_api, path, Body=str(n))["sid"] for n in range(3)]
    assert [app_api.get(f"{path}/{sid}").json()["index"] for sid in sids] == [0, 1, 2]
    assert app_api.delete(f"{path}/{sids[2]}").status_code == 204  # the highest index
    assert created(app_api, path, Body="next")["index"] == 3
    for sid in sids[:2]:
        assert app_api.delete(f"{path}/{sid}").status_code == 204
    assert created(app_api, path, Body="after emptying")["index"] == 4
    other = messages_path(new_conversation(app_api))
    assert created(app_api, other, Body="first there")["index"] == 0


def test_the_table_itself_refuses_a_second_message_with_one_index(
    app_api: httpx.Client, in_process: InProcess, path: str
) -> None:
    created(app_api, path, Body="x")
    copy = (
        'INSERT INTO conversation_message (sid, account_sid, conversation_sid, "index", author, attributes,'
        ' date_created, date_updated) SELECT :sid, account_sid, conversation_sid, "index", author,'
        " attributes, date_created, date_updated FROM conversation_message"
    )
    with pytest.raises(IntegrityError), in_process.database.connect() as connection:
        connection.execute(text(copy), {"sid": UNKNOWN_MESSAGE})


def test_a_refused_create_takes_no_index(app_api: httpx.Client, path: str) -> None:
    assert created(app_api, path, Body="a")["index"] == 0
    assert_twilio_error(app_api.post(path, data={"Body": "b", "Attributes": "{"}), 400, 50304)
    assert created(app_api, path, Body="c")["index"] == 1


# --- the author's participant ---------------------------------------------------------------------------


def add_participant(api: httpx.Client, conversation: str, **params: str) -> str:
    answer = api.post(f"/v1/Conversations/{conversation}/Participants", data=params)
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["sid"]
    return sid


def test_participant_sid_is_the_author_by_identity_then_by_address(
    app_api: httpx.Client, conversation: str, path: str
) -> None:
    alice = add_participant(app_api, conversation, Identity="alice")
    sms = add_participant(
        app_api,
        conversation,
        **{"MessagingBinding.Address": "+15551230000", "MessagingBinding.ProxyAddress": "+15559990000"},
    )
    assert created(app_api, path, Body="x", Author="alice")["participant_sid"] == alice
    assert created(app_api, path, Body="x", Author="+15551230000")["participant_sid"] == sms
    assert created(app_api, path, Body="x")["participant_sid"] is None  # system
    assert created(app_api, path, Body="x", Author="ALICE")["participant_sid"] is None  # exact match


def test_participant_sid_follows_an_author_change(
    app_api: httpx.Client, conversation: str, path: str
) -> None:
    alice = add_participant(app_api, conversation, Identity="alice")
    by_system = created(app_api, path, Body="x")
    edited = app_api.post(f"{path}/{by_system['sid']}", data={"Author": "alice"}).json()
    assert edited["participant_sid"] == alice
    kept = app_api.post(f"{path}/{by_system['sid']}", data={"Body": "only the body"}).json()
    assert kept["participant_sid"] == alice
    gone = app_api.post(f"{path}/{by_system['sid']}", data={"Author": "bob"}).json()
    assert gone["participant_sid"] is None


def test_a_participant_of_another_conversation_is_not_the_author(
    app_api: httpx.Client, conversation: str, path: str
) -> None:
    other = new_conversation(app_api, UniqueName="elsewhere")
    add_participant(app_api, other, Identity="carol")
    assert created(app_api, path, Body="x", Author="carol")["participant_sid"] is None


def test_a_removed_participants_messages_stay_with_their_participant_sid(
    app_api: httpx.Client, conversation: str, path: str
) -> None:
    alice = add_participant(app_api, conversation, Identity="alice")
    message = created(app_api, path, Body="before leaving", Author="alice")
    assert app_api.delete(f"/v1/Conversations/{conversation}/Participants/{alice}").status_code == 204
    kept = app_api.get(f"{path}/{message['sid']}").json()
    assert kept["body"] == "before leaving"
    assert kept["participant_sid"] == alice


# --- fetch, and what is not found ----------------------------------------------------------------------


def test_fetch_by_conversation_sid_or_unique_name(app_api: httpx.Client, conversation: str) -> None:
    body = created(app_api, messages_path(conversation), Body="x")
    assert app_api.get(f"{messages_path('room')}/{body['sid']}").json() == body


@pytest.mark.parametrize(
    "suffix",
    [
        f"/{UNKNOWN_MESSAGE}",
        "/IM123",
        "/im" + "0" * 32,
        "/" + "MB" + "0" * 32,
        "/{message}/Receipts",
        "/{message}/ChannelMetadata",
    ],
)
def test_unknown_or_malformed_messages_are_404(
    in_process: InProcess, app_api: httpx.Client, path: str, suffix: str
) -> None:
    message = created(app_api, path, Body="x")["sid"]
    target = path + suffix.format(message=message)
    before = in_process.snapshot()
    for answer in (app_api.get(target), app_api.post(target, data={"Body": "y"}), app_api.delete(target)):
        body = assert_twilio_error(answer, 404, 20404)
        assert body["message"] == f"The requested resource {target[3:]} was not found"
    assert in_process.snapshot() == before


@pytest.mark.parametrize(
    "target",
    [
        "/v1/Conversations/CH" + "0" * 32 + "/Messages",
        "/v1/Conversations/no-such-room/Messages",
        "/v1/Services/IS" + "0" * 31 + "9/Conversations/room/Messages",
        "/v1/Services/not-a-sid/Conversations/room/Messages",
    ],
)
def test_unknown_conversations_are_404(
    in_process: InProcess, app_api: httpx.Client, conversation: str, target: str
) -> None:
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(target, data={"Body": "x"}), 404, 20404)
    assert_twilio_error(app_api.get(target), 404, 20404)
    assert in_process.snapshot() == before


def test_a_message_of_another_conversation_is_404(app_api: httpx.Client, path: str) -> None:
    sid = created(app_api, path, Body="x")["sid"]
    other = messages_path(new_conversation(app_api))
    assert_twilio_error(app_api.get(f"{other}/{sid}"), 404, 20404)
    assert_twilio_error(app_api.delete(f"{other}/{sid}"), 404, 20404)


def test_an_unknown_message_is_404_before_its_parameters_are_checked(
    app_api: httpx.Client, path: str
) -> None:
    answer = app_api.post(f"{path}/{UNKNOWN_MESSAGE}", data={"Attributes": "{"})
    assert_twilio_error(answer, 404, 20404)


def test_another_accounts_messages_are_404_and_untouched(in_process: InProcess) -> None:
    in_process.reset()
    mine = in_process.client()
    conversation = new_conversation(mine, UniqueName="mine")
    sid = created(mine, messages_path(conversation), Body="private")["sid"]
    other = in_process.client(OTHER_ACCOUNT, "other-token")
    try:
        other.get("/v1/Conversations")  # the other account and its default service exist before the snapshot
        before = in_process.snapshot()
        for collection in (
            messages_path(conversation),
            messages_path("mine"),
            messages_path(conversation, default_service()),
        ):
            assert_twilio_error(other.get(collection), 404, 20404)
            assert_twilio_error(other.post(collection, data={"Body": "x"}), 404, 20404)
            assert_twilio_error(other.get(f"{collection}/{sid}"), 404, 20404)
            assert_twilio_error(other.post(f"{collection}/{sid}", data={"Body": "x"}), 404, 20404)
            assert_twilio_error(other.delete(f"{collection}/{sid}"), 404, 20404)
        assert in_process.snapshot() == before
    finally:
        in_process.client()


# --- update -----------------------------------------------------------------------------------------------


def test_update_changes_only_what_it_names(app_api: httpx.Client, path: str) -> None:
    body = created(app_api, path, Body="first", Author="alice", Attributes='{"a": 1}')
    updated = app_api.post(f"{path}/{body['sid']}", data={"Body": "second"}).json()
    assert updated["body"] == "second"
    assert updated["author"] == "alice"
    assert updated["attributes"] == '{"a": 1}'
    assert updated["index"] == body["index"]
    assert updated["sid"] == body["sid"]
    assert updated["date_created"] == body["date_created"]
    renamed = app_api.post(
        f"{path}/{body['sid']}", data={"Author": "bob", "Attributes": "[]", "Subject": "kept nowhere"}
    ).json()
    assert (renamed["author"], renamed["attributes"], renamed["body"]) == ("bob", "[]", "second")
    assert "subject" not in renamed
    assert app_api.get(f"{path}/{body['sid']}").json() == renamed
    assert app_api.post(f"{path}/{body['sid']}", data={"Author": ""}).json()["author"] == "system"


def test_update_sets_date_updated_unless_given(app_api: httpx.Client, path: str) -> None:
    body = created(app_api, path, Body="x", DateCreated="2020-01-01T00:00:00Z")
    start = datetime.now(UTC).replace(microsecond=0)
    updated = app_api.post(f"{path}/{body['sid']}", data={"Body": "y"}).json()
    assert updated["date_created"] == "2020-01-01T00:00:00Z"
    assert datetime.fromisoformat(updated["date_updated"]) >= start
    given = app_api.post(
        f"{path}/{body['sid']}",
        data={"DateUpdated": "2022-02-02T02:02:02Z", "DateCreated": "2021-01-01T00:00:00Z"},
    ).json()
    assert given["date_updated"] == "2022-02-02T02:02:02Z"
    assert given["date_created"] == "2021-01-01T00:00:00Z"


def test_update_may_clear_the_body_only_where_media_or_content_remains(
    in_process: InProcess, app_api: httpx.Client, path: str
) -> None:
    with_media = created(app_api, path, Body="caption", MediaSid=MEDIA_SID)
    cleared = app_api.post(f"{path}/{with_media['sid']}", data={"Body": ""}).json()
    assert cleared["body"] is None
    assert cleared["media"] == with_media["media"]
    text_only = created(app_api, path, Body="only text")
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(f"{path}/{text_only['sid']}", data={"Body": ""}), 400, 50503)
    assert in_process.snapshot() == before


def test_update_takes_no_media_or_content_and_keeps_a_template_messages_body_empty(
    app_api: httpx.Client, path: str
) -> None:
    text = created(app_api, path, Body="text")
    unchanged = app_api.post(
        f"{path}/{text['sid']}", data={"MediaSid": MEDIA_SID, "ContentSid": CONTENT_SID}
    ).json()
    assert (unchanged["media"], unchanged["content_sid"]) == (None, None)
    template = created(app_api, path, ContentSid=CONTENT_SID)
    edited = app_api.post(f"{path}/{template['sid']}", data={"Body": "ignored", "Author": "bot"}).json()
    assert (edited["body"], edited["content_sid"], edited["author"]) == (None, CONTENT_SID, "bot")
    assert app_api.post(f"{path}/{template['sid']}", data={"Body": ""}).status_code == 200


UPDATE_ERRORS = [
    ({"Body": "x" * (32 * 1024 + 1)}, 50504),
    ({"Attributes": "{not json"}, 50304),
    ({"Attributes": '"' + "x" * 4 * 1024 + '"'}, 50303),
    ({"Subject": "s" * 257}, 20002),
    ({"DateCreated": "yesterday"}, 20002),
    ({"DateUpdated": "2020-02-30T00:00:00Z"}, 20002),
    ({"Author": "nul\x00"}, 20002),
]


@pytest.mark.parametrize(("params", "code"), UPDATE_ERRORS)
def test_update_refuses_a_bad_parameter_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, path: str, params: dict[str, str], code: int
) -> None:
    sid = created(app_api, path, Body="kept")["sid"]
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(f"{path}/{sid}", data=params), 400, code)
    assert in_process.snapshot() == before


# --- list -----------------------------------------------------------------------------------------------


def follow(api: httpx.Client, url: str, key: str = "messages") -> list[dict[str, Any]]:
    """Every item from `url` on, following `next_page_url` as the libraries do."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        assert next_url.startswith("http://127.0.0.1/v1/"), next_url  # the emulator, never Twilio
        page = api.get(next_url).json()
        assert page["meta"]["key"] == key
        items += page[key]
        next_url = page["meta"]["next_page_url"]
    return items


def test_list_is_by_index_and_pages_like_twilio(app_api: httpx.Client, conversation: str, path: str) -> None:
    sids = [created(app_api, path, Body=str(n))["sid"] for n in range(7)]
    first = app_api.get(path, params={"PageSize": 2}).json()
    assert first["meta"]["page_size"] == 2
    assert first["meta"]["key"] == "messages"
    assert [item["sid"] for item in first["messages"]] == sids[:2]
    assert (
        first["meta"]["url"] == f"http://127.0.0.1/v1/Conversations/{conversation}/Messages?PageSize=2&Page=0"
    )
    listed = follow(app_api, f"http://127.0.0.1{path}?PageSize=2")
    assert [item["sid"] for item in listed] == sids
    assert [item["index"] for item in listed] == list(range(7))
    assert set(listed[0]) == KEYS


def test_desc_lists_newest_first_and_page_urls_repeat_the_order(app_api: httpx.Client, path: str) -> None:
    sids = [created(app_api, path, Body=str(n))["sid"] for n in range(5)]
    page = app_api.get(path, params={"Order": "DeSc", "PageSize": 2}).json()
    assert [item["sid"] for item in page["messages"]] == sids[::-1][:2]
    for name in ("first_page_url", "url", "next_page_url"):
        assert parse_qs(urlsplit(page["meta"][name]).query)["Order"] == ["desc"]
    listed = follow(app_api, page["meta"]["next_page_url"])
    assert [item["sid"] for item in listed] == sids[::-1][2:]
    previous = app_api.get(page["meta"]["next_page_url"]).json()["meta"]["previous_page_url"]
    assert parse_qs(urlsplit(previous).query)["Order"] == ["desc"]
    assert [item["sid"] for item in app_api.get(previous).json()["messages"]] == sids[::-1][:2]
    ascending = app_api.get(path, params={"Order": "AsC"}).json()
    assert [item["sid"] for item in ascending["messages"]] == sids
    assert parse_qs(urlsplit(ascending["meta"]["url"]).query)["Order"] == ["asc"]


def test_the_list_skips_deleted_indexes_and_is_per_conversation(app_api: httpx.Client, path: str) -> None:
    sids = [created(app_api, path, Body=str(n))["sid"] for n in range(3)]
    app_api.delete(f"{path}/{sids[1]}")
    created(app_api, messages_path(new_conversation(app_api)), Body="elsewhere")
    listed = app_api.get(path).json()["messages"]
    assert [item["index"] for item in listed] == [0, 2]
    assert app_api.get(messages_path(new_conversation(app_api))).json()["messages"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"Order": "newest"},
        {"Order": ""},
        {"Order": "ascending"},
        {"Order": "\uff24\uff25\uff33\uff23"},  # full-width DESC
        {"PageSize": "0"},
        {"PageSize": "1001"},
        {"PageToken": "nonsense"},
    ],
)
def test_list_refuses_a_bad_order_or_page(app_api: httpx.Client, path: str, params: dict[str, str]) -> None:
    assert_twilio_error(app_api.get(path, params=params), 400, 20002)


def test_page_size_up_to_1000_is_cut_to_100(app_api: httpx.Client, path: str) -> None:
    assert app_api.get(path, params={"PageSize": 500}).json()["meta"]["page_size"] == 100


# --- deletes, cascades, resets --------------------------------------------------------------------------


def test_delete_answers_204_with_no_body(app_api: httpx.Client, path: str) -> None:
    sid = created(app_api, path, Body="x")["sid"]
    answer = app_api.delete(f"{path}/{sid}")
    assert answer.status_code == 204
    assert answer.content == b""
    assert_twilio_error(app_api.get(f"{path}/{sid}"), 404, 20404)
    assert_twilio_error(app_api.delete(f"{path}/{sid}"), 404, 20404)


def test_deleting_the_conversation_deletes_its_messages_and_their_count(
    app_api: httpx.Client, in_process: InProcess, path: str
) -> None:
    kept = messages_path(new_conversation(app_api))
    created(app_api, kept, Body="stays")
    for n in range(3):
        created(app_api, path, Body=f"goes {n}")
    assert app_api.delete("/v1/Conversations/room").status_code == 204
    snapshot = in_process.snapshot()
    assert len(snapshot["conversation_message"]) == 1
    assert len(snapshot["conversation_message_counter"]) == 1
    again = messages_path(new_conversation(app_api, UniqueName="room"))
    assert created(app_api, again, Body="new room")["index"] == 0


def test_deleting_a_service_deletes_its_conversations_messages(
    app_api: httpx.Client, in_process: InProcess
) -> None:
    service = new_service(app_api)
    conversation = new_conversation(app_api, f"/v1/Services/{service}/Conversations")
    created(app_api, messages_path(conversation, service), Body="x")
    assert app_api.delete(f"/v1/Services/{service}").status_code == 204
    snapshot = in_process.snapshot()
    assert snapshot["conversation_message"] == []
    assert snapshot["conversation_message_counter"] == []


def test_reset_removes_messages_and_counts(app_api: httpx.Client, in_process: InProcess, path: str) -> None:
    created(app_api, path, Body="x")
    in_process.reset()
    snapshot = in_process.snapshot()
    assert snapshot["conversation_message"] == []
    assert snapshot["conversation_message_counter"] == []


def test_reset_of_one_account_keeps_the_others_messages(in_process: InProcess) -> None:
    in_process.reset()
    mine = in_process.client()
    created(mine, messages_path(new_conversation(mine)), Body="demo-kept")
    other = in_process.client(OTHER_ACCOUNT, "token")
    try:
        created(other, messages_path(new_conversation(other)), Body="other-gone")
        in_process.http.post("/_emulator/reset", params={"account_sid": OTHER_ACCOUNT}).raise_for_status()
        snapshot = in_process.snapshot()
        rows = repr(snapshot["conversation_message"])
        assert "demo-kept" in rows
        assert "other-gone" not in rows
        assert len(snapshot["conversation_message_counter"]) == 1
    finally:
        in_process.client()


# --- against a real server: parallel creates, and the official library ----------------------------------


def test_twenty_parallel_creates_get_twenty_distinct_indexes(emulator: Server) -> None:
    with emulator.client() as api:
        path = messages_path(new_conversation(api))
    barrier = threading.Barrier(20)
    answers: list[httpx.Response] = []

    def create(number: int) -> None:
        with emulator.client() as client:
            barrier.wait()
            answers.append(client.post(path, data={"Body": f"parallel {number}"}))

    threads = [threading.Thread(target=create, args=(number,)) for number in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [201] * 20
    assert sorted(answer.json()["index"] for answer in answers) == list(range(20))
    with emulator.client() as api:
        listed = api.get(path).json()["messages"]
    assert [item["index"] for item in listed] == list(range(20))


def test_the_python_library_round_trips_every_operation_on_both_forms(emulator: Server) -> None:
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    client = Client(DEMO_ACCOUNT, DEMO_TOKEN)
    client.conversations.base_url = emulator.base_url
    for conversations in (
        client.conversations.v1.conversations,
        client.conversations.v1.services(DEMO_SERVICE).conversations,
    ):
        messages = conversations.create(friendly_name="sdk").messages
        made = [messages.create(body=f"sdk {n}", author="sdk-user") for n in range(5)]
        assert [message.index for message in made] == list(range(5))
        assert made[0].sid.startswith("IM")
        assert made[0].author == "sdk-user"
        media = messages.create(media_sid=MEDIA_SID, attributes='{"kind": "photo"}', subject="ignored")
        assert media.media == [{"sid": MEDIA_SID, "content_type": None, "filename": None, "size": None}]
        template = messages.create(content_sid=CONTENT_SID, content_variables='{"1": "x"}')
        assert (template.content_sid, template.body) == (CONTENT_SID, None)
        assert messages(made[2].sid).fetch().body == "sdk 2"
        updated = messages(made[0].sid).update(
            body="edited", attributes='{"a": 1}', date_created=datetime(2020, 1, 1, tzinfo=UTC)
        )
        assert updated.body == "edited"
        assert updated.date_created == datetime(2020, 1, 1, tzinfo=UTC)
        listed = messages.list(page_size=2)  # follows next_page_url over four pages
        assert [message.index for message in listed] == list(range(7))
        newest = messages.list(order="desc", page_size=3, limit=4)
        assert [message.index for message in newest] == [6, 5, 4, 3]
        assert messages(made[1].sid).delete() is True
        with pytest.raises(TwilioRestException) as refused:
            messages.create(author="nobody")
        assert refused.value.status == 400
        assert refused.value.code == 50503
        with pytest.raises(TwilioRestException) as missing:
            messages(made[1].sid).fetch()
        assert missing.value.status == 404
        assert missing.value.code == 20404
