"""Twilio's error envelope, the one shape every error response takes.

`{"code", "message", "more_info", "status"}` and nothing else: never `type` and `title` together, which
makes both official libraries raise a different exception class.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# Codes with a fixed meaning, named once so no route invents its own.
MISSING_PARAMETER = 20001
INVALID_PARAMETER = 20002
AUTHENTICATE = 20003
METHOD_NOT_ALLOWED = 20004
NOT_FOUND = 20404
PAYLOAD_TOO_LARGE = 20413
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500


class TwilioError(Exception):
    """An error Twilio would answer: HTTP status, Twilio error code and message."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.status, self.code, self.message)


def error_body(status: int, code: int, message: str) -> bytes:
    envelope = {
        "code": code,
        "message": message,
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }
    return json.dumps(envelope).encode()


class NotFound(TwilioError):
    """No such resource. Raised without HTTP in it; the handler names the requested path."""

    def __init__(self) -> None:
        super().__init__(404, NOT_FOUND, "The requested resource was not found")


def not_found(path: str) -> TwilioError:
    """Twilio's 404 names the requested path without the `/v1` version prefix."""
    shown = path[3:] if path.startswith("/v1/") else path
    return TwilioError(404, NOT_FOUND, f"The requested resource {shown} was not found")


def unauthenticated() -> TwilioError:
    return TwilioError(401, AUTHENTICATE, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})


def missing_parameter(name: str) -> TwilioError:
    return TwilioError(400, MISSING_PARAMETER, f"Missing required parameter {name} in the post body")


def unreadable_body(reason: str) -> TwilioError:
    return TwilioError(400, MISSING_PARAMETER, f"Unable to read the request body: {reason}")


def code_for_status(status: int) -> int:
    """The code an error of this status carries when nothing more specific applies."""
    return AUTHENTICATE if status == 401 else 20000 + status


def generic_error(status: int) -> TwilioError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return TwilioError(status, code_for_status(status), phrase)


def error_response(error: TwilioError) -> Response:
    return Response(
        content=error.body(),
        status_code=error.status,
        headers=error.headers,
        media_type=JSON_CONTENT_TYPE,
    )


async def _twilio_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwilioError)
    if isinstance(exc, NotFound):
        return error_response(not_found(request.scope["path"]))
    return error_response(exc)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(not_found(request.url.path))
    if exc.status_code == 405:
        return error_response(TwilioError(405, METHOD_NOT_ALLOWED, "Method not allowed"))
    return error_response(generic_error(exc.status_code))


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    # Routes parse their own input; this only catches a parameter FastAPI rejected first.
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("loc", ("",))[0] == "path" for err in errors):
        # A path SID of the wrong kind or shape names nothing, as Twilio answers it.
        return error_response(not_found(request.scope["path"]))
    names = [str(err.get("loc", ["", "?"])[-1]) for err in errors]
    message = f"Invalid parameter {names[0]}" if names else "Invalid request"
    return error_response(TwilioError(400, INVALID_PARAMETER, message))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TwilioError, _twilio_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
