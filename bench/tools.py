"""The programs the benchmarks run besides Python: wrk, Java and npm packages, each found or installed.

- `ensure_wrk()`: wrk on PATH, or installed from Debian's packages when this is root; otherwise a
  BenchError, since no load can be measured without it.
- `find_java()`: java on PATH, or Debian's `default-jre-headless` installed when this is root; otherwise
  None and the reason, so a peer that needs it is skipped.
- `NpmPackage.install()`: a pinned npm package installed once into a cache folder of its own
  (`~/.cache/twilio-emulator-bench/npm/`, or under `$XDG_CACHE_HOME`), with its install scripts off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import BenchError

NPM_INSTALL_TIMEOUT_S = 600


class Unavailable(Exception):
    """A program a peer needs is missing and cannot be installed here: the peer is skipped, and says why."""


def apt_install(package: str) -> None:
    """`apt-get update` then `apt-get install -y package` (as root); Unavailable when either fails."""
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        try:
            subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise Unavailable(f"{' '.join(command)} failed: {exc}") from None


def on_path(executable: str) -> str:
    found = shutil.which(executable)
    if found is None:
        raise Unavailable(f"{executable} is not on PATH")
    return found


def installed(executable: str, package: str) -> str:
    """The path of `executable`, installing Debian's `package` first when it is not on PATH."""
    found = shutil.which(executable)
    if found:
        return found
    if os.geteuid() != 0:
        raise Unavailable(
            f"{executable} is not on PATH, and without root Debian's {package} cannot be installed"
        )
    print(
        f"{executable} is not on PATH: installing {package} with apt-get (Debian's package) ...", flush=True
    )
    apt_install(package)
    found = shutil.which(executable)
    if not found:
        raise Unavailable(f"apt-get installed {package} but {executable} is still not on PATH")
    return found


def ensure_wrk() -> str:
    try:
        return installed("wrk", "wrk")
    except Unavailable as exc:
        raise BenchError(
            f"{exc}: install it (Debian/Ubuntu: sudo apt-get install -y wrk; macOS: brew install wrk)"
            " and run again"
        ) from None


def find_java() -> str:
    """java, installed from Debian's default-jre-headless when missing; Unavailable otherwise."""
    return installed("java", "default-jre-headless")


def program_version(command: list[str]) -> str:
    """The first line a `--version` style command prints (on stdout or stderr), or `unknown`."""
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (finished.stdout + finished.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "twilio-emulator-bench"


@dataclass(frozen=True)
class NpmPackage:
    """One pinned version of an npm package, installed into a folder of its own under the cache."""

    name: str
    version: str

    @property
    def folder(self) -> Path:
        return cache_folder() / "npm" / f"{self.name.replace('/', '+')}@{self.version}"

    @property
    def root(self) -> Path:
        """Where the package itself lands: node_modules/<name>."""
        return self.folder / "node_modules" / self.name

    def install(self) -> Path:
        """The package's folder, after `npm install` the first time; Unavailable without npm or on failure."""
        if (self.root / "package.json").is_file():
            return self.root
        npm = on_path("npm")
        self.folder.mkdir(parents=True, exist_ok=True)
        print(f"Installing {self.name}@{self.version} with npm into {self.folder} ...", flush=True)
        # --ignore-scripts: a package's postinstall (e.g. a download counter) is nothing the peer needs.
        command = [
            npm,
            "install",
            "--prefix",
            str(self.folder),
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
        ]
        try:
            finished = subprocess.run(
                [*command, f"{self.name}@{self.version}"],
                capture_output=True,
                text=True,
                timeout=NPM_INSTALL_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"npm install {self.name}@{self.version} failed: {exc}") from None
        if finished.returncode != 0 or not (self.root / "package.json").is_file():
            tail = (finished.stdout + finished.stderr).strip().splitlines()[-5:]
            raise Unavailable(f"npm install {self.name}@{self.version} failed: {' / '.join(tail)}")
        return self.root
