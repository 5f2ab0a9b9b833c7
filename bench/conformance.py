"""Conformance to Twilio's own OpenAPI description, property-based (schemathesis on hypothesis).

    .venv/bin/python bench/conformance.py                       # 200 examples per operation and mode
    .venv/bin/python bench/conformance.py --max-examples 1000   # longer
    .venv/bin/python bench/conformance.py --seed 7 --verbose    # another seed; every failure in full

Starts an emulator as a user does (`python -m twilio_conversations_emulator serve`, a fresh SQLite file
in a temporary folder, the shipped fixtures)
and, for every operation of `twilio_conversations_v1.json` that the emulator implements,
sends the spec's own examples, then `--max-examples` positive and `--max-examples` negative cases generated
from the spec by schemathesis, with the demo account's valid Basic credentials. Half of the generated
service SIDs are swapped for one that exists, so cases reach real resources and not only 404s.

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
# Path parameters that name a service: generated values are swapped, half the time, for one that exists.
SERVICE_SID_PARAMETERS = ("ChatServiceSid", "Sid")

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
    """The service operations, and the account-level ones when `/v1/Configuration/Webhooks` answers."""
    answer = requests.get(
        base_url + ACCOUNT_WEBHOOKS_PATH,
        headers={"Authorization": basic_authorization()},
        timeout=30,
    )
    account_level = list(ACCOUNT_OPERATIONS) if answer.status_code == 200 else []
    return [*SERVICE_OPERATIONS, *account_level]


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

    def close(self) -> None:
        self.session.close()

    def send(self, operation: Operation, mode: str, case: AnyCase, swap: int | None) -> None:
        """Send one case with valid credentials; `swap` set: its service SID is one that exists."""
        sid: str | None = None
        if swap is not None and case.path_parameters:
            for name in SERVICE_SID_PARAMETERS:
                if name in case.path_parameters:
                    sid = self.pool.any(swap)
                    case.path_parameters[name] = sid
        # Generated cases may carry a broken or no Authorization header (the spec's security scheme):
        # this run checks the API behind authentication, so every case has the demo account's.
        headers = {
            name: value for name, value in (case.headers or {}).items() if name.lower() != "authorization"
        }
        headers["Authorization"] = basic_authorization()
        case.headers = CaseInsensitiveDict(headers)
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


def _flat_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {name: value[0] if isinstance(value, list) else str(value) for name, value in headers.items()}


Sender = Callable[[AnyCase, "int | None"], None]
# Whether a case's service SID is swapped for one that exists: never, always, or for half the cases.
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
    # The spec's own examples first, sent as written and then against a service that exists.
    for strategy in schema.get_strategies_from_examples(operation.api):
        for policy in (NEVER, ALWAYS):
            _explore(strategy, 1, seed, _sender(runner, operation, "examples", policy))
    for mode in MODES:
        strategy = operation.api.as_strategy(generation_mode=mode)
        _explore(strategy, max_examples, seed, _sender(runner, operation, mode.value, SOMETIMES))


def _sender(runner: Runner, operation: Operation, mode: str, policy: str) -> Sender:
    def send(case: AnyCase, swap: int | None) -> None:
        if policy == NEVER:
            swap = None
        elif policy == ALWAYS:
            swap = swap or 0
        runner.send(operation, mode, case, swap)

    return send


def _explore(strategy: st.SearchStrategy[AnyCase], max_examples: int, seed: int, send: Sender) -> None:
    """Call `send` on `max_examples` cases drawn from `strategy`, reproducibly for a given seed."""

    @hypothesis.seed(seed)
    @_settings(max_examples)
    @given(case=strategy, swap=st.none() | st.integers(0, 1000))
    def explore(case: AnyCase, swap: int | None) -> None:
        send(case, swap)

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
        process = EmulatorProcess(Path(folder) / "emulator.db")
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
