"""Hostile and malformed requests: each is answered with Twilio's envelope, changes nothing, breaks nothing.

Every case checks four things: the status and Twilio code (errors), that the answer is never a 500 nor
FastAPI's `{"detail": ...}`, that the database file is row-for-row what it was (`Server.snapshot()`), and
that the server still answers a normal request afterwards.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    DEMO_TOKEN,
    Server,
    assert_twilio_error,
    webhooks_path,
)

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

DEMO_PATH = webhooks_path(DEMO_SERVICE)
FORM = {"content-type": "application/x-www-form-urlencoded"}
TWO_MIB = 2 * 1024 * 1024


def assert_sane(answer: httpx.Response) -> None:
    """Never a 500, never FastAPI's own error shape, never an HTML page or a stack trace."""
    assert answer.status_code < 500, answer.text
    assert "Traceback" not in answer.text
    assert not answer.text.lstrip().startswith("<"), answer.text[:200]
    if answer.content:
        assert answer.headers.get("content-type", "").startswith("application/json"), answer.text[:200]
        body = answer.json()
        if isinstance(body, dict):
            assert "detail" not in body, body


def assert_error(answer: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert_sane(answer)
    return assert_twilio_error(answer, status, code)


@dataclass
class Baseline:
    """The state before a hostile request, to prove afterwards that it changed nothing."""

    server: Server
    snapshot: dict[str, list[tuple[Any, ...]]]
    configuration: dict[str, Any]

    def assert_unchanged(self) -> None:
        assert self.server.snapshot() == self.snapshot
        # A fresh connection: the hostile request may have left its own connection closed.
        with self.server.client() as client:
            answer = client.get(DEMO_PATH)
            assert answer.status_code == 200, answer.text
            assert answer.json() == self.configuration
            listing = client.get("/v1/Services")
            assert listing.status_code == 200, listing.text
            assert [service["sid"] for service in listing.json()["services"]] == [DEMO_SERVICE]


@pytest.fixture
def baseline(emulator: Server, api: httpx.Client) -> Baseline:
    answer = api.get(DEMO_PATH)
    assert answer.status_code == 200, answer.text
    return Baseline(emulator, emulator.snapshot(), answer.json())


# --- bodies that cannot be read -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"Filters=\xff\xfe", id="raw-invalid-utf8"),
        pytest.param(b"Filters=onMessageAdd&Method=\xc3\x28", id="raw-invalid-utf8-second-parameter"),
        pytest.param(b"Filters=%FF", id="percent-encoded-invalid-utf8"),
        pytest.param(b"PreWebhookUrl=https%3A%2F%2Fexample.com%2F%C3%28", id="percent-encoded-bad-sequence"),
        pytest.param(b"%FF=onMessageAdd", id="percent-encoded-invalid-utf8-key"),
    ],
)
def test_body_that_is_not_utf8_is_refused(api: httpx.Client, baseline: Baseline, body: bytes) -> None:
    answer = api.post(DEMO_PATH, content=body, headers=FORM)
    error = assert_error(answer, 400, 20001)
    assert "UTF-8" in error["message"]
    baseline.assert_unchanged()


def test_body_that_is_not_utf8_is_refused_when_creating_a_service(
    api: httpx.Client, baseline: Baseline
) -> None:
    answer = api.post("/v1/Services", content=b"FriendlyName=\xff\xfe", headers=FORM)
    assert_error(answer, 400, 20001)
    baseline.assert_unchanged()


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"a" * piece


@pytest.mark.parametrize("path", [DEMO_PATH, "/v1/Services"])
def test_two_mebibyte_body_is_refused(api: httpx.Client, baseline: Baseline, path: str) -> None:
    answer = api.post(path, content=b"Filters=" + b"a" * TWO_MIB, headers=FORM)
    error = assert_error(answer, 413, 20413)
    assert str(1024 * 1024) in error["message"]
    baseline.assert_unchanged()


