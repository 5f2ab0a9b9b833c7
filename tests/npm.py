"""The npm packages the tests drive (the twilio Node library, twilio-cli), installed on first use.

Each pytest worker has session fixtures of its own, so several may find a package missing at once: the
install runs under a lock on its folder, and whoever waited finds it done. Two `npm install`s in one
folder at once fail (ENOTEMPTY, as one removes what the other unpacks).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

from twilio_conversations_emulator.testing.processes import run

# A first install on a fresh machine downloads tens of MB.
NPM_TIMEOUT = 600.0
LOCK_NAME = ".npm-install.lock"


class NpmError(RuntimeError):
    """npm is missing, or did not install the package at the version asked for; the message says which."""


def installed_version(folder: Path, package: str) -> str | None:
    manifest = folder / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    version = json.loads(manifest.read_text()).get("version")
    return version if isinstance(version, str) else None


def ensure_installed(folder: Path, package: str, version: str) -> None:
    """`npm install` in `folder` (its package.json pins `package` at `version`) unless already there."""
    if installed_version(folder, package) == version:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise NpmError(f"npm is required to install {package} {version}: no `npm` on PATH")
    with (folder / LOCK_NAME).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends
        if installed_version(folder, package) == version:
            return
        try:
            # npm runs scripts in processes of its own: `run` kills them with it, however it ends.
            completed = run(
                [npm, "install", "--no-audit", "--no-fund", "--no-package-lock"],
                cwd=folder,
                timeout=NPM_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise NpmError(f"`npm install` in {folder} did not finish within {NPM_TIMEOUT:.0f} s") from None
        if completed.returncode != 0:
            raise NpmError(
                f"`npm install` in {folder} failed ({completed.returncode}):\n"
                f"{completed.stdout}\n{completed.stderr}"
            )
    found = installed_version(folder, package)
    if found != version:
        raise NpmError(f"expected {package} {version} in {folder / 'node_modules'}, found {found}")
