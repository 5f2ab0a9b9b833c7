"""`/openapi.json`: Twilio's own operations where the emulator implements them, the errors it really gives,
and the `/_emulator/` surface; compared with Twilio's file in shared/ and with real answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate
from twilio_conversations_emulator.main import create_app
from twilio_conversations_emulator.openapi import implemented_operations
from twilio_conversations_emulator.settings import Settings
from twilio_conversations_emulator.twilio.openapi_extract import SUBSET_PATH, extract_file, refs

from tests.conftest import DEMO_SERVICE, Server, webhooks_path

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

SPEC_NAME = "shared/spec/twilio_conversations_v1.json"
SPEC_CANDIDATES = (Path(__file__).resolve().parents[2] / SPEC_NAME, Path("/work") / SPEC_NAME)
ERROR_REF = "#/components/schemas/TwilioError"
WEBHOOKS = "/v1/Services/{ChatServiceSid}/Configuration/Webhooks"

# (path, method, Twilio's operationId) for every Twilio operation the emulator implements.
TWILIO_OPERATIONS = [
    ("/v1/Services", "post", "CreateService"),
    ("/v1/Services", "get", "ListService"),
    ("/v1/Services/{Sid}", "get", "FetchService"),
    ("/v1/Services/{Sid}", "delete", "DeleteService"),
    (WEBHOOKS, "get", "FetchServiceWebhookConfiguration"),
    (WEBHOOKS, "post", "UpdateServiceWebhookConfiguration"),
    ("/v1/Configuration/Webhooks", "get", "FetchConfigurationWebhook"),
    ("/v1/Configuration/Webhooks", "post", "UpdateConfigurationWebhook"),
]

EMULATOR_OPERATIONS = [
    ("/_emulator/health", "get", "EmulatorHealth"),
    ("/_emulator/reset", "post", "EmulatorReset"),
    ("/_emulator/fixtures", "post", "EmulatorApplyFixtures"),
    ("/_emulator/requests", "get", "EmulatorListRequests"),
    ("/_emulator/requests", "delete", "EmulatorClearRequests"),
    ("/_emulator/faults", "post", "EmulatorAddFault"),
    ("/_emulator/faults", "get", "EmulatorListFaults"),
    ("/_emulator/faults", "delete", "EmulatorClearFaults"),
    ("/_emulator/events", "post", "EmulatorSimulateEvent"),
    ("/_emulator/deliveries", "get", "EmulatorListDeliveries"),
    ("/_emulator/deliveries", "delete", "EmulatorClearDeliveries"),
]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def shared_spec_path() -> Path:
    for candidate in SPEC_CANDIDATES:
        if candidate.is_file():
            return candidate
    pytest.fail(f"Twilio's OpenAPI file is not at {' nor '.join(map(str, SPEC_CANDIDATES))}")


@pytest.fixture(scope="module")
def twilio_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(shared_spec_path().read_text(encoding="utf-8"))
    return spec


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    answer = httpx.get(f"{server.base_url}/openapi.json", timeout=30.0)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = answer.json()
    return body


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local JSON pointer (`#/a/b`), or KeyError."""
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node: Any = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def referenced_schemas(spec: dict[str, Any], node: Any) -> dict[str, Any]:
    """Every component schema node refers to, transitively, by name."""
    found: dict[str, Any] = {}
    pending = list(refs(node))
    while pending:
        ref = pending.pop()
        name = ref.removeprefix("#/components/schemas/")
        if name in found:
            continue
        found[name] = resolve(spec, ref)
        pending.extend(refs(found[name]))
    return found


# Twilio's file declares these enums non-nullable, yet its own `fetchEmpty` example, like the real API,
# answers `"method": null` for a configuration never set; the contract follows the example. Bodies are
# checked with exactly this leniency, and so are Twilio's own examples (see below).
TWILIO_NULLABLE_ENUMS = ("service_webhook_configuration_enum_method", "configuration_webhook_enum_method")


def as_answered(components: dict[str, Any]) -> dict[str, Any]:
    schemas = dict(components["schemas"])
    for name in TWILIO_NULLABLE_ENUMS:
        schemas[name] = schemas[name] | {"nullable": True, "enum": [*schemas[name]["enum"], None]}
    return components | {"schemas": schemas}


def validator(document: dict[str, Any], schema: dict[str, Any], *, twilio_nulls: bool = False) -> Any:
    """A validator for an OpenAPI 3.0 schema whose `$ref`s point into document."""
    components = as_answered(document["components"]) if twilio_nulls else document["components"]
    return OAS30Validator({**schema, "components": components}, format_checker=oas30_format_checker)


