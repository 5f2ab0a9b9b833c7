"""Conformance to Twilio's own OpenAPI description, property-based (schemathesis on hypothesis).

    .venv/bin/python bench/conformance.py                       # 200 examples per operation and mode
    .venv/bin/python bench/conformance.py --max-examples 1000   # longer
    .venv/bin/python bench/conformance.py --seed 7 --verbose    # another seed; every failure in full

Starts an emulator as a user does (`python -m twilio_conversations_emulator serve`, a fresh SQLite file
in a temporary folder, the shipped fixtures)
and, for every operation of `twilio_conversations_v1.json` that the emulator implements,
sends the spec's own examples, then `--max-examples` positive and `--max-examples` negative cases generated
from the spec by schemathesis, with the demo account's valid Basic credentials. Half of the generated
cases have their path parameters swapped for resources that exist, so they reach real resources and not
only 404s: a service, or one of two seeded conversations (one in the account's default service, one in
the demo service, applied as a fixture document) named by SID or unique name, and its participant (by
SID or identity), message or scoped webhook. A case that changes a seeded conversation so that later
cases would notice (deletes it or a child, closes it, renames it, adds a scoped webhook) is undone before
the next. Operations that generated cases seldom get through also send a few bodies known to be valid.
Hooks are never enabled (`X-Twilio-Webhook-Enabled: true` is sent as `false`): generated URLs name any
host.

Every answer is checked:
- never a 5xx, never a transport error;
- a 2xx is a status the spec documents for the operation, and its body validates against the spec's
  response schema (OpenAPI 3.0 `nullable` honoured, formats checked);
- a 4xx is Twilio's envelope: exactly `code, message, more_info, status`, `more_info` is
  `https://www.twilio.com/docs/errors/{code}`, `status` is the HTTP status;
- nothing else (1xx, 3xx) is expected.

Prints the operations checked, the cases run (and their statuses), and the failures; exits 1 on any.
`tests/test_conformance.py` runs the same checks, bounded, in the test suite.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import jsonschema_rs
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

SPEC_NAME = "twilio_conversations_v1.json"
SPEC_FALLBACK = Path("/work/shared/spec") / SPEC_NAME

DEMO_ACCOUNT = "AC00000000000000000000000000000000"
DEMO_TOKEN = "demo-auth-token"
DEMO_SERVICE = "IS00000000000000000000000000000000"

# The operations the emulator implements, in the order they are exercised (deleting comes last, so the
# services the other operations reach are there while they run).
SERVICE_OPERATIONS = (
    "FetchServiceWebhookConfiguration",
    "UpdateServiceWebhookConfiguration",
    "CreateService",
    "FetchService",
    "ListService",
    "DeleteService",
)
ACCOUNT_OPERATIONS = ("FetchConfigurationWebhook", "UpdateConfigurationWebhook")
ACCOUNT_WEBHOOKS_PATH = "/v1/Configuration/Webhooks"


def _both_forms(*names: str) -> tuple[str, ...]:
    """Create, fetch, list, update, delete in the short form (`…Conversation…`), then in the service form
    (`…ServiceConversation…`)."""
    return tuple(
        operation_id
        for group in names
        for operation_id in (
            *(f"{verb}{group}" for verb in ("Create", "Fetch", "List", "Update", "Delete")),
            *(f"{verb}Service{group}" for verb in ("Create", "Fetch", "List", "Update", "Delete")),
        )
    )


# Conversations, their participants, messages and scoped webhooks, in both path forms.
CONVERSATION_OPERATIONS = _both_forms(
    "Conversation", "ConversationParticipant", "ConversationMessage", "ConversationScopedWebhook"
)
CONVERSATIONS_PATH = "/v1/Conversations"

AnyOperation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
ENVELOPE_KEYS = {"code", "message", "more_info", "status"}
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def spec_path() -> Path:
    """Twilio's spec beside the repository (`../shared/spec/`, as CI lays it out), else /work/shared/spec."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "spec" / SPEC_NAME
    for candidate in (beside, SPEC_FALLBACK):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Twilio's OpenAPI file {SPEC_NAME} is missing: looked for {beside} and {SPEC_FALLBACK}"
    )


