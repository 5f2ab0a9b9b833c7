"""HTTP for `/v1/Services/{ChatServiceSid}/Configuration/Webhooks`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from app.conversations.webhooks.models import ServiceWebhookConfiguration
from app.conversations.webhooks.service import WebhookChanges, apply_changes, fetch_configuration
from app.deps import TwilioCallDep
from app.twilio import sids
from app.twilio.responses import TwilioJSONResponse

router = APIRouter(prefix="/v1/Services/{ChatServiceSid}/Configuration", tags=["ConversationsV1Webhook"])


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
async def fetch_webhooks(call: TwilioCallDep) -> Response:
    sid = call.path_sid(sids.SERVICE, "ChatServiceSid")
    configuration = fetch_configuration(call.database, call.account_sid, sid, call.path)
    return TwilioJSONResponse(configuration_json(configuration, call.resource_base_url))


@router.post("/Webhooks", operation_id="UpdateServiceWebhookConfiguration")
async def update_webhooks(call: TwilioCallDep) -> Response:
    sid = call.path_sid(sids.SERVICE, "ChatServiceSid")
    # Validate every parameter before touching storage: an invalid request changes nothing.
    changes = WebhookChanges.from_form(call.form())
    configuration = await call.database.write(
        lambda session: apply_changes(session, call.account_sid, sid, changes, call.path)
    )
    return TwilioJSONResponse(configuration_json(configuration, call.resource_base_url))
