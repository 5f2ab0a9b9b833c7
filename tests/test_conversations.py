"""Conversations in both path forms: create, fetch by SID or unique name, update, delete, list; the
account's default service; every parameter's rule and code, and that a refused request changes nothing.

Most cases run in process (`in_process`, no socket); the race for a unique name and the official library
run against a real server on a free port.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
    start_server,
)

BASE = "https://conversations.twilio.com"
KEYS = {
    "sid",
    "account_sid",
    "chat_service_sid",
    "messaging_service_sid",
    "friendly_name",
    "unique_name",
    "attributes",
    "date_created",
    "date_updated",
    "state",
    "timers",
    "bindings",
    "url",
    "links",
}
OTHER_ACCOUNT = "AC" + "5" * 32
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def default_service(account: str = DEMO_ACCOUNT) -> str:
    """Worked out as the README says, not taken from the app."""
    return "IS" + hashlib.sha256(f"default-conversation-service:{account}".encode()).hexdigest()[:32]


def created(api: httpx.Client, path: str = "/v1/Conversations", **params: str) -> dict[str, Any]:
    answer = api.post(path, data=params)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def assert_shape(body: dict[str, Any], prefix: str) -> None:
    assert set(body) == KEYS
    assert re.fullmatch(r"CH[0-9a-f]{32}", body["sid"])
    assert DATE.fullmatch(body["date_created"])
    assert DATE.fullmatch(body["date_updated"])
    url = f"{BASE}{prefix}/{body['sid']}"
    assert body["url"] == url
    assert body["links"] == {
        "participants": f"{url}/Participants",
        "messages": f"{url}/Messages",
        "webhooks": f"{url}/Webhooks",
        "export": f"{url}/Export",
    }


# --- create, both forms, the default service ---------------------------------------------------------


def test_create_in_the_default_service_has_every_key_and_the_defaults(app_api: httpx.Client) -> None:
    body = created(app_api)
    assert_shape(body, "/v1/Conversations")
    assert body["account_sid"] == DEMO_ACCOUNT
    assert body["chat_service_sid"] == default_service()
    assert body["attributes"] == "{}"
    assert body["state"] == "active"
    assert body["timers"] == {}
    assert body["bindings"] == {}
    assert body["friendly_name"] is None
    assert body["unique_name"] is None
    assert body["messaging_service_sid"] is None
    assert body["date_created"] == body["date_updated"]


def test_the_default_service_is_an_ordinary_listed_service(app_api: httpx.Client) -> None:
    sid = default_service()
    assert_twilio_error(app_api.get(f"/v1/Services/{sid}"), 404, 20404)  # not before a short-form call
    assert app_api.get("/v1/Conversations").status_code == 200  # any short-form request makes it
    service = app_api.get(f"/v1/Services/{sid}").json()
    assert service["friendly_name"] == "Default Conversations Service"
    assert sid in [item["sid"] for item in app_api.get("/v1/Services").json()["services"]]
    hooks = app_api.get(f"/v1/Services/{sid}/Configuration/Webhooks")
    assert hooks.status_code == 200
    assert hooks.json()["post_webhook_url"] is None


def test_short_and_service_forms_reach_the_same_conversations(app_api: httpx.Client) -> None:
    body = created(app_api, FriendlyName="short")
    service_path = f"/v1/Services/{default_service()}/Conversations"
    fetched = app_api.get(f"{service_path}/{body['sid']}").json()
    assert_shape(fetched, service_path)
    assert fetched["friendly_name"] == "short"
    assert fetched["chat_service_sid"] == default_service()


def test_service_form_creates_in_that_service_and_the_short_form_does_not_see_it(
    app_api: httpx.Client,
) -> None:
    path = f"/v1/Services/{DEMO_SERVICE}/Conversations"
    body = created(app_api, path, UniqueName="in-demo")
    assert_shape(body, path)
    assert body["chat_service_sid"] == DEMO_SERVICE
    assert_twilio_error(app_api.get(f"/v1/Conversations/{body['sid']}"), 404, 20404)
    assert_twilio_error(app_api.get("/v1/Conversations/in-demo"), 404, 20404)
    assert app_api.get(f"{path}/in-demo").json()["sid"] == body["sid"]


def test_deleting_the_default_service_and_using_the_short_form_makes_it_again(app_api: httpx.Client) -> None:
    first = created(app_api)
    sid = default_service()
    assert app_api.delete(f"/v1/Services/{sid}").status_code == 204
    assert_twilio_error(app_api.get(f"/v1/Conversations/{first['sid']}"), 404, 20404)
    assert app_api.get(f"/v1/Services/{sid}").status_code == 200
    assert app_api.get("/v1/Conversations").json()["conversations"] == []


def test_every_field_is_stored_and_returned(app_api: httpx.Client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    body = created(
        app_api,
        FriendlyName="Support ✓",
        UniqueName="support-1",
        Attributes='{"topic": "billing"}',
        State="inactive",
        MessagingServiceSid="MG" + "a" * 32,
        **{
            "Timers.Inactive": "PT5M",
            "Timers.Closed": "P1DT2H",
            "Bindings.Email.Address": "support@example.com",
            "Bindings.Email.Name": "Support",
        },
    )
    assert body["friendly_name"] == "Support ✓"
    assert body["unique_name"] == "support-1"
    assert body["attributes"] == '{"topic": "billing"}'
    assert body["state"] == "inactive"
    assert body["messaging_service_sid"] == "MG" + "a" * 32
    assert body["bindings"] == {"email": {"projected_address": "support@example.com", "name": "Support"}}
    assert set(body["timers"]) == {"date_inactive", "date_closed"}
    inactive = datetime.fromisoformat(body["timers"]["date_inactive"])
    closed = datetime.fromisoformat(body["timers"]["date_closed"])
    assert before + timedelta(minutes=5) <= inactive <= before + timedelta(minutes=6)
    assert closed - inactive == timedelta(days=1, hours=2) - timedelta(minutes=5)
    assert app_api.get(f"/v1/Conversations/{body['sid']}").json() == body


def test_given_dates_are_kept(app_api: httpx.Client) -> None:
    body = created(app_api, DateCreated="2020-01-02T03:04:05Z")
    assert body["date_created"] == body["date_updated"] == "2020-01-02T03:04:05Z"
    body = created(app_api, DateCreated="2020-01-02T03:04:05Z", DateUpdated="2021-01-01T00:00:00+02:00")
    assert body["date_updated"] == "2020-12-31T22:00:00Z"


def test_a_date_before_the_year_1000_keeps_four_year_digits(app_api: httpx.Client) -> None:
    body = created(app_api, DateCreated="0435-08-16T06:08:45Z", DateUpdated="0001-01-01T00:00:00Z")
    assert (body["date_created"], body["date_updated"]) == ("0435-08-16T06:08:45Z", "0001-01-01T00:00:00Z")
    listed = app_api.get("/v1/Conversations").json()["conversations"]
    assert [entry["date_created"] for entry in listed if entry["sid"] == body["sid"]] == [
        "0435-08-16T06:08:45Z"
    ]


# --- fetch, and what is not found ----------------------------------------------------------------------


def test_fetch_by_unique_name_is_exact_and_case_sensitive(app_api: httpx.Client) -> None:
    body = created(app_api, UniqueName="Room")
    assert app_api.get("/v1/Conversations/Room").json()["sid"] == body["sid"]
    assert_twilio_error(app_api.get("/v1/Conversations/room"), 404, 20404)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/Conversations/CH" + "0" * 32,
        "/v1/Conversations/no-such-name",
        "/v1/Services/IS" + "0" * 31 + "9/Conversations",
        "/v1/Services/not-a-sid/Conversations",
        "/v1/Conversations/CH" + "0" * 32 + "/Export",
    ],
)
def test_unknown_conversations_and_services_are_404(app_api: httpx.Client, path: str) -> None:
    body = assert_twilio_error(app_api.get(path), 404, 20404)
    assert body["message"] == f"The requested resource {path[3:]} was not found"


def test_another_accounts_conversation_is_404_and_untouched(in_process: InProcess) -> None:
    in_process.reset()
    mine = created(in_process.client(), UniqueName="mine")
    other = in_process.client(OTHER_ACCOUNT, "other-token")
    other.get("/v1/Conversations")  # the other account and its default service exist before the snapshot
    before = in_process.snapshot()
    for path in (f"/v1/Conversations/{mine['sid']}", "/v1/Conversations/mine"):
        assert_twilio_error(other.get(path), 404, 20404)
        assert_twilio_error(other.post(path, data={"FriendlyName": "x"}), 404, 20404)
        assert_twilio_error(other.delete(path), 404, 20404)
    service_path = f"/v1/Services/{default_service()}/Conversations/{mine['sid']}"
    assert_twilio_error(other.get(service_path), 404, 20404)
    assert in_process.snapshot() == before
    in_process.client()


# --- every parameter's rule ---------------------------------------------------------------------------


CREATE_ERRORS = [
    ({"FriendlyName": "x" * 257}, 50003),
    ({"UniqueName": "x" * 257}, 50004),
    ({"UniqueName": "CH" + "a" * 32}, 50390),
    ({"Attributes": "{not json"}, 50304),
    ({"Attributes": ""}, 50304),
    ({"Attributes": "NaN"}, 50304),  # Python's JSON reader takes NaN and Infinity; JSON has neither
    ({"Attributes": '{"limit": -Infinity}'}, 50304),
    ({"Attributes": '"' + "x" * 16 * 1024 + '"'}, 50303),
    ({"State": "closed"}, 50384),
    ({"State": "initializing"}, 20002),
    ({"State": "Active"}, 20002),
    ({"DateCreated": "yesterday"}, 20002),
    ({"DateUpdated": "2020-13-01T00:00:00Z"}, 20002),
    ({"MessagingServiceSid": "MG123"}, 20002),
    ({"Timers.Inactive": "5 minutes"}, 20002),
    ({"Timers.Inactive": "PT30S"}, 20002),
    ({"Timers.Closed": "PT9M"}, 20002),
    ({"Timers.Closed": "P1W"}, 20002),
    ({"Bindings.Email.Address": "a" * 257}, 20002),
    ({"FriendlyName": "nul\x00"}, 20002),
]


@pytest.mark.parametrize(("params", "code"), CREATE_ERRORS)
def test_create_refuses_a_bad_parameter_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, params: dict[str, str], code: int
) -> None:
    app_api.get("/v1/Conversations")  # the default service exists before the snapshot
    before = in_process.snapshot()
    assert_twilio_error(app_api.post("/v1/Conversations", data=params), 400, code)
    assert in_process.snapshot() == before


@pytest.mark.parametrize(("params", "code"), [p for p in CREATE_ERRORS if p[1] != 50384])
def test_update_refuses_a_bad_parameter_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, params: dict[str, str], code: int
) -> None:
    sid = created(app_api, FriendlyName="kept")["sid"]
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(f"/v1/Conversations/{sid}", data=params), 400, code)
    assert in_process.snapshot() == before


@pytest.mark.parametrize(("params", "code"), [p for p in CREATE_ERRORS if p[1] != 50384])
def test_an_unknown_conversation_is_404_before_its_bad_parameter(
    in_process: InProcess, app_api: httpx.Client, params: dict[str, str], code: int
) -> None:
    """Path lookups come before the parameters' checks, as for participants, messages and webhooks."""
    created(app_api, UniqueName="known")
    before = in_process.snapshot()
    for path in ("/v1/Conversations/CH" + "0" * 32, "/v1/Conversations/unknown"):
        assert_twilio_error(app_api.post(path, data=params), 404, 20404)
    assert in_process.snapshot() == before


