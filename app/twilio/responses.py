"""Twilio's success responses: JSON in UTF-8, declared as such."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from .errors import JSON_CONTENT_TYPE


class TwilioJSONResponse(Response):
    media_type = JSON_CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")


def no_content() -> Response:
    return Response(status_code=204)
