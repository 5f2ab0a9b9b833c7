"""`twilio-emulator serve|proxy ...` and `python -m twilio_conversations_emulator serve|proxy ...`."""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .proxy.server import ProxyThread
    from .settings import Option, ProxySettings, Settings

# uvicorn's default is 5 s; see the `uvicorn.run` call.
WORKER_HEALTHCHECK_TIMEOUT_S = 60


def build_parser(settings_class: type[Settings] | None = None) -> argparse.ArgumentParser:
    """The command line, with one `serve` flag per field of `settings_class` (by default `Settings`) and one
    `proxy` flag per field of `ProxySettings`."""
    from .settings import ENV_PREFIX, PROXY_ENV_PREFIX, ProxySettings, Settings, options

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
    add_flags(serve, options(settings_class or Settings))
    proxy = commands.add_parser(
        "proxy",
        help="intercept HTTPS to *.twilio.com and hand it to an emulator",
        description=(
            "Run an HTTP(S) proxy that hands requests to *.twilio.com to the emulator at --target and "
            "refuses every other host, for clients whose base URL cannot be changed. Prints, once ready, "
            f"the variables to export. Needs the `proxy` extra. Each flag overrides its {PROXY_ENV_PREFIX}* "
            "variable."
        ),
    )
    add_flags(proxy, options(ProxySettings))
    return parser


def add_flags(command: argparse.ArgumentParser, declared: dict[str, Option]) -> None:
    # No type and no default: pydantic validates every value, whichever way it came, with one message, and
    # a flag that was not given leaves its variable (or the field's default) in force.
    for option in declared.values():
        command.add_argument(option.flag, dest=option.name, metavar=option.metavar, help=option.help)


def main(argv: Sequence[str] | None = None) -> int:
    # Start-up makes a few hundred thousand objects that live as long as the process (modules, classes,
    # pydantic and SQLAlchemy structures) and almost no garbage: the collector's passes over them were ~10%
    # of start-up. It runs again, with those objects frozen out of its passes, once the server is built.
    gc.disable()
    try:
        arguments = vars(build_parser().parse_args(argv))
        if arguments.pop("command") == "proxy":
            return proxy(arguments)
        return serve(arguments)
    finally:
        gc.enable()


def proxy(arguments: dict[str, Any]) -> int:
    from .settings import ProxySettings, SettingsError, load_settings

    try:
        settings = load_settings(ProxySettings, **arguments)
    except SettingsError as exc:
        print(f"twilio-emulator: {exc}", file=sys.stderr)
        return 2
    if not proxy_installed():
        return 2
    gc.enable()
    from .proxy.server import run_proxy

    return run_proxy(settings)


def proxy_installed() -> bool:
    import importlib.util

    if importlib.util.find_spec("mitmproxy") is not None:
        return True
    from .extras import install_hint

    print(
        "twilio-emulator: the proxy needs mitmproxy, this package's `proxy` extra: "
        + install_hint("proxy", "mitmproxy"),
        file=sys.stderr,
    )
    return False


def proxy_beside(settings: Settings) -> ProxySettings:
    """The proxy of `serve --proxy-port`: `proxy`'s variables, its port, and this server as its target."""
    from .settings import ProxySettings, load_settings

    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    return load_settings(
        ProxySettings, port=settings.proxy_port, target=f"http://{address(host, settings.port)}"
    )


def address(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def why_unlistenable(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on `host`:`port` (a socket bound as it binds one), or None if it can.

    Asked before the database is opened: uvicorn finds a taken port only after the app's start-up, says
    so between "Application startup complete" and its shutdown lines, and exits 3.
    """
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {address(host, port)}: {(exc.strerror or str(exc)).lower()}"
    return None


def serve(arguments: dict[str, Any]) -> int:
    from .settings import SettingsError, load_settings, settings_environment

    try:
        settings = load_settings(**arguments)
        proxy_settings = proxy_beside(settings) if settings.proxy_port is not None else None
    except SettingsError as exc:
        print(f"twilio-emulator: {exc}", file=sys.stderr)
        return 2
    unlistenable = why_unlistenable(settings.host, settings.port)
    if unlistenable is not None:
        print(f"twilio-emulator: {unlistenable}", file=sys.stderr)
        return 2
    if proxy_settings is not None:
        if settings.port == 0:
            print("twilio-emulator: invalid --port: 0 cannot be the target of --proxy-port", file=sys.stderr)
            return 2
        if not proxy_installed():
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
    proxy_thread: ProxyThread | None = None
    if proxy_settings is not None:
        from .proxy.server import ProxyError, ProxyThread

        proxy_thread = ProxyThread(proxy_settings)
        try:
            proxy_thread.start()
        except ProxyError as exc:
            print(f"twilio-emulator: the proxy cannot start: {exc}", file=sys.stderr)
            return 2
    try:
        uvicorn.run(
            app,
            factory=settings.workers > 1,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=settings.log_level in ("debug", "trace"),
            server_header=False,
            # No WebSocket routes: an upgrade request is then an ordinary one, answered as Twilio's
            # (uvicorn's WebSocket handling closed it with a bare 403), and no WebSocket library is
            # imported (wsproto, ~25 ms of every start).
            ws="none",
            http=TwilioHttpToolsProtocol,
            # How long uvicorn's parent waits for a worker's answer to its health ping before it kills
            # the worker and starts another. A new worker answers only once it has imported the app's
            # modules, which on a loaded machine takes more than uvicorn's 5 s: workers were killed and
            # restarted over and over, and none ever served.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
        )
    finally:
        # After SIGTERM uvicorn re-raises the signal, which ends the process and the proxy's daemon
        # thread with it; after SIGINT (KeyboardInterrupt) or a return, the proxy is stopped here.
        if proxy_thread is not None:
            proxy_thread.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