def test_any_json_value_is_accepted_as_attributes(app_api: httpx.Client) -> None:
    # Integers of more than 4300 digits are JSON, though Python refuses to convert them (it answered 500).
    huge = "9" * 5000
    for value in ('"text"', "[1, 2]", "3", "null", '{"a": {"b": []}}', huge, f'{{"n": -{huge}}}'):
        assert created(app_api, Attributes=value)["attributes"] == value


def test_unique_name_is_unique_in_its_service_only(app_api: httpx.Client, in_process: InProcess) -> None:
    created(app_api, UniqueName="shared")
    before = in_process.snapshot()
    body = assert_twilio_error(app_api.post("/v1/Conversations", data={"UniqueName": "shared"}), 400, 50353)
    assert body["message"] == "Conversation with provided unique name already exists"
    assert in_process.snapshot() == before
    other = created(app_api, f"/v1/Services/{DEMO_SERVICE}/Conversations", UniqueName="shared")
    assert other["unique_name"] == "shared"
    second = created(app_api, UniqueName="second")
    assert_twilio_error(
        app_api.post(f"/v1/Conversations/{second['sid']}", data={"UniqueName": "shared"}), 400, 50353
    )


def test_update_changes_only_what_it_names_and_empty_clears(app_api: httpx.Client) -> None:
    body = created(app_api, FriendlyName="name", UniqueName="u", MessagingServiceSid="MG" + "b" * 32)
    updated = app_api.post(
        f"/v1/Conversations/{body['sid']}", data={"FriendlyName": "", "MessagingServiceSid": ""}
    ).json()
    assert updated["friendly_name"] is None
    assert updated["messaging_service_sid"] is None
    assert updated["unique_name"] == "u"
    same = app_api.post("/v1/Conversations/u", data={"UniqueName": "u"}).json()
    assert same["unique_name"] == "u"  # keeping one's own name is no conflict
    renamed = app_api.post("/v1/Conversations/u", data={"UniqueName": ""}).json()
    assert renamed["unique_name"] is None


