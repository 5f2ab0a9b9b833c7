"""The intercepting proxy: unchanged clients (twilio-python, twilio-node, twilio-cli) reach the emulator
through `serve --proxy-port` and `proxy`, and nothing else is reached.

One `serve --proxy-port` per module serves the clients; `proxy` alone runs once beside it. Both run with
an audit hook (`sitecustomize.py`, below) that refuses, and reports, any name lookup or connection of theirs
beyond this machine: what the tests assert on is the proxy's own refusal, never a failed trip outside.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.rest import Client
from twilio_conversations_emulator import mock_twilio
from twilio_conversations_emulator.testing.processes import run
from twilio_conversations_emulator.testing.server import ProxyProcess, exported, free_port

from tests.conftest import DEMO_ACCOUNT, DEMO_TOKEN, REPO, Server, start_server
from tests.npm import NpmError, ensure_installed
from tests.test_node_sdk import NODE_DIR, NODE_TIMEOUT, node
from tests.test_readme import readme_block, with_node_modules
from tests.three_ways import EXPECTED, scenario, seen

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)
__all__ = ["node"]  # the fixture that installs the twilio Node library, shared with test_node_sdk

CLI_DIR = Path(__file__).resolve().parent / "node-cli"
TWILIO_CLI_VERSION = "6.2.4"
CLI_TIMEOUT = 120.0
EXPORTED = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
]
OFF_MACHINE = "OFF-MACHINE"
# Refuses, in the proxy's own process, every name lookup and connection beyond 127.0.0.1.
LOOPBACK_ONLY = f"""
import ipaddress, sys

