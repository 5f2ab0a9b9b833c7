"""The bad-input catalogue: malformed requests sent raw, byte for byte, each with its expected answer.

One table, one test. Every case is written to a socket exactly as listed (no client library rewrites the
bytes), and every case checks four things: the status, the Twilio envelope and code when there is a body
(errors), that the database is row-for-row what it was (`Server.snapshot()`), and that the server
still answers a normal GET afterwards. `docs/bad-input-catalogue.md` is generated from the same table:

    .venv/bin/python -m tests.test_bad_input_catalogue          # rewrite the document
    .venv/bin/python -m tests.test_bad_input_catalogue --check  # exit 1 if it is out of date

Cases whose expectation is a judgement call say so in `note` ("debatable: ..."). tests/test_odd_input.py
holds the hostile inputs a client library can send; this file holds the ones only a raw socket can.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import pytest
from twilio_conversations_emulator.conversations.services.service import default_service_sid

from tests.conftest import DEMO_ACCOUNT, DEMO_KEY, DEMO_KEY_SECRET, DEMO_SERVICE, DEMO_TOKEN, Server

Category = Literal[
    "encodings", "sizes", "values", "headers", "paths", "credentials", "content types", "methods"
]
CATEGORIES: tuple[Category, ...] = (
    "encodings",
    "sizes",
    "values",
    "headers",
    "paths",
    "credentials",
    "content types",
    "methods",
)

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

DOC = Path(__file__).resolve().parent.parent / "docs" / "bad-input-catalogue.md"

WEBHOOKS = f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks".encode()
SERVICES = b"/v1/Services"
SERVICE = f"/v1/Services/{DEMO_SERVICE}".encode()
FORM = b"Content-Type: application/x-www-form-urlencoded"

# A conversation in the demo account's default service, with a chat participant, an SMS participant, a
# message and a scoped webhook, put in before every case (by fixture document), so the cases on those
# routes reach their rules and not only 404s.
CONVERSATION_SID = "CH" + "1" * 32
CONVERSATIONS = b"/v1/Conversations"
CONVERSATION = CONVERSATIONS + b"/" + CONVERSATION_SID.encode()
PARTICIPANTS = CONVERSATION + b"/Participants"
MESSAGES = CONVERSATION + b"/Messages"
SCOPED_WEBHOOKS = CONVERSATION + b"/Webhooks"
SEEDED = {
    "conversations": [
        {
            "sid": CONVERSATION_SID,
            "account_sid": DEMO_ACCOUNT,
            "unique_name": "room",
            "participants": [
                {"sid": "MB" + "1" * 32, "identity": "alice"},
                {
                    "sid": "MB" + "2" * 32,
                    "messaging_binding": {"address": "+15551230000", "proxy_address": "+15559990000"},
                },
            ],
            "messages": [{"sid": "IM" + "1" * 32, "author": "alice", "body": "Hello"}],
            "webhooks": [
                {
                    "sid": "WH" + "1" * 32,
                    "target": "webhook",
                    "configuration": {"url": "http://127.0.0.1:9/hook", "filters": ["onMessageAdded"]},
                }
            ],
        }
    ]
}


# SDK actions on the seeded conversation (`POST /_emulator/events`), refused by the REST rules before
# anything is sent or stored.
EVENTS = b"/_emulator/events"
JSON_BODY = b"Content-Type: application/json"


def _sdk_action(event: str, params: dict[str, str | int], service: str | None = None) -> bytes:
    body = {
        "account_sid": DEMO_ACCOUNT,
        "chat_service_sid": service or default_service_sid(DEMO_ACCOUNT),
        "event": event,
        "params": params,
    }
    return json.dumps(body).encode()


def _on_room(event: str, **params: str | int) -> bytes:
    return _sdk_action(event, {"ConversationSid": CONVERSATION_SID, **params})


def _basic(credentials: bytes) -> bytes:
    return b"Basic " + base64.b64encode(credentials)


DEMO_CREDENTIALS = f"{DEMO_ACCOUNT}:{DEMO_TOKEN}".encode()
AUTHORIZATION = b"Authorization: " + _basic(DEMO_CREDENTIALS)
MIB = 1024 * 1024


@dataclass(frozen=True)
class BadInput:
    """One raw request and what the emulator must answer to it.

    The request is `method target version`, then `Host` (unless `host` is false), the demo account's
    `Authorization` (unless `auth` is false), the raw header lines in `headers`, a `Content-Length` of the
    body when there is a body or the method is POST (unless `content_length` is false), and the body.
    """

    name: str
    category: Category
    method: bytes
    target: bytes
    headers: tuple[bytes, ...] = ()
    body: bytes = b""
    status: int | None = 400  # None: the server closes the connection without an answer
    code: int | None = None  # the Twilio code in the envelope; None for a success or a bodiless answer
    version: bytes = b"HTTP/1.1"
    host: bool = True
    auth: bool = True
    content_length: bool = True
    half_close: bool = False  # the client shuts its sending side after the request: it is gone
    trailer: bytes = b""  # more bytes in the same write, after the request (pipelining)
    note: str = ""

    def raw(self) -> bytes:
        lines = [self.method + b" " + self.target + b" " + self.version]
        if self.host:
            lines.append(b"Host: 127.0.0.1")
        if self.auth:
            lines.append(AUTHORIZATION)
        lines += self.headers
        if self.content_length and (self.body or self.method == b"POST"):
            lines.append(b"Content-Length: " + str(len(self.body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body + self.trailer

    def summary(self) -> str:
        """The request in one line for the document: long or binary parts shortened and escaped."""
        target = self.target
        for symbol, path in (
            (b"{WEBHOOKS}", WEBHOOKS),
            (b"{SERVICE}", SERVICE),
            (b"{CONVERSATION}", CONVERSATION),
        ):
            start = target.find(path)
            end = start + len(path)
            if start >= 0 and target[end : end + 1] not in HEX_DIGITS:
                target = target[:start] + symbol + target[end:]
                break
        parts = [f"`{_show(self.method)} {_show(target)} {_show(self.version)}`"]
        if not self.host:
            parts.append("no Host")
        if not self.auth and not any(line.lower().startswith(b"authorization:") for line in self.headers):
            parts.append("no Authorization")
        headers = [f"`{_show(line)}`" for line in self.headers]
        if len(headers) > 6:
            headers = [*headers[:2], f"… {len(headers)} header lines in all"]
        parts += headers
        if self.body:
            parts.append(f"body `{_show(self.body)}`")
        if not self.content_length:
            parts.append("no automatic Content-Length")
        if self.half_close:
            parts.append("then the client shuts its side")
        if self.trailer:
            parts.append(f"then, in the same write, `{_show(self.trailer)}`")
        return "; ".join(parts)

    def expectation(self) -> str:
        if self.status is None:
            return "no answer, connection closed"
        return f"{self.status} / {self.code}" if self.code is not None else str(self.status)


HEX_DIGITS = [bytes([digit]) for digit in b"0123456789abcdefABCDEF"]


def _show(raw: bytes, limit: int = 80) -> str:
    text = repr(raw)[2:-1] if len(raw) <= limit else f"{repr(raw[:50])[2:-1]}… ({len(raw)} bytes)"
    return text.replace("|", "\\|").replace("`", "'")


def _chunked(body: bytes, size: int = 1) -> bytes:
    chunks = [body[index : index + size] for index in range(0, len(body), size)]
    return b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks) + b"0\r\n\r\n"


UTF16_BODY = "Method=PUT".encode("utf-16")  # with its byte order mark
GZIP_BODY = gzip.compress(b"Method=PUT", mtime=0)

CATALOGUE: tuple[BadInput, ...] = (
    # --- encodings ----------------------------------------------------------------------------------
    BadInput(
        "overlong-utf8-percent-encoded-slash",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM,),
        b"PreWebhookUrl=https%3A%2F%2Fexample.com%C0%AFhook",
        code=20001,
        note="%C0%AF is an overlong '/': not UTF-8",
    ),
    BadInput(
        "overlong-utf8-raw-bytes-in-value",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM,),
        b"Method=G\xc0\xafT",
        code=20001,
    ),
    BadInput(
        "overlong-utf8-three-bytes-in-friendly-name",
        "encodings",
        b"POST",
        SERVICES,
        (FORM,),
        b"FriendlyName=\xe0\x80\xaf",
        code=20001,
        note="no service is created",
    ),
    BadInput(
        "lone-surrogate-percent-encoded",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM,),
        b"Filters=%ED%A0%80",
        code=20001,
        note="U+D800 encoded as UTF-8 is not valid UTF-8",
    ),
    BadInput(
        "utf16-body-with-bom",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM,),
        UTF16_BODY,
        code=20001,
    ),
    BadInput(
        "utf16-body-with-declared-charset",
        "encodings",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: application/x-www-form-urlencoded; charset=utf-16",),
        UTF16_BODY,
        code=20001,
        note="the charset parameter is not honoured: form bodies are UTF-8 (errors)",
    ),
    BadInput(
        "latin1-body-with-declared-charset",
        "encodings",
        b"POST",
        SERVICES,
        (b"Content-Type: application/x-www-form-urlencoded; charset=iso-8859-1",),
        b"FriendlyName=caf\xe9",
        code=20001,
        note="no service is created",
    ),
    BadInput(
        "gzip-content-encoding",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM, b"Content-Encoding: gzip"),
        GZIP_BODY,
        code=20001,
        note="debatable: Content-Encoding is not supported and the compressed bytes are read as an "
        "unreadable body; RFC 9110 §8.4 suggests 415",
    ),
    BadInput(
        "utf8-bom-before-the-first-key",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM,),
        b"\xef\xbb\xbfMethod=PUT",
        status=200,
        note="debatable: the key becomes U+FEFF 'Method', an unknown parameter, ignored; a silent no-op",
    ),
    BadInput(
        "percent-encoded-nul-in-key",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM,),
        b"Me%00thod=PUT",
        status=200,
        note="an unknown parameter, ignored (webhook configuration)",
    ),
    BadInput(
        "invalid-percent-escape-in-value",
        "encodings",
        b"POST",
        WEBHOOKS,
        (FORM,),
        b"Method=%G0ET",
        code=50055,
        note="an invalid escape is kept literally, so the value is not GET or POST",
    ),
    BadInput(
        "latin1-body-creating-a-conversation",
        "encodings",
        b"POST",
        CONVERSATIONS,
        (FORM,),
        b"FriendlyName=caf\xe9",
        code=20001,
        note="no conversation is created",
    ),
    BadInput(
        "invalid-utf8-updating-a-conversation",
        "encodings",
        b"POST",
        CONVERSATION,
        (FORM,),
        b"FriendlyName=\xff\xfe",
        code=20001,
    ),
    BadInput(
        "invalid-utf8-creating-a-conversation-in-the-service-form",
        "encodings",
        b"POST",
        SERVICE + b"/Conversations",
        (FORM,),
        b"UniqueName=\xc3",
        code=20001,
        note="a UTF-8 sequence cut short",
    ),
    BadInput(
        "invalid-utf8-creating-a-participant",
        "encodings",
        b"POST",
        PARTICIPANTS,
        (FORM,),
        b"Identity=\xff",
        code=20001,
    ),
    BadInput(
        "lone-surrogate-updating-a-participant",
        "encodings",
        b"POST",
        PARTICIPANTS + b"/MB" + b"1" * 32,
        (FORM,),
        b"Attributes=%ED%A0%80",
        code=20001,
    ),
    BadInput(
        "overlong-utf8-creating-a-message",
        "encodings",
        b"POST",
        MESSAGES,
        (FORM,),
        b"Body=\xc0\xaf",
        code=20001,
        note="no message is created, no index is used up",
    ),
    BadInput(
        "invalid-utf8-creating-a-scoped-webhook",
        "encodings",
        b"POST",
        SCOPED_WEBHOOKS,
        (FORM,),
        b"Target=webhook&Configuration.Url=http://a/\xfe",
        code=20001,
    ),
    BadInput(
        "raw-nul-byte-in-a-conversation-friendly-name",
        "encodings",
        b"POST",
        CONVERSATIONS,
        (FORM,),
        b"FriendlyName=a\x00b",
        code=20002,
        note="valid UTF-8, but NUL cannot be stored (PostgreSQL text refuses it): refused, not stripped",
    ),
    # --- sizes ----------------------------------------------------------------------------------------
    BadInput(
        "header-value-of-10-kib",
        "sizes",
        b"GET",
        WEBHOOKS,
        (b"X-Padding: " + b"a" * 10 * 1024,),
        status=200,
    ),
    BadInput(
        "header-value-of-1-mib",
        "sizes",
        b"GET",
        WEBHOOKS,
        (b"X-Padding: " + b"a" * MIB,),
        status=200,
        note="debatable: headers have no size limit (the body has 1 MiB); servers usually answer 431 "
        "past 8-64 KiB",
    ),
    BadInput(
        "two-hundred-headers",
        "sizes",
        b"GET",
        WEBHOOKS,
        tuple(f"X-Header-{index}: {index}".encode() for index in range(200)),
        status=200,
    ),
    BadInput(
        "declared-length-over-the-limit-without-a-body",
        "sizes",
        b"POST",
        WEBHOOKS,
        (FORM, b"Content-Length: " + str(2 * MIB).encode()),
        status=413,
        code=20413,
        content_length=False,
        note="refused on the declared length, before any byte of the body",
    ),
    BadInput(
        "content-length-overflow",
        "sizes",
        b"POST",
        WEBHOOKS,
        (FORM, b"Content-Length: 99999999999999999999999"),
        code=20001,
        content_length=False,
    ),
    BadInput(
        "content-length-larger-than-the-body-then-close",
        "sizes",
        b"POST",
        WEBHOOKS,
        (FORM, b"Content-Length: 100"),
        b"PreWebhookUrl=https://example.com/trunc",
        status=None,
        content_length=False,
        half_close=True,
        note="the body never arrived whole: nothing may be written",
    ),
    BadInput(
        "chunked-body-without-its-last-chunk-then-close",
        "sizes",
        b"POST",
        WEBHOOKS,
        (FORM, b"Transfer-Encoding: chunked"),
        _chunked(b"Method=GET", 10)[: -len(b"0\r\n\r\n")],
        status=None,
        content_length=False,
        half_close=True,
        note="the body never arrived whole: nothing may be written",
    ),
    BadInput(
        "request-target-of-64-kib",
        "sizes",
        b"GET",
        b"/v1/Services/IS" + b"0" * 64 * 1024,
        code=20001,
        note="debatable: 414 would be the precise status; the message says only 'User callback error'",
    ),
    BadInput(
        "body-in-one-byte-chunks",
        "sizes",
        b"POST",
        WEBHOOKS,
        (FORM, b"Transfer-Encoding: chunked"),
        _chunked(b"Method=PUT"),
        code=50055,
        content_length=False,
        note="reassembled and read: the value is refused",
    ),
    BadInput(
        "empty-body-to-create-a-service",
        "sizes",
        b"POST",
        SERVICES,
        (FORM,),
        code=20001,
    ),
    BadInput(
        "conversation-attributes-over-16-kib",
        "sizes",
        b"POST",
        CONVERSATIONS,
        (FORM,),
        b'Attributes="' + b"a" * (16 * 1024 - 1) + b'"',
        code=50303,
        note="a JSON string of 16 385 bytes; 16 384 is the limit",
    ),
    BadInput(
        "participant-attributes-over-4-kib",
        "sizes",
        b"POST",
        PARTICIPANTS,
        (FORM,),
        b'Identity=bob&Attributes="' + b"a" * (4 * 1024 - 1) + b'"',
        code=50303,
        note="a JSON string of 4 097 bytes; 4 096 is the limit",
    ),
    BadInput(
        "participant-attributes-over-4-kib-on-update",
        "sizes",
        b"POST",
        PARTICIPANTS + b"/alice",
        (FORM,),
        b"Attributes=[" + b"0," * 2048 + b"0]",
        code=50303,
        note="the participant named by its identity",
    ),
    BadInput(
        "message-attributes-over-4-kib",
        "sizes",
        b"POST",
        MESSAGES,
        (FORM,),
        b'Body=hi&Attributes="' + b"a" * (4 * 1024 - 1) + b'"',
        code=50303,
    ),
    BadInput(
        "message-body-over-32-kib",
        "sizes",
        b"POST",
        MESSAGES,
        (FORM,),
        b"Body=" + b"a" * (32 * 1024 + 1),
        code=50504,
        note="32 768 bytes of UTF-8 is the limit, not the spec's 1 600 characters (an SMS limit)",
    ),
    BadInput(
        "message-body-over-32-kib-in-multibyte-characters",
        "sizes",
        b"POST",
        MESSAGES,
        (FORM,),
        b"Body=" + "é".encode() * (16 * 1024 + 1),
        code=50504,
        note="16 385 characters but 32 770 bytes: the limit counts bytes",
    ),
    BadInput(
        "message-create-over-the-body-limit",
        "sizes",
        b"POST",
        MESSAGES,
        (FORM,),
        b"Body=" + b"a" * MIB,
        status=413,
        code=20413,
        note="1 MiB + 5 bytes sent whole: the body limit comes before any rule of the resource",
    ),
    # --- values ---------------------------------------------------------------------------------------
    BadInput(
        "conversation-attributes-not-json",
        "values",
        b"POST",
        CONVERSATIONS,
        (FORM,),
        b"Attributes={topic: billing}",
        code=50304,
    ),
    BadInput(
        "conversation-attributes-not-json-on-update",
        "values",
        b"POST",
        CONVERSATION,
        (FORM,),
        b"FriendlyName=renamed&Attributes=%7B",
        code=50304,
        note="the valid FriendlyName is not written either",
    ),
    BadInput(
        "participant-attributes-not-json",
        "values",
        b"POST",
        PARTICIPANTS,
        (FORM,),
        b"Identity=bob&Attributes=NaN",
        code=50304,
        note="NaN is JavaScript, not JSON (RFC 8259)",
    ),
    BadInput(
        "message-attributes-not-json",
        "values",
        b"POST",
        MESSAGES,
        (FORM,),
        b"Body=hi&Attributes=%7B%22a%22%3A1%7D%7D",
        code=50304,
        note="valid JSON followed by one more brace",
    ),
    BadInput(
        "participant-address-that-is-no-phone-number",
        "values",
        b"POST",
        PARTICIPANTS,
        (FORM,),
        b"MessagingBinding.Address=555&MessagingBinding.ProxyAddress=%2B15550000000",
        code=50407,
    ),
    BadInput(
        "participant-whatsapp-address-without-a-number",
        "values",
        b"POST",
        PARTICIPANTS,
        (FORM,),
        b"MessagingBinding.Address=whatsapp:&MessagingBinding.ProxyAddress=whatsapp:%2B15550000000",
        code=50407,
        note="the proxy address is a valid whatsapp:+15550000000",
    ),
    BadInput(
        "participant-address-equal-to-its-proxy",
        "values",
        b"POST",
        PARTICIPANTS,
        (FORM,),
        b"MessagingBinding.Address=%2B15551230001&MessagingBinding.ProxyAddress=%2B15551230001",
        code=50409,
        note="both +15551230001",
    ),
    BadInput(
        "participant-address-with-a-raw-plus",
        "values",
        b"POST",
        PARTICIPANTS,
        (FORM,),
        b"MessagingBinding.Address=+15551230001&MessagingBinding.ProxyAddress=+15559990001",
        code=50407,
        note="an unencoded '+' is a space in form encoding: ' 15551230001' is not E.164",
    ),
    BadInput(
        "unique-name-shaped-like-a-conversation-sid",
        "values",
        b"POST",
        CONVERSATIONS,
        (FORM,),
        b"UniqueName=CH0123456789abcdef0123456789ABCDEF",
        code=50390,
        note="it could never be told from a SID in a path",
    ),
    BadInput(
        "percent-encoded-nul-in-a-conversation-friendly-name",
        "values",
        b"POST",
        CONVERSATIONS,
        (FORM,),
        b"FriendlyName=a%00b",
        code=20002,
        note="refused, not stripped",
    ),
    BadInput(
        "message-order-sideways",
        "values",
        b"GET",
        MESSAGES + b"?Order=sideways",
        code=20002,
    ),
    BadInput(
        "page-size-zero-listing-conversations",
        "values",
        b"GET",
        CONVERSATIONS + b"?PageSize=0",
        code=20002,
    ),
    BadInput(
        "page-size-zero-listing-participants",
        "values",
        b"GET",
        PARTICIPANTS + b"?PageSize=0",
        code=20002,
    ),
    BadInput(
        "page-size-zero-listing-messages",
        "values",
        b"GET",
        MESSAGES + b"?PageSize=0",
        code=20002,
    ),
    BadInput(
        "page-size-zero-listing-scoped-webhooks",
        "values",
        b"GET",
        SCOPED_WEBHOOKS + b"?PageSize=0",
        code=20002,
    ),
    BadInput(
        "sdk-conversation-add-with-a-taken-unique-name",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _sdk_action("onConversationAdd", {"UniqueName": "room"}),
        code=50353,
        note="the SDK path checks the REST rules before the pre-event goes out",
    ),
    BadInput(
        "sdk-conversation-add-closed",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _sdk_action("onConversationAdd", {"State": "closed"}),
        code=50384,
    ),
    BadInput(
        "sdk-conversation-add-naming-a-stored-conversation",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onConversationAdd"),
        code=20001,
        note="onConversationAdd creates one: a stored ConversationSid is a conflict, not a simulation",
    ),
    BadInput(
        "sdk-action-on-a-conversation-of-another-service",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _sdk_action("onMessageAdd", {"ConversationSid": CONVERSATION_SID, "Body": "hi"}, DEMO_SERVICE),
        code=20001,
        note="the conversation is the default service's; chat_service_sid names the demo service",
    ),
    BadInput(
        "sdk-state-update-without-state-to",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onConversationStateUpdated", StateFrom="active"),
        code=20001,
    ),
    BadInput(
        "sdk-state-update-to-an-unknown-state",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onConversationStateUpdated", StateTo="archived"),
        code=20002,
    ),
    BadInput(
        "sdk-participant-add-with-a-taken-identity",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onParticipantAdd", Identity="alice"),
        code=50433,
    ),
    BadInput(
        "sdk-participant-update-of-nobody",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onParticipantUpdate", Identity="nobody", Attributes="{}"),
        status=404,
        code=20404,
        note="the 404 names the participant's REST path",
    ),
    BadInput(
        "sdk-participant-update-negative-last-read-index",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onParticipantUpdate", Identity="alice", LastReadMessageIndex=-1),
        code=20002,
    ),
    BadInput(
        "sdk-message-add-without-a-body",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onMessageAdd", Author="alice"),
        code=50503,
    ),
    BadInput(
        "sdk-message-update-of-an-unknown-message",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onMessageUpdate", MessageSid="IM" + "9" * 32, Body="edited"),
        status=404,
        code=20404,
    ),
    BadInput(
        "sdk-message-remove-naming-no-message",
        "values",
        b"POST",
        EVENTS,
        (JSON_BODY,),
        _on_room("onMessageRemove"),
        status=404,
        code=20404,
        note="debatable: no MessageSid names no message, so 404 rather than a missing parameter",
    ),
    # --- headers ------------------------------------------------------------------------------------
    BadInput(
        "non-ascii-bytes-in-a-header-value",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"X-Name: caf\xc3\xa9 \xff\xfe",),
        status=200,
        note="obs-text is allowed in field values (RFC 9110 §5.5) and the header is unused",
    ),
    BadInput(
        "non-ascii-bytes-in-a-header-name",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"X-Caf\xc3\xa9: 1",),
        code=20001,
    ),
    BadInput(
        "obs-fold-continuation-line",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"X-Folded: first", b" second"),
        code=20001,
        note="RFC 9112 §5.2 lets a server reject obs-fold with 400",
    ),
    BadInput(
        "obs-fold-inside-authorization",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"Authorization: Basic", b" " + base64.b64encode(DEMO_CREDENTIALS)),
        code=20001,
        auth=False,
    ),
    BadInput(
        "duplicate-content-length-same-value",
        "headers",
        b"POST",
        WEBHOOKS,
        (FORM, b"Content-Length: 10", b"Content-Length: 10"),
        b"Method=PUT",
        code=20001,
        content_length=False,
        note="RFC 9112 §6.3 allows rejecting it",
    ),
    BadInput(
        "duplicate-content-length-different-values",
        "headers",
        b"POST",
        WEBHOOKS,
        (FORM, b"Content-Length: 10", b"Content-Length: 5"),
        b"Method=PUT",
        code=20001,
        content_length=False,
    ),
    BadInput(
        "transfer-encoding-and-content-length",
        "headers",
        b"POST",
        WEBHOOKS,
        (FORM, b"Content-Length: 10", b"Transfer-Encoding: chunked"),
        _chunked(b"Method=PUT", 10),
        code=20001,
        content_length=False,
        note="the request-smuggling shape: refused, not guessed",
    ),
    BadInput(
        "unknown-transfer-encoding",
        "headers",
        b"POST",
        WEBHOOKS,
        (FORM, b"Transfer-Encoding: identity"),
        code=20001,
        content_length=False,
    ),
    BadInput(
        "nul-byte-in-a-header-value",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"X-Nul: a\x00b",),
        code=20001,
    ),
    BadInput(
        "bare-cr-in-a-header-value",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"X-Cr: a\rb",),
        code=20001,
    ),
    BadInput(
        "space-before-the-colon",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"X-Spaced : 1",),
        code=20001,
        note="RFC 9112 §5.1 says a server MUST reject it with 400",
    ),
    BadInput(
        "header-line-without-a-colon",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"X-Broken",),
        code=20001,
    ),
    BadInput(
        "http11-without-host",
        "headers",
        b"GET",
        WEBHOOKS,
        status=200,
        host=False,
        note="debatable: RFC 9112 §3.2 says a server MUST answer 400; the emulator serves it",
    ),
    BadInput(
        "two-host-headers",
        "headers",
        b"GET",
        WEBHOOKS,
        (b"Host: other.example",),
        status=200,
        note="debatable: RFC 9112 §3.2 says a server MUST answer 400 to more than one Host; the emulator "
        "serves it",
    ),
    BadInput(
        "expect-100-continue",
        "headers",
        b"POST",
        WEBHOOKS,
        (FORM, b"Expect: 100-continue"),
        b"Method=PUT",
        code=50055,
        note="an interim 100 Continue, then the body is read and refused",
    ),
    BadInput(
        "two-content-types-form-last",
        "headers",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: text/plain", FORM),
        b"Method=PUT",
        code=50055,
        note="debatable: the last Content-Type wins (Starlette's request.headers would take the first)",
    ),
    # --- paths --------------------------------------------------------------------------------------
    BadInput(
        "percent-00-in-a-route-segment",
        "paths",
        b"GET",
        b"/v1/Services%00",
        status=404,
        code=20404,
    ),
    BadInput(
        "absolute-form-target",
        "paths",
        b"GET",
        b"http://127.0.0.1" + WEBHOOKS,
        status=200,
        note="RFC 9112 §3.2.2: a server MUST accept the absolute form",
    ),
    BadInput(
        "absolute-form-target-naming-another-host",
        "paths",
        b"GET",
        b"http://conversations.twilio.com" + WEBHOOKS,
        status=200,
        note="the emulator serves whatever host is named; nothing is forwarded",
    ),
    BadInput(
        "encoded-slash-inside-the-sid",
        "paths",
        b"GET",
        SERVICE + b"%2FConfiguration%2FWebhooks",
        status=404,
        code=20404,
        note="one path segment 'IS…/Configuration/Webhooks' (RFC 3986 §2.2): a malformed SID, 404 (errors)",
    ),
    BadInput(
        "raw-non-ascii-bytes-in-the-path",
        "paths",
        b"GET",
        b"/v1/Services/IS\xc3\xa9",
        code=20001,
        note="refused by the HTTP parser before routing",
    ),
    BadInput(
        "space-inside-the-target",
        "paths",
        b"GET",
        b"/v1/Services/IS0 0",
        code=20001,
    ),
    BadInput(
        "target-without-a-leading-slash",
        "paths",
        b"GET",
        b"v1/Services",
        code=20001,
    ),
    BadInput(
        "asterisk-form-options",
        "paths",
        b"OPTIONS",
        b"*",
        status=200,
        auth=False,
        note="answered like a CORS preflight, without credentials",
    ),
    BadInput(
        "fragment-in-the-target",
        "paths",
        b"GET",
        WEBHOOKS + b"#fragment",
        status=200,
        note="a fragment is never sent by a client; it is ignored",
    ),
    BadInput(
        "invalid-percent-escape-in-the-query",
        "paths",
        b"GET",
        SERVICES + b"?PageSize=%G1",
        code=20002,
    ),
    BadInput(
        "pipelined-get-then-an-unparsable-request",
        "paths",
        b"GET",
        WEBHOOKS,
        status=200,
        trailer=b"GE(T / HTTP/1.1\r\n\r\n",
        note="the GET's own answer must come first (RFC 9112 §9.3.2); the 405 belongs to the second",
    ),
    BadInput(
        "conversation-sid-one-digit-too-long",
        "paths",
        b"DELETE",
        CONVERSATION + b"1",
        status=404,
        code=20404,
        note="not a SID, so a unique name, and none has it: the conversation is not deleted",
    ),
    BadInput(
        "conversation-sid-malformed-in-a-nested-route",
        "paths",
        b"DELETE",
        CONVERSATION[:-1] + b"g/Participants/alice",
        status=404,
        code=20404,
        note="alice exists, but not under that conversation",
    ),
    BadInput(
        "participant-sid-one-digit-short",
        "paths",
        b"DELETE",
        PARTICIPANTS + b"/MB" + b"1" * 31,
        status=404,
        code=20404,
        note="not a SID, so an identity, and no participant has it",
    ),
    BadInput(
        "participant-identity-in-another-case",
        "paths",
        b"DELETE",
        PARTICIPANTS + b"/Alice",
        status=404,
        code=20404,
        note="identities are matched exactly",
    ),
    BadInput(
        "message-sid-one-digit-too-long",
        "paths",
        b"DELETE",
        MESSAGES + b"/IM" + b"1" * 33,
        status=404,
        code=20404,
    ),
    BadInput(
        "message-sid-with-a-lower-case-prefix",
        "paths",
        b"DELETE",
        MESSAGES + b"/im" + b"1" * 32,
        status=404,
        code=20404,
    ),
    BadInput(
        "scoped-webhook-sid-with-a-non-hex-digit",
        "paths",
        b"DELETE",
        SCOPED_WEBHOOKS + b"/WH" + b"1" * 31 + b"g",
        status=404,
        code=20404,
    ),
    BadInput(
        "malformed-service-sid-before-a-conversation",
        "paths",
        b"GET",
        b"/v1/Services/IS0/Conversations/" + CONVERSATION_SID.encode(),
        status=404,
        code=20404,
    ),
    BadInput(
        "encoded-slash-inside-the-conversation-sid",
        "paths",
        b"GET",
        CONVERSATION + b"%2FParticipants",
        status=404,
        code=20404,
        note="one path segment, not a route to the participants",
    ),
    # --- credentials --------------------------------------------------------------------------------
    BadInput(
        "account-sid-in-lower-case",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: " + _basic(DEMO_CREDENTIALS.lower()),),
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "api-key-sid-in-lower-case",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: " + _basic(f"{DEMO_KEY.lower()}:{DEMO_KEY_SECRET}".encode()),),
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "bearer-scheme-with-basic-credentials",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: Bearer " + base64.b64encode(DEMO_CREDENTIALS),),
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "base64-without-its-padding",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: " + _basic(DEMO_CREDENTIALS).rstrip(b"="),),
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "tab-after-the-scheme",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: Basic\t" + base64.b64encode(DEMO_CREDENTIALS),),
        status=401,
        code=20003,
        auth=False,
        note="RFC 9110 §11.4: the scheme and the credentials are separated by spaces",
    ),
    BadInput(
        "non-ascii-bytes-in-authorization",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: Basic \xc3\xa9\xff",),
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "credentials-in-the-target-userinfo",
        "credentials",
        b"GET",
        b"http://" + DEMO_CREDENTIALS + b"@127.0.0.1" + WEBHOOKS,
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "proxy-authorization-instead-of-authorization",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Proxy-" + AUTHORIZATION,),
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "scheme-in-lower-case",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: basic " + base64.b64encode(DEMO_CREDENTIALS),),
        status=200,
        auth=False,
        note="auth schemes are case-insensitive (RFC 9110 §11.1)",
    ),
    BadInput(
        "two-authorization-headers-right-one-first",
        "credentials",
        b"GET",
        WEBHOOKS,
        (AUTHORIZATION, b"Authorization: Bearer nope"),
        status=401,
        code=20003,
        auth=False,
    ),
    BadInput(
        "two-authorization-headers-right-one-last",
        "credentials",
        b"GET",
        WEBHOOKS,
        (b"Authorization: Bearer nope", AUTHORIZATION),
        status=401,
        code=20003,
        auth=False,
        note="two credentials are malformed credentials (authentication), whichever comes last",
    ),
    # --- content types ------------------------------------------------------------------------------
    BadInput(
        "multipart-without-boundary-and-empty-body",
        "content types",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: multipart/form-data",),
        status=200,
        note="another content type carries no parameters: a no-op update (webhook configuration)",
    ),
    BadInput(
        "multipart-without-boundary-with-a-form-body",
        "content types",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: multipart/form-data",),
        b"Method=PUT",
        status=200,
        note="a no-op update (webhook configuration)",
    ),
    BadInput(
        "multipart-without-boundary-to-create-a-service",
        "content types",
        b"POST",
        SERVICES,
        (b"Content-Type: multipart/form-data",),
        b"FriendlyName=x",
        code=20001,
    ),
    BadInput(
        "form-content-type-in-upper-case",
        "content types",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8",),
        b"Method=PUT",
        code=50055,
        note="media types are case-insensitive: read as a form, the value is refused",
    ),
    BadInput(
        "no-content-type-with-a-form-body",
        "content types",
        b"POST",
        WEBHOOKS,
        body=b"Method=PUT",
        code=50055,
        note="debatable: a body without a type is read as a form",
    ),
    BadInput(
        "form-content-type-with-a-suffix",
        "content types",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: application/x-www-form-urlencoded-bogus",),
        b"Method=PUT",
        status=200,
        note="another media type: a no-op update",
    ),
    BadInput(
        "content-type-list",
        "content types",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: application/x-www-form-urlencoded, text/plain",),
        b"Method=PUT",
        status=200,
        note="not one media type: a no-op update",
    ),
    BadInput(
        "non-ascii-content-type",
        "content types",
        b"POST",
        WEBHOOKS,
        (b"Content-Type: application/x-www-form-urlencod\xc3\xa9d",),
        b"Method=PUT",
        status=200,
        note="another media type: a no-op update",
    ),
    # --- methods ------------------------------------------------------------------------------------
    BadInput(
        "method-in-lower-case",
        "methods",
        b"get",
        WEBHOOKS,
        status=405,
        code=20004,
        note="methods are case-sensitive (RFC 9110 §9.1)",
    ),
    BadInput(
        "method-with-a-non-token-character",
        "methods",
        b"GE(T",
        WEBHOOKS,
        status=405,
        code=20004,
    ),
    BadInput(
        "method-of-1000-characters",
        "methods",
        b"G" * 1000,
        WEBHOOKS,
        status=405,
        code=20004,
    ),
    BadInput(
        "head-on-a-get-route",
        "methods",
        b"HEAD",
        WEBHOOKS,
        status=405,
        note="debatable: RFC 9110 §9.3.2 expects HEAD wherever GET works; no body, so no code to read",
    ),
    BadInput(
        "connect-with-an-authority-target",
        "methods",
        b"CONNECT",
        b"127.0.0.1:80",
        code=20001,
        note="the message says only 'User callback error'",
    ),
    BadInput(
        "method-override-header-is-not-honoured",
        "methods",
        b"POST",
        SERVICE,
        (FORM, b"X-HTTP-Method-Override: DELETE"),
        status=405,
        code=20004,
        note="POST on a service is not allowed; the header does not turn it into a DELETE",
    ),
    BadInput(
        "http10-request",
        "methods",
        b"GET",
        WEBHOOKS,
        version=b"HTTP/1.0",
        status=200,
    ),
    BadInput(
        "http12-request-line",
        "methods",
        b"GET",
        WEBHOOKS,
        version=b"HTTP/1.2",
        code=20001,
        note="debatable: RFC 9110 §2.5 says to process a higher minor version as HTTP/1.1",
    ),
    BadInput(
        "http20-request-line-over-http1",
        "methods",
        b"GET",
        WEBHOOKS,
        version=b"HTTP/2.0",
        status=200,
        note="debatable: served as HTTP/1.1; 505 would be the precise answer",
    ),
)


# ------------------------------------------------------------------------------------ the exchange


@dataclass
class Answer:
    """The first final answer on the connection (interim 1xx answers are listed apart), or none."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    interim: list[int] = field(default_factory=list)