def test_update_sets_date_updated_unless_given(app_api: httpx.Client) -> None:
    body = created(app_api, DateCreated="2020-01-01T00:00:00Z")
    updated = app_api.post(f"/v1/Conversations/{body['sid']}", data={"FriendlyName": "x"}).json()
    assert updated["date_created"] == "2020-01-01T00:00:00Z"
    assert updated["date_updated"] > "2025"
    given = app_api.post(
        f"/v1/Conversations/{body['sid']}", data={"DateUpdated": "2022-02-02T02:02:02Z"}
    ).json()
    assert given["date_updated"] == "2022-02-02T02:02:02Z"


def test_a_closed_conversation_refuses_every_update_but_can_be_deleted(
    app_api: httpx.Client, in_process: InProcess
) -> None:
    body = created(app_api, UniqueName="closing")
    closed = app_api.post(f"/v1/Conversations/{body['sid']}", data={"State": "closed"}).json()
    assert closed["state"] == "closed"
    assert closed["unique_name"] == "closing"  # a closed conversation keeps its name
    before = in_process.snapshot()
    for params in ({"State": "active"}, {"FriendlyName": "x"}, {}):
        assert_twilio_error(app_api.post("/v1/Conversations/closing", data=params), 400, 50377)
    assert in_process.snapshot() == before
    assert_twilio_error(app_api.post("/v1/Conversations", data={"UniqueName": "closing"}), 400, 50353)
    assert app_api.delete("/v1/Conversations/closing").status_code == 204
    assert created(app_api, UniqueName="closing")["unique_name"] == "closing"  # free again


