"""HTTP for `/v1/Services`: parse the request, call the rules, shape Twilio's JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.responses import Response

from app.conversations.services import service as rules
from app.conversations.services.models import ConversationService
from app.deps import TwilioCallDep
from app.twilio import sids
from app.twilio.clock import iso8601
from app.twilio.responses import TwilioJSONResponse, no_content

router = APIRouter(prefix="/v1/Services", tags=["ConversationsV1Service"])

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
    query = call.request.query_params
    page_request = rules.checked_page_request(
        query.get("PageSize"), query.get("Page"), query.get("PageToken")
    )
    with call.database.reading() as session:
        page = rules.list_page(session, call.account_sid, page_request)
    list_url = f"{call.page_base_url}/v1/Services"

    def page_url(number: int, token: str | None) -> str:
        params: dict[str, str | int] = {"PageSize": page_request.size, "Page": number}
        if token:
            params["PageToken"] = token
        return f"{list_url}?{urlencode(params)}"

    next_token = rules.next_token(page)
    previous_token = rules.previous_token(page)
    number = page_request.number
    meta = {
        "page": number,
        "page_size": page_request.size,
        "first_page_url": page_url(0, None),
        "previous_page_url": (
            page_url(number - 1 if number > 0 else 0, previous_token)
            if previous_token or number > 0
            else None
        ),
        "url": page_url(number, page_request.token),
        "next_page_url": page_url(number + 1, next_token) if next_token else None,
        "key": "services",
    }
    services = [service_json(service, call.resource_base_url) for service in page.services]
    return TwilioJSONResponse({"services": services, "meta": meta})


@router.get("/{Sid}", operation_id="FetchService")
async def fetch_service(call: TwilioCallDep) -> Response:
    sid = call.path_sid(sids.SERVICE, "Sid")
    with call.database.reading() as session:
        service = rules.fetch_service(session, call.account_sid, sid, call.path)
    return TwilioJSONResponse(service_json(service, call.resource_base_url))


@router.delete("/{Sid}", operation_id="DeleteService", status_code=204)
async def delete_service(call: TwilioCallDep) -> Response:
    sid = call.path_sid(sids.SERVICE, "Sid")
    await call.database.write(lambda session: rules.delete_service(session, call.account_sid, sid, call.path))
    return no_content()
