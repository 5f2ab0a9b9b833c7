"""An emulator server in a child process, started exactly as a user starts it (the CLI)."""

from __future__ import annotations

import http.client
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

from .processes import GROUP_OF_ITS_OWN, ChildProcess, kill_group, stop_group

# The installed package's import name, whatever the repository calls its folder.
PACKAGE = (__package__ or "").rpartition(".")[0]
HEALTH_PATH = "/_emulator/health"
# One readiness call's limit: a server that accepts but has not answered by then is asked again.
READY_CALL_TIMEOUT_S = 5.0
# How long a graceful stop may take before the server's processes are killed.
STOP_TIMEOUT_S = 10.0
# How long a start may take: generous, since a busy machine starts Python slowly and only a server that
# hangs waits this long (one that exits is seen at once).
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_environment() -> dict[str, str]:
    """This process's environment without the variables that would change the emulator's defaults."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_EMULATOR_", "TWILIO_REGION", "TWILIO_EDGE"))
    }


class StartError(RuntimeError):
    """A server that exited or did not answer in time, on every port tried; the message holds its log."""


class ServerProcess(ABC):
    """A server in a child process on 127.0.0.1 and a free port, ready once a GET of `ready_path` answers
    200. Subclasses say what to run (`command`); the environment is this process's, cleaned, plus `env`."""

    def __init__(
        self,
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_folder: Path | None = None,
        ready_path: str = "/",
        ready_headers: Mapping[str, str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        poll_interval: float = 0.02,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.env = dict(env or {})
        self.cwd = cwd
        self.log_folder = log_folder
        self.ready_path = ready_path
        self.ready_headers = dict(ready_headers or {})
        self.startup_timeout = startup_timeout
        self.poll_interval = poll_interval
        # A session of its own (detached from the terminal too); otherwise a process group of its own. Either
        # way a Ctrl-C in the terminal reaches only the parent, which stops the server, and a stop or kill
        # reaches every process of the server (its workers too), never the parent.
        self.new_session = new_session
        self.port = 0
        self.process: ChildProcess | None = None
        self.log_path: Path | None = None
        self._ended_log = ""
        # Launch to the first 200 on `ready_path`, for the last start.
        self.startup_seconds = float("nan")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that starts this server."""

    def start(self) -> Self:
        # A free port can be taken between probing and binding, and the server then exits at once: try
        # another. One still starting when the time is up is not tried again: on a busy machine a second
        # try would only begin from zero.
        for _ in range(5):
            self.port = free_port()
            outcome = self._start_once()
            if outcome == "ready":
                return self
            if outcome == "timed out":
                raise StartError(
                    f"{self.name} did not answer {self.ready_path} within {self.startup_timeout:g} s; "
                    f"log:\n{self.log()}"
                )
        raise StartError(f"{self.name} did not start; log:\n{self.log()}")

    def _start_once(self) -> Literal["ready", "exited", "timed out"]:
        env = clean_environment()
        env.update(self.env)
        with tempfile.NamedTemporaryFile(
            prefix=f"twilio-{self.name}-{self.port}-", suffix=".log", dir=self.log_folder, delete=False
        ) as log:
            self.log_path = Path(log.name)
            started = time.perf_counter()
            self.process = self.launch(self.command(), env, log)
        try:
            return self._wait_ready(started)
        except BaseException:  # Ctrl-C or a failure while waiting: the server must not outlive the caller
            self.kill()
            raise

    def launch(self, command: list[str], env: dict[str, str], log: IO[bytes]) -> ChildProcess:
        """Start `command` in `cwd`, with `env`, its output (both streams) into `log`, and stdin empty, in
        a process group (or session) of its own."""
        return subprocess.Popen(
            command,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **({"start_new_session": True} if self.new_session else GROUP_OF_ITS_OWN),
        )

    def _wait_ready(self, started: float) -> Literal["ready", "exited", "timed out"]:
        assert self.process is not None
        deadline = started + self.startup_timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                kill_group(self.process)  # whatever it started before it exited
                self._keep_log()
                return "exited"
            if self._answers_ready(min(READY_CALL_TIMEOUT_S, max(deadline - time.perf_counter(), 0.01))):
                self.startup_seconds = time.perf_counter() - started
                return "ready"
            time.sleep(self.poll_interval)
        self.stop()
        return "timed out"

    def _answers_ready(self, timeout: float) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", self.ready_path, headers=self.ready_headers)
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def log(self) -> str:
        """What the server printed: read from its log file while it runs, kept in memory once it ended."""
        if self.log_path is None or not self.log_path.exists():
            return self._ended_log
        return self.log_path.read_text(errors="replace")

    def _keep_log(self) -> None:
        # A log in the system's temporary folder is this object's to remove once the server has ended, so
        # suites that start hundreds of servers leave no files behind; one in a given folder is the caller's.
        if self.log_path is None or self.log_folder is not None:
            return
        self._ended_log = self.log()
        self.log_path.unlink(missing_ok=True)

    def stop(self) -> None:
        """A graceful stop (SIGTERM to the server, as Ctrl-C or `docker stop` does); SIGKILL to every process
        of the server after `STOP_TIMEOUT_S`, or at once to any it left running."""
        if self.process is not None:
            stop_group(self.process, STOP_TIMEOUT_S)
        self._keep_log()

    def kill(self) -> None:
        """`kill -9` of every process of the server (its workers too): no chance to flush or close."""
        if self.process is not None:
            kill_group(self.process)
        self._keep_log()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class EmulatorProcess(ServerProcess):
    """`python -m twilio_conversations_emulator serve` on 127.0.0.1 and a free port, with its own SQLite
    file by default; ready once `/_emulator/health` answers.

    `module` runs another import name of the package (a checkout's own, found through `env`'s PYTHONPATH);
    the other keywords are `ServerProcess`'s."""

    def __init__(
        self,
        database: Path | str,
        *,
        fixtures: Path | str | None = None,
        auth_mode: str | None = None,
        extra_args: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        module: str = PACKAGE,
        name: str = "emulator",
        cwd: Path | None = None,
        log_folder: Path | None = None,
        ready_path: str = HEALTH_PATH,
        ready_headers: Mapping[str, str] | None = None,
        poll_interval: float = 0.02,
        new_session: bool = False,
    ) -> None:
        super().__init__(
            name=name,
            env=env,
            cwd=cwd,
            log_folder=log_folder,
            ready_path=ready_path,
            ready_headers=ready_headers,
            startup_timeout=startup_timeout,
            poll_interval=poll_interval,
            new_session=new_session,
        )
        self.database_url = database if isinstance(database, str) else f"sqlite:///{database}"
        self.fixtures = fixtures
        self.auth_mode = auth_mode
        self.extra_args = extra_args or []
        self.module = module

    def command(self) -> list[str]:
        args = [sys.executable, "-m", self.module, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--database", self.database_url]
        if self.fixtures is not None:
            args += ["--fixtures", str(self.fixtures)]
        if self.auth_mode is not None:
            args += ["--auth-mode", self.auth_mode]
        return args + self.extra_args


def exported(log: str) -> dict[str, str]:
    """The variables a proxy printed as `export NAME=value` lines (`proxy`, `serve --proxy-port`)."""
    found: dict[str, str] = {}
    for line in log.splitlines():
        if line.startswith("export "):
            [assignment] = shlex.split(line[len("export ") :])
            name, _, value = assignment.partition("=")
            found[name] = value
    return found


class ProxyProcess(ServerProcess):
    """`python -m twilio_conversations_emulator proxy` on 127.0.0.1 and a free port, handing `*.twilio.com`
    to `target`, its CA in `ca_dir`; ready once it has printed the variables to export (`environment`)."""

    def __init__(
        self,
        target: str,
        ca_dir: Path,
        *,
        name: str = "proxy",
        env: Mapping[str, str] | None = None,
        log_folder: Path | None = None,
        startup_timeout: float = 30.0,
        module: str = PACKAGE,
    ) -> None:
        super().__init__(name=name, env=env, log_folder=log_folder, startup_timeout=startup_timeout)
        self.target = target
        self.ca_dir = ca_dir
        self.module = module

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", self.module, "proxy", "--host", "127.0.0.1", "--port", str(self.port)),
            *("--target", self.target, "--ca-dir", str(self.ca_dir)),
        ]

    def _answers_ready(self, timeout: float) -> bool:
        return "SSL_CERT_FILE" in exported(self.log())

    @property
    def environment(self) -> dict[str, str]:
        """What the proxy told a shell to export: its address, its CA and the CA bundle."""
        return exported(self.log())