# --- list ---------------------------------------------------------------------------------------------


def test_list_is_in_creation_order_and_pages_like_twilio(app_api: httpx.Client) -> None:
    sids = [created(app_api, FriendlyName=str(number))["sid"] for number in range(5)]
    first = app_api.get("/v1/Conversations", params={"PageSize": 2}).json()
    assert first["meta"]["key"] == "conversations"
    assert first["meta"]["page_size"] == 2
    assert [item["sid"] for item in first["conversations"]] == sids[:2]
    seen = [item["sid"] for item in first["conversations"]]
    url = first["meta"]["next_page_url"]
    while url:
        assert url.startswith("http://127.0.0.1/v1/Conversations?")  # back to the emulator, never Twilio
        page = app_api.get(url).json()
        seen += [item["sid"] for item in page["conversations"]]
        url = page["meta"]["next_page_url"]
    assert seen == sids


def test_list_filters_by_state_and_page_urls_repeat_it(app_api: httpx.Client) -> None:
    active = created(app_api)["sid"]
    inactive = [created(app_api, State="inactive")["sid"] for _ in range(3)]
    page = app_api.get("/v1/Conversations", params={"State": "inactive", "PageSize": 2}).json()
    assert [item["sid"] for item in page["conversations"]] == inactive[:2]
    query = parse_qs(urlsplit(page["meta"]["next_page_url"]).query)
    assert query["State"] == ["inactive"]
    rest = app_api.get(page["meta"]["next_page_url"]).json()
    assert [item["sid"] for item in rest["conversations"]] == inactive[2:]
    assert active not in [item["sid"] for item in rest["conversations"]]


