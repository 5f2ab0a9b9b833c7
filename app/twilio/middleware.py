"""The edge every request passes first: Twilio's headers, the body limit, then authentication.

It runs before routing so the contract's order of checks holds: body size, then credentials (401), and
only then route and method (404, 405). The body is read here once and replayed to the route.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import Database
from app.twilio.auth import authenticate
from app.twilio.errors import JSON_CONTENT_TYPE, TwilioError, generic_error
from app.twilio.forms import read_body
from app.twilio.headers import new_request_id, response_headers

TWILIO_API_PREFIX = "/v1"

logger = logging.getLogger("app.errors")


def is_twilio_api(path: str) -> bool:
    return path == TWILIO_API_PREFIX or path.startswith(TWILIO_API_PREFIX + "/")


class TwilioEdgeMiddleware:
    def __init__(self, app: ASGIApp, database: Database, strict_auth: bool, max_body_bytes: int):
        self.app = app
        self.database = database
        self.strict_auth = strict_auth
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        self.in_flight += 1
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = response_headers(request_id, time.perf_counter() - started, self.in_flight)
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        response_started = False

        async def send_tracked(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self._handle(scope, receive, send_tracked, state)
        except Exception:
            # Anything unexpected: the detail goes to the log, the client gets the envelope, the server
            # keeps serving. Handled here rather than by Starlette so the response keeps Twilio's headers.
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if not response_started:
                await _send_error(send_with_headers, generic_error(500))
        finally:
            self.in_flight -= 1

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, state: MutableMapping[str, Any]
    ) -> None:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        if scope["method"] == "OPTIONS":
            # A CORS preflight never carries credentials; answer it before authentication.
            await _send_empty(send, 200)
            return
        try:
            body = await read_body(headers, receive, self.max_body_bytes)
            if is_twilio_api(scope["path"]):
                state["account_sid"] = authenticate(
                    self.database, self.strict_auth, headers.get("authorization")
                )
        except TwilioError as error:
            await _send_error(send, error)
            return
        state["body"] = body
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_empty(send: Send, status: int) -> None:
    # The CORS headers themselves are added by the wrapper around `send`, as on every response.
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _send_error(send: Send, error: TwilioError) -> None:
    body = error.body()
    headers = [
        (b"content-type", JSON_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
