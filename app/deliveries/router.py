"""`/_emulator/events` (simulate an action and deliver its webhooks) and `/_emulator/deliveries`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.control.state import EmulatorState
from app.deliveries.events import load_setup, parse_event_request, simulate
from app.deps import DatabaseDep, SettingsDep
from app.twilio import sids
from app.twilio.errors import INVALID_PARAMETER, TwilioError
from app.twilio.responses import TwilioJSONResponse, no_content

router = APIRouter(prefix="/_emulator", tags=["Emulator webhooks"])


def _emulator(request: Request) -> EmulatorState:
    emulator: EmulatorState = request.app.state.emulator
    return emulator


def _sid_filter(request: Request, name: str, prefix: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and not sids.is_sid(value, prefix):
        raise TwilioError(
            400, INVALID_PARAMETER, f"Invalid {name}: must be {prefix} followed by 32 hex digits"
        )
    return value


@router.post("/events", operation_id="EmulatorSimulateEvent")
async def simulate_event(request: Request, database: DatabaseDep, settings: SettingsDep) -> Response:
    event = parse_event_request(await request.body())
    with database.reading() as session:
        setup = load_setup(session, event, _emulator(request).last_auth_tokens)
    result = await simulate(event, setup, settings.webhook_timeout, _emulator(request).deliveries)
    return TwilioJSONResponse(result.as_json())


@router.get("/deliveries", operation_id="EmulatorListDeliveries")
async def list_deliveries(request: Request) -> Response:
    query = request.query_params
    limit = query.get("limit")
    if limit is not None and (not limit.isascii() or not limit.isdigit()):
        raise TwilioError(400, INVALID_PARAMETER, "Invalid limit: must be a non-negative integer")
    entries = _emulator(request).deliveries.entries(
        account_sid=_sid_filter(request, "account_sid", sids.ACCOUNT),
        chat_service_sid=_sid_filter(request, "chat_service_sid", sids.SERVICE),
        event=query.get("event"),
        status=query.get("status"),
        limit=int(limit) if limit is not None else None,
    )
    return TwilioJSONResponse({"deliveries": [entry.as_json() for entry in entries]})


@router.delete("/deliveries", operation_id="EmulatorClearDeliveries", status_code=204)
async def clear_deliveries(request: Request) -> Response:
    _emulator(request).deliveries.clear(_sid_filter(request, "account_sid", sids.ACCOUNT))
    return no_content()
