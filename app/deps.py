"""Typed dependencies, so a route's signature says what it needs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.db import Database
from app.settings import Settings
from app.twilio import sids
from app.twilio.errors import not_found, unauthenticated
from app.twilio.forms import FormParameters, parse_form


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
    account_sid: str
    database: Database
    settings: Settings

    @property
    def path(self) -> str:
        path: str = self.request.scope["path"]
        return path

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

    def form(self) -> FormParameters:
        state = self.request.scope["state"]
        form = parse_form(state.get("content_type"), state.get("body", b""))
        state["form"] = form  # the journal records these parameters without parsing them again
        return form

    def path_sid(self, prefix: str, parameter: str) -> str:
        """The SID in the route's path parameter `parameter`; a malformed one is answered like an unknown
        one, 404.

        Read here rather than declared in the route's signature: for a declared parameter FastAPI builds a
        pydantic validator, which for a plain `str` checks nothing, and imports `pydantic.v1` (~35 ms of
        start-up) to ask whether its type is a pydantic v1 model.
        """
        sid: str = self.request.path_params[parameter]
        if not sids.is_sid(sid, prefix):
            raise not_found(self.path)
        return sid


async def twilio_call(request: Request) -> TwilioCall:
    """The calling account (established by the edge middleware before routing), and any injected fault.

    Faults apply here: after authentication and routing, before the resource's own validation.
    """
    state = request.scope["state"]
    account_sid: str | None = state.get("account_sid")
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
    return TwilioCall(request, account_sid, app_state.database, app_state.settings)


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TwilioCallDep = Annotated[TwilioCall, Depends(twilio_call)]
