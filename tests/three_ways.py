"""The one small scenario every way in passes (base URL, in process, proxy), as twilio-python runs it.

`python tests/three_ways.py` runs it with a `Client()` made from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN and
nothing else, as code that cannot be changed makes it, and prints what it saw as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

FILTERS = ["onMessageAdded", "onConversationAdded"]
BAD_FILTER = "onNothingAtAll"
# What the scenario sees on every way in.
EXPECTED = {
    "friendly_name": "three ways",
    "filters": FILTERS,
    "method": "POST",
    "error": {"status": 400, "code": 50054},
    "removed": True,
}


def scenario(client: Client) -> dict[str, Any]:
    """Create a service, give its webhook configuration two filters, fetch both back, be refused a bad
    filter with Twilio's code, remove the service."""
    service = client.conversations.v1.services.create(friendly_name="three ways")
    hooks = client.conversations.v1.services(service.sid).configuration.webhooks()
    hooks.update(filters=FILTERS, method="POST", post_webhook_url="https://example.com/hooks")
    fetched = hooks.fetch()
    try:
        hooks.update(filters=[BAD_FILTER])
        error: dict[str, Any] = {}
    except TwilioRestException as refused:
        error = {"status": refused.status, "code": refused.code}
    return {
        "sid": service.sid,
        "friendly_name": client.conversations.v1.services(service.sid).fetch().friendly_name,
        "filters": fetched.filters,
        "method": fetched.method,
        "error": error,
        "removed": client.conversations.v1.services(service.sid).delete(),
    }


def seen(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what differs between runs (the new service's SID)."""
    return {key: value for key, value in result.items() if key != "sid"}


if __name__ == "__main__":
    print(json.dumps(scenario(Client())))
