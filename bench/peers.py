"""The emulator's peers in bench/run.py: other servers a user could mock Twilio with, on the same GET.

- **WireMock** standalone (the jar the npm package `wiremock` ships, run by Java) with one static stub that
  answers the webhooks GET with the bytes the baseline (bench/baseline_app.py) answers during the GET load.
  Its options for performance testing, as its `--help` describes them: `--no-request-journal` (nothing
  kept per request) and `--disable-request-logging` ("useful when performance testing").
  `--async-response-enabled` is left off: it frees Jetty's threads during a stub's fixed delay, and this
  stub has none.
- **Prism** (`@stoplight/prism-cli`) mocking Twilio's own OpenAPI file for Conversations, found beside the
  repository in `../shared/spec/`: it validates each request against the spec and answers the operation's
  example. `--verboseLevel warn`: no log line per request.

Each is a pinned npm package installed once into a cache folder (bench/tools.py). A peer that cannot run
here (no Java and no way to install it, no npm, no spec) is skipped with a line that says why, never a
failure. Each runs in a session of its own, listens on 127.0.0.1 only, and is stopped with its whole
process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.app_serving import JSON_CONTENT_TYPE
from bench.baseline_app import DEFAULT_UPDATE
from bench.servers import REPO, CommandServer, webhooks_path
from bench.tools import NpmPackage, Unavailable, find_java, on_path, program_version

WIREMOCK = NpmPackage("wiremock", "3.13.2")
PRISM = NpmPackage("@stoplight/prism-cli", "5.16.0")
SPEC = REPO.parent / "shared" / "spec" / "twilio_conversations_v1.json"

# A JVM or a Node process reading a 1 MB spec starts slower than uvicorn: give either time.
PEER_STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class GroupServer(CommandServer):
    """A CommandServer stopped with its whole process group (its own session): a launcher's children too."""

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        for sent, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, None)):
            try:
                os.killpg(process.pid, sent)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Reap the leader if it had already gone; the group may outlive it only until the SIGKILL above.
        process.poll()


@dataclass(frozen=True)
class Peer:
    """A peer that can run here: its key (`wiremock`), its label in the tables, what it is, and a maker of
    a fresh server process (given the folder for its files and logs)."""

    key: str
    label: str
    description: str
    server: Callable[[Path], GroupServer]


def wiremock_mapping() -> dict[str, object]:
    return {
        "request": {"method": "GET", "url": webhooks_path()},
        "response": {
            "status": 200,
            "body": DEFAULT_UPDATE.decode(),
            "headers": {"Content-Type": JSON_CONTENT_TYPE},
        },
    }


def wiremock_peer() -> Peer:
    java = find_java()
    package = WIREMOCK.install()
    jars = sorted((package / "build").glob("wiremock-standalone-*.jar"))
    if not jars:
        raise Unavailable(f"no wiremock-standalone jar in {package / 'build'}")
    jar = jars[-1]

    def server(folder: Path) -> GroupServer:
        root = folder / "wiremock"
        (root / "mappings").mkdir(parents=True, exist_ok=True)
        (root / "mappings" / "webhooks.json").write_text(json.dumps(wiremock_mapping()))

        def command(port: int) -> list[str]:
            return [
                *(java, "-jar", str(jar)),
                *("--port", str(port), "--bind-address", "127.0.0.1", "--root-dir", str(root)),
                *("--disable-banner", "--no-request-journal", "--disable-request-logging"),
            ]

        return GroupServer("wiremock", command, folder, startup_timeout=PEER_STARTUP_TIMEOUT_S)

    java_version = program_version([java, "-version"])
    return Peer(
        "wiremock",
        "WireMock",
        f"WireMock {WIREMOCK.version} standalone ({jar.name}), one static stub; {java_version}",
        server,
    )


def prism_peer() -> Peer:
    if not SPEC.is_file():
        raise Unavailable(f"Twilio's OpenAPI file is not at {SPEC} (../shared/spec/ beside the repository)")
    node = on_path("node")
    package = PRISM.install()
    entry = package / "dist" / "index.js"
    if not entry.is_file():
        raise Unavailable(f"no {entry}")

    def server(folder: Path) -> GroupServer:
        def command(port: int) -> list[str]:
            return [
                *(node, str(entry), "mock", str(SPEC)),
                *("--host", "127.0.0.1", "--port", str(port), "--verboseLevel", "warn"),
            ]

        return GroupServer("prism", command, folder, startup_timeout=PEER_STARTUP_TIMEOUT_S)

    return Peer(
        "prism",
        "Prism",
        f"Prism {PRISM.version} on Twilio's {SPEC.name}; Node {program_version([node, '--version'])}",
        server,
    )


PEER_MAKERS: tuple[tuple[str, Callable[[], Peer]], ...] = (("WireMock", wiremock_peer), ("Prism", prism_peer))


def available_peers(say: Callable[[str], None]) -> tuple[list[Peer], list[str]]:
    """The peers that can run here, and a line for each one skipped, also said as it happens."""
    peers: list[Peer] = []
    skipped: list[str] = []
    for label, make in PEER_MAKERS:
        try:
            peers.append(make())
        except Unavailable as exc:
            line = f"{label} skipped: {exc}"
            skipped.append(line)
            say(line)
    return peers, skipped
