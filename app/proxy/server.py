"""mitmproxy in this process, with only the addons interception needs: `proxy` runs it alone, `serve
--proxy-port` in a thread beside the server."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from mitmproxy import options
from mitmproxy.addons import block, core, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from ..settings import ProxySettings
from .intercept import Intercept, Target
from .trust import CaFiles, export_lines

# One connection-ready wait of `serve`: mitmproxy sets up in well under a second.
START_TIMEOUT_S = 30.0


class ProxyError(RuntimeError):
    """The proxy could not start (its port is taken, its folder cannot be written)."""


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Proxy:
    """One run of the proxy: `run()` serves until `shutdown()` (thread-safe) or a start-up failure.

    Once it listens it writes the CA bundle and `env.sh` in its folder and calls `announce` with the lines
    a shell exports."""

    def __init__(self, settings: ProxySettings, announce: Callable[[list[str]], None]) -> None:
        self.settings = settings
        self.announce = announce
        self.target = Target.parse(settings.target)
        self.files = CaFiles(Path(settings.ca_dir))
        self.failure: str | None = None
        self.ready = threading.Event()  # set once listening, or once it failed
        self._master: Master | None = None
        self._stopped = False

    async def run(self) -> None:
        try:
            self.files.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(f"cannot make {self.files.folder}: {exc}")
            return
        opts = options.Options(
            listen_host=self.settings.host,
            listen_port=self.settings.port,
            confdir=str(self.files.folder),
            mode=["regular"],
        )
        master = Master(opts)
        master.addons.add(
            core.Core(),
            proxyserver.Proxyserver(),
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),  # makes the CA in confdir on first start, and keeps it
            block.Block(),  # with a public --host, clients from public addresses are turned away
            Intercept(self.target, self._listening),
        )
        # No connection before a request is read and rewritten (the default connects to the host a CONNECT
        # names first, which is Twilio), and no peek at the real server's certificate.
        opts.update(connection_strategy="lazy", upstream_cert=False)
        self._master = master
        if self._stopped:
            return
        await master.run()
        if not self.ready.is_set():
            self._fail("it stopped before it listened")

    def _listening(self, addresses: list[tuple[str, int]]) -> None:
        if not addresses:
            self._fail(f"cannot listen on {self.settings.host}:{self.settings.port}")
            self.shutdown()
            return
        host, port = addresses[0]
        shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        environment = self.files.environment(f"http://{_url_host(shown)}:{port}")
        try:
            self.files.write_bundle()
            self.files.write_env_script(environment)
        except OSError as exc:
            self._fail(f"cannot write {self.files.folder}: {exc}")
            self.shutdown()
            return
        self.announce(
            [
                f"# twilio-emulator proxy on {_url_host(host or '0.0.0.0')}:{port}: *.twilio.com is handed "
                f"to {self.target.url}; no other host is reached. Export these, or run: "
                f". {self.files.env_script}",
                *export_lines(environment),
            ]
        )
        self.ready.set()

    def _fail(self, message: str) -> None:
        self.failure = self.failure or message
        self.ready.set()

    def shutdown(self) -> None:
        self._stopped = True
        if self._master is None or self._master.event_loop.is_closed():
            return
        try:
            self._master.shutdown()
        except RuntimeError:
            # From another thread, as the proxy ends by itself (it could not listen): its loop closed
            # between the check and the call. There is nothing left to stop.
            if not self._master.event_loop.is_closed():
                raise


def print_lines(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


def run_proxy(settings: ProxySettings) -> int:
    """`twilio-emulator proxy`: in the foreground until SIGINT or SIGTERM."""
    proxy = Proxy(settings, print_lines)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(stop, proxy.shutdown)
        await proxy.run()

    asyncio.run(main())
    if proxy.failure is not None:
        print(f"twilio-emulator: the proxy cannot start: {proxy.failure}", file=sys.stderr)
        return 2
    return 0


class ProxyThread:
    """The proxy on an event loop of its own in a daemon thread, for `serve --proxy-port`: it ends with
    the process however the server stops."""

    def __init__(self, settings: ProxySettings) -> None:
        self.proxy = Proxy(settings, print_lines)
        self.thread = threading.Thread(target=self._run, name="twilio-emulator-proxy", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.proxy.run())
        except BaseException as exc:  # reported by start(), or lost with the process
            self.error = exc
            self.proxy._fail(f"{type(exc).__name__}: {exc}")

    def start(self) -> None:
        """Returns once the proxy listens; raises ProxyError if it cannot."""
        self.thread.start()
        if not self.proxy.ready.wait(START_TIMEOUT_S):
            self.stop()
            raise ProxyError(f"it did not listen within {START_TIMEOUT_S:.0f} s")
        if self.proxy.failure is not None:
            self.stop()
            raise ProxyError(self.proxy.failure)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.proxy.shutdown()
        self.thread.join(timeout=5)