def exchange(port: int, case: BadInput, timeout: float = 10.0) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(case.raw())
        if case.half_close:
            connection.shutdown(socket.SHUT_WR)
        return _read_answer(connection, head_only=case.method == b"HEAD")


def _read_answer(connection: socket.socket, head_only: bool) -> Answer:
    buffer = b""
    interim: list[int] = []
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = _receive(connection)
            if not chunk:
                assert buffer == b"", f"the connection closed inside an answer: {buffer[:200]!r}"
                return Answer(None, interim=interim)
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            interim.append(status)
            continue
        length = 0 if head_only or status in (204, 304) else int(headers.get("content-length", "-1"))
        while length < 0 or len(buffer) < length:
            chunk = _receive(connection)
            if not chunk:
                break
            buffer += chunk
        return Answer(status, headers, buffer if length < 0 else buffer[:length], interim)


def _receive(connection: socket.socket) -> bytes:
    try:
        return connection.recv(65536)
    except ConnectionResetError:
        return b""


def assert_envelope(answer: Answer, status: int, code: int) -> None:
    assert answer.headers.get("content-type") == "application/json; charset=utf-8", answer.headers
    envelope = json.loads(answer.body)
    assert set(envelope) == {"code", "message", "more_info", "status"}, envelope
    assert envelope["code"] == code, envelope
    assert envelope["status"] == status, envelope
    assert envelope["more_info"] == f"https://www.twilio.com/docs/errors/{code}", envelope
    assert isinstance(envelope["message"], str)
    assert envelope["message"], envelope


