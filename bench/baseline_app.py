"""The benchmark's baseline: the least a FastAPI app on uvicorn does to answer the emulator's webhooks calls.

It answers `GET` and `POST /v1/Services/{ChatServiceSid}/Configuration/Webhooks` with prebuilt bytes of the
very JSON the emulator answers (the shipped demo fixture's configuration, and after a POST the configuration
that POST's body sets, for the bodies bench/run.py sends), reads the POST body and checks nothing. Every
cost the emulator adds on top of this (middleware, authentication, dependencies, the ORM, SQLite, JSON
encoding) is what the benchmark's ratios measure.

It is served as `twilio-emulator serve` serves the emulator (app/cli.py): `uvicorn.run` with the default
(auto) loop, so uvloop when installed, httptools, the same log level, no access log and no server header.
One difference, on purpose: the emulator passes its own subclass of uvicorn's httptools protocol
(app/edge/protocol.py), which answers requests the parser refuses with a Twilio error envelope; on the
well-formed requests of the benchmark it runs uvicorn's code plus one check per response. This app runs
uvicorn's protocol itself, as a bare FastAPI app would.

    python bench/baseline_app.py --port 8081
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.app_serving import ACCOUNT_SID, JSON_CONTENT_TYPE, SERVICE_SID, serve


def configuration_bytes(filters: list[str], method: str) -> bytes:
    """The emulator's answer for the demo service, encoded as the emulator encodes it."""
    document = {
        "account_sid": ACCOUNT_SID,
        "chat_service_sid": SERVICE_SID,
        "pre_webhook_url": None,
        "post_webhook_url": "https://example.com/conversations/post-event",
        "filters": filters,
        "method": method,
        "url": f"https://conversations.twilio.com/v1/Services/{SERVICE_SID}/Configuration/Webhooks",
    }
    return json.dumps(document, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")


# As shipped in fixtures/demo.json, then as each of the benchmark's POST bodies (bench/run.py) leaves it. The
# emulator's GET answers the configuration the last POST set; so does this one.
FETCHED = configuration_bytes(["onMessageAdded", "onConversationAdded"], "POST")
UPDATED = {
    f"Filters={first}&Filters={second}&Method={method}".encode(): configuration_bytes([first, second], method)
    for first, second in (("onMessageAdd", "onMessageAdded"), ("onMessageAdded", "onMessageAdd"))
    for method in ("POST", "GET")
}
DEFAULT_UPDATE = UPDATED[b"Filters=onMessageAdd&Filters=onMessageAdded&Method=POST"]

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
_current = [FETCHED]


@app.get("/v1/Services/{ChatServiceSid}/Configuration/Webhooks")
async def fetch_webhooks(ChatServiceSid: str) -> Response:
    return Response(_current[0], media_type=JSON_CONTENT_TYPE)


@app.post("/v1/Services/{ChatServiceSid}/Configuration/Webhooks")
async def update_webhooks(ChatServiceSid: str, request: Request) -> Response:
    answer = UPDATED.get(await request.body(), DEFAULT_UPDATE)
    _current[0] = answer
    return Response(answer, media_type=JSON_CONTENT_TYPE)


# A message as the emulator answers a create (bench/run.py's message load), with the index of each next one.
MESSAGE_URL = "https://conversations.twilio.com/v1/Conversations/CH00000000000000000000000000000000/Messages"
_messages = [0]


def message_bytes(index: int) -> bytes:
    sid = f"IM{index:032x}"
    url = f"{MESSAGE_URL}/{sid}"
    document = {
        "account_sid": ACCOUNT_SID,
        "conversation_sid": "CH00000000000000000000000000000000",
        "sid": sid,
        "index": index,
        "author": "bench",
        "body": "Hello from the benchmark",
        "media": None,
        "attributes": "{}",
        "participant_sid": None,
        "date_created": "2026-01-01T00:00:00Z",
        "date_updated": "2026-01-01T00:00:00Z",
        "url": url,
        "delivery": None,
        "links": {"delivery_receipts": f"{url}/Receipts", "channel_metadata": f"{url}/ChannelMetadata"},
        "content_sid": None,
    }
    return json.dumps(document, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")


@app.post("/v1/Conversations/{ConversationSid}/Messages")
async def create_message(ConversationSid: str, request: Request) -> Response:
    await request.body()
    _messages[0] += 1
    return Response(message_bytes(_messages[0] - 1), status_code=201, media_type=JSON_CONTENT_TYPE)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--log-level", default="info", help="uvicorn log level (the emulator's default: info)"
    )
    arguments = parser.parse_args(argv)
    serve(app, arguments.host, arguments.port, arguments.log_level)


if __name__ == "__main__":
    main()
