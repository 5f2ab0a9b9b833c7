"""The emulator's own OpenAPI document, served at `/openapi.json`.

FastAPI's generator knows the routes but not their bodies: handlers parse requests themselves. So the
document starts from FastAPI's (the `/_emulator/` routes and the overall shape), then each Twilio
operation the emulator implements is replaced by Twilio's own operation object, from the subset of
Twilio's OpenAPI file shipped in `app/twilio/openapi_subset.json`, and given the error responses the
emulator actually answers, all in Twilio's error envelope (`components.schemas.TwilioError`).

The document is OpenAPI 3.0, like Twilio's file, so its schemas (`nullable`) mean what Twilio meant.
It is built on the first request for it and kept; never at start-up.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .resource import BadRequest, Resource
from .settings import Settings
from .twilio import openapi_extract
from .twilio.errors import TwilioError, generic_error, not_found, unauthenticated
from .twilio.forms import too_large
from .twilio.openapi_extract import SUBSET_PATH, Implemented, refs

OPENAPI_VERSION = "3.0.3"
ERROR_SCHEMA = "TwilioError"
ERROR_REF = f"#/components/schemas/{ERROR_SCHEMA}"
ADMIN_SCHEME = "emulatorAdminToken"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
EXAMPLE_SERVICE = "IS" + "a" * 32
EXAMPLE_CONVERSATION = "CH" + "a" * 32
# What a `{Sid}` after each collection of a conversation looks like in an example path.
EXAMPLE_CHILDREN = {"Participants": "MB", "Messages": "IM", "Webhooks": "WH"}
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

DESCRIPTION = """\
A local emulator of Twilio's Conversations API.

The `/v1` operations are Twilio's own: operationIds, parameters, request bodies and success responses
are copied from Twilio's OpenAPI description (twilio/twilio-oai, MIT licence; see `x-twilio-openapi`).
Their error responses are the ones this emulator gives.

Every error, on every route, has one body: the `TwilioError` envelope. Besides the responses listed per
operation, any other method on a `/v1` path answers 405 (code 20004), an unknown path 404 (code 20404),
and a request without valid credentials 401 (code 20003) before either.