# ------------------------------------------------------------------------------------------ the test


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_bad_input(emulator: Server, api: httpx.Client, case: BadInput) -> None:
    seeded = httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=SEEDED, timeout=30)
    assert seeded.status_code == 204, seeded.text
    before = emulator.snapshot()
    configuration = api.get(WEBHOOKS.decode()).json()

    answer = exchange(emulator.process.port, case)

    assert answer.status == case.status, (answer.status, answer.body[:300])
    if answer.status is not None and answer.status >= 400 and case.method != b"HEAD":
        assert case.code is not None
        assert_envelope(answer, answer.status, case.code)
    elif answer.body:
        document = json.loads(answer.body)
        assert "code" not in document, document
        if case.target.endswith(WEBHOOKS) and case.method in (b"GET", b"POST"):
            assert document == configuration  # a read, or a no-op update
    if case.half_close or case.trailer:
        time.sleep(0.5)  # the server may still be working on a request whose client has gone
    assert emulator.snapshot() == before
    after = api.get(WEBHOOKS.decode())
    assert after.status_code == 200, after.text
    assert after.json() == configuration


def test_the_catalogue_is_complete_and_well_formed() -> None:
    names = [case.name for case in CATALOGUE]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert {case.category for case in CATALOGUE} == set(CATEGORIES)
    for case in CATALOGUE:
        if case.status is not None and case.status >= 400 and case.method != b"HEAD":
            assert case.code is not None, case.name
        if case.status is not None and case.status < 400:
            assert case.code is None, case.name


