"""The edge every request passes first: Twilio's headers, the body limit, authentication, the journal.

It runs before routing so Twilio's order of checks holds: body size, then credentials (401), and
only then route and method (404, 405). The body is read here once and replayed to the route. Twilio API
calls are recorded in the request journal as their answer's last part is sent: before the client can
see the answer, so a control call that follows it (on any worker) finds the entry.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..control.admin import check_admin_token, needs_admin_token
from ..control.after_answer import AfterAnswer
from ..control.journal import MAX_QUERY_CHARS, JournalEntry, RequestJournal, bounded_parameters
from ..db import Database
from ..twilio import sids
from ..twilio.errors import JSON_CONTENT_TYPE, TwilioError, generic_error, not_found
from ..twilio.forms import ClientDisconnected, read_body
from ..twilio.headers import new_request_id, response_headers
from .auth import authenticate, looks_like_username, parse_basic
from .context import RequestContext
from .origins import FORBIDDEN, control_refusal, is_control, private_network_refusal

TWILIO_API_PREFIX = "/v1"


class RequestRecorder(Protocol):
    """Where a Twilio API request's journal entry and signing token go (the emulator's control state)."""

    @property
    def journal(self) -> RequestJournal: ...

    async def record_request(self, entry: JournalEntry | None, signer: tuple[str, str] | None) -> None: ...


logger = logging.getLogger(__name__)


def is_twilio_api(path: str) -> bool:
    return path == TWILIO_API_PREFIX or path.startswith(TWILIO_API_PREFIX + "/")


class TwilioEdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        database: Database,
        strict_auth: bool,
        max_body_bytes: int,
        recorder: RequestRecorder,
        after_answer: AfterAnswer,
        admin_token: str | None = None,
    ):
        self.app = app
        self.after_answer = after_answer
        self.database = database
        self.strict_auth = strict_auth
        self.max_body_bytes = max_body_bytes
        self.recorder = recorder
        self.admin_token = admin_token
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        self.in_flight += 1
        context = RequestContext.open(scope, request_id)

        response_status: int | None = None
        twilio_api = is_twilio_api(scope["path"])
        # The control API is not for web pages: its answers carry no CORS headers (see origins.py).
        cors = not is_control(scope["path"])

        async def send_with_headers(message: Message) -> None:
            nonlocal response_status
            if message["type"] == "http.response.start":
                response_status = message["status"]
                extra = response_headers(request_id, time.perf_counter() - started, self.in_flight, cors=cors)
                message["headers"] = [*message.get("headers", []), *extra]
            elif twilio_api and response_status is not None and not message.get("more_body", False):
                try:
                    await self._record(scope, context, response_status, time.perf_counter() - started)
                except Exception:  # a journal that cannot be written must not cost the answer
                    logger.exception("cannot record %s %s in the journal", scope["method"], scope["path"])
            await send(message)
            if (
                context.after_answer
                and message["type"] == "http.response.body"
                and not message.get("more_body")
            ):
                # Started before the request ends: a reset that follows the answer finds them in flight.
                await self._start_after_answer(context)

        try:
            await self._handle(scope, receive, send_with_headers, context)
        except Exception:
            # Anything unexpected: the detail goes to the log, the client gets the envelope, the server
            # keeps serving. Handled here rather than by Starlette so the response keeps Twilio's headers.
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if response_status is None:
                await _send_error(send_with_headers, generic_error(500))
        finally:
            self.in_flight -= 1
            if context.after_answer:
                # What an answer that never finished left behind: its write is committed all the same.
                await self._start_after_answer(context)

    async def _start_after_answer(self, context: RequestContext) -> None:
        while context.after_answer:
            await self.after_answer.start(context.after_answer.pop(0))

    async def _handle(self, scope: Scope, receive: Receive, send: Send, context: RequestContext) -> None:
        headers: dict[str, str] = {}
        authorizations: list[str] = []
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = value
            if name == "authorization":
                authorizations.append(value)
        # Two Authorization headers are ambiguous: neither counts, so neither order can get a caller in.
        authorization = authorizations[0] if len(authorizations) == 1 else None
        control = is_control(scope["path"])
        refusal = (
            private_network_refusal(headers)
            or (control_refusal(headers, scope.get("scheme", "http")) if control else None)
            or (_PREFLIGHT_REFUSED if control and scope["method"] == "OPTIONS" else None)
        )
        if refusal is not None:
            await _send_error(send, refusal)
            return
        if scope["method"] == "OPTIONS":
            # A CORS preflight never carries credentials; answer it before authentication.
            await _send_empty(send, 200)
            return
        try:
            body = await read_body(headers, receive, self.max_body_bytes)
            context.body = body
            context.content_type = headers.get("content-type")
            path = scope["path"]
            if is_twilio_api(path):
                credentials = parse_basic(authorization)
                # Only a SID-shaped username is recorded: a token typed into the wrong field is not.
                username = credentials[0] if credentials else None
                context.username = username if username and looks_like_username(username) else None
                self.database.refresh_cache()
                context.account_sid = account_sid = await authenticate(
                    self.database, self.strict_auth, credentials
                )
                # Remembered as the answer goes: the token deliveries are signed with in permissive
                # mode. Strict mode signs with the stored token, which every account it lets in has.
                if not self.strict_auth and credentials and sids.is_sid(credentials[0], sids.ACCOUNT):
                    context.signer = (account_sid, credentials[1])
                if b"%2f" in scope.get("raw_path", b"").lower():
                    # An encoded slash is part of a path segment (a SID), never a separator: no Twilio
                    # resource has one, however the decoded path would route.
                    raise not_found(path)
            elif self.admin_token is not None and needs_admin_token(path):
                check_admin_token(self.admin_token, authorization)
        except TwilioError as error:
            await _send_error(send, error)
            return
        except ClientDisconnected:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _record(self, scope: Scope, context: RequestContext, status: int, seconds: float) -> None:
        entry = (
            self._journal_entry(scope, context, status, seconds) if self.recorder.journal.enabled else None
        )
        await self.recorder.record_request(entry, context.signer)

    @staticmethod
    def _journal_entry(scope: Scope, context: RequestContext, status: int, seconds: float) -> JournalEntry:
        # A request nobody authenticated keeps no parameters: its body is nobody's, and never parsed.
        authenticated = context.account_sid is not None
        pairs = context.recorded_form().pairs if authenticated else []
        params, cut = bounded_parameters(pairs)
        query = scope.get("query_string", b"").decode("latin-1")
        return JournalEntry(
            time=time.time(),
            request_id=context.request_id,
            method=scope["method"],
            path=scope["path"],
            query=query[:MAX_QUERY_CHARS],
            params=params,
            truncated=cut or len(query) > MAX_QUERY_CHARS or (not authenticated and bool(context.body)),
            account_sid=context.account_sid,
            username=context.username,
            status=status,
            duration_ms=round(seconds * 1000, 3),
        )


_PREFLIGHT_REFUSED = TwilioError(403, FORBIDDEN, "The control API answers no CORS preflight")


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
