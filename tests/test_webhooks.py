"""GET and POST /v1/Services/{ChatServiceSid}/Configuration/Webhooks, through HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    SERVICE_EVENTS,
    Server,
    assert_twilio_error,
    new_service,
    start_server,
    webhooks_path,
)

KEYS = {
    "account_sid",
    "chat_service_sid",
    "pre_webhook_url",
    "post_webhook_url",
    "filters",
    "method",
    "url",
}
FULL = {
    "PreWebhookUrl": "https://hooks.example.com/pre",
    "PostWebhookUrl": "http://127.0.0.1:3000/post?x=1",
    "Filters": ["onMessageAdd", "onConversationRemoved"],
    "Method": "GET",
}


def configure(api: httpx.Client, sid: str, data: Any = FULL) -> dict[str, Any]:
    answer = api.post(webhooks_path(sid), data=data)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def fetch(api: httpx.Client, sid: str) -> dict[str, Any]:
    answer = api.get(webhooks_path(sid))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_fetch_answers_the_seven_keys(api: httpx.Client) -> None:
    answer = api.get(webhooks_path(DEMO_SERVICE))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.json() == {
        "account_sid": DEMO_ACCOUNT,
        "chat_service_sid": DEMO_SERVICE,
        "pre_webhook_url": None,
        "post_webhook_url": "https://example.com/conversations/post-event",
        "filters": ["onMessageAdded", "onConversationAdded"],
        "method": "POST",
        "url": f"https://conversations.twilio.com/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks",
    }


def test_never_configured_service_has_null_settings(api: httpx.Client) -> None:
    sid = new_service(api)
    body = fetch(api, sid)
    assert set(body) == KEYS
    assert body["account_sid"] == DEMO_ACCOUNT
    assert body["chat_service_sid"] == sid
    for key in ("pre_webhook_url", "post_webhook_url", "filters", "method"):
        assert body[key] is None


def test_update_sets_every_field_and_fetch_sees_it(api: httpx.Client) -> None:
    sid = new_service(api)
    updated = configure(api, sid)
    expected = {
        "account_sid": DEMO_ACCOUNT,
        "chat_service_sid": sid,
        "pre_webhook_url": "https://hooks.example.com/pre",
        "post_webhook_url": "http://127.0.0.1:3000/post?x=1",
        "filters": ["onMessageAdd", "onConversationRemoved"],
        "method": "GET",
        "url": f"https://conversations.twilio.com/v1/Services/{sid}/Configuration/Webhooks",
    }
    assert updated == expected
    assert fetch(api, sid) == expected


def test_only_named_parameters_change(api: httpx.Client) -> None:
    sid = new_service(api)
    configure(api, sid)
    after = configure(api, sid, {"PostWebhookUrl": "https://other.example.com/post"})
    assert after["post_webhook_url"] == "https://other.example.com/post"
    assert after["pre_webhook_url"] == FULL["PreWebhookUrl"]
    assert after["filters"] == FULL["Filters"]
    assert after["method"] == "GET"


def test_every_event_name_is_accepted(api: httpx.Client) -> None:
    sid = new_service(api)
    assert configure(api, sid, {"Filters": SERVICE_EVENTS})["filters"] == SERVICE_EVENTS


def test_filters_replace_dedupe_keep_order_and_drop_empty(api: httpx.Client) -> None:
    sid = new_service(api)
    configure(api, sid, {"Filters": ["onMessageAdd", "onMessageAdded"]})
    body = configure(
        api,
        sid,
        {"Filters": ["onParticipantAdded", "", "onMessageAdd", "onParticipantAdded", "onMessageAdd"]},
    )
    assert body["filters"] == ["onParticipantAdded", "onMessageAdd"]


def test_empty_filters_value_sets_an_empty_list(api: httpx.Client) -> None:
    sid = new_service(api)
    configure(api, sid)
    assert configure(api, sid, {"Filters": ""})["filters"] == []
    assert fetch(api, sid)["filters"] == []


@pytest.mark.parametrize(("sent", "stored"), [("post", "POST"), ("Get", "GET"), ("GET", "GET")])
def test_method_is_case_insensitive_and_stored_upper_case(api: httpx.Client, sent: str, stored: str) -> None:
    sid = new_service(api)
    assert configure(api, sid, {"Method": sent})["method"] == stored
    assert fetch(api, sid)["method"] == stored


def test_empty_values_clear_urls_and_method(api: httpx.Client) -> None:
    sid = new_service(api)
    configure(api, sid)
    body = configure(api, sid, {"PreWebhookUrl": "", "PostWebhookUrl": "", "Method": ""})
    assert body["pre_webhook_url"] is None
    assert body["post_webhook_url"] is None
    assert body["method"] is None
    assert body["filters"] == FULL["Filters"]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hook",
        "https://[::1]:8443/hook",
        "https://10.0.0.1/a/b?c=d#e",
        "HTTPS://EXAMPLE.COM/UPPER",
        "https://user:pass@example.com:8080/path",
        "https://bücher.example/path",
        "https://example.com/" + "a" * (2048 - len("https://example.com/")),
    ],
)
def test_valid_urls_are_stored_as_given(api: httpx.Client, url: str) -> None:
    sid = new_service(api)
    assert configure(api, sid, {"PreWebhookUrl": url})["pre_webhook_url"] == url
    assert configure(api, sid, {"PostWebhookUrl": url})["post_webhook_url"] == url


INVALID_URLS = [
    "example.com/hook",
    "/relative/path",
    "ftp://example.com/hook",
    "javascript:alert(1)",
    "mailto:someone@example.com",
    "http://",
    "https:///path-only",
    "http://exa mple.com/",
    " https://example.com/leading-space",
    "https://example.com/trailing-space ",
    "https://example.com/\ttab",
    "https://example.com/\r\nX-Injected: 1",
    "https://example.com/\x7f",
    "https://example.com/\x00",
    "http://-bad-.example.com/",
    "http://a..b/",
    "http://example.com:99999/",
    "http://example.com:port/",
    "http://1.2.3/",
    "https://example.com/" + "a" * (2049 - len("https://example.com/")),
]


@pytest.mark.parametrize("url", INVALID_URLS)
@pytest.mark.parametrize(("parameter", "code"), [("PreWebhookUrl", 50077), ("PostWebhookUrl", 50078)])
def test_invalid_url_is_refused_and_changes_nothing(
    emulator: Server, api: httpx.Client, url: str, parameter: str, code: int
) -> None:
    before = emulator.snapshot()
    answer = api.post(webhooks_path(DEMO_SERVICE), data={parameter: url})
    body = assert_twilio_error(answer, 400, code)
    assert parameter in body["message"]
    assert emulator.snapshot() == before


@pytest.mark.parametrize("value", ["onmessageadd", "onMessageAdd ", "MessageAdd", "onUserAdded", "x" * 300])
def test_invalid_filter_is_refused_naming_it(emulator: Server, api: httpx.Client, value: str) -> None:
    before = emulator.snapshot()
    answer = api.post(webhooks_path(DEMO_SERVICE), data={"Filters": ["onMessageAdd", value]})
    body = assert_twilio_error(answer, 400, 50054)
    assert repr(value)[1:-1][:50] in body["message"]
    assert emulator.snapshot() == before


@pytest.mark.parametrize("value", ["PUT", "DELETE", "G E T", "pöst", "GETT", "\uff27\uff25\uff34"])
def test_invalid_method_is_refused_naming_it(emulator: Server, api: httpx.Client, value: str) -> None:
    before = emulator.snapshot()
    answer = api.post(webhooks_path(DEMO_SERVICE), data={"Method": value})
    body = assert_twilio_error(answer, 400, 50055)
    assert value in body["message"]
    assert emulator.snapshot() == before


def test_one_invalid_parameter_means_nothing_is_written(emulator: Server, api: httpx.Client) -> None:
    before = emulator.snapshot()
    answer = api.post(
        webhooks_path(DEMO_SERVICE),
        data={
            "PreWebhookUrl": "https://valid.example.com/pre",
            "Filters": ["onMessageAdd"],
            "Method": "POST",
            "PostWebhookUrl": "not a url",
        },
    )
    assert_twilio_error(answer, 400, 50078)
    assert emulator.snapshot() == before


def test_unknown_and_bracketed_parameters_are_ignored(api: httpx.Client) -> None:
    sid = new_service(api)
    configure(api, sid)
    body = configure(
        api, sid, {"Unknown": "x", "Filters[]": "onMessageAdd", "filters": "nonsense", "Target": "flex"}
    )
    assert body == fetch(api, sid)
    assert body["filters"] == FULL["Filters"]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"", {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "0"}),
        (b"", {}),
        (b'{"Method": "POST", "Filters": ["onMessageAdd"]}', {"Content-Type": "application/json"}),
        (
            b'--b\r\nContent-Disposition: form-data; name="Method"\r\n\r\nPOST\r\n--b--\r\n',
            {"Content-Type": "multipart/form-data; boundary=b"},
        ),
    ],
    ids=["empty", "content-length-0", "no-content-type", "json", "multipart"],
)
def test_bodies_without_form_parameters_are_no_op_updates(
    emulator: Server, api: httpx.Client, content: bytes, headers: dict[str, str]
) -> None:
    configure(api, DEMO_SERVICE, FULL)
    before = emulator.snapshot()
    answer = api.post(webhooks_path(DEMO_SERVICE), content=content, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == fetch(api, DEMO_SERVICE)
    assert answer.json()["method"] == "GET"
    assert emulator.snapshot() == before


def test_chunked_body_is_read_like_any_other(api: httpx.Client) -> None:
    sid = new_service(api)

    def chunks() -> Iterator[bytes]:
        yield b"Filters=onMessage"
        yield b"Add&Method=po"
        yield b"st"

    answer = api.post(
        webhooks_path(sid),
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["filters"] == ["onMessageAdd"]
    assert answer.json()["method"] == "POST"


def test_empty_chunked_body_is_a_no_op(emulator: Server, api: httpx.Client) -> None:
    before = emulator.snapshot()

    def nothing() -> Iterator[bytes]:
        yield b""

    answer = api.post(
        webhooks_path(DEMO_SERVICE),
        content=nothing(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["filters"] == ["onMessageAdded", "onConversationAdded"]
    assert emulator.snapshot() == before


def test_last_value_wins_for_a_repeated_single_valued_parameter(api: httpx.Client) -> None:
    sid = new_service(api)
    answer = api.post(
        webhooks_path(sid),
        content=b"Method=GET&Method=POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["method"] == "POST"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_service_is_404(emulator: Server, api: httpx.Client, method: str) -> None:
    sid = "IS" + "f" * 32
    before = emulator.snapshot()
    answer = api.request(method, webhooks_path(sid), data={"Method": "GET"} if method == "POST" else None)
    body = assert_twilio_error(answer, 404, 20404)
    assert body["message"] == f"The requested resource /Services/{sid}/Configuration/Webhooks was not found"
    assert emulator.snapshot() == before


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"Method": "PUT"}, 50055),
        ({"Filters": "onNothing"}, 50054),
        ({"PreWebhookUrl": "ftp://x.test"}, 50077),
    ],
)
def test_an_unknown_or_another_accounts_service_is_404_before_a_bad_parameter(
    emulator: Server, api: httpx.Client, params: dict[str, str], code: int
) -> None:
    """Path lookups come before the parameters' checks: a bad parameter cannot tell a caller which
    services exist."""
    with emulator.client("AC" + "1" * 32, "other-token") as other:
        other.get("/v1/Services")  # the other account exists before the snapshot (permissive mode)
        before = emulator.snapshot()
        for client, sid in ((api, "IS" + "f" * 32), (other, DEMO_SERVICE)):
            assert_twilio_error(client.post(webhooks_path(sid), data=params), 404, 20404)
    assert emulator.snapshot() == before
    # The caller's own service: the parameter's own error.
    assert_twilio_error(api.post(webhooks_path(DEMO_SERVICE), data=params), 400, code)
    assert emulator.snapshot() == before


@pytest.mark.parametrize(
    "sid", ["IS123", "ISzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "CH" + "0" * 32, "IS" + "0" * 33, "is" + "0" * 32]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_malformed_sid_is_404(emulator: Server, api: httpx.Client, sid: str, method: str) -> None:
    before = emulator.snapshot()
    answer = api.request(method, webhooks_path(sid))
    body = assert_twilio_error(answer, 404, 20404)
    assert body["message"] == f"The requested resource /Services/{sid}/Configuration/Webhooks was not found"
    assert emulator.snapshot() == before


def test_another_accounts_service_is_404_and_untouched(emulator: Server, api: httpx.Client) -> None:
    sid = new_service(api)
    configure(api, sid)
    before = emulator.snapshot()
    with emulator.client("AC" + "1" * 32, "other-token") as other:
        assert_twilio_error(other.get(webhooks_path(sid)), 404, 20404)
        after_get = emulator.snapshot()
        assert_twilio_error(other.post(webhooks_path(sid), data={"Method": "POST"}), 404, 20404)
    # The other account's first call registered that account (permissive mode); nothing else changed.
    assert emulator.snapshot() == after_get
    assert after_get["conversation_service"] == before["conversation_service"]
    assert after_get["service_webhook_configuration"] == before["service_webhook_configuration"]
    assert fetch(api, sid)["method"] == "GET"


@pytest.fixture(scope="module")
def public_base_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("public-base"), extra_args=["--public-base-url", "http://emulator.test:9/"]
    )
    yield running
    running.process.stop()


def test_public_base_url_is_used_in_url(public_base_server: Server) -> None:
    with public_base_server.client() as api:
        body = fetch(api, DEMO_SERVICE)
    assert body["url"] == f"http://emulator.test:9/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks"
