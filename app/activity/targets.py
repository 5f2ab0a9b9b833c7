"""Which hosts a webhook may be delivered to: anywhere by default (local handlers are the point of an
emulator), or only those an allow-list names, for an emulator shared on a network.

An allow-list entry is a host name (`hooks.example.com`, or `*.example.com` for its subdomains), an IP
address, or a network (`10.0.0.0/8`, `::1/128`). A URL whose host is an allowed name is delivered; any
other host is resolved, and delivered only if every address it resolves to lies in an allowed network,
so a name cannot smuggle in an address the list leaves out (`0x7f000001`, a DNS name of 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_entry(entry: str) -> str | Network:
    """A host name (lower case) or a network; ValueError for anything else."""
    text = entry.strip()
    if not text:
        raise ValueError("an entry is empty")
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    labels = (name[2:] if name.startswith("*.") else name).split(".")
    if not all(label and all(char.isalnum() or char == "-" for char in label) for label in labels):
        raise ValueError(f"{entry!r} is neither a host name, an IP address nor a network")
    return name


@dataclass(frozen=True)
class TargetPolicy:
    names: tuple[str, ...]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, allowed: str) -> TargetPolicy:
        entries = [parse_entry(entry) for entry in allowed.split(",")]
        return cls(
            tuple(entry for entry in entries if isinstance(entry, str)),
            tuple(entry for entry in entries if not isinstance(entry, str)),
        )

    def _named(self, host: str) -> bool:
        return any(host == name or (name.startswith("*.") and host.endswith(name[1:])) for name in self.names)

    def _in_networks(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    async def refusal(self, url: str) -> str | None:
        """Why `url` may not be delivered to, or None when it may."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if self._named(host):
            return None
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            addresses = [host]
        except ValueError:
            try:
                found = await asyncio.get_running_loop().getaddrinfo(
                    host, parts.port or 443, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                return f"{host} could not be resolved to check it against the allowed targets ({exc})"
            addresses = [str(info[4][0]) for info in found]
        outside = [address for address in addresses if not self._in_networks(address)]
        if outside:
            return (
                f"{host} ({', '.join(sorted(set(outside)))}) is not among the allowed webhook targets "
                "(TWILIO_EMULATOR_WEBHOOK_ALLOWED_TARGETS)"
            )
        return None


def target_policy(allowed: str | None) -> TargetPolicy | None:
    """The policy of the `webhook_allowed_targets` setting; None (anywhere) when it is unset."""
    return TargetPolicy.parse(allowed) if allowed is not None else None
