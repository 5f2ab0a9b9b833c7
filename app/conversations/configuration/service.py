"""The rules of the account-level webhook configuration: fetch, and validate-then-apply an update.

The same validation as a service's own configuration (`webhooks/rules.py`), with the account level's
three extra user events and its `Target`.
"""

from __future__ import annotations

from sqlmodel import Session

from ...twilio.forms import FormParameters
from ..webhooks import rules
from ..webhooks.service import WebhookChanges
from .models import AccountWebhookConfiguration, get_account_configuration


def changes_from_form(form: FormParameters) -> WebhookChanges:
    """Every named parameter validated, in the per-service order, then `Target`."""
    changes = WebhookChanges.from_form(form, events=rules.ACCOUNT_EVENTS)
    if "Target" in form:
        return WebhookChanges({**changes.values, "target": rules.checked_target(form.last("Target"))})
    return changes


def fetch_configuration(session: Session, account_sid: str) -> AccountWebhookConfiguration:
    """The account's configuration; an account never configured has the defaults (all null, `webhook`)."""
    return get_account_configuration(session, account_sid) or AccountWebhookConfiguration(
        account_sid=account_sid
    )


def apply_changes(session: Session, account_sid: str, changes: WebhookChanges) -> AccountWebhookConfiguration:
    """Write the named fields; the caller's transaction makes it all-or-nothing."""
    configuration = fetch_configuration(session, account_sid)
    if changes.values:
        for name, value in changes.values.items():
            setattr(configuration, name, value)
        session.add(configuration)
        session.flush()
    # Writes in one group commit share a session, so each caller gets a copy of its own: the session's
    # object may be changed by the next write in the batch before this one is answered.
    return AccountWebhookConfiguration(**configuration.model_dump())
