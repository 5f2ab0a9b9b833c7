"""`ServerProcess`, which the pytest plugin, the tests and the benchmarks start every server with.

A start that times out is not tried again (on a busy machine a new try only begins from zero); a server
that exits at once, as when its port was taken, is tried on another port; a log in the temporary folder
is removed once the server has ended, and what it said stays readable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from twilio_conversations_emulator.testing.server import ServerProcess, StartError

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)


class ScriptServer(ServerProcess):
    """A Python one-liner as the server; `{port}` in it becomes the port to listen on."""

    def __init__(self, script: str, startup_timeout: float = 60.0, log_folder: Path | None = None) -> None:
        super().__init__(name="script", startup_timeout=startup_timeout, log_folder=log_folder)
        self.script = script

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script.replace("{port}", str(self.port))]


def starts_noted_in(note: Path) -> str:
    return f"open({str(note)!r}, 'a').write('start\\n'); print('starting', flush=True); "


def test_a_start_that_times_out_is_not_tried_again(tmp_path: Path) -> None:
    note = tmp_path / "starts"
    server = ScriptServer(starts_noted_in(note) + "import time; time.sleep(60)", startup_timeout=1.0)
    with pytest.raises(StartError, match=r"did not answer / within 1 s; log:\nstarting"):
        server.start()
    assert note.read_text() == "start\n"
    assert server.process is not None
    assert server.process.poll() is not None


def test_a_server_that_exits_at_once_is_tried_on_other_ports(tmp_path: Path) -> None:
    note = tmp_path / "starts"
    server = ScriptServer(starts_noted_in(note) + "raise SystemExit('port {port} is taken')")
    with pytest.raises(StartError, match=r"did not start; log:\nstarting\nport \d+ is taken"):
        server.start()
    assert note.read_text() == "start\n" * 5


def test_its_log_file_is_removed_once_it_has_ended_and_what_it_said_is_kept() -> None:
    server = ScriptServer(
        "import http.server as s; s.test(s.SimpleHTTPRequestHandler, s.ThreadingHTTPServer, "
        "port={port}, bind='127.0.0.1')"
    )
    with server:
        assert server.log_path is not None
        assert server.log_path.exists()
        log_path = server.log_path
    assert not log_path.exists()
    assert '"GET / HTTP/1.1" 200' in server.log()


def test_a_log_in_a_folder_of_the_callers_stays(tmp_path: Path) -> None:
    with ScriptServer(
        "import http.server as s; s.test(s.SimpleHTTPRequestHandler, s.ThreadingHTTPServer, "
        "port={port}, bind='127.0.0.1')",
        log_folder=tmp_path,
    ) as server:
        pass
    assert server.log_path is not None
    assert server.log_path.parent == tmp_path
    assert '"GET / HTTP/1.1" 200' in server.log_path.read_text()
