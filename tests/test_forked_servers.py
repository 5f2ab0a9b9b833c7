"""The fork server most emulators in these tests start from (tests/forked_servers.py): a forked command
says, answers and ends as the same command started anew does, and nothing it started outlives it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from twilio_conversations_emulator.testing.processes import GROUP_OF_ITS_OWN
from twilio_conversations_emulator.testing.server import PACKAGE, clean_environment

from tests.conftest import REPO, ForkedEmulatorProcess
from tests.forked_servers import ForkedProcess, ForkServer

pytestmark = pytest.mark.backend_independent  # the fork, not the storage: once, in the SQLite pass


@pytest.fixture
def forks() -> Iterator[ForkServer]:
    """A fork server of this test's own, so the test can close it."""
    server = ForkServer(PACKAGE)
    yield server
    server.close()


def run_anew(arguments: list[str], cwd: Path, log: Path) -> int:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", PACKAGE, *arguments],
            cwd=cwd,
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            **GROUP_OF_ITS_OWN,
        )
        return process.wait(timeout=60)


def run_forked(forks: ForkServer, arguments: list[str], cwd: Path, log: Path) -> int:
    command = [sys.executable, "-m", PACKAGE, *arguments]
    assert forks.can_run(command, clean_environment())
    log.touch()
    return forks.spawn(command, clean_environment(), cwd, str(log), session=False).wait(timeout=60)


def last_lines(log: str) -> list[str]:
    """A stopped server's last words, with its process number left out."""
    return [re.sub(r"\[\d+\]", "[pid]", line) for line in log.splitlines()[-3:]]


@pytest.mark.parametrize(
    "arguments",
    [
        ["--version"],
        ["serve", "--port", "nope"],
        ["serve", "--database", "mysql://nowhere/db"],
        ["serve", "--fixtures", "no-such-folder"],
    ],
    ids=["version", "bad port", "bad database", "missing fixtures"],
)
def test_a_forked_command_says_and_exits_as_the_command_started_anew(
    arguments: list[str], forks: ForkServer, tmp_path: Path
) -> None:
    anew, forked = tmp_path / "anew.log", tmp_path / "forked.log"
    code = run_anew(arguments, tmp_path, anew)
    assert run_forked(forks, arguments, tmp_path, forked) == code
    assert forked.read_text() == anew.read_text() != ""


def test_a_forked_server_runs_in_its_folder_with_its_environment_and_stops_as_one_started_anew(
    tmp_path: Path,
) -> None:
    servers = []
    for name in ("anew", "forked"):
        folder = tmp_path / name
        folder.mkdir()
        server = ForkedEmulatorProcess(
            "sqlite:///relative.db",  # a path from the working folder
            fixtures=REPO / "fixtures",
            cwd=folder,
            env={"TWILIO_EMULATOR_ADMIN_TOKEN": "let-me-in"},
        )
        if name == "anew":
            server.forks = ForkServer("not the package")  # so it cannot fork, and starts anew
        servers.append(server.start())
    try:
        anew, forked = servers
        assert isinstance(forked.process, ForkedProcess)
        assert isinstance(anew.process, subprocess.Popen)
        for server in servers:
            assert (server.cwd / "relative.db").exists()  # type: ignore[operator]
            assert httpx.get(f"{server.base_url}/_emulator/faults").status_code == 401
            allowed = {"Authorization": "Bearer let-me-in"}
            assert httpx.get(f"{server.base_url}/_emulator/faults", headers=allowed).status_code == 200
    finally:
        for server in servers:
            server.stop()
    assert anew.process is not None
    assert forked.process is not None
    assert forked.process.returncode == anew.process.returncode is not None
    assert "Application shutdown complete" in forked.log()
    assert last_lines(forked.log()) == last_lines(anew.log())


def test_a_killed_forked_server_ends_with_sigkill(tmp_path: Path) -> None:
    server = ForkedEmulatorProcess(tmp_path / "db.sqlite", fixtures="").start()
    assert isinstance(server.process, ForkedProcess)
    pid = server.pid
    server.kill()
    assert server.process.returncode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_closing_the_fork_server_ends_what_it_started(forks: ForkServer, tmp_path: Path) -> None:
    server = ForkedEmulatorProcess(tmp_path / "db.sqlite", fixtures="")
    server.forks = forks
    server.start()
    assert isinstance(server.process, ForkedProcess)
    forks.close()
    assert server.process.poll() == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)


def test_a_start_the_fork_cannot_make_alike_starts_anew(tmp_path: Path) -> None:
    """Python reads PYTHONPATH as it starts, so a fork of an interpreter started without it differs."""
    with ForkedEmulatorProcess(
        tmp_path / "db.sqlite", fixtures="", env={"PYTHONPATH": str(tmp_path)}
    ) as server:
        assert isinstance(server.process, subprocess.Popen)
        assert httpx.get(f"{server.base_url}/_emulator/health").status_code == 200
