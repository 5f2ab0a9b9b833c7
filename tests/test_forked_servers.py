"""The fork server most emulators in these tests start from (tests/forked_servers.py): a forked command
says, answers and ends as the same command started anew does, and nothing it started outlives it, even
when the fork server dies or a start is interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio_conversations_emulator.testing.processes import GROUP_OF_ITS_OWN
from twilio_conversations_emulator.testing.server import PACKAGE, clean_environment

from tests.conftest import FORKS, ForkedEmulatorProcess
from tests.forked_servers import ForkedProcess, ForkServer

pytestmark = pytest.mark.backend_independent  # the fork, not the storage: once, in the SQLite pass

TOKEN = "TWILIO_EMULATOR_ADMIN_TOKEN"


def fork_server(**environment: str) -> ForkServer:
    return ForkServer(PACKAGE, {**clean_environment(), **environment}, warm=FORKS.warm)


@pytest.fixture
def forks() -> Iterator[ForkServer]:
    """A fork server of this test's own, which the test may close or kill."""
    server = fork_server()
    yield server
    server.close()


@pytest.fixture
def shared_forks() -> ForkServer:
    """This process's fork server, which the other tests' servers come from (its start is ~1 CPU-s)."""
    return FORKS


def emulator(forks: ForkServer, folder: Path, **options: Any) -> ForkedEmulatorProcess:
    server = ForkedEmulatorProcess(folder / "db.sqlite", fixtures="", **options)
    server.forks = forks
    return server


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


def spawn_forked(forks: ForkServer, arguments: list[str], cwd: Path | None, log: Path) -> ForkedProcess:
    log.touch()
    command = [sys.executable, "-m", PACKAGE, *arguments]
    forked = forks.spawn(command, clean_environment(), cwd, str(log), session=False)
    assert forked is not None
    return forked


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
    arguments: list[str], shared_forks: ForkServer, tmp_path: Path
) -> None:
    anew, forked = tmp_path / "anew.log", tmp_path / "forked.log"
    code = run_anew(arguments, tmp_path, anew)
    assert spawn_forked(shared_forks, arguments, tmp_path, forked).wait(timeout=60) == code
    assert forked.read_text() == anew.read_text() != ""


def test_a_forked_server_has_its_folder_and_only_its_environment_and_stops_as_one_started_anew(
    tmp_path: Path,
) -> None:
    # The fork server's own environment has a token that the first server's does not: the fork must not
    # keep it. The second server's token is its own.
    forks = fork_server(**{TOKEN: "the fork server's"})
    # Its PYTHONPATH is not the servers', so this one cannot fork and starts anew.
    cannot_fork = fork_server(PYTHONPATH=str(tmp_path))
    starts = {
        "untold": (forks, {}),
        "told": (forks, {TOKEN: "let-me-in"}),
        "anew": (cannot_fork, {TOKEN: "let-me-in"}),
    }
    servers: dict[str, ForkedEmulatorProcess] = {}
    try:
        for name, (server_forks, env) in starts.items():
            folder = tmp_path / name
            folder.mkdir()
            servers[name] = emulator(server_forks, folder, cwd=folder, env=env)
            servers[name].database_url = "sqlite:///relative.db"  # a path from the working folder
            servers[name].start()
            assert (folder / "relative.db").exists()
        assert isinstance(servers["untold"].process, ForkedProcess)
        assert isinstance(servers["told"].process, ForkedProcess)
        assert isinstance(servers["anew"].process, subprocess.Popen)
        faults = "/_emulator/faults"
        assert httpx.get(servers["untold"].base_url + faults).status_code == 200
        assert httpx.get(servers["told"].base_url + faults).status_code == 401
        allowed = {"Authorization": "Bearer let-me-in"}
        assert httpx.get(servers["told"].base_url + faults, headers=allowed).status_code == 200
    finally:
        for server in servers.values():
            server.stop()
        forks.close()
    codes = {name: server.process.returncode for name, server in servers.items() if server.process}
    assert codes["untold"] == codes["told"] == codes["anew"] is not None
    assert "Application shutdown complete" in servers["told"].log()
    assert last_lines(servers["told"].log()) == last_lines(servers["anew"].log())