def _local(host):
    if host in (None, "localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:
        return False

def _guard(event, args):
    if event == "socket.getaddrinfo" and not _local(args[0]):
        print("{OFF_MACHINE} name lookup of", args[0], file=sys.stderr, flush=True)
        raise OSError("name lookups beyond 127.0.0.1 are refused in this test")
    if event == "socket.connect" and isinstance(args[1], tuple) and not _local(args[1][0]):
        print("{OFF_MACHINE} connection to", args[1], file=sys.stderr, flush=True)
        raise OSError("connections beyond 127.0.0.1 are refused in this test")

sys.addaudithook(_guard)
"""


def client_environment(proxy: dict[str, str], **extra: str) -> dict[str, str]:
    """This process's environment with no Twilio or proxy settings of its own, plus what the proxy printed."""
    dropped = ("TWILIO_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "NODE_EXTRA_CA_CERTS")
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(dropped) and name not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
    }
    return environment | proxy | {"TWILIO_ACCOUNT_SID": DEMO_ACCOUNT, "TWILIO_AUTH_TOKEN": DEMO_TOKEN} | extra


def guarded(folder: Path) -> dict[str, str]:
    """The environment that loads LOOPBACK_ONLY into a Python process."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(LOOPBACK_ONLY, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


class Proxied:
    """`serve --proxy-port`: the emulator, and the proxy in front of it, in one process."""

    def __init__(self, server: Server, folder: Path) -> None:
        self.server = server
        self.folder = folder  # its working folder: the proxy's CA is in ./data/proxy, the default

    @property
    def environment(self) -> dict[str, str]:
        return exported(self.server.process.log())

    @property
    def proxy_url(self) -> str:
        return self.environment["HTTPS_PROXY"]


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    folder = tmp_path_factory.mktemp("proxied")
    running = start_server(
        folder,
        extra_args=["--proxy-port", str(free_port())],
        env=guarded(folder / "guard"),
        cwd=folder,
        startup_timeout=40.0,
    )
    yield Proxied(running, folder)
    running.process.stop()
    assert running.process.process is not None
    assert running.process.process.poll() is not None
    assert OFF_MACHINE not in running.process.log()


def run_python_through(
    proxy: dict[str, str], script: str, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=client_environment(proxy),
        timeout=60,
    )


SCENARIO_SCRIPT = (
    "import json; from tests import three_ways; print(json.dumps(three_ways.scenario(three_ways.Client())))"
)


# --- the same scenario, three ways in ------------------------------------------------------------------


def test_the_scenario_through_the_base_url(proxied: Proxied) -> None:
    client = Client(DEMO_ACCOUNT, DEMO_TOKEN)
    client.conversations.base_url = proxied.server.base_url
    assert seen(scenario(client)) == EXPECTED


def test_the_scenario_in_process() -> None:
    with mock_twilio():
        assert seen(scenario(Client(DEMO_ACCOUNT, DEMO_TOKEN))) == EXPECTED


def test_the_scenario_through_the_proxy_with_twilio_python(proxied: Proxied) -> None:
    result = run_python_through(proxied.environment, SCENARIO_SCRIPT)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert seen(answer) == EXPECTED
    # It reached this emulator: the service was made, and removed, here.
    [created] = proxied_requests(proxied, "POST", "/v1/Services")[-1:]
    assert created["status"] == 201
    with proxied.server.client() as api:
        assert api.get(f"/v1/Services/{answer['sid']}").status_code == 404


def proxied_requests(proxied: Proxied, method: str, path: str) -> list[dict[str, Any]]:
    with proxied.server.anonymous() as control:
        answer = control.get("/_emulator/requests", params={"method": method, "path": path})
    answer.raise_for_status()
    entries: list[dict[str, Any]] = answer.json()["requests"]
    return entries


def test_the_scenario_through_the_proxy_with_twilio_node(node: str, proxied: Proxied) -> None:
    completed = run(
        [node, str(NODE_DIR / "scenario.js")],
        cwd=NODE_DIR,
        env=client_environment(proxied.environment),
        timeout=NODE_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr
    assert seen(json.loads(completed.stdout)) == EXPECTED


def test_twilio_node_follows_list_pages_through_the_proxy(node: str, proxied: Proxied) -> None:
    # Page URLs name the emulator itself; the Node library sends them through the proxy too (it reads no
    # NO_PROXY), which hands them to its target.
    script = (
        "const c = require('twilio')();"
        "c.conversations.v1.services.list({pageSize: 1, limit: 3}).then((l) => console.log(l.length));"
    )
    with proxied.server.client() as api:
        for name in ("one", "two", "three"):
            api.post("/v1/Services", data={"FriendlyName": name}).raise_for_status()
    completed = run(
        [node, "-e", script],
        cwd=NODE_DIR,
        env=client_environment(proxied.environment),
        timeout=NODE_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "3"


# --- twilio-cli ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def twilio_cli() -> Path:
    """twilio-cli 6.2.4's `twilio`, installed by npm into tests/node-cli on first use and kept there."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        # As tests/test_node_sdk.py's `node` fixture: the suite needs Node.js (README), and a skip would
        # hide that these tests never ran.
        pytest.fail("twilio-cli needs Node.js and npm: no `node` or `npm` on PATH (install Node.js 18+)")
    try:
        ensure_installed(CLI_DIR, "twilio-cli", TWILIO_CLI_VERSION)
    except NpmError as exc:
        pytest.fail(str(exc))
    return CLI_DIR / "node_modules" / ".bin"


def cli_environment(proxied: Proxied, bin_folder: Path, home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    return client_environment(
        proxied.environment,
        HOME=str(home),  # its config and caches, not the user's
        PATH=f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}",
        TWILIO_SKIP_NEW_VERSION_CHECK="true",  # no look at the npm registry
    )


def run_cli(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        ["twilio", *args],
        env=environment,
        timeout=CLI_TIMEOUT,
    )


def test_twilio_cli_runs_the_scenario_through_the_proxy(
    twilio_cli: Path, proxied: Proxied, tmp_path: Path
) -> None:
    environment = cli_environment(proxied, twilio_cli, tmp_path / "home")
    created = run_cli(
        environment, "api:conversations:v1:services:create", "--friendly-name", "three ways", "-o", "json"
    )
    assert created.returncode == 0, created.stderr
    [service] = json.loads(created.stdout)
    sid = service["sid"]
    assert service["friendlyName"] == "three ways"

    updated = run_cli(
        environment,
        *("api:conversations:v1:services:configuration:webhooks:update", "--chat-service-sid", sid),
        *(
            "--filters",
            "onMessageAdded",
            "--filters",
            "onConversationAdded",
            "--method",
            "POST",
            "-o",
            "json",
        ),
    )
    assert updated.returncode == 0, updated.stderr
    [hooks] = json.loads(updated.stdout)
    assert (hooks["filters"], hooks["method"]) == (EXPECTED["filters"], "POST")

    fetched = run_cli(environment, "api:conversations:v1:services:fetch", "--sid", sid, "-o", "json")
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)[0]["sid"] == sid
    with proxied.server.client() as api:
        stored = api.get(f"/v1/Services/{sid}/Configuration/Webhooks").json()
    assert stored["filters"] == EXPECTED["filters"]

    refused = run_cli(
        environment,
        *("api:conversations:v1:services:configuration:webhooks:update", "--chat-service-sid", sid),
        *("--filters", "onNothingAtAll"),
    )
    assert refused.returncode != 0
    assert "Error code 50054 from Twilio: " in refused.stderr, refused.stderr

    removed = run_cli(environment, "api:conversations:v1:services:remove", "--sid", sid)
    assert removed.returncode == 0, removed.stderr


