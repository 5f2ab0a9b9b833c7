"""Conformance to Twilio's OpenAPI description (`shared/spec/twilio_conversations_v1.json`), property-based.

A bounded run of `bench/conformance.py` against the session's server: for every operation the emulator
implements (services, webhook configuration, and conversations with their participants, messages and
scoped webhooks in both path forms), the spec's own examples, then positive and negative cases generated
from the spec by schemathesis (fixed seed), with the demo account's valid credentials; half of the
generated cases have their path parameters swapped for a service, or a seeded conversation and its
children, that exist. No 5xx ever; every 2xx is a documented status whose body validates
against Twilio's response schema; every 4xx is Twilio's envelope. The longer run is
`.venv/bin/python bench/conformance.py --max-examples N`.

The checker itself is tested first, so a run with no failures means something.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from bench.conformance import (
    ACCOUNT_OPERATIONS,
    CONVERSATION_OPERATIONS,
    SERVICE_OPERATIONS,
    ConversationPool,
    Operation,
    find_operations,
    load_schema,
    path_collections,
    raw_spec,
    request_headers,
    response_problems,
    run,
    spec_path,
)
from tests.conftest import DEMO_SERVICE, Server

# Per operation and generation mode (positive, negative): small, so that 48 operations fit the suite's
# time; `bench/conformance.py` is the long run.
MAX_EXAMPLES = 6
SEED = 20240601
JSON_HEADERS = {"content-type": "application/json; charset=utf-8"}
ALL_OPERATIONS = (*SERVICE_OPERATIONS, *ACCOUNT_OPERATIONS, *CONVERSATION_OPERATIONS)


@pytest.fixture(scope="module")
def operations() -> dict[str, Operation]:
    return {operation.operation_id: operation for operation in find_operations(load_schema(), ALL_OPERATIONS)}


def success_examples(operation_id: str) -> list[tuple[int, str, Any]]:
    """(status, name, value) of every example the spec gives for the operation's success responses."""
    for methods in raw_spec()["paths"].values():
        for definition in methods.values():
            if isinstance(definition, dict) and definition.get("operationId") == operation_id:
                return [
                    (int(status), name, example["value"])
                    for status, response in definition["responses"].items()
                    for name, example in response.get("content", {})
                    .get("application/json", {})
                    .get("examples", {})
                    .items()
                ]
    raise LookupError(operation_id)


def problems_of(operation: Operation, status: int, document: Any) -> list[str]:
    return response_problems(operation, status, JSON_HEADERS, json.dumps(document).encode())


def test_the_spec_is_found_beside_the_repository_or_in_work_shared() -> None:
    path = spec_path()
    assert path.name == "twilio_conversations_v1.json"
    assert raw_spec()["openapi"].startswith("3.0")


@pytest.mark.parametrize("operation_id", [name for name in ALL_OPERATIONS if not name.startswith("Delete")])
def test_the_specs_own_examples_pass_the_checker(operations: dict[str, Operation], operation_id: str) -> None:
    # Includes `fetchEmpty` (`"method": null`): the spec's schema cannot mark a `$ref`'d enum nullable,
    # Twilio's own example answers null, and the checker accepts it for that reason only.
    examples = success_examples(operation_id)
    assert examples
    for status, name, value in examples:
        assert problems_of(operations[operation_id], status, value) == [], name


def _with(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**document, **changes}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda d: _with(d, account_sid="XX" + "0" * 32), "account_sid", id="account-sid-pattern"
        ),
        pytest.param(lambda d: _with(d, chat_service_sid=42), "chat_service_sid", id="sid-not-a-string"),
        pytest.param(lambda d: _with(d, method="PUT"), "method", id="method-not-in-enum"),
        pytest.param(lambda d: _with(d, method="get"), "method", id="method-lower-case"),
        pytest.param(lambda d: _with(d, filters="onMessageAdded"), "filters", id="filters-not-a-list"),
        pytest.param(lambda d: _with(d, filters=[1]), "filters", id="filter-not-a-string"),
        pytest.param(lambda d: _with(d, url="not a uri"), "url", id="url-not-a-uri"),
        pytest.param(lambda d: _with(d, pre_webhook_url="::"), "pre_webhook_url", id="pre-url-not-a-uri"),
        pytest.param(lambda d: [d], "", id="not-an-object"),
    ],
)
def test_the_checker_refuses_a_body_that_breaks_the_schema(
    operations: dict[str, Operation],
    mutate: Callable[[dict[str, Any]], Any],
    expected: str,
) -> None:
    [(status, _, example)] = [
        example for example in success_examples("FetchServiceWebhookConfiguration") if example[1] == "fetch"
    ]
    problems = problems_of(operations["FetchServiceWebhookConfiguration"], status, mutate(example))
    assert problems
    assert expected in problems[0]


def test_the_checker_refuses_a_service_with_a_bad_date(operations: dict[str, Operation]) -> None:
    [(status, _, example)] = success_examples("FetchService")
    assert problems_of(operations["FetchService"], status, example) == []
    problems = problems_of(operations["FetchService"], status, _with(example, date_created="yesterday"))
    assert problems
    assert "date_created" in problems[0]


def test_the_checker_refuses_undocumented_successes(operations: dict[str, Operation]) -> None:
    [(_, _, example)] = success_examples("CreateService")
    # CreateService is documented as 201: a 200 is not Twilio's answer.
    assert "not one the spec documents" in problems_of(operations["CreateService"], 200, example)[0]
    delete = operations["DeleteService"]
    assert response_problems(delete, 204, {}, b"") == []
    assert response_problems(delete, 204, {}, b"{}") != []


