"""The proxy's CA and what a client needs to trust it: the CA bundle and the variables to export."""

from __future__ import annotations

import os
import shlex
import ssl
from pathlib import Path

# mitmproxy's own names for the files of the CA it keeps in its confdir.
CA_BASENAME = "mitmproxy"
CA_CERT = f"{CA_BASENAME}-ca-cert.pem"
BUNDLE = "ca-bundle.pem"
ENV_SCRIPT = "env.sh"
# Where the usual Linux and macOS systems keep their roots, for an OpenSSL that names none of its own.
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)


class CaFiles:
    """The files in the proxy's folder: mitmproxy's CA, the bundle of it and the system's roots, env.sh."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.expanduser().resolve()

    @property
    def ca_cert(self) -> Path:
        return self.folder / CA_CERT

    @property
    def bundle(self) -> Path:
        return self.folder / BUNDLE

    @property
    def env_script(self) -> Path:
        return self.folder / ENV_SCRIPT

    def write_bundle(self) -> None:
        """The CA followed by the system's roots: for clients that take one file instead of their own roots
        (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`), so hosts the proxy is not asked about still verify."""
        text = self.ca_cert.read_text(encoding="ascii").rstrip("\n") + "\n"
        roots = system_roots()
        text += f"# system roots: {roots}\n" + roots.read_text(encoding="utf-8", errors="replace")
        _replace(self.bundle, text)

    def environment(self, proxy_url: str) -> dict[str, str]:
        """What a shell exports for its clients to go through the proxy and trust its CA."""
        return {
            "HTTP_PROXY": proxy_url,
            "HTTPS_PROXY": proxy_url,
            # The emulator itself (and a local webhook receiver) is reached directly by clients that read it.
            "NO_PROXY": "127.0.0.1,localhost",
            "NODE_EXTRA_CA_CERTS": str(self.ca_cert),  # added to Node's own roots
            "REQUESTS_CA_BUNDLE": str(self.bundle),  # requests (twilio-python): replaces certifi's roots
            "SSL_CERT_FILE": str(self.bundle),  # OpenSSL's default file: Python's ssl, curl, Ruby, ...
        }

    def write_env_script(self, environment: dict[str, str]) -> None:
        _replace(self.env_script, "".join(line + "\n" for line in export_lines(environment)))


def export_lines(environment: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in environment.items()]


def system_roots() -> Path:
    """The system's CA bundle, or certifi's (Mozilla's roots) where it has none."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, os.environ.get("SSL_CERT_FILE"), *SYSTEM_BUNDLES):
        if candidate and Path(candidate).is_file() and not _is_ours(Path(candidate)):
            return Path(candidate)
    import certifi

    return Path(certifi.where())


def _is_ours(path: Path) -> bool:
    # A shell that already exported SSL_CERT_FILE from an earlier run must not nest the bundle in itself.
    return path.name == BUNDLE


def _replace(path: Path, text: str) -> None:
    """Written whole or not at all: a client reading the file never sees half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