# --- what the proxy refuses, prints and keeps ----------------------------------------------------------


def test_other_hosts_are_refused_by_the_proxy_itself(proxied: Proxied) -> None:
    proxies = {"http": proxied.proxy_url, "https": proxied.proxy_url}
    # Plain HTTP: the proxy's answer, naming the request.
    answer = requests.get("http://refused.invalid/path", proxies=proxies, timeout=30)
    assert answer.status_code == 403
    assert answer.text.startswith("twilio-emulator proxy: GET http://refused.invalid/path refused: ")
    assert "only *.twilio.com is intercepted" in answer.text
    # HTTPS: no tunnel; the refusal's reason names the proxy.
    with pytest.raises(
        requests.exceptions.ProxyError, match=r"403 Not a Twilio host \(twilio-emulator proxy\)"
    ):
        requests.get("https://refused.invalid/", proxies=proxies, timeout=30)
    log = proxied.server.process.log()
    assert "twilio-emulator proxy: CONNECT refused.invalid:443 refused: " in log
    assert OFF_MACHINE not in log


def test_it_prints_the_variables_to_export_and_writes_them_beside_its_ca(proxied: Proxied) -> None:
    environment = proxied.environment
    assert list(environment) == EXPORTED
    ca_dir = proxied.folder / "data" / "proxy"
    assert environment["NODE_EXTRA_CA_CERTS"] == str(ca_dir / "mitmproxy-ca-cert.pem")
    assert environment["REQUESTS_CA_BUNDLE"] == environment["SSL_CERT_FILE"] == str(ca_dir / "ca-bundle.pem")
    assert environment["HTTP_PROXY"] == environment["HTTPS_PROXY"]
    assert exported((ca_dir / "env.sh").read_text()) == environment
    # The bundle: the proxy's CA first, then the system's roots.
    ca = (ca_dir / "mitmproxy-ca-cert.pem").read_text().strip()
    bundle = (ca_dir / "ca-bundle.pem").read_text()
    assert bundle.startswith(ca)
    assert bundle.count("BEGIN CERTIFICATE") > 10


def test_proxy_alone_keeps_its_ca_and_stops_on_sigterm(proxied: Proxied, tmp_path: Path) -> None:
    # A copy of the served proxy's folder (its env.sh must keep naming that proxy): the CA in it is used,
    # not made again.
    ca_dir = tmp_path / "ca"
    shutil.copytree(proxied.folder / "data" / "proxy", ca_dir)
    ca_before = (ca_dir / "mitmproxy-ca-cert.pem").read_bytes()
    proxy = ProxyProcess(
        proxied.server.base_url, ca_dir, env=guarded(tmp_path / "guard"), log_folder=tmp_path
    ).start()
    try:
        environment = proxy.environment
        assert environment["HTTPS_PROXY"] == f"http://127.0.0.1:{proxy.port}"
        assert (ca_dir / "mitmproxy-ca-cert.pem").read_bytes() == ca_before  # the same CA, kept
        result = run_python_through(environment, SCENARIO_SCRIPT)
        assert result.returncode == 0, result.stderr
        assert seen(json.loads(result.stdout)) == EXPECTED
    finally:
        proxy.stop()
    assert proxy.process is not None
    assert proxy.process.returncode == 0, proxy.log()
    assert OFF_MACHINE not in proxy.log()
    assert port_is_free(proxy.port)


