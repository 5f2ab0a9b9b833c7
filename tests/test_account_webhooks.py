"""GET and POST /v1/Configuration/Webhooks: the account-level webhook configuration, through HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio_conversations_emulator.conversations.webhooks.rules import POST_EVENTS, PRE_EVENTS

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    assert_twilio_error,
    webhooks_path,
)

PATH = "/v1/Configuration/Webhooks"
KEYS = {"account_sid", "method", "filters", "pre_webhook_url", "post_webhook_url", "target", "url"}
OTHER_ACCOUNT = "AC" + "5" * 32
USER_EVENTS = ["onUserAdded", "onUserUpdate", "onUserUpdated"]
FULL = {
    "PreWebhookUrl": "https://hooks.example.com/pre",
    "PostWebhookUrl": "http://127.0.0.1:3000/post?x=1",
    "Filters": ["onMessageAdd", "onUserUpdated", "onConversationRemoved"],
    "Method": "GET",
    "Target": "webhook",
}


def configure(api: httpx.Client, data: Any = FULL) -> dict[str, Any]:
    answer = api.post(PATH, data=data)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def fetch(api: httpx.Client) -> dict[str, Any]:
    answer = api.get(PATH)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_an_account_never_configured_has_the_defaults(api: httpx.Client) -> None:
    answer = api.get(PATH)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.json() == {
        "account_sid": DEMO_ACCOUNT,
        "method": "POST",  # Twilio's schema for this resource allows GET or POST, never null
        "filters": None,
        "pre_webhook_url": None,
        "post_webhook_url": None,
        "target": "webhook",
        "url": "https://conversations.twilio.com/v1/Configuration/Webhooks",
    }


def test_update_sets_every_field_and_fetch_returns_it(api: httpx.Client) -> None:
    updated = configure(api)
    assert set(updated) == KEYS
    assert updated == {
        "account_sid": DEMO_ACCOUNT,
        "method": "GET",
        "filters": ["onMessageAdd", "onUserUpdated", "onConversationRemoved"],
        "pre_webhook_url": "https://hooks.example.com/pre",
        "post_webhook_url": "http://127.0.0.1:3000/post?x=1",
        "target": "webhook",
        "url": "https://conversations.twilio.com/v1/Configuration/Webhooks",
    }
    assert fetch(api) == updated


def test_only_the_parameters_sent_change(api: httpx.Client) -> None:
    configure(api)
    updated = configure(api, {"Method": "post", "Target": "FLEX"})
    assert updated["method"] == "POST"
    assert updated["target"] == "flex"
    assert updated["pre_webhook_url"] == FULL["PreWebhookUrl"]
    assert updated["filters"] == FULL["Filters"]


def test_empty_values_clear_and_target_returns_to_its_default(api: httpx.Client) -> None:
    configure(api, {**FULL, "Target": "flex"})
    cleared = configure(
        api, {"PreWebhookUrl": "", "PostWebhookUrl": "", "Method": "", "Filters": "", "Target": ""}
    )
    assert cleared["pre_webhook_url"] is None
    assert cleared["post_webhook_url"] is None
    assert cleared["method"] == "POST"  # unset again: the method deliveries use
    assert cleared["filters"] == []
    assert cleared["target"] == "webhook"


def test_filters_take_all_23_events_deduplicated_in_order(api: httpx.Client) -> None:
    events = [*PRE_EVENTS, *POST_EVENTS, *USER_EVENTS]
    assert len(events) == 23
    updated = configure(api, {"Filters": [*events, "onMessageAdd", ""]})
    assert updated["filters"] == events


def test_user_events_are_account_level_only(emulator: Server, api: httpx.Client) -> None:
    before = emulator.snapshot()
    body = assert_twilio_error(
        api.post(webhooks_path(DEMO_SERVICE), data={"Filters": "onUserAdded"}), 400, 50054
    )
    assert "onUserAdded" in body["message"]
    assert emulator.snapshot() == before


@pytest.mark.parametrize(
    ("data", "code", "named"),
    [
        ({"Filters": ["onMessageAdd", "onMessageSend"]}, 50054, "onMessageSend"),
        ({"Filters": "onuseradded"}, 50054, "onuseradded"),
        ({"Method": "PUT"}, 50055, "PUT"),
        ({"PreWebhookUrl": "ftp://example.com/pre"}, 50077, "PreWebhookUrl"),
        ({"PostWebhookUrl": "https://exa mple.com/"}, 50078, "PostWebhookUrl"),
        ({"Target": "studio"}, 20002, "studio"),
        ({"Target": "webhook ", "Method": "GET"}, 20002, "Target"),
    ],
)
def test_an_invalid_update_is_refused_and_changes_nothing(
    emulator: Server, api: httpx.Client, data: dict[str, Any], code: int, named: str
) -> None:
    configure(api)
    before = emulator.snapshot()
    body = assert_twilio_error(
        api.post(PATH, data={"PreWebhookUrl": "https://a.example/", **data}), 400, code
    )
    assert named in body["message"]
    assert emulator.snapshot() == before
    assert fetch(api)["pre_webhook_url"] == FULL["PreWebhookUrl"]


def test_each_account_sees_only_its_own_configuration(emulator: Server, api: httpx.Client) -> None:
    configure(api)
    with emulator.client(OTHER_ACCOUNT, "other-token") as other:
        theirs = fetch(other)
        assert theirs["account_sid"] == OTHER_ACCOUNT
        assert theirs["pre_webhook_url"] is None
        configure(other, {"Method": "POST"})
    assert fetch(api)["method"] == "GET"


def test_credentials_are_required(emulator: Server) -> None:
    with emulator.anonymous() as anonymous:
        assert_twilio_error(anonymous.get(PATH), 401, 20003)
        assert_twilio_error(anonymous.post(PATH, data={"Method": "GET"}), 401, 20003)


def test_delete_is_not_allowed(emulator: Server, api: httpx.Client) -> None:
    before = emulator.snapshot()
    assert_twilio_error(api.delete(PATH), 405, 20004)
    assert emulator.snapshot() == before


def test_reset_wipes_the_account_configuration(emulator: Server, api: httpx.Client) -> None:
    configure(api)
    with emulator.client(OTHER_ACCOUNT, "other-token") as other:
        configure(other)
        httpx.post(f"{emulator.base_url}/_emulator/reset", params={"account_sid": OTHER_ACCOUNT})
        assert fetch(other)["pre_webhook_url"] is None
    assert fetch(api)["pre_webhook_url"] == FULL["PreWebhookUrl"]
    emulator.reset()
    assert fetch(api)["pre_webhook_url"] is None


def test_the_python_library_fetches_and_updates_it(emulator: Server) -> None:
    client = Client(DEMO_ACCOUNT, DEMO_TOKEN)
    client.conversations.base_url = emulator.base_url
    webhooks = client.conversations.v1.configuration.webhooks()
    updated = webhooks.update(
        filters=["onMessageAdd", "onUserAdded"],
        target="webhook",
        pre_webhook_url="https://hooks.example.com/pre",
        post_webhook_url="https://hooks.example.com/post",
        method="POST",
    )
    assert updated.account_sid == DEMO_ACCOUNT
    assert updated.filters == ["onMessageAdd", "onUserAdded"]
    assert updated.target == "webhook"
    fetched = webhooks.fetch()
    assert (fetched.pre_webhook_url, fetched.post_webhook_url, fetched.method) == (
        "https://hooks.example.com/pre",
        "https://hooks.example.com/post",
        "POST",
    )
    with pytest.raises(TwilioRestException) as refused:
        webhooks.update(target="studio")
    assert (refused.value.status, refused.value.code) == (400, 20002)


def test_concurrent_updates_each_answer_their_own_write(emulator: Server) -> None:
    """Writes that share one group commit must not see each other's values in their answers."""

    def update(method: str) -> str:
        with emulator.client() as client:
            answer = client.post("/v1/Configuration/Webhooks", data={"Method": method})
            assert answer.status_code == 200, answer.text
            value: str = answer.json()["method"]
            return value

    methods = ["GET", "POST"] * 20
    with ThreadPoolExecutor(max_workers=20) as pool:
        answered = list(pool.map(update, methods))
    assert answered == methods
