"""The optional admin token that guards `/_emulator/` (all but health)."""

from __future__ import annotations

import hmac

from ..twilio.errors import AUTHENTICATE, TwilioError

CONTROL_PREFIX = "/_emulator/"
OPEN_CONTROL_PATHS = frozenset({"/_emulator/health"})


def needs_admin_token(path: str) -> bool:
    return path.startswith(CONTROL_PREFIX) and path not in OPEN_CONTROL_PATHS


def check_admin_token(expected: str, header: str | None) -> None:
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise TwilioError(
            401,
            AUTHENTICATE,
            "Authenticate: /_emulator/ needs Authorization: Bearer <admin token>",
            {"WWW-Authenticate": 'Bearer realm="Twilio emulator"'},
        )