@pytest.mark.parametrize("path", [DEMO_PATH, "/v1/Services"])
def test_two_mebibyte_chunked_body_is_refused(api: httpx.Client, baseline: Baseline, path: str) -> None:
    request = api.build_request("POST", path, content=_chunks(TWO_MIB), headers=FORM)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    answer = api.send(request)
    error = assert_error(answer, 413, 20413)
    assert str(1024 * 1024) in error["message"]
    baseline.assert_unchanged()


def test_body_size_is_checked_before_credentials(emulator: Server, baseline: Baseline) -> None:
    with emulator.anonymous() as anonymous:
        answer = anonymous.post(DEMO_PATH, content=b"a" * TWO_MIB, headers=FORM)
    assert_error(answer, 413, 20413)
    baseline.assert_unchanged()


def test_body_of_exactly_the_limit_is_read(api: httpx.Client, emulator: Server) -> None:
    # One unknown parameter filling the limit to the byte: read, and ignored as unknown.
    body = b"Method=get&Padding=" + b"a" * (1024 * 1024 - len(b"Method=get&Padding="))
    assert len(body) == 1024 * 1024
    answer = api.post(DEMO_PATH, content=body, headers=FORM)
    assert_sane(answer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["method"] == "GET"
    # One byte more is over it.
    answer = api.post(DEMO_PATH, content=body + b"a", headers=FORM)
    assert_error(answer, 413, 20413)


def test_thousands_of_repeated_keys_are_refused(api: httpx.Client, baseline: Baseline) -> None:
    body = "&".join(["Filters=onMessageAdd"] * 5000)
    answer = api.post(DEMO_PATH, content=body, headers=FORM)
    error = assert_error(answer, 400, 20001)
    assert "1000" in error["message"]
    baseline.assert_unchanged()


def test_thousands_of_distinct_unknown_keys_are_refused(api: httpx.Client, baseline: Baseline) -> None:
    body = "&".join(f"Unknown{index}=x" for index in range(5000))
    answer = api.post("/v1/Services", content=f"FriendlyName=x&{body}", headers=FORM)
    assert_error(answer, 400, 20001)
    baseline.assert_unchanged()


def test_a_thousand_parameters_are_still_accepted(api: httpx.Client) -> None:
    body = "&".join(["Filters=onMessageAdd"] * 1000)
    answer = api.post(DEMO_PATH, content=body, headers=FORM)
    assert_sane(answer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["filters"] == ["onMessageAdd"]


# --- URLs that must be refused, never stripped -------------------------------------------------------

BAD_URLS = [
    pytest.param("https://example.com/hook\r\nX-Injected: yes", id="crlf-header-injection"),
    pytest.param("https://example.com/hook\n", id="trailing-lf"),
    pytest.param("\rhttps://example.com/hook", id="leading-cr"),
    pytest.param("https://example.com/\thook", id="tab"),
    pytest.param("https://example.com/a hook", id="space-in-path"),
    pytest.param(" https://example.com/hook", id="leading-space"),
    pytest.param("https://example.com/hook ", id="trailing-space"),
    pytest.param("https://exa mple.com/", id="space-in-host"),
    pytest.param("https://example.com/\x00hook", id="null-byte"),
    pytest.param("https://example.com/hook\x00", id="trailing-null-byte"),
    pytest.param("https://example.com/\x7fhook", id="delete-character"),
    pytest.param("https://example.com/\x1bhook", id="escape-character"),
    pytest.param("https://example.com/" + "a" * 2100, id="longer-than-2048"),
    pytest.param("https://example.com/" + "a" * (2049 - len("https://example.com/")), id="2049-characters"),
    pytest.param("ftp://example.com/hook", id="ftp-scheme"),
    pytest.param("javascript:alert(1)", id="javascript-scheme"),
    pytest.param("file:///etc/passwd", id="file-scheme"),
    pytest.param("data:text/html,hello", id="data-scheme"),
    pytest.param("gopher://example.com/", id="gopher-scheme"),
    pytest.param("http://", id="no-host"),
    pytest.param("http:///path", id="empty-host"),
    pytest.param("https://user@/path", id="only-userinfo"),
    pytest.param("//example.com/hook", id="scheme-relative"),
    pytest.param("/hook", id="relative-path"),
    pytest.param("example.com/hook", id="no-scheme"),
    pytest.param("http:example.com", id="no-authority"),
    pytest.param("http://a:99999/", id="port-too-large"),
    pytest.param("http://a:65536/", id="port-65536"),
    pytest.param("http://a:-1/", id="negative-port"),
    pytest.param("http://a:8x/", id="port-not-a-number"),
    pytest.param("http://[::1/", id="unclosed-ipv6"),
    pytest.param("http://1.2.3.4.5/", id="five-part-ipv4"),
    pytest.param("http://-example.com/", id="label-starts-with-hyphen"),
    pytest.param("http://exa_mple.com/", id="underscore-in-host"),
    pytest.param("http://" + "a" * 64 + ".com/", id="label-longer-than-63"),
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize(
    ("parameter", "code"), [("PreWebhookUrl", 50077), ("PostWebhookUrl", 50078)], ids=["pre", "post"]
)
def test_invalid_webhook_url_is_refused(
    api: httpx.Client, baseline: Baseline, url: str, parameter: str, code: int
) -> None:
    answer = api.post(DEMO_PATH, data={parameter: url})
    error = assert_error(answer, 400, code)
    assert parameter in error["message"]
    baseline.assert_unchanged()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://example.com/\u0085hook", id="next-line-c1-control"),
        pytest.param("https://example.com/\u009bhook", id="c1-control-csi"),
        pytest.param("https://example.com/\u00a0hook", id="no-break-space"),
        pytest.param("https://example.com/\u2028hook", id="line-separator"),
    ],
)
def test_unicode_whitespace_and_control_characters_in_url_are_refused(
    api: httpx.Client, baseline: Baseline, url: str
) -> None:
    # Contract §1: "any whitespace or control character ... anywhere makes it invalid — reject, never
    # strip". These are whitespace (str.isspace) or control characters (Unicode category Cc), and
    # Python's own str.splitlines() breaks a line at U+0085 and U+2028.
    answer = api.post(DEMO_PATH, data={"PostWebhookUrl": url})
    assert_error(answer, 400, 50078)
    baseline.assert_unchanged()


def test_an_invalid_url_refuses_the_whole_update(api: httpx.Client, baseline: Baseline) -> None:
    answer = api.post(
        DEMO_PATH,
        data={
            "Filters": ["onMessageAdd", "onMessageRemoved"],
            "Method": "GET",
            "PostWebhookUrl": "https://example.com/fine",
            "PreWebhookUrl": "https://example.com/\r\n",
        },
    )
    assert_error(answer, 400, 50077)
    baseline.assert_unchanged()


def test_url_of_exactly_2048_characters_is_kept_as_given(api: httpx.Client) -> None:
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    assert len(url) == 2048
    answer = api.post(DEMO_PATH, data={"PreWebhookUrl": url})
    assert_sane(answer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["pre_webhook_url"] == url
    assert api.get(DEMO_PATH).json()["pre_webhook_url"] == url


# --- null bytes and other odd values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param({"Filters": "onMessageAdd\x00"}, 50054, id="filter-trailing-null"),
        pytest.param({"Filters": "\x00onMessageAdd"}, 50054, id="filter-leading-null"),
        pytest.param({"Filters": "\x00"}, 50054, id="filter-only-null"),
        pytest.param({"Method": "POST\x00"}, 50055, id="method-trailing-null"),
        pytest.param({"Method": "PO\x00ST"}, 50055, id="method-inner-null"),
        pytest.param({"Method": "\x00"}, 50055, id="method-only-null"),
        pytest.param({"PreWebhookUrl": "\x00"}, 50077, id="pre-only-null"),
        pytest.param({"PostWebhookUrl": "https://example.com\x00.evil.com/"}, 50078, id="post-null-in-host"),
    ],
)
def test_null_bytes_in_values_are_refused(
    api: httpx.Client, baseline: Baseline, data: dict[str, str], code: int
) -> None:
    answer = api.post(DEMO_PATH, data=data)
    assert_error(answer, 400, code)
    baseline.assert_unchanged()


