"""Which web pages may use the emulator from a browser.

Twilio's API answers every origin (`Access-Control-Allow-Origin: *`), and so does `/v1` here: browser
clients of Twilio's API keep working. The control API (`/_emulator/`) is for tests and operators, not for
pages: it carries no CORS headers, so no page of another origin can read its answers, and it refuses any
request a browser marks as coming from another origin (`Origin`, `Sec-Fetch-Site`), so a page cannot
even fire a state-changing call that needs no preflight (a `text/plain` POST to `/_emulator/reset`).
Tools (curl, test suites, SDKs) send neither header and are unaffected.

Private Network Access preflights (a public page asking to reach this machine) are refused on every path:
a local emulator is not a service for the internet's pages, and local development pages never send them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..twilio.errors import TwilioError

FORBIDDEN = 20403
CONTROL_PREFIX = "/_emulator/"
# `none` is a navigation the user made (typing the URL, a bookmark): the docs page, say.
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


def is_control(path: str) -> bool:
    return path.startswith(CONTROL_PREFIX) or path == CONTROL_PREFIX.rstrip("/")


def _forbidden(why: str) -> TwilioError:
    return TwilioError(403, FORBIDDEN, why)


def control_refusal(headers: Mapping[str, str], scheme: str) -> TwilioError | None:
    """Why a control API request from a browser page of another origin is refused, or None."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in SAME_SITE_FETCHES:
        return _forbidden("The control API does not answer web pages of other origins")
    origin = headers.get("origin")
    if origin is not None and origin != f"{scheme}://{headers.get('host', '')}":
        return _forbidden("The control API does not answer web pages of other origins")
    return None


def private_network_refusal(headers: Mapping[str, str]) -> TwilioError | None:
    if headers.get("access-control-request-private-network", "").lower() == "true":
        return _forbidden("Private Network Access is not granted: this emulator is not for public web pages")
    return None
