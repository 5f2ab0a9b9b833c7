"""`/_emulator/health` and `/_emulator/reset`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import __version__
from app.control import state
from app.deps import DatabaseDep
from app.twilio import sids
from app.twilio.errors import INVALID_PARAMETER, TwilioError
from app.twilio.responses import TwilioJSONResponse, no_content

router = APIRouter(prefix="/_emulator", tags=["Emulator control"])


@router.get("/health", operation_id="EmulatorHealth")
async def health(database: DatabaseDep) -> Response:
    database.ping()
    return TwilioJSONResponse({"status": "ok", "version": __version__, "database": database.backend})


@router.post("/reset", operation_id="EmulatorReset", status_code=204)
async def reset(request: Request, database: DatabaseDep) -> Response:
    account_sid = request.query_params.get("account_sid")
    if account_sid is not None and not sids.is_sid(account_sid, sids.ACCOUNT):
        raise TwilioError(400, INVALID_PARAMETER, "Invalid account_sid: must be AC followed by 32 hex digits")
    state.reset(database, request.app.state.fixtures, account_sid)
    return no_content()