`/_emulator/` is the emulator's own control surface, not Twilio's: plain JSON, no Twilio credentials,
and an optional admin token (`Authorization: Bearer ...`) when the server is configured with one.
"""

TWILIO_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "TwilioError",
    "description": "Twilio's error envelope: the body of every error response, and no other shape.",
    "properties": {
        "code": {"type": "integer", "description": "Twilio's error code, e.g. 20404."},
        "message": {"type": "string", "description": "What went wrong."},
        "more_info": {
            "type": "string",
            "format": "uri",
            "description": "`https://www.twilio.com/docs/errors/{code}`",
        },
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
    },
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
}


def _raised(call: Callable[[], object]) -> TwilioError:
    """The error a real rule raises, so an example says exactly what the server says."""
    try:
        call()
    except TwilioError as error:
        return error
    raise AssertionError(f"{call} raised no TwilioError")  # pragma: no cover - a rule changed


def _error(
    description: str, example: TwilioError | None = None, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    media_type: dict[str, Any] = {"schema": {"$ref": ERROR_REF}}
    if example is not None:
        media_type["example"] = json.loads(example.body())
    response: dict[str, Any] = {"description": description, "content": {"application/json": media_type}}
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, schema_type: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": schema_type}}


def _twilio_errors(
    operation_id: str, path: str, method: str, max_body_bytes: int, bad_requests: dict[str, BadRequest]
) -> dict[str, Any]:
    """The error responses one Twilio operation can answer, in the order the server checks them."""
    errors: dict[str, Any] = {}
    if method == "post":
        errors["413"] = _error(
            "The request body is larger than the server's limit (20413).", too_large(max_body_bytes)
        )
    errors["401"] = _error(
        "Missing, malformed or wrong credentials (20003).",
        unauthenticated(),
        {"WWW-Authenticate": _header('`Basic realm="Twilio API"`')},
    )
    if "{" in path:
        shown = path.replace("{ChatServiceSid}", EXAMPLE_SERVICE)
        shown = shown.replace("/Conversations/{Sid}", f"/Conversations/{EXAMPLE_CONVERSATION}")
        shown = shown.replace("{ConversationSid}", EXAMPLE_CONVERSATION)
        for collection, prefix in EXAMPLE_CHILDREN.items():
            shown = shown.replace(f"/{collection}/{{Sid}}", f"/{collection}/{prefix}{'a' * 32}")
        shown = shown.replace("{Sid}", EXAMPLE_SERVICE)
        errors["404"] = _error(
            "No such resource in the caller's account, or a malformed SID in the path (20404).",
            not_found(shown),
        )
    if operation_id in bad_requests:
        bad_request = bad_requests[operation_id]
        errors["400"] = _error(bad_request.description, _raised(bad_request.example))
    errors["429"] = _error(
        "An injected fault (`POST /_emulator/faults`) with status 429 (20429).",
        generic_error(429),
        {"Retry-After": _header("Seconds to wait: the fault's `retry_after`, else 1.", "integer")},
    )
    errors["500"] = _error("An unexpected error, or an injected fault (20500).", generic_error(500))
    errors["default"] = _error(
        "An injected fault of any other status answers that status, with code 20000 + status.",
        generic_error(503),
    )
    return errors


@dataclass(frozen=True)
class EmulatorOperation:
    summary: str
    description: str = ""
    query: tuple[tuple[str, str], ...] = ()
    json_body: bool = False
    bad_request: bool = False
    not_found: bool = False


ACCOUNT_FILTER = ("account_sid", "Only this account (`AC` + 32 hex digits).")
LIMIT = ("limit", "Only the newest N entries.")

EMULATOR_OPERATIONS: dict[str, EmulatorOperation] = {
    "EmulatorHealth": EmulatorOperation(
        "Is the server ready?",
        "`{status, version, database}` once the server can serve; for Docker `HEALTHCHECK` and test "
        "readiness. Never needs the admin token.",
    ),
    "EmulatorReset": EmulatorOperation(
        "Wipe all state, then re-apply the start-up fixtures",
        "Resources, the request journal, queued faults and the delivery log, once this process's "
        "webhooks still in flight (`after-answer`) have gone.",
        query=(("account_sid", "Reset only this account (`AC` + 32 hex digits)."),),
        bad_request=True,
    ),
    "EmulatorApplyFixtures": EmulatorOperation(
        "Apply a fixture document now",
        "The fixture format of `fixtures/` (`accounts`, `api_keys`, `services`). Idempotent: creates what "
        "is missing, sets what it names, never deletes. A document that breaks a rule is refused whole, "
        "400 with code 20001 naming the entry.",
        json_body=True,
        bad_request=True,
    ),
    "EmulatorListRequests": EmulatorOperation(
        "The request journal",
        '`{"requests": [...]}`: the Twilio API calls answered, oldest first, capped.',
        query=(
            ("method", "Only this HTTP method."),
            ("path", "Only paths matching this glob, e.g. `/v1/Services/*`."),
            ACCOUNT_FILTER,
            LIMIT,
        ),
        bad_request=True,
    ),
    "EmulatorClearRequests": EmulatorOperation("Clear the request journal"),
    "EmulatorAddFault": EmulatorOperation(
        "Queue an injected fault",
        'e.g. `{"method": "POST", "path": "/v1/Services/*/Configuration/Webhooks", "status": 429, '
        '"times": 2, "delay_ms": 0}`; optional `account_sid`, `code`, `retry_after`. Each matching '
        "Twilio API call consumes one and answers the error envelope for that status. Answers the "
        "queued fault with its `id`.",
        json_body=True,
        bad_request=True,
    ),
    "EmulatorListFaults": EmulatorOperation("The queued faults", '`{"faults": [...]}`'),
    "EmulatorClearFaults": EmulatorOperation("Clear the queued faults"),
    "EmulatorSimulateEvent": EmulatorOperation(
        "Act as a client SDK on stored state, or simulate an action, and deliver its webhooks",
        "`{account_sid, chat_service_sid, event, source, params}`. When `params` name a stored "
        "conversation (`onConversationAdd`: none), the action is checked with the REST rules (their 400s "
        "and 404s), its pre-event decides, it is stored, and its post-events carry the stored values: "
        '`"stored": true` and the `resource`. Otherwise a pure simulation (`"stored": false`). Answers the '
        "outcome and the deliveries. 404 for an unknown account or service.",
        json_body=True,
        bad_request=True,
        not_found=True,
    ),
    "EmulatorListDeliveries": EmulatorOperation(
        "The webhook delivery log",
        '`{"deliveries": [...]}`, oldest first, capped.',
        query=(
            ACCOUNT_FILTER,
            ("chat_service_sid", "Only this service (`IS` + 32 hex digits)."),
            ("event", "Only this event type."),
            ("status", "Only deliveries with this outcome."),
            LIMIT,
            ("wait", "`true`: first wait for this process's webhooks still in flight (`after-answer`)."),
        ),
        bad_request=True,
    ),
    "EmulatorClearDeliveries": EmulatorOperation(
        "Clear the webhook delivery log, once this process's webhooks in flight (`after-answer`) have ended",
        query=(ACCOUNT_FILTER,),
        bad_request=True,
    ),
}


def _document_emulator_operation(operation: dict[str, Any], max_body_bytes: int) -> None:
    details = EMULATOR_OPERATIONS.get(operation.get("operationId", ""))
    responses = operation.setdefault("responses", {})
    if details is None:
        return
    operation["summary"] = details.summary
    if details.description:
        operation["description"] = details.description
    if details.query:
        operation["parameters"] = [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in details.query
        ]
    if details.json_body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
        responses["413"] = _error(
            "The request body is larger than the server's limit (20413).", too_large(max_body_bytes)
        )
    if details.bad_request:
        responses["400"] = _error(
            "A parameter or body the route cannot accept; the message names it (20001 or 20002)."
        )
    if details.not_found:
        responses["404"] = _error(
            "No such account or service (20404).", not_found(f"/v1/Services/{EXAMPLE_SERVICE}")
        )
    if operation["operationId"] != "EmulatorHealth":
        operation["security"] = [{}, {ADMIN_SCHEME: []}]
        responses["401"] = _error(
            "The server has an admin token and the request does not carry it (20003).",
            TwilioError(401, 20003, "Authenticate: /_emulator/ needs Authorization: Bearer <admin token>"),
            {"WWW-Authenticate": _header('`Bearer realm="Twilio emulator"`')},
        )
    responses["500"] = _error("An unexpected error (20500).", generic_error(500))


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """FastAPI's `HTTPValidationError` and friends: the emulator never answers 422, so nothing uses them."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    prefix = "#/components/schemas/"
    used: set[str] = set()
    pending = [ref[len(prefix) :] for ref in refs(document["paths"]) if ref.startswith(prefix)]
    while pending:
        name = pending.pop()
        if name in used or name not in schemas:
            continue
        used.add(name)
        pending.extend(ref[len(prefix) :] for ref in refs(schemas[name]) if ref.startswith(prefix))
    for name in set(schemas) - used:
        del schemas[name]


