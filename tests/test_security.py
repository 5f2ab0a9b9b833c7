"""Security: strict mode has no bypass, accounts are sealed off, secrets stay secret.

- The `Authorization` header is fuzzed with hypothesis against a strict-mode server: encodings, empty
  parts, very long values, non-ASCII, near-miss tokens, case changes, whitespace, extra colons, repeated
  headers. The answer is 401 unless the credentials are exactly right (authentication).
- Every ordered pair of six accounts: neither reads, changes, deletes nor lists the other's services; the
  answer is 404, never 403 (authentication).
- Auth tokens and API key secrets (and the base64 of any credentials) never appear in the server log, the
  request journal, or an error body, even with the server logging at `trace`.
- Secrets are compared with `hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import binascii
import hmac
import http.client
import inspect
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio_conversations_emulator.accounts.models import Account, ApiKey
from twilio_conversations_emulator.edge import auth
from twilio_conversations_emulator.main import open_database
from twilio_conversations_emulator.settings import Settings
from twilio_conversations_emulator.twilio.errors import TwilioError

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_KEY,
    DEMO_KEY_SECRET,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    assert_twilio_error,
    start_server,
    webhooks_path,
)

# An account whose SID has hex letters, so a change of case is a different SID.
OTHER_ACCOUNT = "ACdeadbeefcafef00d0123456789abcdef"
OTHER_TOKEN = "Other-Token-7f3a9c"
OTHER_KEY = "SKfeedfacecafebabe0123456789abcdef"
OTHER_KEY_SECRET = "Other-Key-Secret-51d2e8"
RIGHT = {
    (DEMO_ACCOUNT, DEMO_TOKEN),
    (DEMO_KEY, DEMO_KEY_SECRET),
    (OTHER_ACCOUNT, OTHER_TOKEN),
    (OTHER_KEY, OTHER_KEY_SECRET),
}
RIGHT_BYTES = {f"{username}:{password}".encode() for username, password in RIGHT}
TARGET = "/v1/Services"


@dataclass(frozen=True)
class Tenant:
    account: str
    token: str
    key: str
    secret: str
    services: tuple[str, ...] = ()


def tenants_document() -> tuple[list[Tenant], dict[str, Any]]:
    rng = random.Random(20240607)
    tenants = [
        Tenant(
            account=f"AC{rng.getrandbits(128):032x}",
            token=f"tenant-{index}-token-{rng.getrandbits(64):016x}",
            key=f"SK{rng.getrandbits(128):032x}",
            secret=f"tenant-{index}-secret-{rng.getrandbits(64):016x}",
        )
        for index in range(6)
    ]
    document = {
        "accounts": [
            {"sid": OTHER_ACCOUNT, "auth_token": OTHER_TOKEN},
            *({"sid": tenant.account, "auth_token": tenant.token} for tenant in tenants),
        ],
        "api_keys": [
            {"sid": OTHER_KEY, "secret": OTHER_KEY_SECRET, "account_sid": OTHER_ACCOUNT},
            *({"sid": t.key, "secret": t.secret, "account_sid": t.account} for t in tenants),
        ],
    }
    return tenants, document


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A strict-mode server logging everything it can (`trace`), with more accounts and keys."""
    server = start_server(
        tmp_path_factory.mktemp("strict"), auth_mode="strict", extra_args=["--log-level", "trace"]
    )
    _, document = tenants_document()
    answer = httpx.post(f"{server.base_url}/_emulator/fixtures", json=document, timeout=30)
    assert answer.status_code == 204, answer.text
    yield server
    server.process.stop()


@pytest.fixture(scope="module")
def tenants(strict: Server) -> list[Tenant]:
    made = []
    for tenant in tenants_document()[0]:
        with strict.client(tenant.account, tenant.token) as client:
            sids = []
            for number in range(2):
                answer = client.post("/v1/Services", data={"FriendlyName": f"{tenant.account} {number}"})
                assert answer.status_code == 201, answer.text
                sids.append(answer.json()["sid"])
        made.append(Tenant(tenant.account, tenant.token, tenant.key, tenant.secret, tuple(sids)))
    return made


# ------------------------------------------------------------------------- sending raw Authorization