def assert_valid(
    document: dict[str, Any], schema: dict[str, Any], instance: Any, *, twilio_nulls: bool = False
) -> None:
    validator(document, schema, twilio_nulls=twilio_nulls).validate(instance)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def test_openapi_json_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.0.")
    # Nowhere special: no server, so a client of the document talks to the emulator it read it from.
    assert document.get("servers", [{"url": "/"}]) == [{"url": "/"}]
    assert "x-twilio-openapi" in document["info"]
    assert document["info"]["x-twilio-openapi"]["license"]["name"] == "MIT"


@pytest.mark.parametrize(("path", "method", "operation_id"), TWILIO_OPERATIONS)
def test_twilio_operation_is_twilios_own(
    document: dict[str, Any], twilio_spec: dict[str, Any], path: str, method: str, operation_id: str
) -> None:
    ours = document["paths"][path][method]
    theirs = twilio_spec["paths"][path][method]
    assert ours["operationId"] == theirs["operationId"] == operation_id
    assert ours.get("parameters") == theirs.get("parameters")
    assert ours.get("requestBody") == theirs.get("requestBody")
    assert ours["security"] == theirs["security"]
    successes = {status: response for status, response in ours["responses"].items() if status[0] in "23"}
    assert successes == theirs["responses"]
    # The schemas those parts refer to are Twilio's, unchanged.
    used = {key: theirs[key] for key in ("parameters", "requestBody", "responses") if key in theirs}
    for name, schema in referenced_schemas(twilio_spec, used).items():
        assert document["components"]["schemas"][name] == schema, name
    for requirement in theirs["security"]:
        for scheme in requirement:
            expected = twilio_spec["components"]["securitySchemes"][scheme]
            assert document["components"]["securitySchemes"][scheme] == expected


@pytest.mark.parametrize(("path", "method", "operation_id"), TWILIO_OPERATIONS)
def test_twilio_operation_lists_the_errors_the_emulator_gives(
    document: dict[str, Any], path: str, method: str, operation_id: str
) -> None:
    responses = document["paths"][path][method]["responses"]
    expected = {"401", "429", "500", "default"}
    if method == "post":
        expected |= {"400", "413"}
    if operation_id == "ListService":
        expected.add("400")
    if "{" in path:
        expected.add("404")
    errors = {status for status in responses if status[0] not in "23"}
    assert errors == expected
    for status in errors:
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, status
    assert "WWW-Authenticate" in responses["401"]["headers"]


