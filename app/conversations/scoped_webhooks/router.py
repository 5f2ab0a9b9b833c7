"""HTTP for conversation-scoped webhooks, in both path forms: `/v1/Conversations/{ConversationSid}/Webhooks`
(the account's default service) and `/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks`.
These calls fire no hooks of their own.

No `from __future__ import annotations`: FastAPI reads the handlers' dependencies from annotations that
name each path form's own dependency, evaluated where the handlers are made.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from ...edge.deps import TwilioCallDep, sid_in_path
from ...resource import BadRequest, Resource
from ...twilio import paging
from ...twilio.clock import iso8601
from ...twilio.forms import FormParameters
from ...twilio.responses import TwilioJSONResponse, no_content
from ..conversations.paths import PATH_FORMS, ConversationPath, PathForm, bad_requests_in_both_forms
from . import service as rules
from .models import ConversationWebhook

router = APIRouter(tags=["ConversationsV1Webhook"])

# A malformed webhook SID is answered as an unknown one.
WebhookSid = Annotated[str, Path(alias="Sid"), sid_in_path(rules.WEBHOOK)]


def configuration_json(webhook: ConversationWebhook) -> dict[str, Any]:
    """What the target uses, and only that."""
    if webhook.target == "studio":
        return {"flow_sid": webhook.flow_sid}
    configuration: dict[str, Any] = {"url": webhook.url, "method": webhook.method}
    if webhook.target == "webhook":
        configuration["filters"] = list(webhook.filters or [])
    else:
        configuration["triggers"] = list(webhook.triggers or [])
    return configuration


def webhook_json(webhook: ConversationWebhook, path: ConversationPath, base_url: str) -> dict[str, Any]:
    return {
        "sid": webhook.sid,
        "account_sid": webhook.account_sid,
        **path.service_key(),
        "conversation_sid": webhook.conversation_sid,
        "target": webhook.target,
        "url": f"{path.url(base_url)}/Webhooks/{webhook.sid}",
        "configuration": configuration_json(webhook),
        "date_created": iso8601(webhook.date_created),
        "date_updated": iso8601(webhook.date_updated),
    }


def _routes(path_form: PathForm) -> None:
    """The five operations under one path form."""
    ConversationDep = Annotated[ConversationPath, Depends(path_form.conversation)]
    collection = path_form.nested("Webhooks")
    operation = f"{path_form.operation}ConversationScopedWebhook"

    @router.post(collection, operation_id=f"Create{operation}", status_code=201)
    async def create(call: TwilioCallDep, path: ConversationDep) -> Response:
        columns = rules.columns_for_create(call.form())
        webhook = await call.database.write(
            lambda session: rules.create_webhook(session, call.account_sid, path.sid, columns)
        )
        return TwilioJSONResponse(webhook_json(webhook, path, call.resource_base_url), status_code=201)

    @router.get(collection, operation_id=f"List{operation}")
    async def list_(call: TwilioCallDep, path: ConversationDep) -> Response:
        request = paging.page_request(call.query, rules.PAGES)
        with call.database.reading() as session:
            page = rules.list_page(session, call.account_sid, path.sid, request)
        return TwilioJSONResponse(
            paging.listing(
                "webhooks",
                f"{path.url(call.page_base_url)}/Webhooks",
                request,
                page,
                lambda webhook: webhook_json(webhook, path, call.resource_base_url),
            )
        )

    @router.get(collection + "/{Sid}", operation_id=f"Fetch{operation}")
    async def fetch(call: TwilioCallDep, path: ConversationDep, sid: WebhookSid) -> Response:
        with call.database.reading() as session:
            webhook = rules.find_webhook(session, call.account_sid, path.sid, sid)
        return TwilioJSONResponse(webhook_json(webhook, path, call.resource_base_url))

    @router.post(collection + "/{Sid}", operation_id=f"Update{operation}")
    async def update(call: TwilioCallDep, path: ConversationDep, sid: WebhookSid) -> Response:
        form = call.form()
        # Checked against the webhook as it stands before the write, so a refused update writes nothing;
        # the write merges again with the row as it is then.
        with call.database.reading() as session:
            rules.columns_for_update(rules.find_webhook(session, call.account_sid, path.sid, sid), form)
        webhook = await call.database.write(
            lambda session: rules.update_webhook(session, call.account_sid, path.sid, sid, form)
        )
        return TwilioJSONResponse(webhook_json(webhook, path, call.resource_base_url))

    @router.delete(collection + "/{Sid}", operation_id=f"Delete{operation}", status_code=204)
    async def delete(call: TwilioCallDep, path: ConversationDep, sid: WebhookSid) -> Response:
        await call.database.write(
            lambda session: rules.delete_webhook(session, call.account_sid, path.sid, sid)
        )
        return no_content()


for _path_form in PATH_FORMS:
    _routes(_path_form)

_BAD_CREATE = BadRequest(
    "`Target` missing (50368) or not webhook, trigger or studio (50364); for webhook and trigger "
    "`Configuration.Url` missing (50369), longer than 512 characters (50372) or not an absolute http(s) URL "
    "(50078), `Configuration.Method` not get or post (50055); for webhook `Configuration.Filters` missing "
    "(50370) or not one of the 11 post-event names (50365); for trigger `Configuration.Triggers` missing "
    "(50371), more than 5 (50362) or not 1 to 248 characters long (50366); for studio "
    "`Configuration.FlowSid` missing or not FW + 32 hex digits (50367); `Configuration.ReplayAfter` not a "
    "non-negative integer (20002); a sixth webhook on the conversation (50361). An invalid request changes "
    "nothing.",
    lambda: rules.columns_for_create(FormParameters([])),
)
_BAD_UPDATE = BadRequest(
    "As for create, checked on the configuration the update leaves; `Target` and "
    "`Configuration.ReplayAfter` cannot change and are ignored. An invalid request changes nothing.",
    # The checks an update runs are create's: a pre-event name in the filters it sets.
    lambda: rules.columns_for_create(
        FormParameters(
            [
                ("Target", "webhook"),
                ("Configuration.Url", "https://example.com/hook"),
                ("Configuration.Filters", "onMessageAdd"),
            ]
        )
    ),
)
_BAD_LIST = BadRequest(
    "A bad `PageSize` (1 to 1000; more than 5 is cut to 5), `Page` or `PageToken` (20002).",
    lambda: paging.page_request({"PageSize": "0"}, rules.PAGES),
)

RESOURCE = Resource(
    router,
    tables=(ConversationWebhook,),
    bad_requests=bad_requests_in_both_forms("ConversationScopedWebhook", _BAD_CREATE, _BAD_UPDATE, _BAD_LIST),
)
