"""Form bodies: parse_form's rules case by case, and on random bodies against a parse_qsl reference.

`reference` is the parser written directly on `urllib.parse.parse_qsl`. On any content type and body,
parse_form must give its pairs or its error. bench/forms.py's parser (the same rules, split by
python-multipart) is held to the same reference, so the benchmark compares parsers that do the same work.
No server: these call the parsers directly.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio_conversations_emulator.twilio.errors import TwilioError
from twilio_conversations_emulator.twilio.forms import FORM_CONTENT_TYPE, MAX_PARAMETERS, parse_form

from bench.forms import Parser, parse_form_multipart

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

Pairs = list[tuple[str, str]]
# (status, code, message) of a refusal.
Refusal = tuple[int, int, str]

TOO_MANY = "it has more than 1000 parameters"
BAD_ESCAPE = "a percent-encoded value is not UTF-8"
PARSERS = [pytest.param(parse_form, id="parse_qsl"), pytest.param(parse_form_multipart, id="multipart")]


def refusal(reason: str) -> Refusal:
    return (400, 20001, f"Unable to read the request body: {reason}")


def reference(content_type: str | None, body: bytes) -> Pairs | Refusal:
    media_type = (content_type or FORM_CONTENT_TYPE).split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE or not body:
        return []
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return refusal(f"it is not UTF-8 (byte {exc.start})")
    try:
        return parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_PARAMETERS
        )
    except UnicodeDecodeError:
        return refusal("a percent-encoded value is not UTF-8")
    except ValueError:
        return refusal(f"it has more than {MAX_PARAMETERS} parameters")


def outcome(parse: Parser, body: bytes, content_type: str | None = FORM_CONTENT_TYPE) -> Pairs | Refusal:
    try:
        return parse(content_type, body).pairs
    except TwilioError as exc:
        return (exc.status, exc.code, str(exc))


# Pieces that meet each rule: separators, `+`, escapes good and bad (split UTF-8, bad hex, truncated),
# raw UTF-8 and bytes that are not UTF-8.
PIECES = [
    b"a",
    b"Filters",
    b"=",
    b"&",
    b"&&",
    b";",
    b"+",
    b" ",
    b"%",
    b"%2",
    b"%zz",
    b"%41",
    b"%2B",
    b"%26",
    b"%3D",
    b"%3B",
    b"%C3%A9",
    b"%C3",
    b"%A9",
    b"%FF",
    b"%F0%9F%91%8B",
    "é".encode(),
    "👋".encode(),
    b"\x00",
    b"\xc3",
    b"\xff",
]
CONTENT_TYPES = [
    None,
    "",
    FORM_CONTENT_TYPE,
    "Application/X-WWW-Form-URLEncoded; charset=utf-8",
    " application/x-www-form-urlencoded ;",
    "application/x-www-form-urlencoded2",
    "application/json",
    "multipart/form-data; boundary=b",
    "text/plain",
]

form_like = st.lists(st.sampled_from(PIECES) | st.binary(max_size=3), max_size=40).map(b"".join)
# Around the parameter limit: `count` pieces (empty ones among them, which count too) between two bodies.
near_the_limit = st.builds(
    lambda head, count, piece, tail: head + b"&".join([piece] * count) + tail,
    form_like,
    st.integers(MAX_PARAMETERS - 3, MAX_PARAMETERS + 3),
    st.sampled_from([b"", b"a", b"a=1", b"%FF=", b"\xff"]),
    form_like,
)
bodies = st.binary(max_size=200) | form_like | near_the_limit

EQUIVALENCE = settings(
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("parse", PARSERS)
@EQUIVALENCE
@given(content_type=st.sampled_from(CONTENT_TYPES), body=bodies)
def test_same_pairs_or_refusal_as_parse_qsl(parse: Parser, content_type: str | None, body: bytes) -> None:
    assert outcome(parse, body, content_type) == reference(content_type, body)


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    ("body", "pairs"),
    [
        pytest.param(
            b"Filters=a&Method=GET&Filters=b",
            [("Filters", "a"), ("Method", "GET"), ("Filters", "b")],
            id="repeated-keys-in-order",
        ),
        pytest.param(b"a=&b=", [("a", ""), ("b", "")], id="blank-values"),
        pytest.param(b"=", [("", "")], id="blank-name-and-value"),
        pytest.param(b"=x", [("", "x")], id="blank-name"),
        pytest.param(b"a", [("a", "")], id="key-without-equals"),
        pytest.param(b"a&b=1&c", [("a", ""), ("b", "1"), ("c", "")], id="keys-without-equals-among-others"),
        pytest.param(b"&&a=1&&&", [("a", "1")], id="empty-pieces-skipped"),
        pytest.param(b"&", [], id="only-a-separator"),
        pytest.param(b"a==b=c", [("a", "=b=c")], id="first-equals-splits"),
        pytest.param(b"Body=a+b%2Bc", [("Body", "a b+c")], id="plus-is-a-space"),
        pytest.param(b"a+b=1", [("a b", "1")], id="plus-in-a-name"),
        pytest.param(b"%26=%3D%3B", [("&", "=;")], id="escaped-separators"),
        pytest.param(b"a=%zz%4", [("a", "%zz%4")], id="bad-escapes-kept-as-sent"),
        pytest.param("Body=Zoë 👋".encode(), [("Body", "Zoë 👋")], id="raw-utf-8"),
        pytest.param(b"Body=%C3%A9%F0%9F%91%8B", [("Body", "é👋")], id="escaped-utf-8"),
        # Only `&` separates, wherever the `;` is (python-multipart before 0.0.30 split at `;` when no
        # `&` followed it).
        pytest.param(b"Body=a;b=c&x=1", [("Body", "a;b=c"), ("x", "1")], id="semicolon-is-data"),
        pytest.param(b"x=1&Body=a;b=c", [("x", "1"), ("Body", "a;b=c")], id="semicolon-in-the-last-value"),
        pytest.param(b"a;b", [("a;b", "")], id="semicolon-in-a-key"),
    ],
)
def test_pairs(parse: Parser, body: bytes, pairs: Pairs) -> None:
    assert outcome(parse, body) == pairs


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"a=\xff", "it is not UTF-8 (byte 2)", id="raw-not-utf-8"),
        pytest.param("a=é".encode()[:-1], "it is not UTF-8 (byte 2)", id="raw-utf-8-cut-short"),
        pytest.param(b"a=%FF", BAD_ESCAPE, id="escaped-value-not-utf-8"),
        pytest.param(b"%C3=1", BAD_ESCAPE, id="escaped-name-not-utf-8"),
        # Each escape is decoded within its run of ASCII, as parse_qsl does: a split character is refused.
        pytest.param("a=%C3é%A9".encode(), BAD_ESCAPE, id="escapes-split-by-text"),
        pytest.param(
            b"&".join([b"a=1"] * (MAX_PARAMETERS + 1)),
            TOO_MANY,
            id="1001-parameters",
        ),
        # Counted as parse_qsl counts them: by separators, empty pieces too.
        pytest.param(b"&" * MAX_PARAMETERS, TOO_MANY, id="1001-empty-pieces"),
        # The raw body is checked first, then the count, then the escapes.
        pytest.param(b"&" * MAX_PARAMETERS + b"\xff", "it is not UTF-8 (byte 1000)", id="not-utf-8-first"),
        pytest.param(b"a=%FF" + b"&" * MAX_PARAMETERS, TOO_MANY, id="count-second"),
    ],
)
def test_refusals(parse: Parser, body: bytes, reason: str) -> None:
    assert outcome(parse, body) == refusal(reason)


@pytest.mark.parametrize("parse", PARSERS)
def test_at_most_1000_parameters(parse: Parser) -> None:
    assert MAX_PARAMETERS == 1000
    most = b"&".join(b"Filters=f%d" % index for index in range(MAX_PARAMETERS))
    assert outcome(parse, most) == [("Filters", f"f{index}") for index in range(MAX_PARAMETERS)]
    assert outcome(parse, b"a=1" + b"&" * (MAX_PARAMETERS - 1)) == [("a", "1")]


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data; boundary=b",
        "text/plain",
        "application/x-www-form-urlencoded2",
    ],
)
def test_other_content_types_carry_no_parameters(parse: Parser, content_type: str) -> None:
    assert outcome(parse, b"Method=PUT&a=\xff", content_type) == []


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    "content_type", [None, "", "Application/X-WWW-Form-URLEncoded; charset=utf-8", FORM_CONTENT_TYPE]
)
def test_form_content_types(parse: Parser, content_type: str | None) -> None:
    assert outcome(parse, b"Method=PUT", content_type) == [("Method", "PUT")]
    assert outcome(parse, b"", content_type) == []


def test_parameters_by_name() -> None:
    form = parse_form(FORM_CONTENT_TYPE, b"Filters=a&Method=GET&Filters=b&Method=POST")
    assert "Filters" in form
    assert "Missing" not in form
    assert form.all("Filters") == ["a", "b"]
    assert form.last("Method") == "POST"
    assert form.last("Missing") == ""
    assert form.as_multidict() == {"Filters": ["a", "b"], "Method": ["GET", "POST"]}
