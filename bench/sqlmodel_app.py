"""The floor of the emulator's stack: the baseline's FastAPI app, with SQLModel on a SQLite file under it.

bench/startup.py starts it beside the emulator and the bare baseline, to split the emulator's cold start
into what any FastAPI app on SQLModel and SQLite pays before its first answer (importing SQLAlchemy and
SQLModel, declaring a table, creating it on a fresh file, a first query) and what the emulator adds on
top (its models, routes and settings, its whole schema and fixtures, its middleware).

It answers `GET /v1/Services/{ChatServiceSid}/Configuration/Webhooks` from one table with the demo
service's row, written at start-up if the file is new, read and encoded as JSON on every request; any
other service is a bare 404. It checks no credentials. Served as bench/baseline_app.py is served; it
starts with the garbage collector off, as the emulator does, so that its figure is the stack's and not
the collector's.

    python bench/sqlmodel_app.py --port 8082 --database /tmp/floor.db
"""

from __future__ import annotations

import gc

if __name__ == "__main__":
    gc.disable()  # for the imports below, as the emulator's start-up; not when a test imports this

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from sqlmodel import Field, Session, SQLModel, create_engine
from starlette.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.app_serving import ACCOUNT_SID, JSON_CONTENT_TYPE, SERVICE_SID, serve


class FloorWebhookConfiguration(SQLModel, table=True):
    # Its own class name: the emulator's models share SQLModel's registry when both are imported (tests).
    __tablename__ = "webhook_configuration"

    chat_service_sid: str = Field(primary_key=True)
    account_sid: str
    post_webhook_url: str | None
    filters: str  # JSON array
    method: str


def create_app(database: Path) -> FastAPI:
    engine = create_engine(f"sqlite:///{database}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        if session.get(FloorWebhookConfiguration, SERVICE_SID) is None:
            session.add(
                FloorWebhookConfiguration(
                    chat_service_sid=SERVICE_SID,
                    account_sid=ACCOUNT_SID,
                    post_webhook_url="https://example.com/conversations/post-event",
                    filters=json.dumps(["onMessageAdded", "onConversationAdded"]),
                    method="POST",
                )
            )
            session.commit()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    # Async, as the emulator's handlers are: a plain def would start a thread pool at the first request.
    @app.get("/v1/Services/{ChatServiceSid}/Configuration/Webhooks")
    async def fetch_webhooks(ChatServiceSid: str) -> Response:
        with Session(engine) as session:
            row = session.get(FloorWebhookConfiguration, ChatServiceSid)
            if row is None:
                return Response(status_code=404)
            document = {
                "account_sid": row.account_sid,
                "chat_service_sid": row.chat_service_sid,
                "pre_webhook_url": None,
                "post_webhook_url": row.post_webhook_url,
                "filters": json.loads(row.filters),
                "method": row.method,
                "url": f"https://conversations.twilio.com/v1/Services/{ChatServiceSid}/Configuration/Webhooks",
            }
        return Response(json.dumps(document).encode(), media_type=JSON_CONTENT_TYPE)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--database", type=Path, required=True, help="the SQLite file (made if missing)")
    parser.add_argument("--log-level", default="info")
    arguments = parser.parse_args(argv)
    application = create_app(arguments.database)
    gc.freeze()
    gc.enable()
    serve(application, arguments.host, arguments.port, arguments.log_level)


if __name__ == "__main__":
    main()
