"""Typed dependencies, so a route's signature says what it needs.

No `from __future__ import annotations` here: FastAPI reads the path parameters that `sid_in_path`
declares from annotations evaluated where the dependency is made.
"""

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from ..db import Database
from ..settings import Settings
from ..twilio import sids
from ..twilio.errors import NotFound, unauthenticated
from ..twilio.forms import FormParameters
from .context import RequestContext


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True)
class TwilioCall:
    """What a Twilio API route needs about its request, resolved once: one dependency costs a fraction
    of five on the hot path, and the route's signature still says what it gets."""

    request: Request
    context: RequestContext
    account_sid: str
    database: Database
    settings: Settings

    @property
    def resource_base_url(self) -> str:
        """Where `url` and `links` in bodies point."""
        return self.settings.resource_base_url

    @property
    def page_base_url(self) -> str:
        """Where list-page URLs point: the emulator itself, so SDKs following them never reach Twilio."""
        if self.settings.public_base_url:
            return self.settings.public_base_url
        return f"{self.request.url.scheme}://{self.request.url.netloc}"

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; a repeated one counts once, its last value."""
        return dict(self.request.query_params)

    def form(self) -> FormParameters:
        return self.context.form()


async def twilio_call(request: Request) -> TwilioCall:
    """The calling account (established by the edge middleware before routing), and any injected fault.

    Faults apply here: after authentication and routing, before the resource's own validation.
    """
    context = RequestContext.of(request.scope)
    account_sid = context.account_sid
    if account_sid is None:
        raise unauthenticated()
    app_state = request.app.state
    fault = await app_state.emulator.faults.take(request.method, request.scope["path"], account_sid)
    if fault is not None:
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        error = fault.error()
        if error is not None:
            raise error
    return TwilioCall(request, context, account_sid, app_state.database, app_state.settings)


def sid_in_path(name: str, prefix: str) -> Any:
    """A path parameter that must be a SID of this kind: a malformed one is answered as an unknown one,
    404."""

    def checked(value: Annotated[str, Path(alias=name)]) -> str:
        if not sids.is_sid(value, prefix):
            raise NotFound
        return value

    return Depends(checked)


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TwilioCallDep = Annotated[TwilioCall, Depends(twilio_call)]
ServiceSid = Annotated[str, sid_in_path("ChatServiceSid", sids.SERVICE)]
