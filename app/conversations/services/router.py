"""HTTP for `/v1/Services`: parse the request, call the rules, shape Twilio's JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.responses import Response

from ...edge.deps import TwilioCallDep, sid_in_path
from ...resource import BadRequest, Resource
from ...twilio import paging, sids
from ...twilio.clock import iso8601
from ...twilio.responses import TwilioJSONResponse, no_content
from . import service as rules
from .models import ConversationService

router = APIRouter(prefix="/v1/Services", tags=["ConversationsV1Service"])

ServiceSid = Annotated[str, Path(alias="Sid"), sid_in_path(sids.SERVICE)]

LINKS = {
    "conversations": "Conversations",
    "users": "Users",
    "roles": "Roles",
    "bindings": "Bindings",
    "configuration": "Configuration",
    "participant_conversations": "ParticipantConversations",
    "conversation_with_participants": "ConversationWithParticipants",
}


def service_json(service: ConversationService, base_url: str) -> dict[str, Any]:
    url = f"{base_url}/v1/Services/{service.sid}"
    return {
        "account_sid": service.account_sid,
        "sid": service.sid,
        "friendly_name": service.friendly_name,
        "date_created": iso8601(service.date_created),
        "date_updated": iso8601(service.date_updated),
        "url": url,
        "links": {name: f"{url}/{segment}" for name, segment in LINKS.items()},
    }


@router.post("", operation_id="CreateService", status_code=201)
async def create_service(call: TwilioCallDep) -> Response:
    form = call.form()
    friendly_name = form.last("FriendlyName") if "FriendlyName" in form else None
    rules.checked_friendly_name(friendly_name)
    service = await call.database.write(
        lambda session: rules.create_service(session, call.account_sid, friendly_name)
    )
    return TwilioJSONResponse(service_json(service, call.resource_base_url), status_code=201)


@router.get("", operation_id="ListService")
async def list_services(call: TwilioCallDep) -> Response:
    request = paging.page_request(call.query, rules.PAGES)
    with call.database.reading() as session:
        page = rules.list_page(session, call.account_sid, request)
    return TwilioJSONResponse(
        paging.listing(
            "services",
            f"{call.page_base_url}/v1/Services",
            request,
            page,
            lambda service: service_json(service, call.resource_base_url),
        )
    )


@router.get("/{Sid}", operation_id="FetchService")
async def fetch_service(call: TwilioCallDep, sid: ServiceSid) -> Response:
    with call.database.reading() as session:
        service = rules.fetch_service(session, call.account_sid, sid)
    return TwilioJSONResponse(service_json(service, call.resource_base_url))


@router.delete("/{Sid}", operation_id="DeleteService", status_code=204)
async def delete_service(call: TwilioCallDep, sid: ServiceSid) -> Response:
    await call.database.write(lambda session: rules.delete_service(session, call.account_sid, sid))
    return no_content()


RESOURCE = Resource(
    router,
    tables=(ConversationService,),
    bad_requests={
        "CreateService": BadRequest(
            "`FriendlyName` missing or empty (20001) or longer than 256 characters (20002); "
            "a body that is not valid form encoding or UTF-8 (20001).",
            lambda: rules.checked_friendly_name(None),
        ),
        "ListService": BadRequest(
            "`PageSize` not an integer from 1 to 1000, `Page` not a non-negative integer, or a "
            "`PageToken` this server did not issue (20002).",
            lambda: paging.page_request({"PageSize": "0"}, rules.PAGES),
        ),
    },
)
