"""HTTP for `/v1/Configuration/Webhooks` (FetchConfigurationWebhook, UpdateConfigurationWebhook)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from app.conversations.configuration.models import AccountWebhookConfiguration
from app.conversations.configuration.service import apply_changes, changes_from_form, fetch_configuration
from app.deps import TWILIO_ROUTE_DEPENDENCIES, AccountSidDep, DatabaseDep, FormDep, SettingsDep
from app.twilio.responses import TwilioJSONResponse

router = APIRouter(
    prefix="/v1/Configuration",
    tags=["ConversationsV1Webhook"],
    dependencies=TWILIO_ROUTE_DEPENDENCIES,
)


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
async def fetch_webhooks(
    account_sid: AccountSidDep, database: DatabaseDep, settings: SettingsDep
) -> Response:
    with database.reading() as session:
        configuration = fetch_configuration(session, account_sid)
    return TwilioJSONResponse(configuration_json(configuration, settings.resource_base_url))


@router.post("/Webhooks", operation_id="UpdateConfigurationWebhook")
async def update_webhooks(
    account_sid: AccountSidDep, form: FormDep, database: DatabaseDep, settings: SettingsDep
) -> Response:
    # Validate every parameter before touching storage: an invalid request changes nothing.
    changes = changes_from_form(form)
    with database.writing() as session:
        configuration = apply_changes(session, account_sid, changes)
    return TwilioJSONResponse(configuration_json(configuration, settings.resource_base_url))