def test_a_forked_server_leads_its_group_or_its_session(shared_forks: ForkServer, tmp_path: Path) -> None:
    with emulator(shared_forks, tmp_path) as grouped:
        assert os.getpgid(grouped.pid) == grouped.pid
        assert os.getsid(grouped.pid) == os.getsid(0)
    (tmp_path / "session").mkdir()
    with emulator(shared_forks, tmp_path / "session", new_session=True) as detached:
        assert os.getsid(detached.pid) == detached.pid


def test_forked_servers_started_and_stopped_from_several_threads_at_once(
    shared_forks: ForkServer, tmp_path: Path
) -> None:
    servers = []
    for index in range(3):
        (tmp_path / str(index)).mkdir()
        servers.append(emulator(shared_forks, tmp_path / str(index)))
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda server: server.start(), servers))
        assert len({server.pid for server in servers}) == 3
        for server in servers:
            assert httpx.get(f"{server.base_url}/_emulator/health").status_code == 200
    finally:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda server: server.stop(), servers))
    assert {server.process.returncode for server in servers if server.process} == {-signal.SIGTERM}


def test_a_killed_forked_server_ends_with_sigkill(shared_forks: ForkServer, tmp_path: Path) -> None:
    server = emulator(shared_forks, tmp_path).start()
    assert isinstance(server.process, ForkedProcess)
    server.kill()
    assert server.process.returncode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)


def test_closing_the_fork_server_ends_what_it_started(forks: ForkServer, tmp_path: Path) -> None:
    server = emulator(forks, tmp_path).start()
    try:
        assert isinstance(server.process, ForkedProcess)
        forks.close()
        with pytest.raises(ProcessLookupError):
            os.kill(server.pid, 0)
    finally:
        server.kill()


def test_when_the_fork_server_dies_its_servers_are_ended_and_later_ones_start_anew(
    forks: ForkServer, tmp_path: Path
) -> None:
    server = emulator(forks, tmp_path).start()
    # And a child that has ended but that nobody has asked about: a zombie the fork server holds.
    version = spawn_forked(forks, ["--version"], None, tmp_path / "version.log")
    while not is_zombie(version.pid):
        time.sleep(0.01)
    try:
        assert forks.pid is not None
        os.kill(forks.pid, signal.SIGKILL)
        assert server.process is not None
        assert server.process.wait(timeout=30) == -signal.SIGKILL
        assert version.wait(timeout=30) == 0  # how it ended, said or not before the fork server died
        for pid in (server.pid, version.pid):  # killed, or already ended, and reaped: gone
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        (tmp_path / "later").mkdir()
        with emulator(forks, tmp_path / "later") as later:
            assert isinstance(later.process, subprocess.Popen)
    finally:
        server.kill()


def is_zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"


def test_an_interrupted_start_ends_the_fork_server_and_later_ones_start_anew(
    forks: ForkServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer left in the pipe would be taken for the next start's."""
    first = emulator(forks, tmp_path).start()
    try:

        def interrupted(timeout: float | None) -> list[dict[str, Any]]:
            raise KeyboardInterrupt

        monkeypatch.setattr(forks, "_read", interrupted)
        (tmp_path / "second").mkdir()
        with pytest.raises(KeyboardInterrupt):
            emulator(forks, tmp_path / "second").start()
        monkeypatch.undo()
        assert first.process is not None
        assert first.process.poll() == -signal.SIGKILL  # the fork server ended it
        (tmp_path / "third").mkdir()
        with emulator(forks, tmp_path / "third") as third:
            assert isinstance(third.process, subprocess.Popen)
    finally:
        first.kill()


def test_a_start_the_fork_cannot_make_alike_starts_anew(forks: ForkServer, tmp_path: Path) -> None:
    """Python reads PYTHONPATH as it starts, so a fork of an interpreter started without it differs."""
    with emulator(forks, tmp_path, env={"PYTHONPATH": str(tmp_path)}) as server:
        assert isinstance(server.process, subprocess.Popen)
        assert httpx.get(f"{server.base_url}/_emulator/health").status_code == 200
    assert forks.pid is None  # nothing asked it for a fork