# ------------------------------------------------------------------------------------- the document


def render() -> str:
    lines = [
        "# Bad-input catalogue",
        "",
        "Malformed requests sent raw over a socket, byte for byte, and what the emulator answers. Generated",
        "from the table in `tests/test_bad_input_catalogue.py` by",
        "`.venv/bin/python -m tests.test_bad_input_catalogue`; a test fails when the two differ.",
        "",
        "Each request is sent to a server with the shipped fixtures, with `Host: 127.0.0.1` and the demo",
        "account's Basic credentials unless the row says otherwise, and a `Content-Length` for its body.",
        f"The server also holds a conversation, `{CONVERSATION_SID}` (unique name `room`) in the",
        "account's default service, with a participant of identity `alice` (`MB111…`), an SMS participant",
        "(`MB222…`, `+15551230000` by `+15559990000`), a message (`IM111…`) and a scoped webhook (`WH111…`).",
        "Every case also checks that an error answer is Twilio's envelope with that code (errors), that",
        "the database is row-for-row unchanged, and that the server answers a normal GET afterwards.",
        f"`{{WEBHOOKS}}` stands for `{WEBHOOKS.decode()}`,",
        f"`{{SERVICE}}` for `{SERVICE.decode()}`,",
        f"`{{CONVERSATION}}` for `{CONVERSATION.decode()}`.",
        "",
        f"{len(CATALOGUE)} cases. A note starting with *debatable* marks a judgement call.",
        "",
        "| # | name | category | request | expected status / code | note |",
        "|---|---|---|---|---|---|",
    ]
    for number, case in enumerate(CATALOGUE, start=1):
        request = case.summary()
        note = case.note.replace("|", "\\|")
        if note.startswith("debatable"):
            note = "*debatable*" + note[len("debatable") :]
        lines.append(
            f"| {number} | `{case.name}` | {case.category} | {request} | {case.expectation()} | {note} |"
        )
    return "\n".join(lines) + "\n"


def test_the_document_matches_the_table() -> None:
    assert DOC.exists(), "run: .venv/bin/python -m tests.test_bad_input_catalogue"
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/bad-input-catalogue.md is out of date; run: .venv/bin/python -m tests.test_bad_input_catalogue"
    )


def main(argv: Sequence[str]) -> int:
    text = render()
    if "--check" in argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC} ({len(CATALOGUE)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
