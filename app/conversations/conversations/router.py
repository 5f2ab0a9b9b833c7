"""HTTP for conversations, in both path forms: `/v1/Conversations` (the account's default service) and
`/v1/Services/{ChatServiceSid}/Conversations`. One set of handlers serves both; the form decides the
service, the operationIds and the URLs in bodies.

No `from __future__ import annotations`: FastAPI reads the handlers' dependencies from annotations that
name each path form's own dependency, evaluated where the handlers are made.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlmodel import Session
from starlette.responses import Response

from ...activity import rest as post_events
from ...activity.stored import scoped_webhooks
from ...edge.deps import TwilioCall, TwilioCallDep
from ...resource import BadRequest, Resource
from ...twilio import paging
from ...twilio.clock import iso8601
from ...twilio.forms import FormParameters
from ...twilio.responses import TwilioJSONResponse, no_content
from ..scoped_webhooks.models import ConversationWebhook
from . import service as rules
from .models import Conversation
from .paths import PATH_FORMS, PathForm, bad_requests_in_both_forms

router = APIRouter(tags=["ConversationsV1Conversation"])

LINKS = {
    "participants": "Participants",
    "messages": "Messages",
    "webhooks": "Webhooks",
    "export": "Export",
}


# A conversation in a path: its SID, or its unique name in the path's service.
ConversationKey = Annotated[str, Path(alias="Sid")]


def conversation_json(conversation: Conversation, form: rules.ServiceForm, base_url: str) -> dict[str, Any]:
    url = f"{base_url}{form.conversations_path}/{conversation.sid}"
    return {
        "account_sid": conversation.account_sid,
        "chat_service_sid": conversation.chat_service_sid,
        "messaging_service_sid": conversation.messaging_service_sid,
        "sid": conversation.sid,
        "friendly_name": conversation.friendly_name,
        "unique_name": conversation.unique_name,
        "attributes": conversation.attributes,
        "state": conversation.state,
        "date_created": iso8601(conversation.date_created),
        "date_updated": iso8601(conversation.date_updated),
        "timers": conversation.timers,
        "url": url,
        "links": {name: f"{url}/{segment}" for name, segment in LINKS.items()},
        "bindings": conversation.bindings,
    }


def _changes(form: FormParameters, *, creating: bool) -> dict[str, Any]:
    return rules.changes_from_form(form, creating=creating)


def _routes(path_form: PathForm) -> None:
    """The five operations under one path form."""
    FormDep = Annotated[rules.ServiceForm, Depends(path_form.service)]
    prefix = path_form.prefix
    operation = f"{path_form.operation}Conversation"

    def shaped(call: TwilioCall, form: rules.ServiceForm, conversation: Conversation) -> dict[str, Any]:
        return conversation_json(conversation, form, call.resource_base_url)

    @router.post(prefix, operation_id=f"Create{operation}", status_code=201)
    async def create(call: TwilioCallDep, form: FormDep) -> Response:
        changes = _changes(call.form(), creating=True)
        conversation = await call.database.write(
            lambda session: rules.create_conversation(session, call.account_sid, form, changes)
        )
        await post_events.conversation_added(call, conversation)
        return TwilioJSONResponse(shaped(call, form, conversation), status_code=201)

    @router.get(prefix, operation_id=f"List{operation}")
    async def list_(call: TwilioCallDep, form: FormDep) -> Response:
        query = call.query
        filters = rules.checked_filters(query)
        request = paging.page_request(query, rules.PAGES, dated=filters.newest_first)
        with call.database.reading() as session:
            page = rules.list_page(session, call.account_sid, form, request, filters)
        return TwilioJSONResponse(
            paging.listing(
                "conversations",
                f"{call.page_base_url}{form.conversations_path}",
                request,
                page,
                lambda conversation: shaped(call, form, conversation),
                dict(filters.given),
            )
        )

    @router.get(prefix + "/{Sid}", operation_id=f"Fetch{operation}")
    async def fetch(call: TwilioCallDep, form: FormDep, key: ConversationKey) -> Response:
        with call.database.reading() as session:
            conversation = rules.find_conversation(session, call.account_sid, form, key)
        return TwilioJSONResponse(shaped(call, form, conversation))

    @router.post(prefix + "/{Sid}", operation_id=f"Update{operation}")
    async def update(call: TwilioCallDep, form: FormDep, key: ConversationKey) -> Response:
        # An unknown conversation is 404 whatever the parameters say.
        with call.database.reading() as session:
            rules.find_conversation(session, call.account_sid, form, key)
        changes = _changes(call.form(), creating=False)
        conversation, previous_state = await call.database.write(
            lambda session: rules.update_conversation(session, call.account_sid, form, key, changes)
        )
        await post_events.conversation_updated(call, conversation, previous_state)
        return TwilioJSONResponse(shaped(call, form, conversation))

    @router.delete(prefix + "/{Sid}", operation_id=f"Delete{operation}", status_code=204)
    async def delete(call: TwilioCallDep, form: FormDep, key: ConversationKey) -> Response:
        announcing = post_events.webhooks_enabled(call)

        def remove(session: Session) -> tuple[Conversation, list[ConversationWebhook]]:
            if not announcing:
                return rules.delete_conversation(session, call.account_sid, form, key), []
            # Read in the same transaction, before the delete's cascade removes them.
            hooks = scoped_webhooks(session, rules.find_conversation(session, call.account_sid, form, key))
            return rules.delete_conversation(session, call.account_sid, form, key), hooks

        removed, hooks = await call.database.write(remove)
        await post_events.conversation_removed(call, removed, hooks)
        return no_content()


for _path_form in PATH_FORMS:
    _routes(_path_form)

_BAD_CREATE = BadRequest(
    "`FriendlyName` longer than 256 characters (50003); `UniqueName` longer than 256 characters (50004), "
    "shaped like a conversation SID (50390) or already used in the service (50353); `Attributes` not JSON "
    "(50304) or longer than 16 KB (50303); `State=closed` (50384) or another bad `State`, a bad "
    "`MessagingServiceSid`, timer or date (20002). An invalid request changes nothing.",
    lambda: rules.changes_from_form(FormParameters([("State", "closed")]), creating=True),
)
_BAD_UPDATE = BadRequest(
    "As for create, and any update of a closed conversation (50377); `State=closed` is allowed.",
    lambda: rules.changes_from_form(FormParameters([("Attributes", "{")]), creating=False),
)
_BAD_LIST = BadRequest(
    "A bad `State`, `StartDate`, `EndDate`, `PageSize`, `Page` or `PageToken` (20002).",
    lambda: rules.checked_filters({"State": "open"}),
)

RESOURCE = Resource(
    router,
    tables=(Conversation,),
    bad_requests=bad_requests_in_both_forms("Conversation", _BAD_CREATE, _BAD_UPDATE, _BAD_LIST),
)
