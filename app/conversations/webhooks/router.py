"""HTTP for `/v1/Services/{ChatServiceSid}/Configuration/Webhooks`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.conversations.webhooks.models import ServiceWebhookConfiguration
from app.conversations.webhooks.service import WebhookChanges, apply_changes, fetch_configuration
from app.deps import (
    TWILIO_ROUTE_DEPENDENCIES,
    AccountSidDep,
    DatabaseDep,
    FormDep,
    SettingsDep,
    checked_path_sid,
)
from app.twilio import sids
from app.twilio.responses import TwilioJSONResponse

router = APIRouter(
    prefix="/v1/Services/{ChatServiceSid}/Configuration",
    tags=["ConversationsV1Webhook"],
    dependencies=TWILIO_ROUTE_DEPENDENCIES,
)


def configuration_json(configuration: ServiceWebhookConfiguration, base_url: str) -> dict[str, Any]:
    sid = configuration.chat_service_sid
    return {
        "account_sid": configuration.account_sid,
        "chat_service_sid": sid,
        "pre_webhook_url": configuration.pre_webhook_url,
        "post_webhook_url": configuration.post_webhook_url,
        "filters": configuration.filters,
        "method": configuration.method,
        "url": f"{base_url}/v1/Services/{sid}/Configuration/Webhooks",
    }


@router.get("/Webhooks", operation_id="FetchServiceWebhookConfiguration")
async def fetch_webhooks(
    request: Request,
    ChatServiceSid: str,
    account_sid: AccountSidDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    sid = checked_path_sid(request, sids.SERVICE, ChatServiceSid)
    with database.reading() as session:
        configuration = fetch_configuration(session, account_sid, sid, request.url.path)
    return TwilioJSONResponse(configuration_json(configuration, settings.resource_base_url))


@router.post("/Webhooks", operation_id="UpdateServiceWebhookConfiguration")
async def update_webhooks(
    request: Request,
    ChatServiceSid: str,
    account_sid: AccountSidDep,
    form: FormDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    sid = checked_path_sid(request, sids.SERVICE, ChatServiceSid)
    # Validate every parameter before touching storage: an invalid request changes nothing.
    changes = WebhookChanges.from_form(form)
    with database.writing() as session:
        configuration = apply_changes(session, account_sid, sid, changes, request.url.path)
    return TwilioJSONResponse(configuration_json(configuration, settings.resource_base_url))
