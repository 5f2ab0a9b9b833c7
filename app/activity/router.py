"""`/_emulator/events` (an action: on stored state as an SDK would act, or simulated; its webhooks) and
`/_emulator/deliveries`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..control.deliveries import ERROR_KINDS, valid_status_filter
from ..control.inputs import emulator_state, flag_query, limit_query, sid_query
from ..edge.deps import DatabaseDep, SettingsDep
from ..resource import Resource
from ..twilio import sids
from ..twilio.errors import INVALID_PARAMETER, TwilioError
from ..twilio.responses import TwilioJSONResponse, no_content
from . import sdk
from .events import load_setup, parse_event_request, simulate
from .stored import Sender
from .targets import target_policy

router = APIRouter(prefix="/_emulator", tags=["Emulator webhooks"])


@router.post("/events", operation_id="EmulatorSimulateEvent")
async def simulate_event(request: Request, database: DatabaseDep, settings: SettingsDep) -> Response:
    event = parse_event_request(await request.body())
    state = emulator_state(request)
    with database.reading() as session:
        setup = load_setup(session, event, state.last_auth_tokens)
        planned = sdk.plan(session, event, settings.resource_base_url)
    targets = target_policy(settings.webhook_allowed_targets)
    if planned is None:
        result = await simulate(event, setup, settings.webhook_timeout, state.deliveries, targets)
        return TwilioJSONResponse(result.as_json())
    # An SDK action's client identity goes with its deliveries; a REST call has none.
    identity = event.params.get("ClientIdentity") if event.source == sdk.SDK else None
    sender = Sender(
        event.account_sid,
        event.source,
        setup.auth_token,
        settings.webhook_timeout,
        targets,
        state.deliveries,
        identity,
    )
    result = await sdk.act(database, planned, event, setup, sender)
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
    account_sid = sid_query(request, "account_sid", sids.ACCOUNT)
    chat_service_sid = sid_query(request, "chat_service_sid", sids.SERVICE)
    limit = limit_query(request)
    state = emulator_state(request)
    if flag_query(request, "wait"):
        await state.after_answer.settle()
    entries = state.deliveries.entries(
        account_sid=account_sid,
        chat_service_sid=chat_service_sid,
        event=query.get("event"),
        status=status,
        limit=limit,
    )
    return TwilioJSONResponse({"deliveries": [entry.as_json() for entry in entries]})


@router.delete("/deliveries", operation_id="EmulatorClearDeliveries", status_code=204)
async def clear_deliveries(request: Request) -> Response:
    account_sid = sid_query(request, "account_sid", sids.ACCOUNT)
    state = emulator_state(request)
    await state.after_answer.settle()  # what is in flight would land after the clear
    state.deliveries.clear(account_sid)
    return no_content()


RESOURCE = Resource(router)