def basic_authorization(username: str = DEMO_ACCOUNT, password: str = DEMO_TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# ------------------------------------------------------------------------------ response schemas


def to_json_schema(node: Any, components: Mapping[str, Any]) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema (draft 4): `$ref`s inlined, `nullable` honoured.

    Twilio's spec cannot say `nullable` beside a `$ref` (OpenAPI 3.0 ignores siblings of `$ref`), so the
    enum-typed properties it refers to (`method`, `target`) lose their nullability in the file; Twilio's
    own `fetchEmpty` example answers `"method": null`. A property that refers to an enum therefore also
    accepts null. `tests/test_conformance.py` validates the spec's own examples with this, to prove it.
    """
    if isinstance(node, list):
        return [to_json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return to_json_schema(components[name], components)
    converted = {
        key: to_json_schema(value, components)
        for key, value in node.items()
        if key not in ("nullable", "description", "example", "x-twilio")
    }
    if "properties" in node:
        converted["properties"] = {
            name: _nullable_enum_reference(value, components) for name, value in node["properties"].items()
        }
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _nullable_enum_reference(node: Any, components: Mapping[str, Any]) -> Any:
    converted = to_json_schema(node, components)
    if isinstance(node, dict) and "$ref" in node and "enum" in converted:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@dataclass(frozen=True)
class Operation:
    """One implemented operation: schemathesis' view of it, and its success responses as validators."""

    operation_id: str
    api: AnyOperation
    success: dict[int, jsonschema_rs.Validator | None]  # None: documented without a body (204)


def load_schema() -> OpenApiSchema:
    return schemathesis.openapi.from_path(spec_path())


def raw_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(spec_path().read_text(encoding="utf-8"))
    return spec


def success_validators(definition: Mapping[str, Any], components: Mapping[str, Any]) -> dict[int, Any]:
    validators: dict[int, jsonschema_rs.Validator | None] = {}
    for status, response in definition.get("responses", {}).items():
        if not str(status).startswith("2"):
            continue
        content = response.get("content", {}).get("application/json")
        if content is None:
            validators[int(status)] = None
            continue
        schema = to_json_schema(content["schema"], components)
        validators[int(status)] = jsonschema_rs.Draft4Validator(schema, validate_formats=True)
    return validators


def find_operations(schema: OpenApiSchema, operation_ids: Sequence[str]) -> list[Operation]:
    components = raw_spec()["components"]["schemas"]
    operations = []
    for operation_id in operation_ids:
        api: AnyOperation = schema.find_operation_by_id(operation_id)
        operations.append(Operation(operation_id, api, success_validators(api.definition.raw, components)))
    return operations


def implemented_operations(base_url: str) -> list[str]:
    """The service operations, then the account-level ones when `/v1/Configuration/Webhooks` answers and
    the conversation ones when `/v1/Conversations` does."""
    operations = list(SERVICE_OPERATIONS)
    for path, names in (
        (ACCOUNT_WEBHOOKS_PATH, ACCOUNT_OPERATIONS),
        (CONVERSATIONS_PATH, CONVERSATION_OPERATIONS),
    ):
        answer = requests.get(base_url + path, headers={"Authorization": basic_authorization()}, timeout=30)
        if answer.status_code == 200:
            operations += names
    return operations


# ------------------------------------------------------------------------------------ the checks


def response_problems(
    operation: Operation, status: int, headers: Mapping[str, str], body: bytes
) -> list[str]:
    """What is wrong with one answer; empty when it conforms."""
    content_type = headers.get("content-type", "")
    if status >= 500:
        return [f"server error {status}: {body[:300]!r}"]
    if 200 <= status < 300:
        return _success_problems(operation, status, content_type, body)
    if 400 <= status < 500:
        return _error_problems(status, content_type, body)
    return [f"unexpected status {status}"]


def _success_problems(operation: Operation, status: int, content_type: str, body: bytes) -> list[str]:
    if status not in operation.success:
        documented = ", ".join(str(code) for code in sorted(operation.success))
        return [f"status {status} is not one the spec documents ({documented})"]
    validator = operation.success[status]
    if validator is None:
        return [] if body == b"" else [f"{status} with a body: {body[:200]!r}"]
    if content_type != JSON_CONTENT_TYPE:
        return [f"{status} with content type {content_type!r}"]
    try:
        document = json.loads(body)
    except ValueError:
        return [f"{status} with a body that is not JSON: {body[:200]!r}"]
    return [
        f"{status} body does not match the spec at {'/'.join(map(str, error.instance_path)) or '.'}: "
        f"{error.message}"
        for error in validator.iter_errors(document)
    ]


def _error_problems(status: int, content_type: str, body: bytes) -> list[str]:
    if content_type != JSON_CONTENT_TYPE:
        return [f"{status} with content type {content_type!r}: {body[:200]!r}"]
    try:
        envelope = json.loads(body)
    except ValueError:
        return [f"{status} with a body that is not JSON: {body[:200]!r}"]
    if not isinstance(envelope, dict) or set(envelope) != ENVELOPE_KEYS:
        return [f"{status} body is not Twilio's envelope: {body[:300]!r}"]
    problems = []
    code = envelope["code"]
    if not isinstance(code, int) or isinstance(code, bool):
        problems.append(f"code {code!r} is not an integer")
    if envelope["more_info"] != f"https://www.twilio.com/docs/errors/{code}":
        problems.append(f"more_info {envelope['more_info']!r} does not name code {code!r}")
    if envelope["status"] != status:
        problems.append(f"status {envelope['status']!r} in the body, {status} on the wire")
    if not isinstance(envelope["message"], str) or not envelope["message"]:
        problems.append(f"message {envelope['message']!r} is not a non-empty string")
    return problems


# ---------------------------------------------------------------------------------------- the run


@dataclass
class Failure:
    operation_id: str
    mode: str
    request: str
    status: int | None
    problems: list[str]

    def __str__(self) -> str:
        return (
            f"{self.operation_id} [{self.mode}] {self.request} -> {self.status}: {'; '.join(self.problems)}"
        )


@dataclass
class Report:
    operations: list[str] = field(default_factory=list)
    cases: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_cases(self) -> int:
        return sum(self.cases.values())

    def summary(self, limit: int | None = 20) -> str:
        lines = [
            f"operations checked: {len(self.operations)}",
            f"cases run: {self.total_cases} in {self.seconds:.1f} s",
        ]
        for name in self.operations:
            statuses = ", ".join(
                f"{status}: {count}" for status, count in sorted(self.statuses[name].items())
            )
            lines.append(f"  {name}: {self.cases[name]} cases ({statuses})")
        lines.append(f"failures: {len(self.failures)}")
        shown = self.failures if limit is None else self.failures[:limit]
        lines += [f"  {failure}" for failure in shown]
        if len(shown) < len(self.failures):
            lines.append(f"  ... and {len(self.failures) - len(shown)} more (--verbose shows all)")
        return "\n".join(lines)


class ServicePool:
    """SIDs of services that exist in the demo account, so generated cases can reach them."""

    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base_url = base_url
        self.session = session
        self.sids = [DEMO_SERVICE]

    def any(self, index: int) -> str:
        if not self.sids:
            answer = self.session.post(
                self.base_url + "/v1/Services", data={"FriendlyName": "conformance"}, timeout=30
            )
            answer.raise_for_status()
            self.sids.append(answer.json()["sid"])
        return self.sids[index % len(self.sids)]

    def observe(self, operation_id: str, sid: str | None, status: int, body: bytes) -> None:
        if operation_id == "CreateService" and status == 201:
            self.sids.append(json.loads(body)["sid"])
        elif operation_id == "DeleteService" and status == 204 and sid in self.sids:
            self.sids.remove(sid)


def path_collections(path: str) -> dict[str, str]:
    """Each path parameter and the collection it names: `{ChatServiceSid}` and `/Services/{Sid}` name
    `Services`, `{ConversationSid}` names `Conversations`, `/Messages/{Sid}` names `Messages`."""
    segments = path.strip("/").split("/")
    return {
        segment[1:-1]: before
        for before, segment in itertools.pairwise(segments)
        if segment.startswith("{") and segment.endswith("}")
    }


def _sid(prefix: str, digit: str) -> str:
    return prefix + digit * 32


@dataclass(frozen=True)
class SeededConversation:
    """A conversation the run keeps in place, with one of each child, all with known SIDs."""

    sid: str
    unique_name: str
    service: str | None  # None: the account's default service, the one the short form reaches
    identity: str
    participant: str  # a chat participant, the message's author
    sms_participant: str  # an SMS participant (address and proxy address)
    address: str
    proxy_address: str
    message: str
    webhook: str

    def fixture(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "sid": self.sid,
            "account_sid": DEMO_ACCOUNT,
            "friendly_name": "conformance",
            "unique_name": self.unique_name,
            "participants": [
                {"sid": self.participant, "identity": self.identity},
                {
                    "sid": self.sms_participant,
                    "messaging_binding": {"address": self.address, "proxy_address": self.proxy_address},
                },
            ],
            "messages": [{"sid": self.message, "author": self.identity, "body": "conformance"}],
            "webhooks": [
                {
                    "sid": self.webhook,
                    "target": "webhook",
                    # A port nothing listens on, on this machine: no hook ever leaves it.
                    "configuration": {"url": "http://127.0.0.1:9/conformance", "filters": ["onMessageAdded"]},
                }
            ],
        }
        if self.service is not None:
            entry["chat_service_sid"] = self.service
        return entry


# One conversation in the default service (short and service form), one in the demo service (service form).
SEEDED = (
    SeededConversation(
        sid=_sid("CH", "c"),
        unique_name="conformance",
        service=None,
        identity="conformance-alice",
        participant=_sid("MB", "c"),
        sms_participant=_sid("MB", "e"),
        address="+15550100001",
        proxy_address="+15550199999",
        message=_sid("IM", "c"),
        webhook=_sid("WH", "c"),
    ),
    SeededConversation(
        sid=_sid("CH", "d"),
        unique_name="conformance",
        service=DEMO_SERVICE,
        identity="conformance-bob",
        participant=_sid("MB", "d"),
        sms_participant=_sid("MB", "f"),
        address="+15550100002",
        proxy_address="+15550199999",
        message=_sid("IM", "d"),
        webhook=_sid("WH", "d"),
    ),
)


def default_service(account_sid: str = DEMO_ACCOUNT) -> str:
    """The SID of an account's default service, as the emulator's README says to work it out."""
    return "IS" + hashlib.sha256(f"default-conversation-service:{account_sid}".encode()).hexdigest()[:32]


class ConversationPool:
    """The seeded conversations, put back whenever a case has changed one in a way the next would see."""

    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base_url = base_url
        self.session = session

    def restore(self) -> None:
        """Delete the seeded conversations (with all under them) and apply them again."""
        for seeded in SEEDED:
            service = seeded.service or default_service()
            answer = self.session.delete(
                f"{self.base_url}/v1/Services/{service}/Conversations/{seeded.sid}", timeout=30
            )
            if answer.status_code not in (204, 404):
                answer.raise_for_status()
        self.apply()

    def apply(self) -> None:
        """Apply the seeded conversations as a fixture document: what is missing comes back, the demo
        service too, should a DeleteService case have removed it."""
        document = {
            # The shipped fixtures' demo service, by the name they give it.
            "services": [{"sid": DEMO_SERVICE, "account_sid": DEMO_ACCOUNT, "friendly_name": "Demo service"}],
            "conversations": [seeded.fixture() for seeded in SEEDED],
        }
        answer = self.session.post(self.base_url + "/_emulator/fixtures", json=document, timeout=30)
        answer.raise_for_status()

    def path_values(self, path: str, index: int) -> dict[str, str]:
        """Real values for every path parameter of `path`: a seeded conversation and its children, the
        conversation named by SID or unique name, a participant by SID or identity."""
        collections = path_collections(path)
        seeded = SEEDED[index % len(SEEDED)] if "ChatServiceSid" in collections else SEEDED[0]
        choice = index // len(SEEDED)
        values = {
            "Services": seeded.service or default_service(),
            "Conversations": (seeded.sid, seeded.unique_name)[choice % 2],
            "Participants": (seeded.participant, seeded.identity, seeded.sms_participant)[choice % 3],
            "Messages": seeded.message,
            "Webhooks": seeded.webhook,
        }
        return {name: values[collection] for name, collection in collections.items()}

    def observe(self, case: AnyCase, status: int, body: bytes) -> None:
        """Undo what a case that reached a seeded conversation did, when later cases would notice."""
        collections = path_collections(case.path)
        method = case.method.upper()
        if "Conversations" not in collections.values() or not 200 <= status < 300 or method == "GET":
            return
        last = case.path.rsplit("/", 1)[-1]
        if method == "DELETE":
            self.apply()  # the conversation or child is back, with its SID
        elif collections.get(last.strip("{}")) == "Conversations":  # a closed one refuses every change
            changed = json.loads(body)
            if changed["state"] == "closed":
                self.restore()
            elif changed["unique_name"] not in {seeded.unique_name for seeded in SEEDED}:
                self.apply()
        elif last == "Webhooks":  # a conversation holds five scoped webhooks at most
            created = json.loads(body)["sid"]
            self.session.delete(f"{self.base_url}{case.formatted_path}/{created}", timeout=30)


# Bodies that the emulator accepts, for operations whose generated cases seldom or never are: Twilio's own
# example of a scoped webhook names filters that are not events (`onMessageSent`), and a valid URL with
# valid filters is too unlikely a draw.
VALID_BODIES: dict[str, tuple[dict[str, Any], ...]] = dict.fromkeys(
    ("CreateConversationScopedWebhook", "CreateServiceConversationScopedWebhook"),
    (
        {
            "Target": "webhook",
            "Configuration.Url": "http://127.0.0.1:9/conformance",
            "Configuration.Method": "get",
            "Configuration.Filters": ["onMessageAdded", "onParticipantRemoved"],
        },
        {
            "Target": "trigger",
            "Configuration.Url": "http://127.0.0.1:9/conformance",
            "Configuration.Triggers": ["help"],
        },
        {"Target": "studio", "Configuration.FlowSid": _sid("FW", "c")},
    ),
)


def _describe(case: AnyCase) -> str:
    body = "" if case.body is None or type(case.body).__name__ == "NotSet" else f" body={case.body!r}"
    query = f" query={case.query!r}" if case.query else ""
    return f"{case.method} {case.formatted_path}{query}{body}"[:500]


class Runner:
    def __init__(self, base_url: str, report: Report) -> None:
        host = urlsplit(base_url).hostname or ""
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise ValueError(f"conformance runs only against a local emulator, not {base_url}")
        self.base_url = base_url
        self.report = report
        self.session = requests.Session()
        self.session.headers["Authorization"] = basic_authorization()  # for the pool's own calls
        self.pool = ServicePool(base_url, self.session)
        self.conversations = ConversationPool(base_url, self.session)

    def close(self) -> None:
        self.session.close()

    def prepare(self, operation: Operation) -> None:
        """Each conversation operation starts on the seeded conversations as the fixture makes them."""
        if operation.operation_id in CONVERSATION_OPERATIONS:
            self.conversations.restore()

    def send(self, operation: Operation, mode: str, case: AnyCase, swap: int | None) -> None:
        """Send one case with valid credentials; `swap` set: its path names resources that exist."""
        sid: str | None = None
        path = operation.api.path
        swapped = False
        if swap is not None and case.path_parameters:
            swapped = True
            if operation.operation_id in CONVERSATION_OPERATIONS:
                case.path_parameters.update(self.conversations.path_values(path, swap))
            else:
                sid = self.pool.any(swap)
                case.path_parameters.update(dict.fromkeys(path_collections(path), sid))
        case.headers = CaseInsensitiveDict(request_headers(case.headers or {}))
        self.report.cases[operation.operation_id] += 1
        try:
            answer = case.call(
                base_url=self.base_url,
                session=self.session,
                allow_redirects=False,
                timeout=30,
            )
        except Exception as exc:  # a reset connection, a timeout: a failure like any other
            failure = Failure(operation.operation_id, mode, _describe(case), None, [repr(exc)[:300]])
            self.report.failures.append(failure)
            return
        status = answer.status_code
        self.report.statuses[operation.operation_id][status] += 1
        headers = {name.lower(): value for name, value in _flat_headers(answer.headers).items()}
        problems = response_problems(operation, status, headers, answer.content)
        if problems:
            failure = Failure(operation.operation_id, mode, _describe(case), status, problems)
            self.report.failures.append(failure)
        self.pool.observe(operation.operation_id, sid, status, answer.content)
        if swapped:
            self.conversations.observe(case, status, answer.content)


def request_headers(generated: Mapping[str, Any]) -> dict[str, Any]:
    """A case's headers as sent: the demo account's credentials, and hooks never asked for."""
    # Generated cases may carry a broken or no Authorization header (the spec's security scheme): this
    # run checks the API behind authentication, so every case has the demo account's.
    headers = {name: value for name, value in generated.items() if name.lower() != "authorization"}
    headers["Authorization"] = basic_authorization()
    # `X-Twilio-Webhook-Enabled: true` makes a change deliver its hooks, and generated cases point hooks
    # (service configuration, scoped webhooks) at any host: nothing may leave this machine.
    for name, value in list(headers.items()):
        if name.lower() == "x-twilio-webhook-enabled" and str(value).strip().lower() == "true":
            headers[name] = "false"
    return headers


def _flat_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {name: value[0] if isinstance(value, list) else str(value) for name, value in headers.items()}


Sender = Callable[[AnyCase], None]
# Whether a case's path names resources that exist: never, always, or every other case.
NEVER, ALWAYS, SOMETIMES = "never", "always", "sometimes"


def _settings(max_examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def check_operation(
    runner: Runner, schema: OpenApiSchema, operation: Operation, max_examples: int, seed: int
) -> None:
    runner.report.operations.append(operation.operation_id)
    runner.report.statuses[operation.operation_id] = Counter()
    runner.prepare(operation)
    # The spec's own examples first, sent as written and then against resources that exist (the same
    # request twice when the path names none).
    policies = (NEVER, ALWAYS) if path_collections(operation.api.path) else (NEVER,)
    for policy in policies:
        send = _sender(runner, operation, "examples", policy)
        for strategy in schema.get_strategies_from_examples(operation.api):
            _explore(strategy, 1, seed, send)
    for index, body in enumerate(VALID_BODIES.get(operation.operation_id, ())):
        parameters = dict.fromkeys(path_collections(operation.api.path), "")
        case = operation.api.Case(
            path_parameters=parameters, body=body, media_type="application/x-www-form-urlencoded"
        )
        runner.send(operation, "valid", case, index)
    for mode in MODES:
        strategy = operation.api.as_strategy(generation_mode=mode)
        _explore(strategy, max_examples, seed, _sender(runner, operation, mode.value, SOMETIMES))


def _sender(runner: Runner, operation: Operation, mode: str, policy: str) -> Sender:
    """Sends each case it is given; the swap (which existing resources a case names) counts the cases,
    so `SOMETIMES` is exactly every other case and the swapped ones go through every choice in turn."""
    sent = itertools.count()

    def send(case: AnyCase) -> None:
        number = next(sent)
        swap = {NEVER: None, ALWAYS: number}.get(policy, None if number % 2 else number // 2)
        runner.send(operation, mode, case, swap)

    return send


def _explore(strategy: st.SearchStrategy[AnyCase], max_examples: int, seed: int, send: Sender) -> None:
    """Call `send` on `max_examples` cases drawn from `strategy`, reproducibly for a given seed."""

    @hypothesis.seed(seed)
    @_settings(max_examples)
    @given(case=strategy)
    def explore(case: AnyCase) -> None:
        send(case)

    explore()


def run(base_url: str, *, max_examples: int, seed: int = 0, operation_ids: Sequence[str] = ()) -> Report:
    """Check every implemented operation (or those named) against the server at `base_url`."""
    started = time.perf_counter()
    schema = load_schema()
    report = Report()
    runner = Runner(base_url, report)
    try:
        for operation in find_operations(schema, operation_ids or implemented_operations(base_url)):
            check_operation(runner, schema, operation, max_examples, seed)
    finally:
        runner.close()
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------------------------------- the CLI


@contextmanager
def local_emulator() -> Iterator[str]:
    from twilio_conversations_emulator.testing import (
        EmulatorProcess,  # the emulator's own harness: `python -m twilio_conversations_emulator serve`
    )

    with tempfile.TemporaryDirectory(prefix="conformance-") as folder:
        # Hooks are never asked for (`request_headers`); should one go out all the same, only to here.
        process = EmulatorProcess(
            Path(folder) / "emulator.db", extra_args=["--webhook-allowed-targets", "127.0.0.0/8,::1"]
        )
        process.start()
        try:
            yield process.base_url
        finally:
            process.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--max-examples", type=int, default=200, help="generated cases per operation and mode"
    )
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--verbose", action="store_true", help="print every failure, not the first 20")
    arguments = parser.parse_args(argv)
    if arguments.max_examples < 1:
        parser.error("--max-examples must be at least 1")
    with local_emulator() as base_url:
        report = run(base_url, max_examples=arguments.max_examples, seed=arguments.seed)
    print(report.summary(limit=None if arguments.verbose else 20))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