def send(server: Server, authorizations: list[bytes]) -> tuple[int, bytes]:
    """GET /v1/Services with these Authorization field values, byte for byte, on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.process.port, timeout=30)
    try:
        connection.putrequest("GET", TARGET, skip_accept_encoding=True)
        for value in authorizations:
            connection.putheader("Authorization", value)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def credentials_in(value: bytes) -> bytes | None:
    """The `user:password` bytes a Basic field value carries, read leniently; None if it carries none.

    Lenient on purpose: whitespace around the parts is not part of the credentials, so a server that
    tolerates odd whitespace is not "bypassed". What counts is which credentials got in.
    """
    text = value.decode("latin-1")
    parts = text.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return None
    try:
        return base64.b64decode(parts[1].strip().encode("latin-1"), validate=True)
    except (binascii.Error, ValueError):
        return None


def canonical(username: str, password: str, scheme: str = "Basic") -> bytes:
    return f"{scheme} ".encode() + base64.b64encode(f"{username}:{password}".encode())


# ------------------------------------------------------------------------------- the fuzz strategies

# Field-value bytes HTTP lets through (RFC 9110 §5.5): HTAB, visible ASCII and space, obs-text. Anything
# else is refused by the HTTP parser (400) before authentication, which the bad-input catalogue covers.
FIELD_BYTES = [9, *range(0x20, 0x7F), *range(0x80, 0x100)]
LOOKALIKES = {"A": "\u0410", "C": "\u0421", "0": "\uff10", "e": "\u0435", "o": "\u043e", "-": "\u2010"}


def valid_field_value(value: bytes) -> bool:
    return all(byte in FIELD_BYTES for byte in value)


@st.composite
def near_miss(draw: st.DrawFn, text: str) -> str:
    """The text with one small change: the change is sometimes no change at all (a digit's case)."""
    index = draw(st.integers(0, len(text)))
    kind = draw(
        st.sampled_from(["case", "delete", "insert", "replace", "lookalike", "truncate", "extend", "space"])
    )
    before, after = text[:index], text[index:]
    if kind == "case" and after:
        return before + after[0].swapcase() + after[1:]
    if kind == "delete" and after:
        return before + after[1:]
    if kind == "insert":
        return before + draw(st.characters(codec="utf-8")) + after
    if kind == "replace" and after:
        return before + draw(st.characters(codec="utf-8")) + after[1:]
    if kind == "lookalike" and after and after[0] in LOOKALIKES:
        return before + LOOKALIKES[after[0]] + after[1:]
    if kind == "truncate":
        return before
    if kind == "extend":
        return text + draw(st.text(min_size=1, max_size=8))
    return before + draw(st.sampled_from([" ", "\t", "\x00", "\u00a0", "\n"])) + after


def _shaped(draw: st.DrawFn, shape: str, username: str, password: str, other_password: str) -> str:
    simple = {
        "right": f"{username}:{password}",
        "mixed-pair": f"{username}:{other_password}",
        "swapped": f"{password}:{username}",
        "colon-first": f":{username}:{password}",
        "double-colon": f"{username}::{password}",
        "empty-user": f":{password}",
        "empty-password": f"{username}:",
        "only-colon": ":",
        "empty": "",
        "no-colon": username + password,
    }
    if shape in simple:
        return simple[shape]
    if shape == "near-username":
        return f"{draw(near_miss(username))}:{password}"
    if shape == "near-password":
        return f"{username}:{draw(near_miss(password))}"
    if shape == "extra-colon":
        return f"{username}:{password}:{draw(st.text(max_size=5))}"
    if shape == "unknown-account":
        return f"AC{draw(st.integers(0, 2**128 - 1)):032x}:{password}"
    if shape == "long-password":
        return f"{username}:{password}{'x' * draw(st.integers(1, 100_000))}"
    return draw(st.text(max_size=60))


@st.composite
def credentials(draw: st.DrawFn) -> bytes:
    username, password = draw(st.sampled_from(sorted(RIGHT)))
    _, other_password = draw(st.sampled_from(sorted(RIGHT)))
    shape = draw(
        st.sampled_from(
            [
                "right",
                "near-username",
                "near-password",
                "mixed-pair",
                "swapped",
                "extra-colon",
                "colon-first",
                "double-colon",
                "empty-user",
                "empty-password",
                "only-colon",
                "empty",
                "no-colon",
                "unknown-account",
                "long-password",
                "arbitrary",
            ]
        )
    )
    made = _shaped(draw, shape, username, password, other_password)
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    return made.encode(encoding, errors="replace")


def encoded(draw: st.DrawFn, raw: bytes) -> bytes:
    how = draw(
        st.sampled_from(["base64", "urlsafe", "no-padding", "extra-padding", "inner-space", "raw", "twice"])
    )
    standard = base64.b64encode(raw)
    if how == "urlsafe":
        return base64.urlsafe_b64encode(raw)
    if how == "no-padding":
        return standard.rstrip(b"=")
    if how == "extra-padding":
        return standard + b"=="
    if how == "inner-space":
        middle = len(standard) // 2
        return standard[:middle] + b" " + standard[middle:]
    if how == "raw":
        return raw
    if how == "twice":
        return base64.b64encode(standard)
    return standard


@st.composite
def authorization_values(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["structured", "structured", "structured", "arbitrary", "scheme-only"]))
    if kind == "arbitrary":
        return draw(st.binary(max_size=200).map(lambda raw: bytes(b for b in raw if b in FIELD_BYTES)))
    scheme = draw(
        st.sampled_from(["Basic", "basic", "BASIC", "bAsIc", "Bearer", "Digest", "Basic:", "Basics", "", "B"])
    )
    if kind == "scheme-only":
        return scheme.encode() + draw(st.sampled_from([b"", b" ", b"  "]))
    separator = draw(st.sampled_from([b" ", b"  ", b"\t", b"", b" \t"]))
    around = draw(st.sampled_from([b"", b" ", b"\t"]))
    token = encoded(draw, draw(credentials()))
    return around + scheme.encode() + separator + token + around