def test_raw_null_byte_in_body_is_refused_by_validation(api: httpx.Client, baseline: Baseline) -> None:
    # Not percent-encoded: still valid UTF-8, so it reaches the Method rule.
    answer = api.post(DEMO_PATH, content=b"Method=PO\x00ST", headers=FORM)
    assert_error(answer, 400, 50055)
    baseline.assert_unchanged()


def test_null_byte_in_friendly_name_is_refused(api: httpx.Client, baseline: Baseline) -> None:
    # PostgreSQL text cannot hold U+0000, so no backend stores it: one rule, the same answer on both.
    answer = api.post("/v1/Services", data={"FriendlyName": "before\x00after"})
    error = assert_error(answer, 400, 20002)
    assert "FriendlyName" in error["message"]
    assert "U+0000" in error["message"]
    baseline.assert_unchanged()


def test_null_byte_in_a_password_is_not_a_credential(emulator: Server, baseline: Baseline) -> None:
    # Permissive mode takes any non-empty token, but not one no backend can remember for signing.
    account = "AC" + "5" * 32
    with emulator.client(account, "tok\x00en") as client:
        assert_error(client.get("/v1/Services"), 401, 20003)
    baseline.assert_unchanged()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x" * 257, id="257-ascii"),
        pytest.param("é" * 257, id="257-non-ascii"),
        pytest.param("x" * 10_000, id="10000"),
    ],
)
def test_friendly_name_longer_than_256_is_refused(api: httpx.Client, baseline: Baseline, name: str) -> None:
    answer = api.post("/v1/Services", data={"FriendlyName": name})
    error = assert_error(answer, 400, 20002)
    assert "FriendlyName" in error["message"]
    baseline.assert_unchanged()