def test_list_by_dates_is_newest_first_and_covers_whole_days(app_api: httpx.Client) -> None:
    old = created(app_api, DateCreated="2020-05-01T23:59:59Z")["sid"]
    middle = created(app_api, DateCreated="2020-05-02T00:00:00Z")["sid"]
    new = created(app_api, DateCreated="2020-05-03T12:00:00Z")["sid"]
    listed = app_api.get("/v1/Conversations", params={"StartDate": "2020-05-01", "EndDate": "2020-05-02"})
    assert [item["sid"] for item in listed.json()["conversations"]] == [middle, old]
    since = app_api.get("/v1/Conversations", params={"StartDate": "2020-05-02"}).json()
    assert [item["sid"] for item in since["conversations"]] == [new, middle]
    until = app_api.get("/v1/Conversations", params={"EndDate": "2020-05-01T23:59:59Z"}).json()
    assert [item["sid"] for item in until["conversations"]] == [old]
    assert parse_qs(urlsplit(until["meta"]["url"]).query)["EndDate"] == ["2020-05-01T23:59:59Z"]


def sids_of_pages(api: httpx.Client, url: str, link: str = "next_page_url") -> list[str]:
    """The SIDs of the page at `url` and of every page its `link` leads to, in the order read."""
    seen: list[str] = []
    while url:
        page = api.get(url).json()
        seen += [item["sid"] for item in page["conversations"]]
        url = page["meta"][link]
    return seen


def assert_pages_both_ways(api: httpx.Client, url: str, expected: list[str]) -> None:
    """Following `next_page_url` from `url` reads `expected`; `previous_page_url` from the last page reads
    it backwards."""
    assert sids_of_pages(api, url) == expected
    last = api.get(url).json()
    while last["meta"]["next_page_url"]:
        last = api.get(last["meta"]["next_page_url"]).json()
    assert sids_of_pages(api, last["meta"]["url"], "previous_page_url") == expected[::-1]


def test_list_by_dates_is_by_creation_date_not_by_when_rows_were_made(app_api: httpx.Client) -> None:
    """A given `DateCreated` places a conversation by that date, before rows made earlier; equal dates go
    newest made first. Paging keeps that order both ways."""
    fifth = created(app_api, DateCreated="2020-01-05T10:00:00Z")["sid"]
    first = created(app_api, DateCreated="2020-01-01T10:00:00Z")["sid"]
    third_a = created(app_api, DateCreated="2020-01-03T10:00:00Z")["sid"]
    third_b = created(app_api, DateCreated="2020-01-03T10:00:00Z")["sid"]
    expected = [fifth, third_b, third_a, first]
    whole = app_api.get("/v1/Conversations", params={"StartDate": "2020-01-01"}).json()
    assert [item["sid"] for item in whole["conversations"]] == expected
    assert_pages_both_ways(app_api, "/v1/Conversations?StartDate=2020-01-01&PageSize=1", expected)
    # Unfiltered, the list stays in the order the rows were made.
    plain = app_api.get("/v1/Conversations").json()["conversations"]
    assert [item["sid"] for item in plain] == [fifth, first, third_a, third_b]