ENVELOPE = {
    "code": 20404,
    "message": "The requested resource /Services/IS1 was not found",
    "more_info": "https://www.twilio.com/docs/errors/20404",
    "status": 404,
}


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        pytest.param(404, JSON_HEADERS, _with(ENVELOPE, detail="x"), id="extra-key"),
        pytest.param(404, JSON_HEADERS, {"detail": "Not Found"}, id="fastapi-shape"),
        pytest.param(404, JSON_HEADERS, _with(ENVELOPE, status=400), id="status-differs"),
        pytest.param(404, JSON_HEADERS, _with(ENVELOPE, status="404"), id="status-a-string"),
        pytest.param(404, JSON_HEADERS, _with(ENVELOPE, code="20404"), id="code-a-string"),
        pytest.param(404, JSON_HEADERS, _with(ENVELOPE, more_info="https://example.com"), id="more-info"),
        pytest.param(404, JSON_HEADERS, _with(ENVELOPE, message=""), id="empty-message"),
        pytest.param(404, {"content-type": "text/html"}, ENVELOPE, id="html-content-type"),
        pytest.param(500, JSON_HEADERS, _with(ENVELOPE, status=500, code=20500), id="server-error"),
        pytest.param(302, JSON_HEADERS, ENVELOPE, id="redirect"),
    ],
)
def test_the_checker_refuses_anything_but_twilios_envelope(
    operations: dict[str, Operation], status: int, headers: dict[str, str], body: Any
) -> None:
    operation = operations["FetchService"]
    assert response_problems(operation, 404, JSON_HEADERS, json.dumps(ENVELOPE).encode()) == []
    assert response_problems(operation, status, headers, json.dumps(body).encode()) != []


def test_the_forty_conversation_operations_are_all_there(operations: dict[str, Operation]) -> None:
    assert len(set(CONVERSATION_OPERATIONS)) == 40
    for name in CONVERSATION_OPERATIONS:
        path = operations[name].api.path
        assert path.startswith(
            "/v1/Services/{ChatServiceSid}/Conversations" if "Service" in name else "/v1/Conversations"
        )


def test_path_parameters_are_named_by_the_collection_before_them() -> None:
    assert path_collections("/v1/Services/{Sid}") == {"Sid": "Services"}
    assert path_collections(
        "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}"
    ) == {
        "ChatServiceSid": "Services",
        "ConversationSid": "Conversations",
        "Sid": "Messages",
    }
    assert path_collections("/v1/Conversations") == {}


@pytest.mark.parametrize(
    "operation_id", [name for name in CONVERSATION_OPERATIONS if name.startswith("Fetch")]
)
def test_swapped_path_parameters_name_resources_that_exist(
    emulator: Server, operations: dict[str, Operation], operation_id: str
) -> None:
    # Every way a swap names a resource (either conversation, by SID or unique name; a participant by
    # SID, identity, or the SMS one) is one the emulator finds: the run's 2xx are not luck.
    with requests.Session() as session:
        session.headers["Authorization"] = request_headers({})["Authorization"]
        pool = ConversationPool(emulator.base_url, session)
        pool.restore()
        path = operations[operation_id].api.path
        reached = set()
        for index in range(12):
            values = pool.path_values(path, index)
            answer = session.get(emulator.base_url + path.format(**values), timeout=30)
            assert answer.status_code == 200, (values, answer.text)
            reached.add(answer.json()["sid"])
            if "ChatServiceSid" in values:
                assert answer.json()["chat_service_sid"] == values["ChatServiceSid"]
    # Two participants per conversation (the identity names the chat one); two conversations in the
    # service form, the default service's alone in the short form.
    assert len(reached) == (2 if "Participant" in operation_id else 1) * (
        2 if "Service" in operation_id else 1
    )
    if "Service" in operation_id:
        assert DEMO_SERVICE in {pool.path_values(path, index)["ChatServiceSid"] for index in range(2)}


def test_hooks_are_never_asked_for_and_credentials_are_always_valid() -> None:
    headers = request_headers({"authorization": "Basic broken", "X-Twilio-Webhook-Enabled": " TRUE "})
    assert headers == {
        "Authorization": request_headers({})["Authorization"],
        "X-Twilio-Webhook-Enabled": "false",
    }
    assert request_headers({"X-Twilio-Webhook-Enabled": "false"})["X-Twilio-Webhook-Enabled"] == "false"
    assert request_headers({"X-Twilio-Webhook-Enabled": "yes"})["X-Twilio-Webhook-Enabled"] == "yes"


def test_every_implemented_operation_conforms_to_twilios_openapi(
    emulator: Server, record_property: Callable[[str, object], None]
) -> None:
    try:
        report = run(emulator.base_url, max_examples=MAX_EXAMPLES, seed=SEED)
    finally:
        emulator.reset()  # the run created and deleted services, and changed the account's configuration
    print(f"\n{report.summary()}")
    record_property("operations_checked", len(report.operations))
    record_property("cases_run", report.total_cases)
    # The account-level and conversation operations are included because their routes answer.
    assert report.operations == list(ALL_OPERATIONS)
    assert not report.failures, report.summary(limit=None)
    for name in report.operations:
        statuses = report.statuses[name]
        assert report.cases[name] >= 2 * MAX_EXAMPLES, name
        assert sum(statuses.values()) == report.cases[name], name
        # Swapping in existing resources makes every operation succeed sometimes, not only answer 404.
        assert any(200 <= status < 300 for status in statuses), f"{name} never succeeded: {statuses}"
    # Negative cases are refused, and not all with the same answer.
    refused = {status for counter in report.statuses.values() for status in counter if status >= 400}
    assert {400, 404} <= refused