# --- bodies of other content types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(
            b'{"Filters": ["bogus"], "Method": "PUT", "PreWebhookUrl": "javascript:x"}',
            "application/json",
            id="json",
        ),
        pytest.param(b"Method=GET&Filters=onMessageAdd", "text/plain", id="text-plain-form-lookalike"),
        pytest.param(b"\xff\xfe not even utf-8", "application/octet-stream", id="octet-stream"),
    ],
)
def test_body_of_another_content_type_is_a_no_op_update(
    api: httpx.Client, baseline: Baseline, content: bytes, content_type: str
) -> None:
    answer = api.post(DEMO_PATH, content=content, headers={"content-type": content_type})
    assert_sane(answer)
    assert answer.status_code == 200, answer.text
    assert answer.json() == baseline.configuration
    baseline.assert_unchanged()


def test_json_body_with_valid_values_is_a_no_op_update(api: httpx.Client, baseline: Baseline) -> None:
    answer = api.post(DEMO_PATH, json={"Method": "GET", "Filters": ["onMessageAdd"]})
    assert_sane(answer)
    assert answer.status_code == 200, answer.text
    assert answer.json() == baseline.configuration
    baseline.assert_unchanged()


def test_multipart_body_is_a_no_op_update(api: httpx.Client, baseline: Baseline) -> None:
    answer = api.post(
        DEMO_PATH,
        data={"Method": "GET", "PreWebhookUrl": "https://example.com/x"},
        files={"Filters": (None, "bogus")},
    )
    assert answer.request.headers["content-type"].startswith("multipart/form-data")
    assert_sane(answer)
    assert answer.status_code == 200, answer.text
    assert answer.json() == baseline.configuration
    baseline.assert_unchanged()


def test_json_body_to_create_a_service_lacks_friendly_name(api: httpx.Client, baseline: Baseline) -> None:
    answer = api.post("/v1/Services", json={"FriendlyName": "from json"})
    error = assert_error(answer, 400, 20001)
    assert error["message"] == "Missing required parameter FriendlyName in the post body"
    baseline.assert_unchanged()


