"""uvicorn's HTTP protocol, with Twilio's envelope on requests the HTTP parser itself refuses.

A request line or header the parser cannot read (an unknown verb such as `FOO`, a `Content-Length: abc`)
never reaches the application; uvicorn answers it with a plain-text 400. These subclasses answer it the
way every other error is answered: Twilio's error envelope with Twilio's headers.
"""

from __future__ import annotations

import sys

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..twilio.errors import METHOD_NOT_ALLOWED, TwilioError, unreadable_body
from ..twilio.headers import new_request_id, response_headers


def parser_error_response(error: BaseException | None) -> bytes:
    """A complete HTTP/1.1 response, connection closing, for a request that could not be parsed."""
    if isinstance(error, httptools.HttpParserInvalidMethodError):
        twilio_error = TwilioError(405, METHOD_NOT_ALLOWED, "Method not allowed")
        status_line = b"HTTP/1.1 405 Method Not Allowed\r\n"
    else:
        reason = str(error) if error is not None else "malformed request"
        twilio_error = unreadable_body(f"the request is not valid HTTP ({reason})")
        twilio_error.message = f"Invalid HTTP request: {reason}"
        status_line = b"HTTP/1.1 400 Bad Request\r\n"
    body = twilio_error.body()
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *response_headers(new_request_id(), 0.0, 0),
    ]
    return status_line + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body


class TwilioHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's fast (httptools) protocol; the one the CLI runs."""

    _deferred_error: bytes | None = None

    def send_400_response(self, msg: str) -> None:
        # Called from inside uvicorn's `except` block, so the parser's error is the one in flight.
        response = parser_error_response(sys.exc_info()[1])
        if self._answering():
            # Requests pipelined before the bad one are still being answered: the error waits its turn,
            # so they get their own answers first.
            self._deferred_error = response
            self.flow.pause_reading()
            return
        self.transport.write(response)
        self.transport.close()

    def _answering(self) -> bool:
        """Whether an earlier, complete request is still waiting for its answer.

        A current request whose body is still arriving is the one the parser just failed on: it gets the
        error at once.
        """
        cycle = getattr(self, "cycle", None)
        earlier = cycle is not None and not cycle.response_complete and not cycle.more_body
        return bool(self.pipeline) or earlier

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred_error is not None and not self._answering():
            self.transport.write(self._deferred_error)
            self._deferred_error = None
            self.transport.close()
