"""JSON bodies of the control API: parsed once, refused with a clear 400 (code 20001)."""

from __future__ import annotations

import json
from typing import Any

from app.twilio.errors import MISSING_PARAMETER, TwilioError


def parse_json_body(body: bytes) -> Any:
    """The document in `body` (an empty body is `null`)."""
    try:
        return json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TwilioError(400, MISSING_PARAMETER, f"The body is not a JSON document: {exc}") from None
    except RecursionError:
        raise TwilioError(400, MISSING_PARAMETER, "The body is nested too deeply to read") from None