def test_a_dated_list_pages_through_dates_before_1970_and_the_year_1000(app_api: httpx.Client) -> None:
    """Page tokens count microseconds from the year 1: old dates and ties page like any others."""
    dates = ["1969-12-31T23:59:59Z", "0999-06-01T00:00:00Z", "1970-01-01T00:00:00Z", "0999-06-01T00:00:00Z"]
    made = [created(app_api, DateCreated=moment)["sid"] for moment in dates]
    expected = [made[2], made[0], made[3], made[1]]  # by date, newest first; the tie newest made first
    assert_pages_both_ways(app_api, "/v1/Conversations?EndDate=2020-01-01&PageSize=1", expected)


def test_a_dated_list_keeps_its_place_when_the_rows_it_showed_are_deleted(app_api: httpx.Client) -> None:
    """As a client deleting everything it lists does: the next page is found from the token's date and
    key, not from the rows the token came after."""
    sids = [created(app_api, DateCreated=f"2020-02-0{day}T00:00:00Z")["sid"] for day in range(1, 6)]
    page = app_api.get("/v1/Conversations", params={"StartDate": "2020-02-01", "PageSize": 2}).json()
    removed = [item["sid"] for item in page["conversations"]]
    assert removed == sids[::-1][:2]  # newest first
    for sid in removed:
        assert app_api.delete(f"/v1/Conversations/{sid}").status_code == 204
    assert sids_of_pages(app_api, page["meta"]["next_page_url"]) == sids[::-1][2:]


@pytest.mark.parametrize(
    "token",
    [
        "PA1",  # a token of the list in creation order: no date to find its place by
        "PA1M",
        "PA1Mx",
        "PAM63713000000000000",
        "PA1M999999999999999999",  # past the year 9999
    ],
)
def test_a_dated_list_refuses_a_token_it_did_not_issue(
    in_process: InProcess, app_api: httpx.Client, token: str
) -> None:
    created(app_api, DateCreated="2020-03-01T00:00:00Z")
    before = in_process.snapshot()
    query = {"StartDate": "2020-03-01", "PageToken": token, "Page": "1"}
    body = assert_twilio_error(app_api.get("/v1/Conversations", params=query), 400, 20002)
    assert "PageToken" in body["message"]
    assert in_process.snapshot() == before


def test_an_undated_list_refuses_a_dated_token(in_process: InProcess, app_api: httpx.Client) -> None:
    for _ in range(2):
        created(app_api, DateCreated="2020-03-01T00:00:00Z")
    dated = app_api.get("/v1/Conversations", params={"StartDate": "2020-03-01", "PageSize": 1}).json()
    [token] = parse_qs(urlsplit(dated["meta"]["next_page_url"]).query)["PageToken"]
    assert app_api.get(dated["meta"]["next_page_url"]).status_code == 200  # its own list takes it
    before = in_process.snapshot()
    for path in ("/v1/Conversations", "/v1/Services"):
        query = {"PageToken": token, "Page": "1"}
        assert_twilio_error(app_api.get(path, params=query), 400, 20002)
    assert in_process.snapshot() == before


@pytest.mark.parametrize(
    "params",
    [
        {"State": "open"},
        {"StartDate": "May 1"},
        {"EndDate": "2020-02-30"},
        {"PageSize": "0"},
        {"PageSize": "1001"},
    ],
)
def test_list_refuses_a_bad_filter(app_api: httpx.Client, params: dict[str, str]) -> None:
    assert_twilio_error(app_api.get("/v1/Conversations", params=params), 400, 20002)


def test_page_size_up_to_1000_is_cut_to_100(app_api: httpx.Client) -> None:
    meta = app_api.get("/v1/Conversations", params={"PageSize": 500}).json()["meta"]
    assert meta["page_size"] == 100


# --- deletes and resets --------------------------------------------------------------------------------


