"""HTTP for messages, in both path forms: `/v1/Conversations/{ConversationSid}/Messages` (the account's
default service) and `/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages`. One set of
handlers serves both; the form decides the operationIds, the URLs in bodies and `chat_service_sid`.

No `from __future__ import annotations`: FastAPI reads the handlers' dependencies from annotations that
name each path form's own dependency, evaluated where the handlers are made.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from ...activity import rest as post_events
from ...edge.deps import TwilioCall, TwilioCallDep, sid_in_path
from ...resource import BadRequest, Resource
from ...twilio import paging
from ...twilio.clock import iso8601
from ...twilio.forms import FormParameters
from ...twilio.responses import TwilioJSONResponse, no_content
from ..conversations.paths import PATH_FORMS, ConversationPath, PathForm, bad_requests_in_both_forms
from . import service as rules
from .models import ConversationMessage, MessageCounter

router = APIRouter(tags=["ConversationsV1Message"])

LINKS = {"delivery_receipts": "Receipts", "channel_metadata": "ChannelMetadata"}

# A message in a path: its SID only; anything else is answered as an unknown message, 404.
MessageSid = Annotated[str, Path(alias="Sid"), sid_in_path(rules.MESSAGE)]


def media_json(message: ConversationMessage) -> list[dict[str, Any]] | None:
    """What is known of the attached media: its SID (there is no Media service here to say more)."""
    if message.media_sid is None:
        return None
    return [{"sid": message.media_sid, "content_type": None, "filename": None, "size": None}]


def message_json(
    message: ConversationMessage, conversation: ConversationPath, base_url: str
) -> dict[str, Any]:
    url = f"{conversation.url(base_url)}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        **conversation.service_key(),
        "conversation_sid": message.conversation_sid,
        "sid": message.sid,
        "index": message.index,
        "author": message.author,
        "body": message.body,
        "media": media_json(message),
        "attributes": message.attributes,
        "participant_sid": message.participant_sid,
        "date_created": iso8601(message.date_created),
        "date_updated": iso8601(message.date_updated),
        "url": url,
        "delivery": None,
        "links": {name: f"{url}/{segment}" for name, segment in LINKS.items()},
        "content_sid": message.content_sid,
    }


def _routes(path_form: PathForm) -> None:
    """The five operations under one path form."""
    ConversationDep = Annotated[ConversationPath, Depends(path_form.conversation)]
    collection = path_form.nested("Messages")
    operation = f"{path_form.operation}ConversationMessage"

    def shaped(
        call: TwilioCall, conversation: ConversationPath, message: ConversationMessage
    ) -> dict[str, Any]:
        return message_json(message, conversation, call.resource_base_url)

    def stored(call: TwilioCall, conversation: ConversationPath, sid: str) -> ConversationMessage:
        with call.database.reading() as session:
            return rules.find_message(session, call.account_sid, conversation.conversation, sid)

    @router.post(collection, operation_id=f"Create{operation}", status_code=201)
    async def create(call: TwilioCallDep, conversation: ConversationDep) -> Response:
        changes = rules.changes_from_form(call.form(), creating=True)
        message = await call.database.write(
            lambda session: rules.create_message(
                session, call.account_sid, conversation.conversation, changes
            )
        )
        await post_events.message_added(call, conversation.conversation, message)
        return TwilioJSONResponse(shaped(call, conversation, message), status_code=201)

    @router.get(collection, operation_id=f"List{operation}")
    async def list_(call: TwilioCallDep, conversation: ConversationDep) -> Response:
        query = call.query
        request = paging.page_request(query, rules.PAGES)
        order = rules.checked_order(query)
        with call.database.reading() as session:
            page = rules.list_page(session, call.account_sid, conversation.conversation, request, order)
        return TwilioJSONResponse(
            paging.listing(
                "messages",
                f"{conversation.url(call.page_base_url)}/Messages",
                request,
                page,
                lambda message: shaped(call, conversation, message),
                dict(order.given),
            )
        )

    @router.get(collection + "/{Sid}", operation_id=f"Fetch{operation}")
    async def fetch(call: TwilioCallDep, conversation: ConversationDep, sid: MessageSid) -> Response:
        return TwilioJSONResponse(shaped(call, conversation, stored(call, conversation, sid)))

    @router.post(collection + "/{Sid}", operation_id=f"Update{operation}")
    async def update(call: TwilioCallDep, conversation: ConversationDep, sid: MessageSid) -> Response:
        stored(call, conversation, sid)  # an unknown message is 404 before its parameters are checked
        changes = rules.changes_from_form(call.form(), creating=False)
        message = await call.database.write(
            lambda session: rules.update_message(
                session, call.account_sid, conversation.conversation, sid, changes
            )
        )
        await post_events.message_updated(call, conversation.conversation, message)
        return TwilioJSONResponse(shaped(call, conversation, message))

    @router.delete(collection + "/{Sid}", operation_id=f"Delete{operation}", status_code=204)
    async def delete(call: TwilioCallDep, conversation: ConversationDep, sid: MessageSid) -> Response:
        removed = await call.database.write(
            lambda session: rules.delete_message(session, call.account_sid, conversation.conversation, sid)
        )
        await post_events.message_removed(call, conversation.conversation, removed)
        return no_content()


for _path_form in PATH_FORMS:
    _routes(_path_form)

_BAD_CREATE = BadRequest(
    "No `Body` (an empty one counts as none), `MediaSid` or `ContentSid` (50503); `Body` longer than "
    "32 KB (50504); `Attributes` not JSON (50304) or longer than 4 KB (50303); `ContentVariables` not a "
    "JSON object (50527) or with a value longer than 256 characters (50541); a conversation that is "
    "closed (50377); a bad `MediaSid`, `ContentSid`, `Subject` (over 256 characters) or date (20002). An "
    "invalid request changes nothing.",
    lambda: rules.changes_from_form(FormParameters([("Author", "alice")]), creating=True),
)
_BAD_UPDATE = BadRequest(
    "As for create, for `Author`, `Body`, `Attributes`, `Subject` and the dates; the message must still "
    "have a body, media or a content SID (50503).",
    lambda: rules.changes_from_form(FormParameters([("Attributes", "{")]), creating=False),
)
_BAD_LIST = BadRequest(
    "An `Order` other than asc or desc (any case), a bad `PageSize`, `Page` or `PageToken` (20002).",
    lambda: rules.checked_order({"Order": "newest"}),
)

RESOURCE = Resource(
    router,
    tables=(ConversationMessage, MessageCounter),
    bad_requests=bad_requests_in_both_forms("ConversationMessage", _BAD_CREATE, _BAD_UPDATE, _BAD_LIST),
)
