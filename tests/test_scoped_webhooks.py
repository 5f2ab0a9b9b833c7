"""Conversation-scoped webhooks in both path forms: create, fetch, update, delete, list; every parameter's
rule and code for each target, the five-per-conversation limit (also under a race), and that a refused
request changes nothing.

Most cases run in process (`in_process`, no socket); the race and the official library run against a
real server on a free port.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from sqlalchemy import text, update
from twilio_conversations_emulator.conversations.scoped_webhooks.models import (
    ConversationWebhook,
    webhooks_of,
)

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
SHORT = "/v1/Conversations"
SERVICE = f"/v1/Services/{DEMO_SERVICE}/Conversations"
FORMS = {"short": SHORT, "service": SERVICE}
KEYS = {
    "sid",
    "account_sid",
    "conversation_sid",
    "target",
    "url",
    "configuration",
    "date_created",
    "date_updated",
}
OTHER_ACCOUNT = "AC" + "6" * 32
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
HOOK_URL = "https://example.com/hook"
FLOW = "FW" + "ab" * 16
OTHER_FLOW = "FW" + "cd" * 16
# The 11 post-event names a scoped webhook may filter on, written out rather than taken from the app.
POST_EVENTS = [
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onConversationAdded",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
]
Params = dict[str, str | list[str]]
WEBHOOK: Params = {
    "Target": "webhook",
    "Configuration.Url": HOOK_URL,
    "Configuration.Filters": ["onMessageAdded"],
}
TRIGGER: Params = {"Target": "trigger", "Configuration.Url": HOOK_URL, "Configuration.Triggers": ["help"]}
STUDIO: Params = {"Target": "studio", "Configuration.FlowSid": FLOW}


@pytest.fixture(params=sorted(FORMS))
def prefix(request: pytest.FixtureRequest) -> str:
    """The conversations path of one form: the default service's short form, or the demo service's."""
    return FORMS[request.param]


def new_conversation(api: httpx.Client, prefix: str = SHORT, **params: str) -> str:
    answer = api.post(prefix, data=params)
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["sid"]
    return sid


def hooks(prefix: str, conversation: str) -> str:
    return f"{prefix}/{conversation}/Webhooks"


def created(api: httpx.Client, path: str, params: Params) -> dict[str, Any]:
    answer = api.post(path, data=params)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def assert_shape(body: dict[str, Any], prefix: str, conversation: str) -> None:
    """Every key of the form, and only those; `url` under the conversation's own URL."""
    if prefix == SERVICE:
        assert set(body) == KEYS | {"chat_service_sid"}
        assert body["chat_service_sid"] == DEMO_SERVICE
    else:
        assert set(body) == KEYS
    assert re.fullmatch(r"WH[0-9a-f]{32}", body["sid"])
    assert body["account_sid"] == DEMO_ACCOUNT
    assert body["conversation_sid"] == conversation
    assert body["url"] == f"{BASE}{prefix}/{conversation}/Webhooks/{body['sid']}"
    assert DATE.fullmatch(body["date_created"])
    assert DATE.fullmatch(body["date_updated"])


def stored(in_process: InProcess, sid: str) -> dict[str, Any]:
    """The webhook's row as stored, by column name."""
    with in_process.database.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM conversation_scoped_webhook WHERE sid = :sid"), {"sid": sid}
        ).one()
    return dict(row._mapping)


# --- create: the three targets, both forms -------------------------------------------------------------