def test_every_error_response_uses_the_envelope(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "23":
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (path, method, status)
            example = response["content"]["application/json"].get("example")
            if example is not None:
                assert_valid(document, schema, example)
                if status != "default":
                    assert example["status"] == int(status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_envelope_schema(document: dict[str, Any]) -> None:
    envelope = document["components"]["schemas"]["TwilioError"]
    assert envelope["type"] == "object"
    assert envelope["additionalProperties"] is False
    assert sorted(envelope["required"]) == ["code", "message", "more_info", "status"]
    properties = envelope["properties"]
    assert set(properties) == {"code", "message", "more_info", "status"}
    assert properties["code"]["type"] == "integer"
    assert properties["status"]["type"] == "integer"
    assert properties["message"]["type"] == "string"
    assert properties["more_info"] == properties["more_info"] | {"type": "string", "format": "uri"}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    all_refs = set(refs(document))
    assert ERROR_REF in all_refs
    for ref in all_refs:
        try:
            resolve(document, ref)
        except (KeyError, IndexError, TypeError):
            pytest.fail(f"{ref} does not resolve inside /openapi.json")


def test_emulator_operations_are_documented(document: dict[str, Any]) -> None:
    found = {
        operation["operationId"]: (path, method, operation)
        for path, method, operation in operations(document)
    }
    for path, method, operation_id in EMULATOR_OPERATIONS:
        assert operation_id in found, operation_id
        where, how, operation = found[operation_id]
        assert (where, how) == (path, method)
        assert operation["summary"]
        assert "422" not in operation["responses"]
        assert operation["responses"]["500"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    assert "security" not in found["EmulatorHealth"][2]
    assert found["EmulatorAddFault"][2]["security"] == [{}, {"emulatorAdminToken": []}]
    assert document["components"]["securitySchemes"]["emulatorAdminToken"]["scheme"] == "bearer"
    assert [p["name"] for p in found["EmulatorListRequests"][2]["parameters"]] == [
        "method",
        "path",
        "account_sid",
        "limit",
    ]


def test_real_errors_validate_and_are_documented(emulator: Server, document: dict[str, Any]) -> None:
    envelope = {"$ref": ERROR_REF}
    unknown = "IS" + "f" * 32
    with emulator.client() as api, emulator.anonymous() as anonymous:
        fault = {"method": "GET", "path": "/v1/Services", "status": 429, "retry_after": 2}
        assert anonymous.post("/_emulator/faults", json=fault).status_code == 201
        cases = [
            ("/v1/Services", "get", api.get("/v1/Services")),  # the injected 429
            ("/v1/Services", "get", api.get("/v1/Services", params={"PageSize": "0"})),
            ("/v1/Services", "post", api.post("/v1/Services", data={})),
            ("/v1/Services", "post", api.post("/v1/Services", content=b"x" * (1024 * 1024 + 1))),
            ("/v1/Services", "get", anonymous.get("/v1/Services")),
            ("/v1/Services/{Sid}", "get", api.get(f"/v1/Services/{unknown}")),
            ("/v1/Services/{Sid}", "delete", api.delete(f"/v1/Services/{unknown}")),
            (WEBHOOKS, "get", api.get(webhooks_path(unknown))),
            (WEBHOOKS, "post", api.post(webhooks_path(DEMO_SERVICE), data={"Method": "PUT"})),
            (
                "/v1/Configuration/Webhooks",
                "post",
                api.post("/v1/Configuration/Webhooks", data={"Target": "x"}),
            ),
            ("/_emulator/requests", "get", anonymous.get("/_emulator/requests", params={"limit": "x"})),
        ]
        not_allowed = api.put("/v1/Services")
    for path, method, answer in cases:
        assert_valid(document, envelope, answer.json())
        assert str(answer.status_code) in document["paths"][path][method]["responses"], (path, method)
    statuses = [answer.status_code for _, _, answer in cases]
    assert statuses == [429, 400, 400, 413, 401, 404, 404, 404, 400, 400, 400]
    assert cases[0][2].headers["Retry-After"] == "2"
    assert "WWW-Authenticate" in cases[4][2].headers
    # 405 belongs to no documented operation (the method is not one); its body is the envelope too.
    assert not_allowed.status_code == 405
    assert_valid(document, envelope, not_allowed.json())


def test_real_answers_validate_against_twilios_schemas(api: httpx.Client, document: dict[str, Any]) -> None:
    def check(path: str, method: str, answer: httpx.Response) -> None:
        response = document["paths"][path][method]["responses"][str(answer.status_code)]
        schema = response["content"]["application/json"]["schema"]
        assert_valid(document, schema, answer.json(), twilio_nulls=True)

    created = api.post("/v1/Services", data={"FriendlyName": "openapi"})
    check("/v1/Services", "post", created)
    sid = created.json()["sid"]
    check("/v1/Services", "get", api.get("/v1/Services"))
    check("/v1/Services/{Sid}", "get", api.get(f"/v1/Services/{sid}"))
    check(WEBHOOKS, "get", api.get(webhooks_path(sid)))  # never configured: all null
    update = {"PreWebhookUrl": "https://example.com/pre", "Filters": ["onMessageAdd"], "Method": "get"}
    check(WEBHOOKS, "post", api.post(webhooks_path(sid), data=update))
    check("/v1/Configuration/Webhooks", "get", api.get("/v1/Configuration/Webhooks"))
    account_update = {"PostWebhookUrl": "https://example.com/post", "Target": "flex"}
    check("/v1/Configuration/Webhooks", "post", api.post("/v1/Configuration/Webhooks", data=account_update))
    deleted = api.delete(f"/v1/Services/{sid}")
    assert str(deleted.status_code) in document["paths"]["/v1/Services/{Sid}"]["delete"]["responses"]


def test_twilios_own_examples_need_the_same_leniency(twilio_spec: dict[str, Any]) -> None:
    """Twilio's examples pass with `TWILIO_NULLABLE_ENUMS` and some fail without: when Twilio's file
    is fixed, this fails, and the leniency should go."""
    strict_failures = []
    for path, method, _ in TWILIO_OPERATIONS:
        for response in twilio_spec["paths"][path][method]["responses"].values():
            media = response.get("content", {}).get("application/json")
            for name, example in (media or {}).get("examples", {}).items():
                assert_valid(twilio_spec, media["schema"], example["value"], twilio_nulls=True)
                if not validator(twilio_spec, media["schema"]).is_valid(example["value"]):
                    strict_failures.append(name)
    assert strict_failures == ["fetchEmpty"]


def test_shipped_subset_is_what_the_extractor_makes() -> None:
    assert SUBSET_PATH.read_text(encoding="utf-8") == extract_file(
        shared_spec_path(),
        implemented_operations(create_app(Settings(database_url="sqlite://", fixtures=""))),
    ), (
        "app/twilio/openapi_subset.json is stale: run "
        "python -m twilio_conversations_emulator.openapi "
        "../shared/spec/twilio_conversations_v1.json"
    )


def test_document_is_built_on_first_use_and_kept(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'openapi.db'}", fixtures=""))
    try:
        assert app.openapi_schema is None  # nothing built at start-up
        first = app.openapi()
        assert app.openapi() is first
        assert app.openapi_schema is first
    finally:
        app.state.database.dispose()