def port_is_free(port: int) -> bool:
    rebound = run(
        [sys.executable, "-c", f"import socket; socket.create_server(('127.0.0.1', {port})).close()"],
        timeout=60,
    )
    return rebound.returncode == 0


def test_serve_with_a_proxy_stops_on_sigint_and_frees_both_ports(tmp_path: Path) -> None:
    proxy_port = free_port()
    server = start_server(
        tmp_path,
        extra_args=["--proxy-port", str(proxy_port)],
        env={"TWILIO_EMULATOR_PROXY_CA_DIR": str(tmp_path / "ca")},
        startup_timeout=40.0,
    )
    process = server.process.process
    assert process is not None
    assert "SSL_CERT_FILE" in exported(server.process.log())
    process.send_signal(signal.SIGINT)
    process.wait(timeout=20)
    assert port_is_free(server.process.port)
    assert port_is_free(proxy_port)


def test_a_taken_proxy_port_stops_serve_with_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(
            [
                *(sys.executable, "-m", "twilio_conversations_emulator", "serve", "--port", str(free_port())),
                *("--database", "sqlite://", "--proxy-port", str(port)),
            ],
            env={**os.environ, "TWILIO_EMULATOR_PROXY_CA_DIR": str(tmp_path / "ca")},
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert f"twilio-emulator: the proxy cannot start: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Uvicorn running" not in result.stderr


# --- the README's proxy snippets -----------------------------------------------------------------------


def test_the_readme_serve_line_is_what_the_module_runs_and_its_printout_what_the_proxy_prints(
    proxied: Proxied,
) -> None:
    command = readme_block("sh", "# the emulator on :8080, the proxy on :8899").split("#")[0].split()
    assert command == ["twilio-emulator", "serve", "--proxy-port", "8899"]
    ran = proxied.server.process.command()
    assert ran[ran.index("serve") :][-2:][0] == "--proxy-port"
    printed = readme_block("text", "export SSL_CERT_FILE=")
    assert list(exported(printed)) == EXPORTED
    assert exported(printed)["HTTPS_PROXY"] == "http://127.0.0.1:8899"
    first = proxied.server.process.log().splitlines()[0]
    assert first.replace(proxied.proxy_url.rsplit(":", 1)[1], "8899").startswith(
        printed.splitlines()[0].split("http://127.0.0.1:8080")[0]
    )


def test_the_readme_client_snippet_runs_through_the_proxy(
    node: str, twilio_cli: Path, proxied: Proxied, tmp_path: Path
) -> None:
    snippet = readme_block("sh", ". data/proxy/env.sh")
    if not (proxied.folder / "node_modules").exists():
        with_node_modules(proxied.folder)
    # As a user's shell has it: twilio-cli, python (with twilio) and node on PATH, and no proxy variables
    # yet (the snippet sources them). Only HOME and the CLI's update check are the test's own.
    environment = cli_environment(proxied, twilio_cli, tmp_path / "home")
    for name in EXPORTED:
        environment.pop(name)
    environment["PATH"] = os.pathsep.join(
        [str(twilio_cli), str(Path(sys.executable).parent), environment["PATH"]]
    )
    result = run(
        ["bash", "-euo", "pipefail", "-c", snippet],
        cwd=proxied.folder,
        env=environment,
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [created] = json.loads(result.stdout[: result.stdout.rindex("]") + 1])
    assert created["friendlyName"] == "proxy"
    # python and node each printed the first service of the list, which the emulator holds.
    listed = result.stdout[result.stdout.rindex("]") + 1 :].split()
    with proxied.server.client() as api:
        first = api.get("/v1/Services", params={"PageSize": 1}).json()["services"][0]["sid"]
    assert listed == [first, first]
