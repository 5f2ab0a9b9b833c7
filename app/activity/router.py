"""`/_emulator/events` (simulate an action and deliver its webhooks) and `/_emulator/deliveries`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..control.deliveries import ERROR_KINDS, valid_status_filter
from ..control.inputs import emulator_state, limit_query, sid_query
from ..edge.deps import DatabaseDep, SettingsDep
from ..resource import Resource
from ..twilio import sids
from ..twilio.errors import INVALID_PARAMETER, TwilioError
from ..twilio.responses import TwilioJSONResponse, no_content
from .events import load_setup, parse_event_request, simulate
from .targets import TargetPolicy

router = APIRouter(prefix="/_emulator", tags=["Emulator webhooks"])


@router.post("/events", operation_id="EmulatorSimulateEvent")
async def simulate_event(request: Request, database: DatabaseDep, settings: SettingsDep) -> Response:
    event = parse_event_request(await request.body())
    with database.reading() as session:
        setup = load_setup(session, event, emulator_state(request).last_auth_tokens)
    allowed = settings.webhook_allowed_targets
    targets = TargetPolicy.parse(allowed) if allowed is not None else None
    log = emulator_state(request).deliveries
    result = await simulate(event, setup, settings.webhook_timeout, log, targets)
    return TwilioJSONResponse(result.as_json())


@router.get("/deliveries", operation_id="EmulatorListDeliveries")
async def list_deliveries(request: Request) -> Response:
    query = request.query_params
    status = query.get("status")
    if status is not None and not valid_status_filter(status):
        raise TwilioError(
            400,
            INVALID_PARAMETER,
            f"Invalid status: an HTTP status (e.g. 403) or one of {', '.join(ERROR_KINDS)}",
        )
    entries = emulator_state(request).deliveries.entries(
        account_sid=sid_query(request, "account_sid", sids.ACCOUNT),
        chat_service_sid=sid_query(request, "chat_service_sid", sids.SERVICE),
        event=query.get("event"),
        status=status,
        limit=limit_query(request),
    )
    return TwilioJSONResponse({"deliveries": [entry.as_json() for entry in entries]})


@router.delete("/deliveries", operation_id="EmulatorClearDeliveries", status_code=204)
async def clear_deliveries(request: Request) -> Response:
    emulator_state(request).deliveries.clear(sid_query(request, "account_sid", sids.ACCOUNT))
    return no_content()


RESOURCE = Resource(router)
