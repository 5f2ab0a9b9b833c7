"""`X-Twilio-Signature`: how Twilio signs the webhook requests it sends.

The full URL the request goes to, then for a POST every body parameter sorted by name, each as name and
value with no separator; HMAC-SHA1 of that with the account's auth token as key; base64. A GET carries
its parameters in the URL itself, so its signature covers the URL alone.
"""

from __future__ import annotations

import hmac
from base64 import b64encode
from collections.abc import Mapping
from hashlib import sha1


def signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    body = params or {}
    payload = url + "".join(name + body[name] for name in sorted(body))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), sha1).digest()
    return b64encode(digest).decode("ascii")
