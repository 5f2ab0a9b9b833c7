"""Typed dependencies, so a route's signature says what it needs.

No `from __future__ import annotations` here: FastAPI reads the path parameters declared with
`sid_in_path` from annotations evaluated where they are declared.
"""

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator

from ..db import Database
from ..settings import Settings
from ..twilio import sids
from ..twilio.errors import unauthenticated
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
        """Where list-page URLs point: the emulator itself, so SDKs following them never reach Twilio,
        nor any host a `Host` header names (see `own_base_url`)."""
        if self.settings.public_base_url:
            return self.settings.public_base_url
        return own_base_url(self.request)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; a repeated one counts once, its last value."""
        return dict(self.request.query_params)

    def form(self) -> FormParameters:
        return self.context.form()


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def own_base_url(request: Request) -> str:
    """The emulator's own address as this request reached it.

    The `Host` header is taken only when it names this machine's loopback (its port may differ from the
    socket's behind a port mapping); any other name (`Host: evil.example`) is not trusted to be the
    emulator, and the address of the socket the request arrived on is used instead. Behind a name of its
    own (a compose service, a proxy), set PUBLIC_BASE_URL.
    """
    url = request.url
    if url.hostname and _is_loopback(url.hostname):
        return f"{url.scheme}://{url.netloc}"
    server = request.scope.get("server")
    if not server:
        return f"{url.scheme}://127.0.0.1"
    host, port = server[0], server[1]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"{url.scheme}://{shown}" if port is None else f"{url.scheme}://{shown}:{port}"


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


def sid_in_path(prefix: str) -> AfterValidator:
    """What makes a path parameter a SID of this kind: a malformed one is answered as an unknown one, 404
    (the validation error handler answers any path parameter's error so).

    A validator on the parameter, not a dependency of its own: FastAPI solving one more dependency per
    request was a tenth of a cached GET's CPU.
    """

    def checked(value: str) -> str:
        if not sids.is_sid(value, prefix):
            raise ValueError(f"not a {prefix} SID")
        return value

    return AfterValidator(checked)


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TwilioCallDep = Annotated[TwilioCall, Depends(twilio_call)]
ServiceSid = Annotated[str, Path(alias="ChatServiceSid"), sid_in_path(sids.SERVICE)]
