"""Child processes that never outlive their use.

Each child starts in a process group of its own, so it and everything it starts (uvicorn's workers, npm's
scripts, a build backend) can be signalled at once; `run` kills that whole group however the wait ends:
the command finishing (whatever it left running goes too), its timeout, an exception, Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO, Any, Protocol

# A group of its own, on POSIX (`process_group` is 3.11's setpgid in the child).
GROUP_OF_ITS_OWN: dict[str, Any] = {"process_group": 0} if os.name == "posix" else {}


class ChildProcess(Protocol):
    """What the functions here need of a started process: `subprocess.Popen`'s, or a stand-in's that
    starts its processes another way."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...


def descendants(pid: int) -> list[int]:
    """Every live (not zombie) process below `pid`, from /proc (Linux): none where there is no /proc."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        state, parent = stat.rpartition(")")[2].split()[:2]
        if state != "Z":
            children.setdefault(int(parent), []).append(int(entry.name))
    found: list[int] = []
    waiting = [pid]
    while waiting:
        below = children.get(waiting.pop(), [])
        found.extend(below)
        waiting.extend(below)
    return found


def signal_group(process: ChildProcess, signum: int) -> None:
    """Send `signum` to every process in the group `process` leads (to `process` alone off POSIX)."""
    if not GROUP_OF_ITS_OWN:
        if process.poll() is None:
            process.send_signal(signum)
        return
    with suppress(ProcessLookupError, PermissionError):  # nobody is left in the group
        os.killpg(process.pid, signum)


def kill_group(process: ChildProcess) -> None:
    """SIGKILL the group `process` leads (it and whatever it started and left running), then reap it."""
    signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
    process.wait()


def stop_group(process: ChildProcess, grace: float) -> bool:
    """SIGTERM to `process`, as Ctrl-C or `docker stop` does; SIGKILL to its whole group after `grace`
    seconds, or at once to whatever it left running. Whether SIGTERM alone stopped `process`."""
    stopped = True
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            stopped = False
    kill_group(process)
    return stopped


def run(
    command: Sequence[str | Path],
    *,
    timeout: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(command, capture_output=True, text=True, timeout=timeout)`, in a group of its own.

    `subprocess.run` kills only the process it started, and only on a timeout or an exception; here the
    whole group is killed in every case, so nothing the command started survives it. The output goes
    through files rather than pipes, so a process the command left running cannot hold the wait open. A
    timeout raises `subprocess.TimeoutExpired` with the output written so far.
    """
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if input is not None:
            given.write(input.encode())
            given.seek(0)
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=given if input is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            **GROUP_OF_ITS_OWN,
        )
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired as expired:
            kill_group(process)
            expired.output, expired.stderr = _text(out).encode(), _text(err).encode()
            raise
        finally:
            kill_group(process)
        return subprocess.CompletedProcess(process.args, process.returncode, _text(out), _text(err))


def _text(written: IO[bytes]) -> str:
    written.seek(0)
    return written.read().decode(errors="replace")