def test_delete_answers_204_and_frees_the_unique_name(app_api: httpx.Client) -> None:
    body = created(app_api, UniqueName="gone")
    answer = app_api.delete("/v1/Conversations/gone")
    assert answer.status_code == 204
    assert answer.content == b""
    assert_twilio_error(app_api.get(f"/v1/Conversations/{body['sid']}"), 404, 20404)
    assert_twilio_error(app_api.delete(f"/v1/Conversations/{body['sid']}"), 404, 20404)


def test_deleting_a_service_deletes_its_conversations(app_api: httpx.Client, in_process: InProcess) -> None:
    service = new_service(app_api)
    path = f"/v1/Services/{service}/Conversations"
    created(app_api, path, UniqueName="under-service")
    assert app_api.delete(f"/v1/Services/{service}").status_code == 204
    rows = in_process.snapshot()["conversation"]
    assert all(service not in row for row in rows)


def test_reset_removes_conversations_and_the_default_service(
    app_api: httpx.Client, in_process: InProcess
) -> None:
    created(app_api, UniqueName="before-reset")
    in_process.reset()
    assert in_process.snapshot()["conversation"] == []
    assert_twilio_error(app_api.get(f"/v1/Services/{default_service()}"), 404, 20404)


def test_reset_of_one_account_keeps_the_others(in_process: InProcess) -> None:
    in_process.reset()
    mine = in_process.client()
    created(mine, UniqueName="demo-kept")
    other = in_process.client(OTHER_ACCOUNT, "token")
    created(other, UniqueName="other-gone")
    in_process.http.post("/_emulator/reset", params={"account_sid": OTHER_ACCOUNT}).raise_for_status()
    names = {row for row in map(repr, in_process.snapshot()["conversation"])}
    assert any("demo-kept" in row for row in names)
    assert not any("other-gone" in row for row in names)
    in_process.client()


# --- against a real server: a race, and the official library -----------------------------------------


