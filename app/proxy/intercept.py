"""The mitmproxy addon: `*.twilio.com` is handed to the emulator, every other host refused, nothing else
connected to."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from mitmproxy import ctx, http
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

TWILIO_DOMAIN = "twilio.com"
REFUSED_STATUS = 403
REFUSED_REASON = "Not a Twilio host (twilio-emulator proxy)"


@dataclass(frozen=True)
class Target:
    """The emulator the proxy forwards to: the one address it ever connects to."""

    url: str
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        return cls(url, scheme, host, parts.port or (443 if scheme == "https" else 80))

    def is_address(self, host: str, port: int) -> bool:
        return host.lower() == self.host.lower() and port == self.port


def is_twilio(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name == TWILIO_DOMAIN or name.endswith("." + TWILIO_DOMAIN)


class Intercept:
    """Requests for a Twilio host go to `target`, over its scheme; requests for the target itself (the
    emulator's own list-page URLs) go there as they are; anything else is answered 403 by the proxy.

    `ready` is called with the listening addresses once the proxy accepts connections (none: it could
    not listen)."""

    def __init__(self, target: Target, ready: Callable[[list[tuple[str, int]]], None]) -> None:
        self.target = target
        self.ready = ready

    def running(self) -> None:
        # After mitmproxy has set up its servers (Master.run), before the first client.
        proxyserver = ctx.master.addons.get("proxyserver")
        self.ready([(str(address[0]), int(address[1])) for address in proxyserver.listen_addrs()])

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """A CONNECT: the tunnel is opened only to a Twilio host (whose TLS the proxy ends) or the target."""
        host, port = flow.request.host, flow.request.port
        if not (is_twilio(host) or self.target.is_address(host, port)):
            self.refuse(flow, f"CONNECT {host}:{port}")

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return
        request = flow.request
        if is_twilio(request.pretty_host):
            request.scheme = self.target.scheme
            request.host = self.target.host  # the Host header follows, as to any server
            request.port = self.target.port
        elif not self.target.is_address(request.host, request.port):
            self.refuse(flow, f"{request.method} {request.pretty_url}")

    def server_connect(self, data: ServerConnectionHookData) -> None:
        """The last guard: whatever asked for it, no connection is opened to anything but the target."""
        address = data.server.address
        if address is None or not self.target.is_address(str(address[0]), int(address[1])):
            data.server.error = f"twilio-emulator proxy connects only to {self.target.url}, not {address}"

    def refuse(self, flow: http.HTTPFlow, what: str) -> None:
        message = (
            f"twilio-emulator proxy: {what} refused: only *.{TWILIO_DOMAIN} is intercepted (handed to the "
            f"emulator at {self.target.url}); nothing is sent to any other host.\n"
        )
        flow.response = http.Response.make(
            REFUSED_STATUS, message, {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"}
        )
        flow.response.reason = REFUSED_REASON
        print(message, end="", file=sys.stderr, flush=True)
