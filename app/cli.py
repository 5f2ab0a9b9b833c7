"""`twilio-emulator serve ...` and `python -m twilio_conversations_emulator serve ...`."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    from .settings import ENV_PREFIX

    parser = argparse.ArgumentParser(
        prog="twilio-emulator",
        description="A local emulator of Twilio's Conversations API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="start the emulator",
        description=f"Start the emulator. Each flag overrides its {ENV_PREFIX}* variable.",
    )
    serve.add_argument("--host", help="address to bind (TWILIO_EMULATOR_HOST, default 127.0.0.1)")
    serve.add_argument("--port", help="port to bind, 0 for any free one (TWILIO_EMULATOR_PORT, default 8080)")
    serve.add_argument(
        "--database",
        dest="database_url",
        metavar="URL",
        help="database URL (TWILIO_EMULATOR_DATABASE_URL, default sqlite:///./data/emulator.db)",
    )
    serve.add_argument(
        "--fixtures",
        metavar="PATH",
        help="fixture file or folder, '' for none (TWILIO_EMULATOR_FIXTURES)",
    )
    serve.add_argument("--auth-mode", help="permissive or strict (TWILIO_EMULATOR_AUTH_MODE)")
    serve.add_argument(
        "--public-base-url",
        metavar="URL",
        help="base of url and links in resources (TWILIO_EMULATOR_PUBLIC_BASE_URL)",
    )
    serve.add_argument("--max-body-bytes", help="request body limit (TWILIO_EMULATOR_MAX_BODY_BYTES)")
    serve.add_argument("--log-level", help="uvicorn log level (TWILIO_EMULATOR_LOG_LEVEL, default info)")
    serve.add_argument("--journal-size", help="requests kept in the journal (TWILIO_EMULATOR_JOURNAL_SIZE)")
    serve.add_argument(
        "--delivery-log-size", help="webhook deliveries kept (TWILIO_EMULATOR_DELIVERY_LOG_SIZE)"
    )
    serve.add_argument(
        "--webhook-timeout", help="seconds to wait for a pre-event hook (TWILIO_EMULATOR_WEBHOOK_TIMEOUT)"
    )
    serve.add_argument("--admin-token", help="token for /_emulator/ calls (TWILIO_EMULATOR_ADMIN_TOKEN)")
    serve.add_argument(
        "--workers", help="server processes sharing the port and database (TWILIO_EMULATOR_WORKERS)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Start-up makes a few hundred thousand objects that live as long as the process (modules, classes,
    # pydantic and SQLAlchemy structures) and almost no garbage: the collector's passes over them were ~10%
    # of start-up. It runs again, with those objects frozen out of its passes, once the server is built.
    gc.disable()
    try:
        return serve(argv)
    finally:
        gc.enable()


def serve(argv: Sequence[str] | None) -> int:
    from .settings import SettingsError, load_settings, settings_environment

    arguments = vars(build_parser().parse_args(argv))
    arguments.pop("command")
    try:
        settings = load_settings(**arguments)
    except SettingsError as exc:
        print(f"twilio-emulator: {exc}", file=sys.stderr)
        return 2

    # Imported here so `--help` and a bad setting answer without loading the web stack.
    import uvicorn

    from .edge.protocol import TwilioHttpToolsProtocol
    from .fixtures import FixtureError
    from .main import create_app, prepare_database

    try:
        if settings.workers == 1:
            app: Any = create_app(settings)
        else:
            # The schema and start-up fixtures are made once, here, so a bad setting or fixture stops
            # the command before any worker starts; each worker then builds the app from the same
            # settings, passed to it in the environment.
            prepare_database(settings)[0].dispose()
            os.environ.update(settings_environment(settings))
            app = f"{__package__}.main:create_app_from_environment"
    except FixtureError as exc:
        print(f"twilio-emulator: invalid fixtures: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a database that cannot be opened, a folder that cannot be made
        print(f"twilio-emulator: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    # No collection first: what start-up left unreachable (the argument parser; with workers, the parent's
    # disposed engines) is a bounded few hundred KB, and a full pass over everything costs tens of ms.
    gc.freeze()
    gc.enable()
    uvicorn.run(
        app,
        factory=settings.workers > 1,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.log_level in ("debug", "trace"),
        server_header=False,
        http=TwilioHttpToolsProtocol,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