def _build(app: FastAPI) -> dict[str, Any]:
    settings: Settings | None = getattr(app.state, "settings", None)
    max_body_bytes = settings.max_body_bytes if settings else DEFAULT_MAX_BODY_BYTES
    resources: tuple[Resource, ...] = getattr(app.state, "resources", ())
    bad_requests = {
        operation: bad_request
        for resource in resources
        for operation, bad_request in resource.bad_requests.items()
    }
    twilio = json.loads(SUBSET_PATH.read_text(encoding="utf-8"))
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=OPENAPI_VERSION,
        description=DESCRIPTION,
        routes=app.routes,
    )
    document["info"]["x-twilio-openapi"] = twilio["info"]
    paths: dict[str, Any] = document.setdefault("paths", {})

    for item in paths.values():
        for method in METHODS:
            if method in item:
                item[method].get("responses", {}).pop("422", None)

    for path, twilio_item in twilio["paths"].items():
        item = paths.get(path)
        if item is None:
            continue
        item["description"] = twilio_item["description"]
        for method, twilio_operation in twilio_item.items():
            generated = item.get(method) if method in METHODS else None
            # A route whose operationId is not Twilio's keeps FastAPI's operation (and fails the tests).
            if generated is None or generated.get("operationId") != twilio_operation["operationId"]:
                continue
            operation = copy.deepcopy(twilio_operation)
            operation["responses"].update(
                _twilio_errors(operation["operationId"], path, method, max_body_bytes, bad_requests)
            )
            item[method] = operation

    for path, item in paths.items():
        if path.startswith("/_emulator/"):
            for method in METHODS:
                if method in item:
                    _document_emulator_operation(item[method], max_body_bytes)

    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(copy.deepcopy(twilio["components"]["schemas"]))
    schemas[ERROR_SCHEMA] = TWILIO_ERROR_SCHEMA
    security_schemes = components.setdefault("securitySchemes", {})
    security_schemes.update(copy.deepcopy(twilio["components"]["securitySchemes"]))
    security_schemes[ADMIN_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "Only when the server is configured with an admin token.",
    }
    _drop_unused_schemas(document)
    return document


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document, built on first use and kept on the app (FastAPI's own cache attribute)."""
    if app.openapi_schema is None:
        app.openapi_schema = _build(app)
    return app.openapi_schema


def implemented_operations(app: FastAPI) -> Implemented:
    """The Twilio operations the app's routes answer: what the shipped subset of Twilio's file holds."""
    operations: dict[str, set[str]] = {}
    resources: tuple[Resource, ...] = app.state.resources
    routes = [route for resource in resources if resource.router for route in resource.router.routes]
    for route in routes:
        path = getattr(route, "path", "")
        if path.startswith("/v1/"):
            methods = getattr(route, "methods", None) or set()
            operations.setdefault(path, set()).update(method.lower() for method in methods)
    return {path: tuple(sorted(methods)) for path, methods in sorted(operations.items())}


if __name__ == "__main__":
    # Regenerate the shipped subset from Twilio's file: `python -m <package>.openapi SPEC`.
    from .main import create_app
    from .settings import Settings

    raise SystemExit(
        openapi_extract.main(
            implemented_operations(create_app(Settings(database_url="sqlite://", fixtures="")))
        )
    )