def test_multipart_body_to_create_a_service_lacks_friendly_name(
    api: httpx.Client, baseline: Baseline
) -> None:
    answer = api.post("/v1/Services", files={"FriendlyName": (None, "from multipart")})
    error = assert_error(answer, 400, 20001)
    assert error["message"] == "Missing required parameter FriendlyName in the post body"
    baseline.assert_unchanged()


# --- paths: traversal, injection, unknown routes, trailing slashes -------------------------------------

SQL_SID = "IS' OR '1'='1"
SQL_SID_ENCODED = "IS%27%20OR%20%271%27%3D%271"


ODD_TARGETS = [
    pytest.param("/v1/Services/..%2F..%2Fetc%2Fpasswd/Configuration/Webhooks", id="encoded-traversal"),
    pytest.param("/v1/Services/../Services", id="dot-dot-back-to-list"),
    pytest.param("/v1/Services/../../../etc/passwd", id="dot-dot-out-of-root"),
    pytest.param(f"/v1/Services/{DEMO_SERVICE}/Configuration/../Configuration/Webhooks", id="dot-dot-inner"),
    pytest.param(f"/v1/Services/./{DEMO_SERVICE}", id="dot-segment"),
    pytest.param("/v1/Services/%2e%2e/Services", id="encoded-dots"),
    pytest.param(f"/v1/Services/{SQL_SID_ENCODED}", id="sql-in-sid"),
    pytest.param(f"/v1/Services/{SQL_SID_ENCODED}/Configuration/Webhooks", id="sql-in-webhooks-sid"),
    pytest.param("/v1/Services/IS%25/Configuration/Webhooks", id="like-wildcard-sid"),
    pytest.param(f"/v1/Services/{DEMO_SERVICE}%00/Configuration/Webhooks", id="null-after-sid"),
    pytest.param("/v1/Services/%FF/Configuration/Webhooks", id="invalid-utf8-sid"),
    pytest.param("/v1/Services/" + "A" * 5000, id="very-long-sid"),
    pytest.param(f"/v1/Services/{DEMO_SERVICE.lower()}", id="lower-case-prefix"),
    pytest.param(f"/v1/Services/{DEMO_SERVICE[:-1]}", id="sid-too-short"),
    pytest.param(f"/v1/Services/{DEMO_SERVICE}0", id="sid-too-long"),
    pytest.param(f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks/", id="trailing-slash-webhooks"),
    pytest.param(f"/v1/Services/{DEMO_SERVICE}/", id="trailing-slash-service"),
    pytest.param("/v1/Services/", id="trailing-slash-list"),
    pytest.param("//v1/Services", id="double-leading-slash"),
    pytest.param("/v1//Services", id="double-inner-slash"),
]

# Targets where no route takes POST (or DELETE) with any SID, so the answer is 404 and not 405.
ODD_WRITE_TARGETS = [
    pytest.param("POST", "/v1/Services/..%2F..%2Fetc%2Fpasswd/Configuration/Webhooks", id="post-traversal"),
    pytest.param("POST", f"/v1/Services/{SQL_SID_ENCODED}/Configuration/Webhooks", id="post-sql-sid"),
    pytest.param("POST", "/v1/Services/%2e%2e/Configuration/Webhooks", id="post-encoded-dots-sid"),
    pytest.param("POST", f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks/", id="post-trailing-slash"),
    pytest.param("POST", "/v1/Services/", id="post-list-trailing-slash"),
    pytest.param("DELETE", f"/v1/Services/{SQL_SID_ENCODED}", id="delete-sql-sid"),
    pytest.param("DELETE", "/v1/Services/%2e%2e", id="delete-encoded-dots"),
    pytest.param("DELETE", f"/v1/Services/{DEMO_SERVICE}/", id="delete-trailing-slash"),
    pytest.param("DELETE", f"/v1/Services/{DEMO_SERVICE}%00", id="delete-null-after-sid"),
    pytest.param("DELETE", "/v1/Services/IS%25", id="delete-like-wildcard"),
]


def _assert_not_found_and_untouched(answer: httpx.Response, baseline: Baseline) -> None:
    error = assert_error(answer, 404, 20404)
    assert error["message"].startswith("The requested resource /")
    assert error["message"].endswith(" was not found")
    assert "location" not in answer.headers
    baseline.assert_unchanged()


@pytest.mark.parametrize("target", ODD_TARGETS)
def test_odd_paths_are_not_found(api: httpx.Client, baseline: Baseline, target: str) -> None:
    # The target is sent byte for byte, as written: httpx would otherwise resolve the dot segments.
    answer = api.get("/", extensions={"target": target.encode()})
    _assert_not_found_and_untouched(answer, baseline)


@pytest.mark.parametrize(("method", "target"), ODD_WRITE_TARGETS)
def test_odd_paths_are_not_found_for_writes(
    api: httpx.Client, baseline: Baseline, method: str, target: str
) -> None:
    answer = api.request(
        method,
        "/",
        content=b"FriendlyName=x&Method=GET&PreWebhookUrl=",
        headers=FORM,
        extensions={"target": target.encode()},
    )
    _assert_not_found_and_untouched(answer, baseline)


def test_sql_in_sid_is_named_back_as_the_path(api: httpx.Client, baseline: Baseline) -> None:
    answer = api.get(f"/v1/Services/{SQL_SID_ENCODED}/Configuration/Webhooks")
    error = assert_error(answer, 404, 20404)
    assert (
        error["message"] == f"The requested resource /Services/{SQL_SID}/Configuration/Webhooks was not found"
    )
    baseline.assert_unchanged()


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/v1/Nope", "/Nope"),
        ("/nope", "/nope"),
        ("/v1/Services/ISxxx/Nope", "/Services/ISxxx/Nope"),
        (f"/v1/Services/{DEMO_SERVICE}/Configuration/Nope", f"/Services/{DEMO_SERVICE}/Configuration/Nope"),
        (f"/v1/Services/{DEMO_SERVICE}/Configuration", f"/Services/{DEMO_SERVICE}/Configuration"),
        ("/v2/Services", "/v2/Services"),
        ("/v1/services", "/services"),
        ("/_emulator/nope", "/_emulator/nope"),
    ],
)
def test_unknown_route_is_not_found(api: httpx.Client, baseline: Baseline, path: str, shown: str) -> None:
    answer = api.get(path)
    error = assert_error(answer, 404, 20404)
    assert error["message"] == f"The requested resource {shown} was not found"
    baseline.assert_unchanged()


