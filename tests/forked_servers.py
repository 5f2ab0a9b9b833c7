"""Emulators for the tests, forked from an interpreter that has imported the emulator already.

Each emulator a test starts runs `python -m twilio_conversations_emulator serve ...`, and about 1 CPU-s of
each start was a new interpreter importing the same modules again: about a sixth of a pass's CPU on two
cores. Here one fork server per test process imports them once, and each start forks it and runs that
same command: `python -m`'s `runpy` entry with the command's arguments, environment, working folder and
output file, in a process group (or session) of its own. The server's code runs from its first line as
the command's does; only the imports were done before.

A start goes through the fork server only where the fork is the interpreter a new one would be: the
command is `python -m <the package>` with this Python, and the variables Python reads as it starts
(`PYTHON*`, the locale's, `TZ`) are the fork server's. Any other command starts as before. The CLI's own
behaviour (its output, exit codes, `--help`) is tested by running the real command.

    python tests/forked_servers.py    # the fork server: requests on stdin, answers on stdout (JSON lines)

A request is `{"command", "env", "cwd", "log", "session"}`; the answer `{"started": pid}`. When a child
ends the server says `{"exited": pid, "code": returncode}` (`-N` for a signal, as `Popen` says). When its
stdin closes it kills what it started, each child's whole group, and exits.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

# How long one wait on the fork server's pipe lasts, so threads waiting on different children take turns.
WAIT_SLICE_S = 0.05


def startup_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables an interpreter reads as it starts, which a fork cannot change afterwards."""
    return {
        key: value
        for key, value in env.items()
        if key.startswith(("PYTHON", "LC_")) or key in ("LANG", "LANGUAGE", "TZ")
    }


class ForkServerError(RuntimeError):
    """The fork server could not start a child, or ended; the message holds what it printed."""