def test_a_webhook_target_has_url_method_and_filters(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    body = created(app_api, hooks(prefix, conversation), WEBHOOK)
    assert_shape(body, prefix, conversation)
    assert body["target"] == "webhook"
    assert body["configuration"] == {"url": HOOK_URL, "method": "post", "filters": ["onMessageAdded"]}
    assert body["date_created"] == body["date_updated"]
    assert app_api.get(body["url"].removeprefix(BASE)).json() == body


def test_a_trigger_target_has_url_method_and_triggers(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    params = TRIGGER | {"Configuration.Triggers": ["help", "Agent", "help"], "Configuration.Method": "GET"}
    body = created(app_api, hooks(prefix, conversation), params)
    assert_shape(body, prefix, conversation)
    assert body["target"] == "trigger"
    assert body["configuration"] == {"url": HOOK_URL, "method": "get", "triggers": ["help", "Agent", "help"]}
    assert app_api.get(body["url"].removeprefix(BASE)).json() == body


def test_a_studio_target_has_only_the_flow(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    body = created(app_api, hooks(prefix, conversation), STUDIO)
    assert_shape(body, prefix, conversation)
    assert body["target"] == "studio"
    assert body["configuration"] == {"flow_sid": FLOW}
    assert app_api.get(body["url"].removeprefix(BASE)).json() == body


def test_the_conversation_in_the_path_may_be_its_unique_name(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix, UniqueName="named room")
    body = created(app_api, hooks(prefix, "named room"), WEBHOOK)
    assert body["conversation_sid"] == conversation
    assert body["url"] == f"{BASE}{prefix}/{conversation}/Webhooks/{body['sid']}"  # the SID, not the name
    assert app_api.get(f"{hooks(prefix, 'named room')}/{body['sid']}").json() == body


def test_short_and_service_forms_of_the_default_service_reach_the_same_webhooks(
    app_api: httpx.Client,
) -> None:
    conversation = new_conversation(app_api)
    body = created(app_api, hooks(SHORT, conversation), WEBHOOK)
    default_service = app_api.get(f"{SHORT}/{conversation}").json()["chat_service_sid"]
    service_form = f"/v1/Services/{default_service}/Conversations"
    fetched = app_api.get(f"{hooks(service_form, conversation)}/{body['sid']}").json()
    assert fetched["chat_service_sid"] == default_service
    assert fetched["url"] == f"{BASE}{service_form}/{conversation}/Webhooks/{body['sid']}"
    assert {key: fetched[key] for key in body if key != "url"} == {
        k: v for k, v in body.items() if k != "url"
    }


@pytest.mark.parametrize(("given", "kept"), [("get", "get"), ("GET", "get"), ("Post", "post"), ("", "post")])
def test_method_is_case_insensitive_stored_lower_case_and_defaults_to_post(
    app_api: httpx.Client, given: str, kept: str
) -> None:
    conversation = new_conversation(app_api)
    body = created(app_api, hooks(SHORT, conversation), WEBHOOK | {"Configuration.Method": given})
    assert body["configuration"]["method"] == kept


def test_filters_take_every_post_event_drop_duplicates_and_empty_values_and_keep_order(
    app_api: httpx.Client,
) -> None:
    conversation = new_conversation(app_api)
    given = [*reversed(POST_EVENTS), "", "onMessageAdded", "onDeliveryUpdated"]
    body = created(app_api, hooks(SHORT, conversation), WEBHOOK | {"Configuration.Filters": given})
    assert body["configuration"]["filters"] == list(reversed(POST_EVENTS))


def test_the_limits_themselves_are_accepted(app_api: httpx.Client) -> None:
    conversation = new_conversation(app_api)
    url = "https://example.com/" + "a" * 492
    assert len(url) == 512
    body = created(app_api, hooks(SHORT, conversation), WEBHOOK | {"Configuration.Url": url})
    assert body["configuration"]["url"] == url
    keywords = [str(n) * 248 for n in range(5)]
    body = created(app_api, hooks(SHORT, conversation), TRIGGER | {"Configuration.Triggers": keywords})
    assert body["configuration"]["triggers"] == keywords
    body = created(app_api, hooks(SHORT, conversation), STUDIO | {"Configuration.FlowSid": "FW" + "aB" * 16})
    assert body["configuration"]["flow_sid"] == "FW" + "aB" * 16


def test_replay_after_is_stored_but_not_shown(app_api: httpx.Client, in_process: InProcess) -> None:
    conversation = new_conversation(app_api)
    for given, kept in (("7", 7), ("0", 0), ("007", 7), ("2147483647", 2**31 - 1), ("", None)):
        body = created(app_api, hooks(SHORT, conversation), WEBHOOK | {"Configuration.ReplayAfter": given})
        assert "replay_after" not in body["configuration"]
        assert stored(in_process, body["sid"])["replay_after"] == kept
    body = created(
        app_api, hooks(SHORT, new_conversation(app_api)), STUDIO | {"Configuration.ReplayAfter": "3"}
    )
    assert stored(in_process, body["sid"])["replay_after"] == 3


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        (
            WEBHOOK | {"Configuration.Triggers": "", "Configuration.FlowSid": "bad"},
            {"url": HOOK_URL, "method": "post", "filters": ["onMessageAdded"]},
        ),
        (
            TRIGGER | {"Configuration.Filters": "onMessageAdd", "Configuration.FlowSid": "bad"},
            {"url": HOOK_URL, "method": "post", "triggers": ["help"]},
        ),
        (
            STUDIO
            | {
                "Configuration.Url": "ftp://nowhere",
                "Configuration.Method": "PUT",
                "Configuration.Filters": "bogus",
                "Configuration.Triggers": "",
            },
            {"flow_sid": FLOW},
        ),
    ],
)
def test_fields_of_another_target_are_accepted_and_ignored(
    app_api: httpx.Client, in_process: InProcess, params: Params, shown: dict[str, Any]
) -> None:
    conversation = new_conversation(app_api)
    body = created(app_api, hooks(SHORT, conversation), params)
    assert body["configuration"] == shown
    row = stored(in_process, body["sid"])
    unused = {"url", "method", "filters", "triggers", "flow_sid"} - set(shown)
    assert all(row[column] is None for column in unused), row


# --- create: every parameter's rule ---------------------------------------------------------------------

CREATE_ERRORS: list[tuple[Params, int]] = [
    ({}, 50368),
    ({"Target": ""}, 50368),
    ({"Configuration.Url": HOOK_URL}, 50368),
    ({"Target": "Webhook"}, 50364),
    ({"Target": "flex"}, 50364),
    ({"Target": "webhook"}, 50369),
    (WEBHOOK | {"Configuration.Url": ""}, 50369),
    ({"Target": "trigger", "Configuration.Triggers": "help"}, 50369),
    (WEBHOOK | {"Configuration.Url": "https://example.com/" + "a" * 493}, 50372),
    (TRIGGER | {"Configuration.Url": "https://example.com/" + "a" * 493}, 50372),
    (WEBHOOK | {"Configuration.Url": "ftp://example.com/hook"}, 50078),
    (WEBHOOK | {"Configuration.Url": "https://exa mple.com/"}, 50078),
    (WEBHOOK | {"Configuration.Url": "https://example.com/\x00"}, 50078),
    (WEBHOOK | {"Configuration.Url": "example.com/hook"}, 50078),
    (WEBHOOK | {"Configuration.Url": "https://"}, 50078),
    (TRIGGER | {"Configuration.Url": "http://bad_host!/"}, 50078),
    (WEBHOOK | {"Configuration.Method": "PUT"}, 50055),
    (TRIGGER | {"Configuration.Method": "gét"}, 50055),
    ({"Target": "webhook", "Configuration.Url": HOOK_URL}, 50370),
    (WEBHOOK | {"Configuration.Filters": ""}, 50370),
    (WEBHOOK | {"Configuration.Filters": "onMessageAdd"}, 50365),
    (WEBHOOK | {"Configuration.Filters": ["onMessageAdded", "onConversationRemove"]}, 50365),
    (WEBHOOK | {"Configuration.Filters": "onMessageSent"}, 50365),
    (WEBHOOK | {"Configuration.Filters": "onmessageadded"}, 50365),
    (WEBHOOK | {"Configuration.Filters": "onUserAdded"}, 50365),
    ({"Target": "trigger", "Configuration.Url": HOOK_URL}, 50371),
    (TRIGGER | {"Configuration.Triggers": [str(n) for n in range(6)]}, 50362),
    (TRIGGER | {"Configuration.Triggers": ["help", ""]}, 50366),
    (TRIGGER | {"Configuration.Triggers": "x" * 249}, 50366),
    (TRIGGER | {"Configuration.Triggers": "nul\x00"}, 20002),
    ({"Target": "studio"}, 50367),
    (STUDIO | {"Configuration.FlowSid": ""}, 50367),
    (STUDIO | {"Configuration.FlowSid": "FW123"}, 50367),
    (STUDIO | {"Configuration.FlowSid": "CH" + "a" * 32}, 50367),
    (STUDIO | {"Configuration.FlowSid": FLOW + "0"}, 50367),
    (WEBHOOK | {"Configuration.ReplayAfter": "-1"}, 20002),
    (WEBHOOK | {"Configuration.ReplayAfter": "1.5"}, 20002),
    (STUDIO | {"Configuration.ReplayAfter": "soon"}, 20002),
    (TRIGGER | {"Configuration.ReplayAfter": "2147483648"}, 20002),
    (WEBHOOK | {"Configuration.ReplayAfter": "9" * 5000}, 20002),
    (WEBHOOK | {"Configuration.ReplayAfter": "٣"}, 20002),  # a digit, but not an ASCII one
    # Parameters are checked in the documented order: Target, Url, Method, Filters, Triggers, FlowSid,
    # ReplayAfter.
    ({"Target": "bad", "Configuration.Url": "bad"}, 50364),
    ({"Target": "webhook", "Configuration.Method": "PUT"}, 50369),
    (WEBHOOK | {"Configuration.Url": "ftp://x", "Configuration.Method": "PUT"}, 50078),
    (WEBHOOK | {"Configuration.Method": "PUT", "Configuration.Filters": "bogus"}, 50055),
    (WEBHOOK | {"Configuration.Filters": "bogus", "Configuration.ReplayAfter": "-1"}, 50365),
    (TRIGGER | {"Configuration.Triggers": "", "Configuration.ReplayAfter": "-1"}, 50366),
]


@pytest.mark.parametrize(("params", "code"), CREATE_ERRORS)
def test_create_refuses_a_bad_parameter_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, prefix: str, params: Params, code: int
) -> None:
    conversation = new_conversation(app_api, prefix)
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(hooks(prefix, conversation), data=params), 400, code)
    assert in_process.snapshot() == before


