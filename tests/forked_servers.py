"""Emulators for the tests, forked from an interpreter that has imported the emulator already.

Each emulator a test starts runs `python -m twilio_conversations_emulator serve ...`, and about 1 CPU-s of
each start was a new interpreter importing the same modules again: about a sixth of a pass's CPU on two
cores. Here one fork server per test process imports them once, and each start forks it and runs that
same command: `python -m`'s `runpy` entry with the command's arguments, environment, working folder and
output file, in a process group (or session) of its own. The server's code runs from its first line as
the command's does; only the imports were done before.

A start goes through the fork server only where the fork is the interpreter a new one would be: the
command is `python -m <the package>` with this Python, and the variables Python reads as it starts
(`PYTHON*`, the locale's, `TZ`) are the fork server's, which are this process's. Any other command starts
anew. The CLI's own behaviour (its output, exit codes, `--help`) is tested by running the real command.
What still differs from a new interpreter, none of which the emulator reads: the forks of one fork server
share its hash seed and multiprocessing key; more modules are loaded at the first line (the storage
driver too); a warning raised while importing would go to the fork server's error output; and the
process's command line (`ps`, `/proc/PID/cmdline`, `sys.orig_argv`) is the fork server's.

    python tests/forked_servers.py PACKAGE [MODULE ...]   # the fork server; MODULEs are imported first

It reads requests on stdin and answers on stdout, as JSON lines:
- `{"command", "env", "cwd", "log", "session"}` forks a child, answered `{"started": pid}`;
- when a child ends it says `{"exited": pid, "code": returncode}` (`-N` for a signal, as `Popen` says),
  and leaves it a zombie, which holds its number, until told `{"reap": pid}` (answered `{"reaped": pid}`);
- when stdin closes it kills what it started, each child's whole group, and exits.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

# How long one wait on the fork server's pipe lasts, so threads waiting on different children take turns.
WAIT_SLICE_S = 0.05
# How long `close` waits for the fork server to end its children and exit before it kills them all.
CLOSE_TIMEOUT_S = 10.0


def startup_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables an interpreter reads as it starts, which a fork cannot change afterwards."""
    return {
        key: value
        for key, value in env.items()
        if key.startswith(("PYTHON", "LC_")) or key in ("LANG", "LANGUAGE", "TZ")
    }


class ForkServerError(RuntimeError):
    """The fork server answered out of turn, or ended while a start waited; the message says which."""


