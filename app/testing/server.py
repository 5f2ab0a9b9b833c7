"""An emulator server in a child process, started exactly as a user starts it (the CLI)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.error import URLError
from urllib.request import urlopen

# The installed package's import name, whatever the repository calls its folder.
PACKAGE = (__package__ or "").rpartition(".")[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EmulatorProcess:
    """`python -m twilio_conversations_emulator serve` on 127.0.0.1 and a free port, with its own SQLite
    file by default."""

    def __init__(
        self,
        database: Path | str,
        *,
        fixtures: Path | str | None = None,
        auth_mode: str | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.database_url = database if isinstance(database, str) else f"sqlite:///{database}"
        self.fixtures = fixtures
        self.auth_mode = auth_mode
        self.extra_args = extra_args or []
        self.env = env or {}
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [sys.executable, "-m", PACKAGE, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--database", self.database_url]
        if self.fixtures is not None:
            args += ["--fixtures", str(self.fixtures)]
        if self.auth_mode is not None:
            args += ["--auth-mode", self.auth_mode]
        return args + self.extra_args

    def start(self) -> EmulatorProcess:
        # A free port can be taken between probing and binding; try a few before giving up.
        for _ in range(5):
            self.port = free_port()
            if self._start_once():
                return self
        raise RuntimeError(f"emulator did not start; log:\n{self.log()}")

    def _start_once(self) -> bool:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TWILIO_EMULATOR_", "TWILIO_REGION", "TWILIO_EDGE"))
        }
        env.update(self.env)
        with tempfile.NamedTemporaryFile(
            prefix=f"twilio-emulator-{self.port}-", suffix=".log", delete=False
        ) as log:
            self.log_path = Path(log.name)
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urlopen(f"{self.base_url}/_emulator/health", timeout=1.0) as answer:  # noqa: S310
                    if answer.status == 200:
                        return True
            except (URLError, OSError):
                pass
            time.sleep(0.02)
        self.stop()
        return False

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """A graceful stop (SIGTERM), as Ctrl-C or `docker stop` does."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """`kill -9`: no chance to flush or close anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