@pytest.mark.parametrize("path", ["/v1/Nope", "/v1/Services/ISxxx/Nope", "/v1/Services/", "/v1"])
def test_unauthenticated_unknown_v1_route_is_401(emulator: Server, baseline: Baseline, path: str) -> None:
    with emulator.anonymous() as anonymous:
        answer = anonymous.get(path)
    error = assert_error(answer, 401, 20003)
    assert error["message"] == "Authenticate"
    assert answer.headers["www-authenticate"] == 'Basic realm="Twilio API"'
    baseline.assert_unchanged()


def test_unauthenticated_unknown_route_outside_v1_is_404(emulator: Server, baseline: Baseline) -> None:
    with emulator.anonymous() as anonymous:
        answer = anonymous.get("/nope")
    error = assert_error(answer, 404, 20404)
    assert error["message"] == "The requested resource /nope was not found"
    baseline.assert_unchanged()


# --- verbs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/Services"),
        ("PATCH", "/v1/Services"),
        ("DELETE", "/v1/Services"),
        ("PUT", DEMO_PATH),
        ("PATCH", DEMO_PATH),
        ("DELETE", DEMO_PATH),
        ("POST", f"/v1/Services/{DEMO_SERVICE}"),
        ("PUT", f"/v1/Services/{DEMO_SERVICE}"),
        ("TRACE", "/v1/Services"),
        ("PROPFIND", DEMO_PATH),
        # An extension method is a valid HTTP token (RFC 9110 §9.1); it is still only "not allowed".
        ("FOO", "/v1/Services"),
        ("FOO", DEMO_PATH),
    ],
)
def test_unknown_verb_on_known_route_is_405(
    api: httpx.Client, baseline: Baseline, method: str, path: str
) -> None:
    answer = api.request(method, path, data={"FriendlyName": "x", "Method": "GET"})
    error = assert_error(answer, 405, 20004)
    assert error["message"] == "Method not allowed"
    baseline.assert_unchanged()


