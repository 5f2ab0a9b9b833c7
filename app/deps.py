"""Typed dependencies, so a route's signature says what it needs."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from app.control.faults import FaultQueue
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


async def get_account_sid(request: Request) -> str:
    """The calling account, established by the edge middleware before routing."""
    account_sid: str | None = request.scope.get("state", {}).get("account_sid")
    if account_sid is None:
        raise unauthenticated()
    return account_sid


def checked_path_sid(request: Request, prefix: str, sid: str) -> str:
    """A SID from the path; a malformed one is answered like an unknown one, 404."""
    if not sids.is_sid(sid, prefix):
        raise not_found(request.url.path)
    return sid


async def get_form(request: Request) -> FormParameters:
    state = request.scope.setdefault("state", {})
    form = parse_form(state.get("content_type"), state.get("body", b""))
    state["form"] = form  # the journal records these parameters without parsing them again
    return form


async def inject_faults(request: Request) -> None:
    """Runs after routing and before the resource's own validation, as the contract orders it."""
    faults: FaultQueue = request.app.state.emulator.faults
    fault = faults.take(request.method, request.url.path, request.scope["state"].get("account_sid"))
    if fault is None:
        return
    if fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    error = fault.error()
    if error is not None:
        raise error


async def get_page_base_url(request: Request) -> str:
    """Where list-page URLs point: the emulator itself, so SDKs following them never reach Twilio."""
    settings: Settings = request.app.state.settings
    if settings.public_base_url:
        return settings.public_base_url
    return f"{request.url.scheme}://{request.url.netloc}"


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AccountSidDep = Annotated[str, Depends(get_account_sid)]
FormDep = Annotated[FormParameters, Depends(get_form)]
PageBaseUrlDep = Annotated[str, Depends(get_page_base_url)]
# Every Twilio API router declares these, so injected faults reach every Twilio route and no other.
TWILIO_ROUTE_DEPENDENCIES = [Depends(inject_faults)]