class ForkedProcess:
    """A child of the fork server, with the part of `subprocess.Popen` that `ServerProcess` uses."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]) -> None:
        self.server = server
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = WAIT_SLICE_S if deadline is None else deadline - time.monotonic()
            self.returncode = self.server.exit_code(self.pid, timeout=max(0.0, min(left, WAIT_SLICE_S)))
            if self.returncode is None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # not yet reaped, so the number is still this child's
            with suppress(ProcessLookupError):
                os.kill(self.pid, sig)


class ForkServer:
    """The client of one fork server, started at the first `spawn`; `close` stops it and its children.

    `environment` is the fork server's; `warm` names modules it imports before its first fork, beside the
    package's own and uvicorn's (the storage driver, say). One lock covers the pipes, so threads may start
    and wait for children at once.
    """

    def __init__(self, package: str, environment: Mapping[str, str], warm: Sequence[str] = ()) -> None:
        self.package = package
        self.environment = dict(environment)
        self.warm = list(warm)
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes] | None = None
        self._pending = b""
        self._running: set[int] = set()  # started, and not yet said to have ended
        # Said to have ended, with the return code: a zombie until reaped, when it leaves; once the fork
        # server has ended, the codes it left.
        self._ended: dict[int, int] = {}
        self._broken = False  # ended, or left mid-answer: no more forks; every start is made anew

    @property
    def pid(self) -> int | None:
        """The fork server's own process number, once started."""
        return self._process.pid if self._process is not None else None

    def spawn(
        self, command: list[str], env: Mapping[str, str], cwd: Path | None, log: str, *, session: bool
    ) -> ForkedProcess | None:
        """`command` forked, or None where a fork could differ from the command started anew."""
        if not hasattr(os, "fork") or command[:3] != [sys.executable, "-m", self.package]:
            return None
        if startup_environment(env) != startup_environment(self.environment):
            return None
        # The working folder is named even when it is this process's: the fork server's may differ.
        request = {
            "command": command,
            "env": dict(env),
            "cwd": str(cwd or os.getcwd()),
            "log": log,
            "session": session,
        }
        with self._lock:
            if self._broken:
                return None
            self._started()
            try:
                self._send(request)
                while not self._broken:
                    for answer in self._read(timeout=None):
                        pid: int = answer["started"]
                        if pid not in self._ended:  # not already said to have ended, in the same read
                            self._running.add(pid)
                        return ForkedProcess(self, pid, command)
            except BaseException:
                # Its answer may still be in the pipe, and would be taken for the next one's.
                self._end()
                raise
        raise ForkServerError(f"the fork server ended before it answered: {self._printed()}")

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """`pid`'s return code once the fork server has said it ended (waiting up to `timeout` for news),
        and reaped it: as after `Popen.wait`, the number is then free for another process."""
        with self._lock:
            try:
                if pid not in self._ended and not self._broken and self._read(timeout):
                    raise ForkServerError("the fork server answered what nobody asked")
                if pid not in self._ended:
                    return self._forget(pid) if self._broken and pid in self._running else None
                if not self._broken:
                    self._send({"reap": pid})
                    while not self._broken and {"reaped": pid} not in self._read(timeout=None):
                        pass
                return self._ended.pop(pid)
            except BaseException:
                self._end()  # an answer may be left in the pipe
                raise

    def close(self) -> None:
        with self._lock:
            self._end()

    def _started(self) -> None:
        if self._process is None:
            self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _end, with the server
            self._process = subprocess.Popen(
                [sys.executable, __file__, self.package, *self.warm],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                env=self.environment,
                process_group=0,
            )

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(message).encode() + b"\n")
            self._process.stdin.flush()
        except OSError as exc:
            printed = self._printed()
            self._end()
            raise ForkServerError(f"the fork server ended: {printed}") from exc

    def _read(self, timeout: float | None) -> list[dict[str, Any]]:
        """One read of the pipe, waiting up to `timeout`: its exit notices are taken in, the rest returned.
        At its end, the fork server is ended here (so callers look at `_broken`)."""
        assert self._process is not None
        assert self._process.stdout is not None
        pipe = self._process.stdout.fileno()
        if not select.select([pipe], [], [], timeout)[0]:
            return []
        data = os.read(pipe, 65536)
        if not data:
            self._end()
            return []
        return self._take_in(data)

    def _take_in(self, data: bytes) -> list[dict[str, Any]]:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        others = []
        for line in lines:
            answer = json.loads(line)
            if "exited" in answer:
                self._ended[answer["exited"]] = answer["code"]
                self._running.discard(answer["exited"])
            else:
                others.append(answer)
        return others

    def _end(self) -> None:
        """Stop the fork server. It ends its children when its stdin closes, and reaps them; what it could
        not end (it died, or did not exit in time) is killed here, group by group."""
        process = self._process
        if self._broken or process is None:
            self._broken = True
            return
        self._broken = True
        assert process.stdin is not None
        assert process.stdout is not None
        with suppress(OSError):
            process.stdin.close()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        pipe = process.stdout.fileno()
        while select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))[0]:
            data = os.read(pipe, 65536)  # its last words: the children it ended
            if not data:
                break
            self._take_in(data)
        process.stdout.close()
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.returncode != 0:
            # It died: its zombies are now pytest's, their subreaper (tests/leftovers.py), to reap.
            for pid in self._ended:
                with suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        for pid in list(self._running):
            self._forget(pid)
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def _forget(self, pid: int) -> int:
        """A child the fork server did not say it ended, killed with its group and reaped here, with the
        code it ended with: pytest is the subreaper of what the fork server left (tests/leftovers.py)."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # nothing to a child that had ended already
        code = -signal.SIGKILL
        with suppress(ChildProcessError):  # not pytest's: gone to init, which reaps it
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        self._running.discard(pid)
        self._ended[pid] = code
        return code

    def _printed(self) -> str:
        if self._errors is None:
            return ""
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace")


# The fork server itself.

# What every start imports (the package's modules, and its web server's parts); the command imports the
# rest as it needs it. A name that no longer exists stops the fork server, rather than slowing it unseen.
PACKAGE_MODULES = ["cli", "main", "settings", "edge.protocol", "fixtures"]
SERVER_MODULES = [
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.main",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",  # uvloop is a dependency wherever there is fork
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.httptools_impl",
]


def serve_forks(package: str, warm: list[str]) -> dict[str, Any] | None:
    """Answer requests until stdin closes (then None); in each forked child, return its request."""
    for name in [f"{package}.{module}" for module in PACKAGE_MODULES] + SERVER_MODULES + warm:
        importlib.import_module(name)
    if threading.active_count() != 1:
        raise RuntimeError("an import started a thread, which a fork would lose")
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    running: set[int] = set()  # started, not yet said to have ended
    ended: set[int] = set()  # said to have ended, not yet reaped
    pending = b""

    def say(answer: dict[str, Any]) -> None:
        os.write(1, json.dumps(answer).encode() + b"\n")

    def tell_ended() -> None:
        for pid in list(running):
            # WNOWAIT: the child stays a zombie, so its number is not given to another process before
            # the client has seen that it ended.
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                running.discard(pid)
                ended.add(pid)
                code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
                say({"exited": pid, "code": code})

    parent = os.getpid()
    try:
        while True:
            readable = select.select([0, wake_read], [], [])[0]
            if wake_read in readable:
                with suppress(BlockingIOError):
                    while os.read(wake_read, 4096):
                        pass
            tell_ended()
            if 0 not in readable:
                continue
            data = os.read(0, 65536)
            if not data:
                for pid in running:
                    with suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                for pid in running:
                    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                    with suppress(OSError):  # a client that went away does not need to know
                        say({"exited": pid, "code": code})
                for pid in ended:
                    os.waitpid(pid, 0)
                running.clear()
                return None
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                if "reap" in request:
                    if request["reap"] in ended:
                        ended.discard(request["reap"])
                        os.waitpid(request["reap"], 0)
                    say({"reaped": request["reap"]})
                    continue
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
                    os.close(
                        group_told
                    )  # the parent may answer now: a signal to the group reaches this child
                    return dict(request)
                os.close(group_told)
                os.read(group_made, 1)  # returns at the child's close, or its exit
                os.close(group_made)
                running.add(pid)
                say({"started": pid})
    finally:
        # However this loop ends in the fork server (an error, a client gone), nothing it started outlives
        # it. A forked child leaves through here too, and kills nothing.
        if os.getpid() == parent:
            for pid in running:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


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
    child_request = serve_forks(sys.argv[1], sys.argv[2:])
    if child_request is not None:
        run_as_command(child_request)
