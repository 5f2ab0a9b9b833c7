"""HTTP for `/v1/Configuration/Webhooks` (FetchConfigurationWebhook, UpdateConfigurationWebhook)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from app.conversations.configuration.models import AccountWebhookConfiguration
from app.conversations.configuration.service import apply_changes, changes_from_form, fetch_configuration
from app.deps import TwilioCallDep
from app.twilio.responses import TwilioJSONResponse

router = APIRouter(prefix="/v1/Configuration", tags=["ConversationsV1Webhook"])


def configuration_json(configuration: AccountWebhookConfiguration, base_url: str) -> dict[str, Any]:
    return {
        "account_sid": configuration.account_sid,
        "method": configuration.method,
        "filters": configuration.filters,
        "pre_webhook_url": configuration.pre_webhook_url,
        "post_webhook_url": configuration.post_webhook_url,
        "target": configuration.target,
        "url": f"{base_url}/v1/Configuration/Webhooks",
    }


@router.get("/Webhooks", operation_id="FetchConfigurationWebhook")
async def fetch_webhooks(call: TwilioCallDep) -> Response:
    with call.database.reading() as session:
        configuration = fetch_configuration(session, call.account_sid)
    return TwilioJSONResponse(configuration_json(configuration, call.resource_base_url))


@router.post("/Webhooks", operation_id="UpdateConfigurationWebhook")
async def update_webhooks(call: TwilioCallDep) -> Response:
    # Validate every parameter before touching storage: an invalid request changes nothing.
    changes = changes_from_form(call.form())
    configuration = await call.database.write(
        lambda session: apply_changes(session, call.account_sid, changes)
    )
    return TwilioJSONResponse(configuration_json(configuration, call.resource_base_url))