def test_two_creates_racing_for_one_unique_name_give_one_conversation(emulator: Server) -> None:
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def create() -> None:
        with emulator.client() as client:
            barrier.wait()
            statuses.append(client.post("/v1/Conversations", data={"UniqueName": "race"}).status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [400] * 7
    rows = emulator.snapshot()["conversation"]
    assert sum("race" in row for row in rows) == 1


def test_the_python_library_round_trips_every_operation_on_both_forms(emulator: Server) -> None:
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    client = Client(DEMO_ACCOUNT, DEMO_TOKEN)
    client.conversations.base_url = emulator.base_url
    for conversations in (
        client.conversations.v1.conversations,
        client.conversations.v1.services(DEMO_SERVICE).conversations,
    ):
        made = [conversations.create(friendly_name=f"sdk {n}", unique_name=f"sdk-{n}") for n in range(7)]
        assert made[0].sid.startswith("CH")
        assert made[0].state == "active"
        assert conversations("sdk-3").fetch().sid == made[3].sid  # by unique name
        listed = conversations.list(page_size=2)  # follows next_page_url over four pages
        assert [item.sid for item in listed][-7:] == [item.sid for item in made]
        updated = conversations(made[0].sid).update(
            friendly_name="renamed", attributes='{"a": 1}', state="inactive", timers_inactive="PT2M"
        )
        assert updated.friendly_name == "renamed"
        assert updated.state == "inactive"
        assert updated.timers["date_inactive"]
        assert conversations(made[1].sid).delete() is True
        with pytest.raises(TwilioRestException) as refused:
            conversations.create(unique_name="sdk-2")
        assert refused.value.status == 400
        assert refused.value.code == 50353
        with pytest.raises(TwilioRestException) as missing:
            conversations(made[1].sid).fetch()
        assert missing.value.status == 404
        assert missing.value.code == 20404


# --- the control API and several workers on the new routes --------------------------------------------


def test_the_journal_records_conversation_calls_with_their_parameters(app_api: httpx.Client) -> None:
    app_api.delete("/_emulator/requests")
    created(app_api, UniqueName="journaled")
    app_api.post(
        "/v1/Conversations/journaled/Messages", data={"Body": "hello", "Author": "alice"}
    ).raise_for_status()
    entries = app_api.get("/_emulator/requests", params={"path": "/v1/Conversations/*/Messages"}).json()
    (entry,) = entries["requests"]
    assert entry["method"] == "POST"
    assert entry["status"] == 201
    assert entry["params"] == [["Body", "hello"], ["Author", "alice"]]
    assert entry["account_sid"] == DEMO_ACCOUNT


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/Conversations", 429, 20429),
        ("/v1/Conversations/*/Participants", 503, 20503),
        ("/v1/Services/*/Conversations/*/Messages", 500, 20500),
        ("/v1/Conversations/*/Webhooks", 429, 20429),
    ],
)
def test_an_injected_fault_answers_a_new_route_and_changes_nothing(
    in_process: InProcess, app_api: httpx.Client, path: str, status: int, code: int
) -> None:
    conversation = created(app_api, f"/v1/Services/{DEMO_SERVICE}/Conversations", UniqueName="faulty")
    short = created(app_api, UniqueName="short-faulty")
    targets = {
        "/v1/Conversations": ("/v1/Conversations", {"FriendlyName": "x"}),
        "/v1/Conversations/*/Participants": (
            f"/v1/Conversations/{short['sid']}/Participants",
            {"Identity": "alice"},
        ),
        "/v1/Services/*/Conversations/*/Messages": (
            f"/v1/Services/{DEMO_SERVICE}/Conversations/{conversation['sid']}/Messages",
            {"Body": "x"},
        ),
        "/v1/Conversations/*/Webhooks": (
            f"/v1/Conversations/{short['sid']}/Webhooks",
            {"Target": "studio", "Configuration.FlowSid": "FW" + "0" * 32},
        ),
    }
    target, params = targets[path]
    fault = app_api.post("/_emulator/faults", json={"method": "POST", "path": path, "status": status})
    assert fault.status_code == 201
    before = in_process.snapshot()
    assert_twilio_error(app_api.post(target, data=params), status, code)
    assert in_process.snapshot() == before
    assert app_api.post(target, data=params).status_code == 201  # the fault is used up


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("conversation-workers"), extra_args=["--workers", "2"])
    yield server
    server.process.stop()


def test_with_several_workers_every_write_is_seen_by_the_next_read(two_workers: Server) -> None:
    two_workers.reset()
    with two_workers.client() as api:
        for number in range(6):
            body = created(api, UniqueName=f"room-{number}")
            participant = api.post(f"/v1/Conversations/{body['sid']}/Participants", data={"Identity": "a"})
            assert participant.status_code == 201
            message = api.post(
                f"/v1/Conversations/room-{number}/Messages", data={"Body": "hi", "Author": "a"}
            )
            assert message.json()["participant_sid"] == participant.json()["sid"]
            # Whichever worker answers next has the conversation, by SID and by name.
            assert api.get(f"/v1/Conversations/room-{number}").json()["sid"] == body["sid"]
            listed = api.get(f"/v1/Conversations/{body['sid']}/Messages").json()["messages"]
            assert [item["body"] for item in listed] == ["hi"]
        two_workers.reset()
        assert_twilio_error(api.get("/v1/Conversations/room-0"), 404, 20404)


def test_with_several_workers_racing_creates_keep_unique_names_and_indexes(two_workers: Server) -> None:
    two_workers.reset()
    with two_workers.client() as api:
        conversation = created(api, UniqueName="busy")["sid"]
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    indexes: list[int] = []

    def race(number: int) -> None:
        with two_workers.client() as client:
            barrier.wait()
            statuses.append(client.post("/v1/Conversations", data={"UniqueName": "contested"}).status_code)
            answer = client.post(f"/v1/Conversations/{conversation}/Messages", data={"Body": str(number)})
            indexes.append(answer.json()["index"])

    threads = [threading.Thread(target=race, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [400] * 7
    assert sorted(indexes) == list(range(8))
