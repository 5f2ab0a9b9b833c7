"""`/_emulator/`: health, reset, fixtures at run time, the request journal and injected faults."""

from __future__ import annotations

import asyncio
import os
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.responses import Response

from .. import __version__
from ..edge.context import RequestContext
from ..edge.deps import DatabaseDep
from ..fixtures import FixtureError, apply_document, parse_document
from ..resource import Resource
from ..twilio import sids
from ..twilio.errors import JSON_CONTENT_TYPE, MISSING_PARAMETER, TwilioError
from ..twilio.responses import TwilioJSONResponse, no_content
from . import state
from .faults import FAULT_METHODS, Faults, FaultSpec
from .inputs import emulator_state, glob_problem, glob_query, limit_query, parse_json_body, sid_query
from .journal import RequestJournal

router = APIRouter(prefix="/_emulator", tags=["Emulator control"])

Model = TypeVar("Model", bound=BaseModel)
MAX_INT32 = 2**31 - 1


def _json_body(request: Request) -> Any:
    return parse_json_body(RequestContext.of(request.scope).body)


def _parse(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise TwilioError(400, MISSING_PARAMETER, f"Invalid {where}: {error['msg']}") from None


@router.get("/health", operation_id="EmulatorHealth")
async def health(database: DatabaseDep) -> Response:
    database.ping()
    # The process id tells workers apart: which one answered, and that several do.
    return TwilioJSONResponse(
        {"status": "ok", "version": __version__, "database": database.backend, "pid": os.getpid()}
    )


@router.post("/reset", operation_id="EmulatorReset", status_code=204)
async def reset(request: Request) -> Response:
    account_sid = sid_query(request, "account_sid", sids.ACCOUNT)
    emulator = emulator_state(request)
    # Deliveries still in flight after their answers belong to what is being reset: they end first.
    await emulator.after_answer.settle()
    state.reset(emulator, account_sid)
    return no_content()


@router.post("/fixtures", operation_id="EmulatorApplyFixtures", status_code=204)
async def apply_fixtures(request: Request, database: DatabaseDep) -> Response:
    """Apply one fixture document now; refused whole, naming the entry, if any entry is bad."""
    try:
        named = parse_document(_json_body(request), "fixture")
        await database.write(lambda session: apply_document(session, named))
    except FixtureError as exc:
        raise TwilioError(400, MISSING_PARAMETER, str(exc)) from None
    return no_content()


@router.get("/requests", operation_id="EmulatorListRequests")
async def list_requests(request: Request) -> Response:
    query = request.query_params
    journal: RequestJournal = emulator_state(request).journal
    method = query.get("method")
    path = glob_query(request, "path")
    account_sid = sid_query(request, "account_sid", sids.ACCOUNT)
    limit = limit_query(request)

    def listing() -> bytes:
        entries = journal.entries(method=method, path=path, account_sid=account_sid, limit=limit)
        return bytes(TwilioJSONResponse({"requests": [entry.as_json() for entry in entries]}).body)

    # Up to thousands of entries of up to 16 KiB: selected and encoded off the event loop, so the server
    # keeps answering meanwhile.
    return Response(await asyncio.to_thread(listing), media_type=JSON_CONTENT_TYPE)


@router.delete("/requests", operation_id="EmulatorClearRequests", status_code=204)
async def clear_requests(request: Request) -> Response:
    emulator_state(request).journal.clear()
    return no_content()


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    method: str = "*"
    path: str = "*"
    account_sid: str | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    # Bounded by the 32-bit integer columns of the shared fault table, so every backend takes them.
    code: int | None = Field(default=None, ge=1, le=MAX_INT32)
    times: int = Field(default=1, ge=1, le=MAX_INT32)
    delay_ms: int = Field(default=0, ge=0, le=600_000)
    retry_after: int | None = Field(default=None, ge=0, le=MAX_INT32)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value.upper() not in FAULT_METHODS:
            raise ValueError(f"must be one of {', '.join(FAULT_METHODS)}")
        return value.upper()

    @field_validator("path")
    @classmethod
    def _storable_path(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain U+0000 (NUL)")
        problem = glob_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("account_sid")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not sids.is_sid(value, sids.ACCOUNT):
            raise ValueError("must be AC followed by 32 hex digits")
        return value


@router.post("/faults", operation_id="EmulatorAddFault", status_code=201)
async def add_fault(request: Request) -> Response:
    fault_request = _parse(FaultRequest, _json_body(request))
    if fault_request.status is None and fault_request.delay_ms == 0:
        raise TwilioError(400, MISSING_PARAMETER, "A fault needs a status, a delay_ms, or both")
    faults: Faults = emulator_state(request).faults
    fault = faults.add(FaultSpec(**fault_request.model_dump()))
    return TwilioJSONResponse(fault.as_json(), status_code=201)


@router.get("/faults", operation_id="EmulatorListFaults")
async def list_faults(request: Request) -> Response:
    faults = emulator_state(request).faults.pending()
    return TwilioJSONResponse({"faults": [fault.as_json() for fault in faults]})


@router.delete("/faults", operation_id="EmulatorClearFaults", status_code=204)
async def clear_faults(request: Request) -> Response:
    emulator_state(request).faults.clear()
    return no_content()


RESOURCE = Resource(router)
