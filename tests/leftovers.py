"""No test leaves a process behind: a pytest plugin that finds, names and kills what one left running.

On Linux the pytest process becomes a child subreaper, so a process orphaned by its parent's death (an npm
script, a server's worker, an emulator a child pytest started) is re-parented to it instead of to init and
stays in view. After each test the processes new since it started are remembered with its name; once the
session's fixtures are torn down, any of them still running is killed (with its process group) and the
session fails, naming the test that started it. With xdist, each worker checks its own processes and the
controller fails the run. Elsewhere (no /proc) the plugin does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from twilio_conversations_emulator.testing import processes

PROC = Path("/proc")
PR_SET_CHILD_SUBREAPER = 36
_KEY = "leftover_processes"

# pid -> (the test during which it appeared, its command line), in this process.
_started: dict[int, tuple[str, str]] = {}
# Found by the session's end (in xdist's controller: reported by the workers).
_found: list[str] = []


def _enabled() -> bool:
    return PROC.is_dir() and os.name == "posix"


def descendants() -> dict[int, str]:
    """Every live (not zombie) process below this one: pid -> command line."""
    return {pid: _command(pid) for pid in processes.descendants(os.getpid())}


def _command(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:  # it leads a group: what it started goes too
            os.killpg(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)


def _is_controller(config: pytest.Config) -> bool:
    """xdist's controller: its workers are its children until the very end, and run the tests."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config: pytest.Config) -> None:
    if _enabled() and not _is_controller(config):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    if not _enabled() or _is_controller(item.config):
        yield
        return
    before = set(descendants())
    yield
    for pid, command in descendants().items():
        if pid not in before and pid not in _started:
            _started[pid] = (item.nodeid, command)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _enabled():
        return
    if _is_controller(session.config):  # the workers' findings arrived as they went down
        if _found:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    # Every fixture, session-scoped ones too, was torn down with the last test.
    for pid, command in descendants().items():
        test, _ = _started.get(pid, ("(not during a test)", command))
        _found.append(f"pid {pid} started during {test}: {command}")
        _kill(pid)
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_KEY] = list(_found)
    elif _found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In xdist's controller: what a worker found."""
    _found.extend(getattr(node, "workeroutput", {}).get(_KEY, []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _found:
        terminalreporter.section("processes left behind (now killed)", red=True)
        for line in _found:
            terminalreporter.line(line, red=True)
