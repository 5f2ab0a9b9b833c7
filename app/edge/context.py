"""What the edge learns about a request, handed to routes and the journal in one typed object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.types import Scope

from ..twilio.errors import TwilioError
from ..twilio.forms import FormParameters, parse_form

_SCOPE_KEY = "twilio_emulator.request"


@dataclass
class RequestContext:
    request_id: str
    body: bytes = b""
    content_type: str | None = None
    # The Basic auth username when it is SID-shaped (a token typed into the wrong field is not kept).
    username: str | None = None
    account_sid: str | None = None
    # (account, token) deliveries are signed with in permissive mode, remembered as the answer goes.
    signer: tuple[str, str] | None = None
    # What the route leaves for after its answer has been sent (webhooks in `after-answer` mode).
    after_answer: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _form: FormParameters | None = None

    @classmethod
    def open(cls, scope: Scope, request_id: str) -> RequestContext:
        context = cls(request_id)
        scope[_SCOPE_KEY] = context
        return context

    @classmethod
    def of(cls, scope: Scope) -> RequestContext:
        context: RequestContext = scope[_SCOPE_KEY]
        return context

    def form(self) -> FormParameters:
        """The body's form parameters, parsed once (the journal records what the route read)."""
        if self._form is None:
            self._form = parse_form(self.content_type, self.body)
        return self._form

    def recorded_form(self) -> FormParameters:
        """The parameters to journal: an unreadable body records none."""
        try:
            return self.form()
        except TwilioError:
            return FormParameters([])
