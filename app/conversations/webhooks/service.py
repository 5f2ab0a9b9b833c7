"""The rules of a service's webhook configuration: fetch, and validate-then-apply an update."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from ...db import Database
from ...twilio.errors import NotFound
from ...twilio.forms import FormParameters
from ..services.models import service_exists
from . import rules
from .models import (
    ServiceWebhookConfiguration,
    get_configuration,
    write_configuration,
)

FIELDS = ("pre_webhook_url", "post_webhook_url", "filters", "method")


@dataclass(frozen=True)
class WebhookChanges:
    """The fields an update names, already validated; fields it does not name are absent."""

    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: FormParameters, events: frozenset[str] = rules.SERVICE_EVENTS) -> WebhookChanges:
        """`events` are the names `Filters` may hold: a service's 20, or the account level's 23."""
        values: dict[str, Any] = {}
        if "PreWebhookUrl" in form:
            values["pre_webhook_url"] = rules.checked_url(
                form.last("PreWebhookUrl"),
                parameter="PreWebhookUrl",
                code=rules.INVALID_PRE_WEBHOOK_URL,
            )
        if "PostWebhookUrl" in form:
            values["post_webhook_url"] = rules.checked_url(
                form.last("PostWebhookUrl"),
                parameter="PostWebhookUrl",
                code=rules.INVALID_POST_WEBHOOK_URL,
            )
        if "Filters" in form:
            values["filters"] = rules.checked_filters(form.all("Filters"), events)
        if "Method" in form:
            values["method"] = rules.checked_method(form.last("Method"))
        return cls(values)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> WebhookChanges:
        """From a fixture's `webhooks` object, whose keys are the response's own names."""
        values: dict[str, Any] = {}
        if "pre_webhook_url" in document:
            values["pre_webhook_url"] = rules.checked_url(
                document["pre_webhook_url"] or "",
                parameter="pre_webhook_url",
                code=rules.INVALID_PRE_WEBHOOK_URL,
            )
        if "post_webhook_url" in document:
            values["post_webhook_url"] = rules.checked_url(
                document["post_webhook_url"] or "",
                parameter="post_webhook_url",
                code=rules.INVALID_POST_WEBHOOK_URL,
            )
        if "filters" in document:
            filters = document["filters"]
            values["filters"] = None if filters is None else rules.checked_filters(filters)
        if "method" in document:
            values["method"] = rules.checked_method(document["method"] or "")
        return cls(values)


def _stored_configuration(
    session: Session, account_sid: str, chat_service_sid: str
) -> ServiceWebhookConfiguration | None:
    configuration = get_configuration(session, account_sid, chat_service_sid)
    if configuration is not None:
        return configuration
    if not service_exists(session, account_sid, chat_service_sid):
        return None
    return ServiceWebhookConfiguration(chat_service_sid=chat_service_sid, account_sid=account_sid)


def fetch_configuration(
    database: Database, account_sid: str, chat_service_sid: str
) -> ServiceWebhookConfiguration:
    """The service's configuration; a service never configured has every setting null.

    Read through the database's read cache: this is the call test suites make most.
    """
    configuration = database.cached(
        ("service_webhooks", account_sid, chat_service_sid),
        lambda session: _stored_configuration(session, account_sid, chat_service_sid),
    )
    if configuration is None:
        raise NotFound
    return configuration


def apply_changes(
    session: Session, account_sid: str, chat_service_sid: str, changes: WebhookChanges
) -> ServiceWebhookConfiguration:
    """Write the named fields; the caller's transaction makes it all-or-nothing."""
    if not changes.values:
        configuration = _stored_configuration(session, account_sid, chat_service_sid)
        if configuration is None:
            raise NotFound
        return configuration
    written = write_configuration(session, account_sid, chat_service_sid, changes.values)
    if written is None:
        raise NotFound
    return written