def is_exactly_right(values: list[bytes]) -> bool:
    return len(values) == 1 and credentials_in(values[0]) in RIGHT_BYTES


def carries_wrong_credentials(values: list[bytes]) -> bool:
    return any(credentials_in(value) not in RIGHT_BYTES for value in values)


def check_authorization(server: Server, values: list[bytes]) -> None:
    """401 for anything but exactly right credentials; canonical right ones are let in."""
    status, body = send(server, values)
    canonical_values = {
        canonical(username, password, scheme)
        for username, password in RIGHT
        for scheme in ("Basic", "basic", "BASIC")
    }
    if len(values) == 1 and values[0].strip(b" \t") in canonical_values:
        assert status == 200, f"refused {values!r}: {status} {body[:200]!r}"
    elif is_exactly_right(values) or not carries_wrong_credentials(values):
        # The right credentials with odd whitespace, or the same right field twice: refusing or
        # accepting is no bypass.
        assert status in (200, 401), (values, status, body[:200])
    else:
        assert status == 401, f"let in with {values!r}: {status} {body[:200]!r}"
        envelope = json.loads(body)
        assert envelope["code"] == 20003
        assert envelope["message"] == "Authenticate"


FUZZ = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def test_right_credentials_are_let_in(strict: Server) -> None:
    for username, password in sorted(RIGHT):
        for scheme in ("Basic", "basic", "BASIC"):
            check_authorization(strict, [canonical(username, password, scheme)])


def test_fuzzed_authorization_is_401_unless_exactly_right(
    strict: Server, record_property: Callable[[str, object], None]
) -> None:
    sent: list[bytes] = []

    @FUZZ
    @given(value=authorization_values().filter(valid_field_value))
    def fuzz(value: bytes) -> None:
        sent.append(value)
        check_authorization(strict, [value])

    fuzz()
    print(f"\nAuthorization values sent to the strict server: {len(sent)}")
    record_property("authorization_values_tried", len(sent))
    assert len(sent) >= 400
    assert not all(is_exactly_right([value]) for value in sent)


def test_repeated_authorization_headers_are_401(
    strict: Server, record_property: Callable[[str, object], None]
) -> None:
    # Two Authorization fields are malformed credentials (authentication; RFC 9110 §5.3 does not let the
    # field repeat): when one of them is wrong, 401 whichever comes last.
    sent: list[list[bytes]] = []
    right = sorted(canonical(username, password) for username, password in RIGHT)

    @settings(FUZZ, max_examples=150)
    @given(
        values=st.lists(
            st.one_of(authorization_values().filter(valid_field_value), st.sampled_from(right)),
            min_size=2,
            max_size=3,
        )
    )
    def fuzz(values: list[bytes]) -> None:
        sent.append(values)
        check_authorization(strict, values)

    fuzz()
    print(f"\nrepeated Authorization fields sent to the strict server: {len(sent)}")
    record_property("repeated_authorization_tried", len(sent))
    assert len(sent) >= 150


def test_an_account_without_a_token_cannot_be_entered(strict: Server) -> None:
    # A fixture may name an account without its token (or with an empty one): in strict mode no
    # password opens it, not even the text of a missing value.
    tokenless, empty = "AC" + "ab" * 16, "AC" + "cd" * 16
    document = {"accounts": [{"sid": tokenless}, {"sid": empty, "auth_token": ""}]}
    answer = httpx.post(f"{strict.base_url}/_emulator/fixtures", json=document, timeout=30)
    assert answer.status_code == 204, answer.text
    for account in (tokenless, empty):
        for password in ("x", "None", "null", " ", "\x00"):
            check_authorization(strict, [canonical(account, password)])


