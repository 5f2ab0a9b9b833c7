"""The two path forms every conversation resource is served under, and the dependencies that resolve
what a path names.

`/v1/Conversations/...` addresses the account's default service (made by its first short-form
request); `/v1/Services/{ChatServiceSid}/Conversations/...` names the service. A resource registers its
handlers once per form (`PATH_FORMS`); the form decides the service, Twilio's operationId and the URLs in
bodies (service-form children also carry `chat_service_sid`).

No `from __future__ import annotations`: FastAPI reads the dependencies' path parameters from
annotations evaluated where each dependency is made.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path

from ...edge.deps import ServiceSid, TwilioCallDep
from ...resource import BadRequest
from ...twilio.errors import NotFound
from ..services.models import service_exists
from ..services.service import default_service_sid, ensure_default_service
from .models import Conversation
from .service import ServiceForm, find_conversation


def _service_known(call: TwilioCallDep, sid: str) -> bool:
    """Whether the caller's account has this service: from the read cache, as every nested request asks."""
    known: bool = call.database.cached(
        ("service_exists", call.account_sid, sid),
        lambda session: service_exists(session, call.account_sid, sid),
    )
    return known


async def default_service_form(call: TwilioCallDep) -> ServiceForm:
    """The short form: the account's default service, made by its first short-form request."""
    sid = default_service_sid(call.account_sid)
    if not _service_known(call, sid):
        await call.database.write(lambda session: ensure_default_service(session, call.account_sid))
    return ServiceForm(sid, short=True)


async def named_service_form(call: TwilioCallDep, chat_service_sid: ServiceSid) -> ServiceForm:
    if not _service_known(call, chat_service_sid):
        raise NotFound
    return ServiceForm(chat_service_sid, short=False)


@dataclass(frozen=True)
class ConversationPath:
    """A conversation named in a nested path (`{ConversationSid}`: its SID or unique name), found in the
    path's service and account; the conversation as it was when the request arrived."""

    form: ServiceForm
    conversation: Conversation

    @property
    def sid(self) -> str:
        return self.conversation.sid

    def url(self, base_url: str) -> str:
        return f"{base_url}{self.form.conversations_path}/{self.conversation.sid}"

    def service_key(self) -> dict[str, Any]:
        """What a child resource's body says of its service: `chat_service_sid` in the service form only."""
        return {} if self.form.short else {"chat_service_sid": self.form.chat_service_sid}


def _conversation_path(
    service_form: Callable[..., Awaitable[ServiceForm]],
) -> Callable[..., Awaitable[ConversationPath]]:
    async def conversation_path(
        call: TwilioCallDep,
        form: Annotated[ServiceForm, Depends(service_form)],
        key: Annotated[str, Path(alias="ConversationSid")],
    ) -> ConversationPath:
        with call.database.reading() as session:
            conversation = find_conversation(session, call.account_sid, form, key)
        return ConversationPath(form, conversation)

    return conversation_path


@dataclass(frozen=True)
class PathForm:
    """One of the two forms: its path prefix, the stem Twilio's operationIds put before the resource
    name (`""` or `"Service"`), and the dependencies resolving its service and its conversation."""

    prefix: str
    operation: str
    service: Callable[..., Awaitable[ServiceForm]]
    conversation: Callable[..., Awaitable[ConversationPath]]

    def nested(self, collection: str) -> str:
        """The path of a collection under a conversation, e.g. `.../{ConversationSid}/Participants`."""
        return f"{self.prefix}/{{ConversationSid}}/{collection}"


PATH_FORMS = (
    PathForm("/v1/Conversations", "", default_service_form, _conversation_path(default_service_form)),
    PathForm(
        "/v1/Services/{ChatServiceSid}/Conversations",
        "Service",
        named_service_form,
        _conversation_path(named_service_form),
    ),
)


def bad_requests_in_both_forms(
    resource: str, create: BadRequest, update: BadRequest, listing: BadRequest
) -> dict[str, BadRequest]:
    """What makes each operation answer 400, under both forms' operationIds (`CreateConversationMessage`,
    `CreateServiceConversationMessage`, ...)."""
    return {
        f"{verb}{form.operation}{resource}": bad
        for form in PATH_FORMS
        for verb, bad in (("Create", create), ("Update", update), ("List", listing))
    }
