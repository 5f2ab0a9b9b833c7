"""Sending one webhook request as Twilio does, on the async HTTP client, and recording what happened.

Never raises for the receiver's sake: a refused connection, a timeout or a broken answer becomes a
`Delivery` with `error` set, so the action's rules decide what it means.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:  # httpx is imported on first delivery: it would add ~0.1 s to every start
    import httpx


from ..control.deliveries import Delivery
from ..conversations.webhooks.rules import url_problem
from ..twilio.clock import timestamp_ms
from ..twilio.signing import signature
from .targets import TargetPolicy

USER_AGENT = "TwilioProxy/1.1"
# The redirects Twilio follows; any other 3xx is the answer. A 303, and a 301 or 302 after a POST, are
# followed with a GET, as HTTP clients do; a 307 repeats the request.
FOLLOWED_REDIRECTS = frozenset({301, 302, 303, 307})
MAX_REDIRECTS = 10
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Enough for any modification a pre-event answer can carry; a larger answer is cut, not buffered whole.
MAX_RESPONSE_BYTES = 64 * 1024
RESPONSE_EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class HookCall:
    """One webhook request to make, and the context the delivery log records with it."""

    account_sid: str
    chat_service_sid: str
    event: str
    hook: str
    configuration: str
    method: str
    url: str
    parameters: dict[str, str]


@dataclass(frozen=True)
class Sent:
    delivery: Delivery
    body: bytes


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every delivery, made once: a client of its own would load the CA bundle again,
    tens of milliseconds of CPU for each action that sends webhooks."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def new_client(timeout: float) -> httpx.AsyncClient:
    import httpx

    # No proxies from the environment: a delivery goes straight to the receiver, as from Twilio's edge.
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False, verify=tls_context())


def request_url(call: HookCall) -> str:
    """The URL requested and signed: a GET carries the parameters in its query string."""
    parts = urlsplit(call.url)._replace(fragment="")
    if call.method == "GET" and call.parameters:
        encoded = urlencode(call.parameters)
        parts = parts._replace(query=f"{parts.query}&{encoded}" if parts.query else encoded)
    return urlunsplit(parts)


async def send(
    client: httpx.AsyncClient,
    call: HookCall,
    auth_token: str | None,
    timeout: float,
    targets: TargetPolicy | None = None,
) -> Sent:
    import httpx

    # Signed exactly as sent: httpx percent-encodes what a URL may not carry raw (é, {, |), and a
    # receiver validates the URL it was called on.
    url = str(httpx.URL(request_url(call)))
    token = secrets.token_hex(16)
    started = time.perf_counter()

    redirects: list[str] = []

    def delivered(
        status: int | None = None,
        body: bytes = b"",
        error: str | None = None,
        message: str | None = None,
        signed: str | None = None,
    ) -> Sent:
        excerpt = body[:RESPONSE_EXCERPT_CHARS].decode("utf-8", "replace") if status is not None else None
        delivery = Delivery(
            time=timestamp_ms(),
            account_sid=call.account_sid,
            chat_service_sid=call.chat_service_sid,
            event=call.event,
            hook=call.hook,
            configuration=call.configuration,
            method=call.method,
            url=url,
            parameters=call.parameters,
            signature=signed,
            idempotency_token=token,
            status=status,
            error=error,
            error_message=message,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            response_body=excerpt,
            redirects=redirects,
        )
        return Sent(delivery, body)

    refusal = await targets.refusal(url) if targets is not None else None
    if refusal is not None:
        return delivered(error="blocked", message=f"not sent: {refusal}")
    if auth_token is None:
        return delivered(
            error="no_auth_token",
            message=f"not sent: no auth token is known for {call.account_sid} to sign with; give the "
            "account an auth_token in a fixture, or call the API once with its SID and token",
        )
    method, hop = call.method, url
    signed = _signature(auth_token, method, url, call.parameters)
    try:
        # One deadline for the whole exchange: connecting, sending, reading the answer, and any redirects.
        async with asyncio.timeout(timeout):
            while True:
                response, body = await _request(client, method, hop, call.parameters, auth_token, token)
                next_hop = _redirected_to(response)
                if next_hop is None:
                    return delivered(status=response.status_code, body=body, signed=signed)
                if len(redirects) == MAX_REDIRECTS:
                    return delivered(
                        error="too_many_redirects",
                        message=f"not followed: more than {MAX_REDIRECTS} redirects",
                        signed=signed,
                    )
                refusal = await targets.refusal(next_hop) if targets is not None else None
                if refusal is not None:
                    return delivered(error="blocked", message=f"redirect not sent: {refusal}", signed=signed)
                if response.status_code != 307:
                    method = "GET"  # deliveries are GETs or POSTs: only a POST changes
                hop = next_hop
                redirects.append(hop)
    except (TimeoutError, httpx.TimeoutException):
        return delivered(error="timeout", message=f"no answer within {timeout:g} s", signed=signed)
    except httpx.ConnectError as exc:
        kind = "refused" if _caused_by(exc, ConnectionRefusedError) else "unreachable"
        return delivered(error=kind, message=str(exc) or type(exc).__name__, signed=signed)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        # What a receiver's answer can still break beyond httpx's own errors (an address the resolver or
        # the socket refuses) is its delivery's error, never the action's.
        return delivered(error="error", message=f"{type(exc).__name__}: {exc}", signed=signed)


async def _request(
    client: httpx.AsyncClient, method: str, url: str, parameters: dict[str, str], auth_token: str, token: str
) -> tuple[httpx.Response, bytes]:
    """One request of a delivery, signed for its own URL: a receiver validates the URL it was called on.
    A POST carries the parameters as its form; a GET's are already in its URL, or were dropped by a
    redirect that turned a POST into a GET."""
    headers = {
        "X-Twilio-Signature": _signature(auth_token, method, url, parameters),
        "I-Twilio-Idempotency-Token": token,
        "User-Agent": USER_AGENT,
    }
    content = None
    if method == "POST":
        headers["Content-Type"] = FORM_CONTENT_TYPE
        content = urlencode(parameters).encode()
    async with client.stream(method, url, content=content, headers=headers) as response:
        return response, await _read_capped(response)


def _signature(auth_token: str, method: str, url: str, parameters: dict[str, str]) -> str:
    return signature(auth_token, url, parameters if method == "POST" else None)


def _redirected_to(response: httpx.Response) -> str | None:
    """Where a redirect Twilio follows sends the delivery; None when this answer is the last, as it is
    when the `Location` is not a URL a webhook could be configured with."""
    import httpx

    location = response.headers.get("location")
    if response.status_code not in FOLLOWED_REDIRECTS or not location:
        return None
    try:
        given = urlsplit(location)
        # An absolute or scheme-relative Location without a host (`http://`, `//`) would join to the
        # request's own URL.
        if (given.scheme or location.startswith("//")) and not given.hostname:
            return None
    except ValueError:
        return None
    try:
        # Without the fragment, which is never sent: it is signed and logged as it is requested.
        target = str(response.url.join(location).copy_with(fragment=None))
    except httpx.InvalidURL:
        return None
    return target if url_problem(target) is None else None


async def _read_capped(response: httpx.Response) -> bytes:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_RESPONSE_BYTES:
            return body[:MAX_RESPONSE_BYTES]
    return body


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
