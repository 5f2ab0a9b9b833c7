"""HTTP for participants, in both path forms: `/v1/Conversations/{ConversationSid}/Participants` (the
account's default service) and `/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants`.
One set of handlers serves both; the form decides the service, the operationIds, the URLs in bodies and
whether bodies carry `chat_service_sid`.

No `from __future__ import annotations`: FastAPI reads the handlers' dependencies from annotations that
name each path form's own dependency, evaluated where the handlers are made.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from ...activity import rest as post_events
from ...edge.deps import TwilioCall, TwilioCallDep
from ...resource import BadRequest, Resource
from ...twilio import paging
from ...twilio.clock import iso8601
from ...twilio.forms import FormParameters
from ...twilio.responses import TwilioJSONResponse, no_content
from ..conversations.paths import PATH_FORMS, ConversationPath, PathForm, bad_requests_in_both_forms
from . import service as rules
from .models import Participant

router = APIRouter(tags=["ConversationsV1Participant"])

COLLECTION = "Participants"

# A participant in a path: its SID, or its identity in the path's conversation.
ParticipantKey = Annotated[str, Path(alias="Sid")]


def participant_json(
    participant: Participant, conversation: ConversationPath, base_url: str
) -> dict[str, Any]:
    return {
        "account_sid": participant.account_sid,
        **conversation.service_key(),
        "conversation_sid": participant.conversation_sid,
        "sid": participant.sid,
        "identity": participant.identity,
        "attributes": participant.attributes,
        "messaging_binding": rules.messaging_binding(participant),
        "role_sid": participant.role_sid,
        "date_created": iso8601(participant.date_created),
        "date_updated": iso8601(participant.date_updated),
        "url": f"{conversation.url(base_url)}/{COLLECTION}/{participant.sid}",
        "last_read_message_index": participant.last_read_message_index,
        "last_read_timestamp": participant.last_read_timestamp,
    }


def _routes(path_form: PathForm) -> None:
    """The five operations under one path form."""
    ConversationDep = Annotated[ConversationPath, Depends(path_form.conversation)]
    collection = path_form.nested(COLLECTION)
    operation = f"{path_form.operation}ConversationParticipant"

    def shaped(call: TwilioCall, conversation: ConversationPath, participant: Participant) -> dict[str, Any]:
        return participant_json(participant, conversation, call.resource_base_url)

    @router.post(collection, operation_id=f"Create{operation}", status_code=201)
    async def create(call: TwilioCallDep, conversation: ConversationDep) -> Response:
        new = rules.new_participant_from_form(call.form())
        participant = await call.database.write(
            lambda session: rules.create_participant(
                session, call.account_sid, conversation.conversation, new
            )
        )
        await post_events.participant_added(call, conversation.conversation, participant)
        return TwilioJSONResponse(shaped(call, conversation, participant), status_code=201)

    @router.get(collection, operation_id=f"List{operation}")
    async def list_(call: TwilioCallDep, conversation: ConversationDep) -> Response:
        request = paging.page_request(call.query, rules.PAGES)
        with call.database.reading() as session:
            page = rules.list_page(session, call.account_sid, conversation.sid, request)
        return TwilioJSONResponse(
            paging.listing(
                "participants",
                f"{conversation.url(call.page_base_url)}/{COLLECTION}",
                request,
                page,
                lambda participant: shaped(call, conversation, participant),
            )
        )

    @router.get(collection + "/{Sid}", operation_id=f"Fetch{operation}")
    async def fetch(call: TwilioCallDep, conversation: ConversationDep, key: ParticipantKey) -> Response:
        with call.database.reading() as session:
            participant = rules.find_participant(session, call.account_sid, conversation.sid, key)
        return TwilioJSONResponse(shaped(call, conversation, participant))

    @router.post(collection + "/{Sid}", operation_id=f"Update{operation}")
    async def update(call: TwilioCallDep, conversation: ConversationDep, key: ParticipantKey) -> Response:
        # An unknown participant is 404 whatever the parameters say.
        with call.database.reading() as session:
            rules.find_participant(session, call.account_sid, conversation.sid, key)
        changes = rules.changes_from_form(call.form())
        participant = await call.database.write(
            lambda session: rules.update_participant(
                session, call.account_sid, conversation.conversation, key, changes
            )
        )
        await post_events.participant_updated(call, conversation.conversation, participant)
        return TwilioJSONResponse(shaped(call, conversation, participant))

    @router.delete(collection + "/{Sid}", operation_id=f"Delete{operation}", status_code=204)
    async def delete(call: TwilioCallDep, conversation: ConversationDep, key: ParticipantKey) -> Response:
        removed = await call.database.write(
            lambda session: rules.delete_participant(
                session, call.account_sid, conversation.conversation, key
            )
        )
        await post_events.participant_removed(call, conversation.conversation, removed)
        return no_content()


for _path_form in PATH_FORMS:
    _routes(_path_form)

_BAD_CREATE = BadRequest(
    "No `Identity` nor `MessagingBinding.Address` (50204); `Identity` with an address (50211) or longer "
    "than 256 characters (50207); an empty `MessagingBinding.Address` or a proxy without one (50411); an "
    "empty `MessagingBinding.ProxyAddress` (50412); a bad address or proxy address (50407 / 50408), the "
    "two equal (50409) or of different types (50414); `Attributes` not JSON (50304) or longer than 4 KB "
    "(50303); a bad `MessagingBinding.ProjectedAddress`, `RoleSid` or date (20002); a closed conversation "
    "(50377); the identity already in the conversation (50433); the address and proxy pair already bound "
    "in a conversation of the account that is not closed (50416); the group-MMS address already in the "
    "conversation (50437). An invalid request changes nothing.",
    lambda: rules.new_participant_from_form(FormParameters([("Attributes", "{}")])),
)
_BAD_UPDATE = BadRequest(
    "`Attributes`, `RoleSid` and dates as for create; a bad `LastReadMessageIndex` (20002); `Identity` on "
    "a participant that has one or has no projected address (50444); `MessagingBinding.ProxyAddress` on "
    "a participant without an address (50441) or `null` with no proxy to remove (50440); "
    "`MessagingBinding.ProjectedAddress` on an address participant (50443); a closed conversation "
    "(50377); the uniqueness rules of create on the result.",
    lambda: rules.changes_from_form(FormParameters([("LastReadMessageIndex", "-1")])),
)
_BAD_LIST = BadRequest(
    "A bad `PageSize`, `Page` or `PageToken` (20002).",
    lambda: paging.page_request({"PageSize": "0"}, rules.PAGES),
)

RESOURCE = Resource(
    router,
    tables=(Participant,),
    bad_requests=bad_requests_in_both_forms("ConversationParticipant", _BAD_CREATE, _BAD_UPDATE, _BAD_LIST),
)