@pytest.mark.parametrize(("method", "path"), [("PUT", "/v1/Services"), ("DELETE", DEMO_PATH)])
def test_unknown_verb_without_credentials_is_401(
    emulator: Server, baseline: Baseline, method: str, path: str
) -> None:
    with emulator.anonymous() as anonymous:
        answer = anonymous.request(method, path)
    assert_error(answer, 401, 20003)
    baseline.assert_unchanged()


# --- credentials that are not credentials ------------------------------------------------------------


def _basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Basic \xff\xfe", id="not-base64-not-ascii"),
        pytest.param(b"Basic !!!!", id="not-base64"),
        pytest.param(b"Basic", id="scheme-only"),
        pytest.param(_basic(b"\xff\xfe:\xff"), id="invalid-utf8-inside"),
        pytest.param(_basic(DEMO_ACCOUNT.encode()), id="no-colon"),
        pytest.param(_basic(DEMO_ACCOUNT.encode() + b":"), id="empty-password"),
        pytest.param(_basic(b"AC' OR '1'='1:x"), id="sql-in-username"),
        pytest.param(_basic(b"AC" + b"g" * 32 + b":x"), id="account-sid-not-hex"),
        pytest.param(_basic(b"SK" + b"1" * 32 + b":x"), id="unknown-api-key"),
        pytest.param(_basic(b"\x00" * 34 + b":x"), id="null-bytes"),
        pytest.param(b"Bearer " + DEMO_TOKEN.encode(), id="bearer"),
    ],
)
def test_malformed_credentials_are_401(emulator: Server, baseline: Baseline, authorization: bytes) -> None:
    with emulator.anonymous() as anonymous:
        answer = anonymous.post(
            DEMO_PATH, data={"Method": "GET"}, headers=[(b"authorization", authorization)]
        )
    error = assert_error(answer, 401, 20003)
    assert error["message"] == "Authenticate"
    baseline.assert_unchanged()


# --- paging parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"PageSize": "0"}, id="page-size-0"),
        pytest.param({"PageSize": "abc"}, id="page-size-abc"),
        pytest.param({"PageSize": "1001"}, id="page-size-1001"),
        pytest.param({"PageSize": "-1"}, id="page-size-negative"),
        pytest.param({"PageSize": ""}, id="page-size-empty"),
        pytest.param({"PageSize": "1.5"}, id="page-size-fraction"),
        pytest.param({"PageSize": "1e3"}, id="page-size-exponent"),
        pytest.param({"PageSize": "\u0665"}, id="page-size-arabic-indic-digit"),
        pytest.param({"PageSize": "5\x00"}, id="page-size-null"),
        pytest.param({"PageSize": "9" * 400}, id="page-size-huge"),
        pytest.param({"Page": "abc"}, id="page-abc"),
        pytest.param({"Page": "-1"}, id="page-negative"),
        pytest.param({"Page": "9" * 40}, id="page-huge"),
        pytest.param({"PageToken": "bogus"}, id="page-token-bogus"),
        pytest.param({"PageToken": "PA' OR '1'='1"}, id="page-token-sql"),
        pytest.param({"PageToken": "PA" + "9" * 40}, id="page-token-huge"),
    ],
)
def test_invalid_paging_parameters_are_refused(
    api: httpx.Client, baseline: Baseline, params: dict[str, str]
) -> None:
    answer = api.get("/v1/Services", params=params)
    assert_error(answer, 400, 20002)
    baseline.assert_unchanged()


def test_invalid_utf8_in_query_string_is_refused(api: httpx.Client, baseline: Baseline) -> None:
    answer = api.get("/v1/Services?PageSize=%FF")
    assert_error(answer, 400, 20002)
    baseline.assert_unchanged()