# ------------------------------------------------------------------------------------- accounts


def test_no_account_reaches_another_accounts_services(strict: Server, tenants: list[Tenant]) -> None:
    before = strict.snapshot()
    pairs = [(owner, intruder) for owner in tenants for intruder in tenants if owner != intruder]
    assert len(pairs) == 30
    with strict.anonymous() as client:
        for number, (owner, intruder) in enumerate(pairs):
            # Half the pairs use the intruder's auth token, the other half its API key.
            as_intruder = (
                (intruder.account, intruder.token) if number % 2 else (intruder.key, intruder.secret)
            )
            for sid in owner.services:
                for method, path, data in [
                    ("GET", f"/v1/Services/{sid}", None),
                    ("DELETE", f"/v1/Services/{sid}", None),
                    ("GET", webhooks_path(sid), None),
                    ("POST", webhooks_path(sid), {"Method": "GET", "PreWebhookUrl": "https://x.example/"}),
                ]:
                    answer = client.request(method, path, data=data, auth=as_intruder)
                    error = assert_twilio_error(answer, 404, 20404)
                    assert error["message"] == f"The requested resource {path[3:]} was not found"
            listed = client.get("/v1/Services", params={"PageSize": 1000}, auth=as_intruder)
            assert listed.status_code == 200, listed.text
            assert {item["sid"] for item in listed.json()["services"]} == set(intruder.services)
            # The intruder's secret with the owner's SID, and the other way round: wrong credentials.
            for wrong in [(owner.account, intruder.token), (owner.key, intruder.secret)]:
                answer = client.get(f"/v1/Services/{owner.services[0]}", auth=wrong)
                assert_twilio_error(answer, 401, 20003)
        assert strict.snapshot() == before
        for owner in tenants:
            for sid in owner.services:
                answer = client.get(f"/v1/Services/{sid}", auth=(owner.account, owner.token))
                assert answer.status_code == 200, answer.text


def test_the_demo_service_is_invisible_to_other_accounts(strict: Server, tenants: list[Tenant]) -> None:
    with strict.client(tenants[0].account, tenants[0].token) as client:
        assert_twilio_error(client.get(webhooks_path(DEMO_SERVICE)), 404, 20404)
        assert_twilio_error(client.get(f"/v1/Services/{DEMO_SERVICE}"), 404, 20404)


# ---------------------------------------------------------------------------------------- secrets


def all_secrets(tenants: list[Tenant]) -> list[str]:
    secrets = [DEMO_TOKEN, DEMO_KEY_SECRET, OTHER_TOKEN, OTHER_KEY_SECRET]
    secrets += [tenant.token for tenant in tenants] + [tenant.secret for tenant in tenants]
    return secrets


def traces_of(tenants: list[Tenant]) -> list[str]:
    """Each secret, and the base64 of each account's or key's credentials (an Authorization header)."""
    pairs = [*RIGHT]
    pairs += [(tenant.account, tenant.token) for tenant in tenants]
    pairs += [(tenant.key, tenant.secret) for tenant in tenants]
    encodings = [base64.b64encode(f"{username}:{password}".encode()).decode() for username, password in pairs]
    return [*all_secrets(tenants), *encodings]


