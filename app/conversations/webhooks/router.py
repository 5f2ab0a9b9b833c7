"""HTTP for `/v1/Services/{ChatServiceSid}/Configuration/Webhooks`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from ...edge.deps import ServiceSid, TwilioCallDep
from ...resource import BadRequest, Resource
from ...twilio.errors import TwilioError
from ...twilio.responses import TwilioJSONResponse
from .models import ServiceWebhookConfiguration
from .rules import checked_method
from .service import WebhookChanges, apply_changes, fetch_configuration

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
async def fetch_webhooks(call: TwilioCallDep, sid: ServiceSid) -> Response:
    configuration = fetch_configuration(call.database, call.account_sid, sid)
    return TwilioJSONResponse(configuration_json(configuration, call.resource_base_url))


@router.post("/Webhooks", operation_id="UpdateServiceWebhookConfiguration")
async def update_webhooks(call: TwilioCallDep, sid: ServiceSid) -> Response:
    # Validate every parameter before touching storage: an invalid request changes nothing.
    try:
        changes = WebhookChanges.from_form(call.form())
    except TwilioError:
        # An unknown service is 404 whatever the parameters say (checked only then: the hot path of a
        # valid update reads nothing before its write, which finds the service itself).
        fetch_configuration(call.database, call.account_sid, sid)
        raise
    configuration = await call.database.write(
        lambda session: apply_changes(session, call.account_sid, sid, changes)
    )
    return TwilioJSONResponse(configuration_json(configuration, call.resource_base_url))


RESOURCE = Resource(
    router,
    tables=(ServiceWebhookConfiguration,),
    bad_requests={
        "UpdateServiceWebhookConfiguration": BadRequest(
            "Invalid `PreWebhookUrl` (50077) or `PostWebhookUrl` (50078), a `Filters` value that is not "
            "one of the 20 event names (50054), a `Method` other than GET or POST (50055); a body that is "
            "not valid form encoding or UTF-8 (20001). An invalid request changes nothing.",
            lambda: checked_method("PUT"),
        ),
    },
)