def test_a_conversation_has_at_most_five_webhooks(app_api: httpx.Client, in_process: InProcess) -> None:
    conversation = new_conversation(app_api)
    path = hooks(SHORT, conversation)
    made = [created(app_api, path, params) for params in (WEBHOOK, TRIGGER, STUDIO, WEBHOOK, STUDIO)]
    before = in_process.snapshot()
    for params in (WEBHOOK, TRIGGER, STUDIO):
        body = assert_twilio_error(app_api.post(path, data=params), 400, 50361)
        assert "5" in body["message"]
    # A bad parameter is reported before the limit: conflicts are checked last.
    assert_twilio_error(app_api.post(path, data={"Target": "bad"}), 400, 50364)
    assert in_process.snapshot() == before
    created(app_api, hooks(SHORT, new_conversation(app_api)), WEBHOOK)  # another conversation's own five
    assert app_api.delete(f"{path}/{made[2]['sid']}").status_code == 204
    created(app_api, path, TRIGGER)  # a place is free again


# --- update -------------------------------------------------------------------------------------------


def test_update_changes_what_it_names_and_keeps_the_rest(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    path = hooks(prefix, conversation)
    body = created(app_api, path, WEBHOOK | {"Configuration.Filters": ["onMessageAdded", "onMessageUpdated"]})
    url = f"{path}/{body['sid']}"
    method = app_api.post(url, data={"Configuration.Method": "GET"})
    assert method.status_code == 200, method.text
    assert method.json()["configuration"] == {
        "url": HOOK_URL,
        "method": "get",
        "filters": ["onMessageAdded", "onMessageUpdated"],
    }
    assert_shape(method.json(), prefix, conversation)
    replaced = app_api.post(
        url,
        data={
            "Configuration.Url": "http://127.0.0.1:9/other",
            "Configuration.Filters": ["onParticipantAdded", "onParticipantAdded", "onMessageRemoved"],
        },
    ).json()
    assert replaced["configuration"] == {
        "url": "http://127.0.0.1:9/other",
        "method": "get",
        "filters": ["onParticipantAdded", "onMessageRemoved"],  # replaced, not added to
    }
    back = app_api.post(url, data={"Configuration.Method": ""}).json()
    assert back["configuration"]["method"] == "post"
    assert app_api.get(url).json() == back
    assert app_api.post(url, data={}).json()["configuration"] == back["configuration"]


def test_update_of_a_trigger_replaces_its_keywords(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    path = hooks(prefix, conversation)
    body = created(app_api, path, TRIGGER | {"Configuration.Triggers": ["a", "b", "c"]})
    updated = app_api.post(f"{path}/{body['sid']}", data={"Configuration.Triggers": ["d", "e"]}).json()
    assert updated["configuration"] == {"url": HOOK_URL, "method": "post", "triggers": ["d", "e"]}


def test_update_of_a_studio_webhook_changes_its_flow(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    path = hooks(prefix, conversation)
    body = created(app_api, path, STUDIO)
    other = "FW" + "c" * 32
    updated = app_api.post(f"{path}/{body['sid']}", data={"Configuration.FlowSid": other}).json()
    assert updated["configuration"] == {"flow_sid": other}


def test_target_and_replay_after_cannot_change_and_are_ignored(
    app_api: httpx.Client, in_process: InProcess
) -> None:
    conversation = new_conversation(app_api)
    path = hooks(SHORT, conversation)
    body = created(app_api, path, WEBHOOK | {"Configuration.ReplayAfter": "4"})
    updated = app_api.post(
        f"{path}/{body['sid']}",
        data={
            "Target": "studio",
            "Configuration.ReplayAfter": "not even a number",
            "Configuration.FlowSid": "bad",  # not the webhook's target's either
            "Configuration.Triggers": "",
        },
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["target"] == "webhook"
    assert updated.json()["configuration"] == body["configuration"]
    assert stored(in_process, body["sid"])["replay_after"] == 4


def test_update_sets_date_updated(app_api: httpx.Client, in_process: InProcess) -> None:
    conversation = new_conversation(app_api)
    path = hooks(SHORT, conversation)
    body = created(app_api, path, WEBHOOK)
    table = ConversationWebhook.__table__  # type: ignore[attr-defined]
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    with in_process.database.connect() as connection:
        connection.execute(
            update(table)
            .where(table.c.sid == body["sid"])
            .values(date_created=long_ago, date_updated=long_ago)
        )
    updated = app_api.post(f"{path}/{body['sid']}", data={"Configuration.Method": "get"}).json()
    assert updated["date_created"] == "2020-01-01T00:00:00Z"
    assert updated["date_updated"] > "2025"


UPDATE_ERRORS: list[tuple[Params, Params, int]] = [
    (WEBHOOK, {"Configuration.Url": ""}, 50369),
    (WEBHOOK, {"Configuration.Url": "https://example.com/" + "a" * 493}, 50372),
    (WEBHOOK, {"Configuration.Url": "mailto:someone@example.com"}, 50078),
    (WEBHOOK, {"Configuration.Method": "DELETE"}, 50055),
    (WEBHOOK, {"Configuration.Filters": ""}, 50370),
    (WEBHOOK, {"Configuration.Filters": ["onMessageAdded", "onMessageAdd"]}, 50365),
    (WEBHOOK, {"Configuration.Url": "", "Configuration.Method": "DELETE"}, 50369),
    (TRIGGER, {"Configuration.Url": ""}, 50369),
    (TRIGGER, {"Configuration.Method": "put"}, 50055),
    (TRIGGER, {"Configuration.Triggers": [str(n) for n in range(6)]}, 50362),
    (TRIGGER, {"Configuration.Triggers": ""}, 50366),
    (TRIGGER, {"Configuration.Triggers": "y" * 249}, 50366),
    (STUDIO, {"Configuration.FlowSid": ""}, 50367),
    (STUDIO, {"Configuration.FlowSid": "FW" + "g" * 32}, 50367),
]


@pytest.mark.parametrize(("made", "params", "code"), UPDATE_ERRORS)
def test_update_refuses_a_result_that_is_not_a_valid_configuration_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, prefix: str, made: Params, params: Params, code: int
) -> None:
    conversation = new_conversation(app_api, prefix)
    path = hooks(prefix, conversation)
    body = created(app_api, path, made)
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(f"{path}/{body['sid']}", data=params), 400, code)
    assert in_process.snapshot() == before
    assert app_api.get(f"{path}/{body['sid']}").json() == body


# --- what is not found --------------------------------------------------------------------------------


def test_unknown_and_malformed_paths_are_404_and_name_the_path(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    path = hooks(prefix, conversation)
    real = created(app_api, path, WEBHOOK)["sid"]
    elsewhere = created(app_api, hooks(prefix, new_conversation(app_api, prefix)), WEBHOOK)["sid"]
    missing = [
        f"{path}/WH" + "0" * 32,  # no such webhook
        f"{path}/{elsewhere}",  # another conversation's
        f"{path}/WH123",
        f"{path}/{real.lower()}",  # `wh…` is not a webhook SID
        f"{path}/XX" + real[2:],
        f"{hooks(prefix, 'CH' + '0' * 32)}/{real}",
        f"{hooks(prefix, 'no-such-name')}/{real}",
    ]
    for url in missing:
        for answer in (app_api.get(url), app_api.post(url, data={}), app_api.delete(url)):
            body = assert_twilio_error(answer, 404, 20404)
            assert body["message"] == f"The requested resource {url[3:]} was not found"
    for url in (hooks(prefix, "CH" + "0" * 32), hooks(prefix, "no-such-name")):
        assert_twilio_error(app_api.get(url), 404, 20404)
        assert_twilio_error(app_api.post(url, data=WEBHOOK), 404, 20404)


def test_a_conversation_of_another_service_or_an_unknown_service_is_404(app_api: httpx.Client) -> None:
    in_demo = new_conversation(app_api, SERVICE)
    assert_twilio_error(app_api.post(hooks(SHORT, in_demo), data=WEBHOOK), 404, 20404)
    in_default = new_conversation(app_api)
    assert_twilio_error(app_api.get(hooks(SERVICE, in_default)), 404, 20404)
    for service in ("IS" + "0" * 31 + "9", "not-a-sid"):
        unknown = f"/v1/Services/{service}/Conversations/{in_demo}/Webhooks"
        assert_twilio_error(app_api.post(unknown, data=WEBHOOK), 404, 20404)
        assert_twilio_error(app_api.get(unknown), 404, 20404)


def test_another_accounts_webhooks_are_404_and_untouched(in_process: InProcess) -> None:
    in_process.reset()
    mine = in_process.client()
    conversation = new_conversation(mine, SERVICE)
    path = hooks(SERVICE, conversation)
    sid = created(mine, path, WEBHOOK)["sid"]
    other = in_process.client(OTHER_ACCOUNT, "other-token")
    try:
        other.get(SHORT)  # the other account and its default service exist before the snapshot
        before = in_process.snapshot()
        assert_twilio_error(other.get(path), 404, 20404)
        assert_twilio_error(other.post(path, data=WEBHOOK), 404, 20404)
        for answer in (
            other.get(f"{path}/{sid}"),
            other.post(f"{path}/{sid}", data={"Configuration.Method": "get"}),
            other.delete(f"{path}/{sid}"),
        ):
            assert_twilio_error(answer, 404, 20404)
        assert in_process.snapshot() == before
    finally:
        in_process.client()


# --- list ---------------------------------------------------------------------------------------------


def test_list_is_in_creation_order_and_pages_like_twilio(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    path = hooks(prefix, conversation)
    made = [created(app_api, path, params) for params in (STUDIO, WEBHOOK, TRIGGER, WEBHOOK, STUDIO)]
    first = app_api.get(path, params={"PageSize": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert set(page) == {"webhooks", "meta"}
    assert page["meta"]["key"] == "webhooks"
    assert page["meta"]["page_size"] == 2
    assert page["meta"]["previous_page_url"] is None
    assert page["webhooks"] == made[:2]  # the same objects as created
    seen = list(page["webhooks"])
    pages = 1
    url = page["meta"]["next_page_url"]
    while url:
        # Back to the emulator, never Twilio, by the conversation's SID.
        assert url.startswith(f"http://127.0.0.1{prefix}/{conversation}/Webhooks?")
        page = app_api.get(url).json()
        seen += page["webhooks"]
        pages += 1
        url = page["meta"]["next_page_url"]
    assert pages == 3
    assert seen == made
    previous = app_api.get(page["meta"]["previous_page_url"]).json()
    assert previous["webhooks"] == made[2:4]


def test_list_pages_hold_five_by_default_and_at_most(app_api: httpx.Client) -> None:
    conversation = new_conversation(app_api, UniqueName="listed")
    path = hooks(SHORT, conversation)
    made = [created(app_api, path, WEBHOOK)["sid"] for _ in range(5)]
    for params in ({}, {"PageSize": "5"}, {"PageSize": "6"}, {"PageSize": "1000"}):
        page = app_api.get(path, params=params).json()
        assert page["meta"]["page_size"] == 5
        assert [item["sid"] for item in page["webhooks"]] == made
        assert page["meta"]["next_page_url"] is None
    by_name = app_api.get(hooks(SHORT, "listed")).json()
    assert [item["sid"] for item in by_name["webhooks"]] == made
    assert by_name["meta"]["url"] == f"http://127.0.0.1{path}?PageSize=5&Page=0"


def test_an_empty_list(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    page = app_api.get(hooks(prefix, conversation)).json()
    assert page["webhooks"] == []
    assert page["meta"]["next_page_url"] is None
    assert (
        page["meta"]["first_page_url"]
        == f"http://127.0.0.1{prefix}/{conversation}/Webhooks?PageSize=5&Page=0"
    )


@pytest.mark.parametrize(
    "params",
    [{"PageSize": "0"}, {"PageSize": "1001"}, {"PageSize": "two"}, {"Page": "-1"}, {"PageToken": "nope"}],
)
def test_list_refuses_a_bad_page_parameter(app_api: httpx.Client, params: dict[str, str]) -> None:
    conversation = new_conversation(app_api)
    assert_twilio_error(app_api.get(hooks(SHORT, conversation), params=params), 400, 20002)


# --- deletes, cascades, resets ------------------------------------------------------------------------


def test_delete_answers_204_and_the_webhook_is_gone(app_api: httpx.Client, prefix: str) -> None:
    conversation = new_conversation(app_api, prefix)
    path = hooks(prefix, conversation)
    kept = created(app_api, path, STUDIO)
    gone = created(app_api, path, WEBHOOK)
    answer = app_api.delete(f"{path}/{gone['sid']}")
    assert answer.status_code == 204
    assert answer.content == b""
    assert_twilio_error(app_api.get(f"{path}/{gone['sid']}"), 404, 20404)
    assert_twilio_error(app_api.delete(f"{path}/{gone['sid']}"), 404, 20404)
    assert app_api.get(path).json()["webhooks"] == [kept]


def test_deleting_the_conversation_deletes_its_webhooks(app_api: httpx.Client, in_process: InProcess) -> None:
    conversation = new_conversation(app_api)
    other = new_conversation(app_api)
    for params in (WEBHOOK, TRIGGER, STUDIO):
        created(app_api, hooks(SHORT, conversation), params)
    kept = created(app_api, hooks(SHORT, other), WEBHOOK)["sid"]
    assert app_api.delete(f"{SHORT}/{conversation}").status_code == 204
    rows = in_process.snapshot()["conversation_scoped_webhook"]
    assert len(rows) == 1
    assert kept in rows[0]
    assert_twilio_error(app_api.get(hooks(SHORT, conversation)), 404, 20404)


def test_deleting_a_service_deletes_its_conversations_webhooks(
    app_api: httpx.Client, in_process: InProcess
) -> None:
    service = new_service(app_api)
    prefix = f"/v1/Services/{service}/Conversations"
    conversation = new_conversation(app_api, prefix)
    created(app_api, hooks(prefix, conversation), WEBHOOK)
    created(app_api, hooks(SERVICE, new_conversation(app_api, SERVICE)), WEBHOOK)
    assert app_api.delete(f"/v1/Services/{service}").status_code == 204
    rows = in_process.snapshot()["conversation_scoped_webhook"]
    assert len(rows) == 1
    assert all(conversation not in row for row in rows)


def test_reset_removes_webhooks(app_api: httpx.Client, in_process: InProcess) -> None:
    created(app_api, hooks(SHORT, new_conversation(app_api)), WEBHOOK)
    in_process.reset()
    assert in_process.snapshot()["conversation_scoped_webhook"] == []


def test_reset_of_one_account_keeps_the_others_webhooks(in_process: InProcess) -> None:
    in_process.reset()
    mine = created(in_process.client(), hooks(SHORT, new_conversation(in_process.client())), WEBHOOK)
    other = in_process.client(OTHER_ACCOUNT, "token")
    try:
        theirs = created(other, hooks(SHORT, new_conversation(other)), WEBHOOK)
        in_process.http.post("/_emulator/reset", params={"account_sid": OTHER_ACCOUNT}).raise_for_status()
    finally:
        in_process.client()
    rows = list(map(repr, in_process.snapshot()["conversation_scoped_webhook"]))
    assert any(mine["sid"] in row for row in rows)
    assert not any(theirs["sid"] in row for row in rows)


# --- no hooks of their own -----------------------------------------------------------------------------


def test_these_calls_fire_no_hooks(app_api: httpx.Client, in_process: InProcess) -> None:
    configured = app_api.post(
        f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks",
        data={
            "PostWebhookUrl": "http://127.0.0.1:9/post",
            "PreWebhookUrl": "http://127.0.0.1:9/pre",
            "Filters": POST_EVENTS,
        },
    )
    assert configured.status_code == 200, configured.text
    conversation = new_conversation(app_api, SERVICE)
    in_process.http.delete("/_emulator/deliveries").raise_for_status()
    enabled = {"X-Twilio-Webhook-Enabled": "true"}
    path = hooks(SERVICE, conversation)
    sid = app_api.post(path, data=WEBHOOK, headers=enabled).json()["sid"]
    assert (
        app_api.post(f"{path}/{sid}", data={"Configuration.Method": "get"}, headers=enabled).status_code
        == 200
    )
    assert app_api.get(path, headers=enabled).status_code == 200
    assert app_api.delete(f"{path}/{sid}", headers=enabled).status_code == 204
    assert in_process.http.get("/_emulator/deliveries").json()["deliveries"] == []


# --- the stored configuration, as activity will read it -------------------------------------------------


def test_webhooks_of_gives_a_conversations_webhooks_in_creation_order(
    app_api: httpx.Client, in_process: InProcess
) -> None:
    conversation = new_conversation(app_api, SERVICE)
    path = hooks(SERVICE, conversation)
    made = [
        created(app_api, path, STUDIO | {"Configuration.ReplayAfter": "2"}),
        created(
            app_api,
            path,
            WEBHOOK
            | {
                "Configuration.Method": "GET",
                "Configuration.Filters": ["onMessageAdded", "onMessageRemoved"],
            },
        ),
        created(app_api, path, TRIGGER),
    ]
    created(app_api, hooks(SERVICE, new_conversation(app_api, SERVICE)), WEBHOOK)  # another conversation's
    # An update keeps a webhook's place: the order is creation's.
    assert (
        app_api.post(f"{path}/{made[0]['sid']}", data={"Configuration.FlowSid": OTHER_FLOW}).status_code
        == 200
    )
    database = in_process.http.app.state.database  # type: ignore[attr-defined]
    with database.reading() as session:
        found = webhooks_of(session, DEMO_ACCOUNT, conversation)
        assert webhooks_of(session, OTHER_ACCOUNT, conversation) == []
    assert [hook.sid for hook in found] == [body["sid"] for body in made]
    studio, webhook, trigger = found
    assert (studio.target, studio.flow_sid, studio.replay_after, studio.url) == (
        "studio",
        OTHER_FLOW,
        2,
        None,
    )
    assert (webhook.target, webhook.url, webhook.method) == ("webhook", HOOK_URL, "get")
    assert webhook.filters == ["onMessageAdded", "onMessageRemoved"]
    assert webhook.triggers is None
    assert (trigger.target, trigger.url, trigger.method, trigger.triggers) == (
        "trigger",
        HOOK_URL,
        "post",
        ["help"],
    )
    assert all(hook.conversation_sid == conversation and hook.account_sid == DEMO_ACCOUNT for hook in found)
    app_api.delete(f"{path}/{made[1]['sid']}")
    with database.reading() as session:
        assert [hook.sid for hook in webhooks_of(session, DEMO_ACCOUNT, conversation)] == [
            made[0]["sid"],
            made[2]["sid"],
        ]


# --- /openapi.json --------------------------------------------------------------------------------------

OPERATIONS = [
    (f"{stem}/Webhooks{tail}", method, f"{verb}{form}ConversationScopedWebhook")
    for stem, form in (
        ("/v1/Conversations/{ConversationSid}", ""),
        ("/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}", "Service"),
    )
    for tail, method, verb in (
        ("", "post", "Create"),
        ("", "get", "List"),
        ("/{Sid}", "get", "Fetch"),
        ("/{Sid}", "post", "Update"),
        ("/{Sid}", "delete", "Delete"),
    )
]


@pytest.fixture(scope="module")
def documents(in_process: InProcess) -> tuple[dict[str, Any], dict[str, Any]]:
    """The emulator's /openapi.json and Twilio's own file."""
    ours: dict[str, Any] = in_process.http.get("/openapi.json").json()
    theirs: dict[str, Any] = json.loads(shared_spec_path().read_text(encoding="utf-8"))
    return ours, theirs


@pytest.mark.parametrize(("path", "method", "operation_id"), OPERATIONS)
def test_openapi_carries_twilios_operations_and_the_errors_given(
    documents: tuple[dict[str, Any], dict[str, Any]], path: str, method: str, operation_id: str
) -> None:
    ours, theirs = documents
    operation = ours["paths"][path][method]
    twilio = theirs["paths"][path][method]
    assert operation["operationId"] == twilio["operationId"] == operation_id
    assert operation.get("parameters") == twilio.get("parameters")
    assert operation.get("requestBody") == twilio.get("requestBody")
    assert {status: body for status, body in operation["responses"].items() if status[0] in "23"} == twilio[
        "responses"
    ]
    errors = {status for status in operation["responses"] if status[0] not in "23"}
    expected = {"401", "404", "429", "500", "default"} | ({"400", "413"} if method == "post" else set())
    if method == "get" and not path.endswith("{Sid}"):
        expected.add("400")
    assert errors == expected
    if "400" in errors:
        example = operation["responses"]["400"]["content"]["application/json"]["example"]
        assert example["status"] == 400
        assert example["code"] in (50368, 50365, 20002)


def test_answers_validate_against_twilios_schemas(
    app_api: httpx.Client, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    ours, _ = documents

    def schema_of(path: str, method: str, status: str) -> dict[str, Any]:
        schema: dict[str, Any] = ours["paths"][path][method]["responses"][status]["content"][
            "application/json"
        ]["schema"]
        return schema

    def validate(schema: dict[str, Any], body: dict[str, Any]) -> None:
        validator = OAS30Validator(
            {**schema, "components": ours["components"]}, format_checker=oas30_format_checker
        )
        validator.validate(body)

    for prefix, stem in (
        (SHORT, "/v1/Conversations/{ConversationSid}/Webhooks"),
        (SERVICE, "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks"),
    ):
        path = hooks(prefix, new_conversation(app_api, prefix))
        for params in (WEBHOOK, TRIGGER, STUDIO):
            body = created(app_api, path, params)
            validate(schema_of(stem, "post", "201"), body)
            validate(schema_of(f"{stem}/{{Sid}}", "get", "200"), app_api.get(f"{path}/{body['sid']}").json())
        validate(schema_of(stem, "get", "200"), app_api.get(path).json())


def test_configuration_keys_are_those_of_twilios_examples_but_for_trigger(
    app_api: httpx.Client, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """Twilio's schema leaves `configuration` open ("defined based on target"). Its examples show
    `url, method, filters` for webhook and `flow_sid` for studio, as here; for trigger they show the
    keywords under `filters`, while the request field is `Configuration.Triggers`, so here they are under
    `triggers`."""
    _, theirs = documents
    example = theirs["paths"]["/v1/Conversations/{ConversationSid}/Webhooks"]["get"]["responses"]["200"][
        "content"
    ]["application/json"]["examples"]["readFull"]["value"]["webhooks"]
    shown = {item["target"]: set(item["configuration"]) for item in example}
    path = hooks(SHORT, new_conversation(app_api))
    ours = {
        params["Target"]: set(created(app_api, path, params)["configuration"])
        for params in (WEBHOOK, TRIGGER, STUDIO)
    }
    assert ours["webhook"] == shown["webhook"] == {"url", "method", "filters"}
    assert ours["studio"] == shown["studio"] == {"flow_sid"}
    assert shown["trigger"] == {"url", "method", "filters"}
    assert ours["trigger"] == {"url", "method", "triggers"}


# --- against a real server: a race, and the official library -----------------------------------------


def test_eight_racing_creates_on_an_empty_conversation_give_exactly_five(emulator: Server) -> None:
    with emulator.client() as client:
        conversation = new_conversation(client)
    path = hooks(SHORT, conversation)
    barrier = threading.Barrier(8)
    answers: list[httpx.Response] = []

    def create() -> None:
        with emulator.client() as client:
            barrier.wait()
            answers.append(client.post(path, data=WEBHOOK))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [201] * 5 + [400] * 3
    for answer in answers:
        if answer.status_code == 400:
            assert_twilio_error(answer, 400, 50361)
    rows = emulator.snapshot()["conversation_scoped_webhook"]
    assert len(rows) == 5
    with emulator.client() as client:
        assert len(client.get(path).json()["webhooks"]) == 5


def test_the_python_library_round_trips_every_operation_on_both_forms(emulator: Server) -> None:
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    client = Client(DEMO_ACCOUNT, DEMO_TOKEN)
    client.conversations.base_url = emulator.base_url
    v1 = client.conversations.v1
    for conversations in (v1.conversations, v1.services(DEMO_SERVICE).conversations):
        conversation = conversations.create(unique_name="with hooks").sid
        webhooks = conversations(conversation).webhooks
        made = [
            webhooks.create(
                target="webhook",
                configuration_url=HOOK_URL,
                configuration_method="get",
                configuration_filters=["onMessageAdded", "onParticipantAdded"],
                configuration_replay_after=0,
            ),
            webhooks.create(
                target="trigger", configuration_url=HOOK_URL, configuration_triggers=["help", "agent"]
            ),
            webhooks.create(target="studio", configuration_flow_sid=FLOW),
            webhooks.create(
                target="webhook", configuration_url=HOOK_URL, configuration_filters=["onMessageAdded"]
            ),
        ]
        assert made[0].sid.startswith("WH")
        assert made[0].conversation_sid == conversation
        assert made[0].configuration == {
            "url": HOOK_URL,
            "method": "get",
            "filters": ["onMessageAdded", "onParticipantAdded"],
        }
        assert made[1].configuration == {"url": HOOK_URL, "method": "post", "triggers": ["help", "agent"]}
        assert made[2].configuration == {"flow_sid": FLOW}
        fetched = conversations("with hooks").webhooks(made[1].sid).fetch()  # by unique name
        assert (fetched.sid, fetched.target) == (made[1].sid, "trigger")
        listed = webhooks.list(page_size=2)  # follows next_page_url over two pages
        assert [item.sid for item in listed] == [item.sid for item in made]
        updated = webhooks(made[0].sid).update(
            configuration_method="post", configuration_filters=["onMessageRemoved"]
        )
        assert updated.configuration == {"url": HOOK_URL, "method": "post", "filters": ["onMessageRemoved"]}
        assert webhooks(made[3].sid).delete() is True
        with pytest.raises(TwilioRestException) as refused:
            webhooks.create(target="webhook", configuration_url=HOOK_URL)
        assert refused.value.status == 400
        assert refused.value.code == 50370
        webhooks.create(target="studio", configuration_flow_sid=FLOW)
        webhooks.create(target="studio", configuration_flow_sid=FLOW)
        with pytest.raises(TwilioRestException) as full:
            webhooks.create(target="studio", configuration_flow_sid=FLOW)
        assert (full.value.status, full.value.code) == (400, 50361)
        with pytest.raises(TwilioRestException) as missing:
            webhooks(made[3].sid).fetch()
        assert (missing.value.status, missing.value.code) == (404, 20404)