def test_secrets_never_reach_the_log_the_journal_or_an_error_body(
    strict: Server, tenants: list[Tenant]
) -> None:
    error_bodies: list[str] = []
    tenant = tenants[0]
    attempts = [
        (tenant.account, tenant.token),  # right
        (tenant.key, tenant.secret),  # right
        (tenant.account, tenant.token + "x"),  # near misses: an echo of the password would show
        (tenant.account, tenant.token[:-1]),
        (tenant.account, tenant.token.upper()),
        (tenant.key, tenant.secret + " "),
        (tenant.account, tenant.secret),  # a key's secret as an account's token
        (f"AC{'1' * 32}", tenant.token),  # an unknown account
    ]
    # The journal holds what the fuzz above sent too; this test judges its own requests.
    assert httpx.delete(f"{strict.base_url}/_emulator/requests", timeout=30).status_code == 204
    for username, password in attempts:
        with strict.client(username, password) as client:
            for method, path, data in [
                ("GET", "/v1/Services", None),
                ("POST", "/v1/Services", {"FriendlyName": "x" * 300}),
                ("GET", webhooks_path(tenant.services[0]), None),
                ("POST", webhooks_path(tenant.services[0]), {"Method": "PUT"}),
                ("GET", "/v1/Nope", None),
            ]:
                answer = client.request(method, path, data=data)
                if answer.status_code >= 400:
                    error_bodies.append(answer.text)
    # Refused fixture documents name the entry; they must not quote the secret they carry.
    for document in [
        {"accounts": [{"sid": "ACbad", "auth_token": tenant.token}]},
        {"accounts": [{"sid": tenant.account, "auth_token": tenant.token, "extra": tenant.secret}]},
        {"api_keys": [{"sid": tenant.key, "secret": tenant.secret, "account_sid": "bad"}]},
        {"api_keys": [{"sid": "SKbad", "secret": tenant.secret, "account_sid": tenant.account}]},
    ]:
        answer = httpx.post(f"{strict.base_url}/_emulator/fixtures", json=document, timeout=30)
        assert answer.status_code == 400, answer.text
        error_bodies.append(answer.text)
    journal = httpx.get(f"{strict.base_url}/_emulator/requests", timeout=30)
    assert journal.status_code == 200
    assert len(journal.json()["requests"]) >= len(attempts) * 5
    log = strict.process.log()
    assert "Authenticate" in "".join(error_bodies)
    for secret in traces_of(tenants):
        assert secret not in log, f"{secret!r} in the server log"
        assert secret not in journal.text, f"{secret!r} in the request journal"
        for body in error_bodies:
            assert secret not in body, f"{secret!r} in an error body: {body}"


def test_a_token_typed_as_the_username_is_not_journaled(strict: Server, tenants: list[Tenant]) -> None:
    # Credentials swapped by mistake (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN the wrong way round) put
    # the token where the journal records the username: it must not be kept there.
    tenant = tenants[1]
    with strict.client(tenant.token, tenant.account) as client:
        assert_twilio_error(client.get("/v1/Services"), 401, 20003)
    journal = httpx.get(f"{strict.base_url}/_emulator/requests", params={"limit": 5}, timeout=30)
    assert journal.status_code == 200
    assert tenant.token not in journal.text


# ------------------------------------------------------------------------------- constant time


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_secrets_are_compared_with_hmac_compare_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = open_database(Settings(database_url=f"sqlite:///{tmp_path / 'auth.db'}"))
    database.create_schema()
    with database.writing() as session:
        session.add(Account(sid=OTHER_ACCOUNT, auth_token=OTHER_TOKEN))
        session.add(ApiKey(sid=OTHER_KEY, account_sid=OTHER_ACCOUNT, secret=OTHER_KEY_SECRET))
    compared: list[tuple[bytes, bytes]] = []
    real_compare_digest = hmac.compare_digest

    def spy(given: bytes, known: bytes) -> bool:
        compared.append((given, known))
        return real_compare_digest(given, known)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # auth.py calls hmac.compare_digest
    try:

        def check(credentials: tuple[str, str]) -> str:
            return asyncio.run(auth.authenticate(database, True, credentials))

        assert check((OTHER_ACCOUNT, OTHER_TOKEN)) == OTHER_ACCOUNT
        assert check((OTHER_KEY, OTHER_KEY_SECRET)) == OTHER_ACCOUNT
        for username, wrong in [(OTHER_ACCOUNT, OTHER_TOKEN + "x"), (OTHER_KEY, OTHER_KEY_SECRET[:-1])]:
            with pytest.raises(TwilioError) as refused:
                check((username, wrong))
            assert refused.value.status == 401
    finally:
        database.dispose()
    assert compared == [
        (OTHER_TOKEN.encode(), OTHER_TOKEN.encode()),
        (OTHER_KEY_SECRET.encode(), OTHER_KEY_SECRET.encode()),
        ((OTHER_TOKEN + "x").encode(), OTHER_TOKEN.encode()),
        (OTHER_KEY_SECRET[:-1].encode(), OTHER_KEY_SECRET.encode()),
    ]


def test_no_secret_is_compared_with_equals_in_the_auth_module() -> None:
    # The spy above proves compare_digest is on the path; this proves no `==` on a secret sits beside it.
    tree = ast.parse(inspect.getsource(auth))
    secret_names = {"auth_token", "secret", "known", "password", "given"}

    def names(node: ast.AST) -> set[str]:
        found = set()
        for child in ast.walk(node):
            if isinstance(child, ast.Name):
                found.add(child.id)
            elif isinstance(child, ast.Attribute):
                found.add(child.attr)
        return found

    comparisons = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
        and names(node) & secret_names
    ]
    assert comparisons == [], [ast.unparse(node) for node in comparisons]
