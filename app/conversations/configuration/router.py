"""HTTP for `/v1/Configuration/Webhooks` (FetchConfigurationWebhook, UpdateConfigurationWebhook)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from ...edge.deps import TwilioCallDep
from ...resource import BadRequest, Resource
from ...twilio.forms import FormParameters
from ...twilio.responses import TwilioJSONResponse
from ..webhooks.rules import DEFAULT_METHOD
from .models import AccountWebhookConfiguration
from .service import apply_changes, changes_from_form, fetch_configuration

router = APIRouter(prefix="/v1/Configuration", tags=["ConversationsV1Webhook"])


def configuration_json(configuration: AccountWebhookConfiguration, base_url: str) -> dict[str, Any]:
    return {
        "account_sid": configuration.account_sid,
        # Twilio's schema for this resource has no null method (unlike a service's): unset is POST, the
        # method deliveries use when none is set.
        "method": configuration.method or DEFAULT_METHOD,
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


RESOURCE = Resource(
    router,
    tables=(AccountWebhookConfiguration,),
    bad_requests={
        "UpdateConfigurationWebhook": BadRequest(
            "Invalid `PreWebhookUrl` (50077) or `PostWebhookUrl` (50078), a `Filters` value that is not "
            "one of the 23 event names (50054), a `Method` other than GET or POST (50055), a `Target` "
            "other than `webhook` or `flex` (20002); a body that is not valid form encoding or UTF-8 "
            "(20001). An invalid request changes nothing.",
            lambda: changes_from_form(FormParameters([("Target", "studio")])),
        ),
    },
)
