"""`twilio-emulator serve ...` and `python -m twilio_conversations_emulator serve ...`."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .settings import Settings

# uvicorn's default is 5 s; see the `uvicorn.run` call.
WORKER_HEALTHCHECK_TIMEOUT_S = 60


def build_parser(settings_class: type[Settings] | None = None) -> argparse.ArgumentParser:
    """The command line, with one `serve` flag per field of `settings_class` (by default `Settings`)."""
    from .settings import ENV_PREFIX, Settings, options

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
    # No type and no default: pydantic validates every value, whichever way it came, with one message, and
    # a flag that was not given leaves its variable (or the field's default) in force.
    for option in options(settings_class or Settings).values():
        serve.add_argument(option.flag, dest=option.name, metavar=option.metavar, help=option.help)
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
        # How long uvicorn's parent waits for a worker's answer to its health ping before it kills the
        # worker and starts another. A new worker answers only once it has imported the app's modules,
        # which on a loaded machine takes more than uvicorn's 5 s: workers were killed and restarted
        # over and over, and none ever served.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