class ForkedProcess:
    """A child of the fork server, with the part of `subprocess.Popen` that `ServerProcess` uses."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]) -> None:
        self.server = server
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.server.collect(0)
            self.returncode = self.server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            left = WAIT_SLICE_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.server.collect(min(left, WAIT_SLICE_S))
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(self.pid, sig)


class ForkServer:
    """The client of one fork server, started at the first `spawn`; `close` stops it and its children."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.exits: dict[int, int] = {}
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._environment: dict[str, str] = {}
        self._pending = b""
        self._errors: IO[bytes] | None = None

    def can_run(self, command: list[str], env: Mapping[str, str]) -> bool:
        """Whether a fork of this server runs `command` with `env` as a new interpreter would."""
        if command[:3] != [sys.executable, "-m", self.package]:
            return False
        with self._lock:
            if self._process is None:
                return True  # it will start with this environment's start-up variables
            return startup_environment(env) == self._environment

    def spawn(
        self, command: list[str], env: Mapping[str, str], cwd: Path | None, log: str, *, session: bool
    ) -> ForkedProcess:
        request: dict[str, Any] = {
            "command": command,
            "env": dict(env),
            "cwd": str(cwd) if cwd else None,
            "log": log,
            "session": session,
        }
        with self._lock:
            process = self._started(env)
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
            except OSError as exc:
                raise ForkServerError(f"the fork server ended: {self._printed()}") from exc
            while True:
                for answer in self._read(timeout=None):
                    if "started" in answer:
                        return ForkedProcess(self, answer["started"], command)

    def exit_code(self, pid: int) -> int | None:
        """The child's return code once the fork server said it ended; a closed one ended every child."""
        if pid in self.exits:
            return self.exits[pid]
        return None if self._process is not None else -signal.SIGKILL

    def collect(self, timeout: float) -> None:
        """Take in what the fork server said within `timeout` seconds: children that ended."""
        with self._lock:
            if self._process is not None:
                for answer in self._read(timeout):
                    raise ForkServerError(f"unexpected answer from the fork server: {answer}")

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            assert process.stdin is not None
            with suppress(OSError):
                process.stdin.close()  # it kills what it started, then exits
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stdout is not None
            for line in process.stdout.read().splitlines():  # the children it ended last
                answer = json.loads(line)
                if "exited" in answer:
                    self.exits[answer["exited"]] = answer["code"]
            process.stdout.close()
            if self._errors is not None:
                self._errors.close()

    def _started(self, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        if self._process is None:
            # The first child's environment: the fork server's start-up variables are then its.
            self._environment = startup_environment(env)
            self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close(), with the server
            self._process = subprocess.Popen(
                [sys.executable, __file__, self.package],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                env=dict(env),
                process_group=0,
            )
        return self._process

    def _read(self, timeout: float | None) -> list[dict[str, Any]]:
        """One read of the pipe (waiting up to `timeout`): its exit notices are kept, the rest returned."""
        assert self._process is not None
        assert self._process.stdout is not None
        pipe = self._process.stdout.fileno()
        if not select.select([pipe], [], [], timeout)[0]:
            return []
        data = os.read(pipe, 65536)
        if not data:
            raise ForkServerError(f"the fork server ended: {self._printed()}")
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        others = []
        for line in lines:
            answer = json.loads(line)
            if "exited" in answer:
                self.exits[answer["exited"]] = answer["code"]
            else:
                others.append(answer)
        return others

    def _printed(self) -> str:
        if self._errors is None:
            return ""
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace")


# The fork server itself.

WARM_MODULES = [
    "cli",
    "main",
    "settings",
    "edge.protocol",
    "fixtures",
]
# What a start imports beyond the package: its web server's parts, and the storage backends' drivers.
WARM_LIBRARIES = [
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.main",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.httptools_impl",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
]


def serve_forks(package: str) -> dict[str, Any] | None:
    """Answer requests until stdin closes (then None); in each forked child, return its request."""
    import importlib

    for name in [f"{package}.{module}" for module in WARM_MODULES] + WARM_LIBRARIES:
        with suppress(ImportError):  # a driver that is not installed is not needed either
            importlib.import_module(name)
    assert threading.active_count() == 1, "a fork must not lose a thread"
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: set[int] = set()
    pending = b""

    def say(answer: dict[str, Any]) -> None:
        os.write(1, json.dumps(answer).encode() + b"\n")

    def reap() -> None:
        for pid in list(children):
            ended, status = os.waitpid(pid, os.WNOHANG)
            if ended:
                children.discard(pid)
                say({"exited": pid, "code": os.waitstatus_to_exitcode(status)})

    while True:
        readable = select.select([0, wake_read], [], [])[0]
        if wake_read in readable:
            with suppress(BlockingIOError):
                while os.read(wake_read, 4096):
                    pass
        reap()
        if 0 not in readable:
            continue
        data = os.read(0, 65536)
        if not data:
            for pid in children:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            for pid in children:
                say({"exited": pid, "code": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])})
            return None
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            request = json.loads(line)
            group_made, group_told = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(group_made)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(wake_read)
                os.close(wake_write)
                if request["session"]:
                    os.setsid()
                else:
                    os.setpgid(0, 0)
                os.close(group_told)  # the parent may answer now: a signal to the group reaches this child
                return dict(request)
            os.close(group_told)
            os.read(group_made, 1)  # returns at the child's close, or its exit
            os.close(group_made)
            children.add(pid)
            say({"started": pid})


def run_as_command(request: dict[str, Any]) -> None:
    """In a forked child: become `python -m <package> <arguments>` with the request's surroundings."""
    import runpy

    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    if request["cwd"] is not None:
        os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    command: list[str] = request["command"]
    sys.argv = ["-m", *command[3:]]
    sys.path[0] = os.getcwd()  # as `python -m` puts it: the working folder, not this file's
    # SystemExit from the command ends this interpreter as it ends the command's: exit handlers, then
    # the non-daemon threads, then the streams' buffers.
    runpy.run_module(command[2], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    child_request = serve_forks(sys.argv[1])
    if child_request is not None:
        run_as_command(child_request)
