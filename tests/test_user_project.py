"""The package installs beside a user's own code: a project with its own top-level `app` package (the usual
FastAPI layout) installs the emulator, non-editable, into a fresh virtualenv and runs its suite with the
plugin's `twilio_client` fixture under both `pytest` and `python -m pytest`.

A fresh virtualenv and installs from the package index (with uv, for speed: pip took a minute or more
here, uv seconds), and the same on every backend: it runs in the SQLite pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from twilio_conversations_emulator.testing import processes

from tests.conftest import REPO, extra_requirement

pytestmark = [
    pytest.mark.backend_independent,  # runs once, in the SQLite pass (see tests/conftest.py)
    # Downloads on a fresh machine; a busy one makes that slow, never wrong.
    pytest.mark.timeout(600),
]


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is a test dependency (scripts/bootstrap test installs it)"
    return found


USER_APP = '''\
"""The user's own application package, named `app` like the emulator's repository folder."""
'''

USER_CHAT = '''\
"""The user's code under test: it configures a service's hooks through the official client."""

from twilio.rest import Client


def create_support_service(client: Client, hook: str) -> str:
    service = client.conversations.v1.services.create(friendly_name="support")
    client.conversations.v1.services(service.sid).configuration.webhooks().update(
        post_webhook_url=hook, filters=["onMessageAdded"], method="POST"
    )
    return service.sid
'''

USER_TEST = """\
from app.chat import create_support_service


def test_the_service_is_configured(twilio_client):
    sid = create_support_service(twilio_client, "http://127.0.0.1:9/hook")
    hooks = twilio_client.conversations.v1.services(sid).configuration.webhooks().fetch()
    assert hooks.post_webhook_url == "http://127.0.0.1:9/hook"
    assert hooks.filters == ["onMessageAdded"]


def test_the_user_app_is_the_users():
    import app

    assert app.__doc__.startswith("The user's own application package")
"""

USER_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "user-chat-app"
version = "1.0.0"
dependencies = ["twilio>=9.0"]

[tool.hatch.build.targets.wheel]
packages = ["app"]
"""

TOP_LEVELS = """\
import json, importlib.metadata as metadata
files = metadata.files("twilio-conversations-emulator") or []
tops = sorted({file.parts[0] for file in files if file.parts and "site-packages" not in file.parts[0]})
print(json.dumps(tops))
"""


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # uv and the user's pytest start processes of their own (a build backend, emulators): `run` kills them
    # with the command, however it ends.
    result = processes.run(command, cwd=cwd, env=env, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_a_user_project_with_its_own_app_package_runs_its_suite_with_the_plugin(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    run([uv(), "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(REPO)], tmp_path)
    (emulator_wheel,) = wheels.glob("twilio_conversations_emulator-*.whl")

    project = tmp_path / "user-project"
    (project / "app").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pyproject.toml").write_text(USER_PYPROJECT)
    (project / "app" / "__init__.py").write_text(USER_APP)
    (project / "app" / "chat.py").write_text(USER_CHAT)
    (project / "tests" / "test_chat.py").write_text(USER_TEST)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    # Non-editable, both: the user's project and the emulator as a user's requirements file names them.
    install = [uv(), "pip", "install", "--quiet", "--python", python]
    run([*install, str(emulator_wheel), "pytest>=8", str(project)], tmp_path)

    tops = json.loads(run([python, "-c", TOP_LEVELS], tmp_path).stdout)
    assert "app" not in tops, f"the emulator installs a top-level app: {tops}"
    assert "twilio_conversations_emulator" in tops

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "PYTEST_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    plain = run([str(venv / "bin" / "pytest"), "-p", "no:cacheprovider", "-q"], project, env)
    assert "2 passed" in plain.stdout, plain.stdout
    module = run([python, "-m", "pytest", "-p", "no:cacheprovider", "-q"], project, env)
    assert "2 passed" in module.stdout, module.stdout

    # The user's package did not overwrite the emulator's, and the command still works.
    version = run([str(venv / "bin" / "twilio-emulator"), "--version"], tmp_path)
    assert version.stdout.startswith("twilio-emulator ")
    run([python, "-m", "twilio_conversations_emulator", "--version"], tmp_path)

    # Without the `proxy` extra, the proxy names the package it needs, not this distribution with the
    # extra: it is not on PyPI, where a package of that name could be anyone's.
    proxy = processes.run([str(venv / "bin" / "twilio-emulator"), "proxy"], cwd=tmp_path, timeout=600)
    assert proxy.returncode == 2, proxy.stderr
    assert proxy.stderr == (
        "twilio-emulator: the proxy needs mitmproxy, this package's `proxy` extra: "
        f"pip install '{extra_requirement('proxy')}'\n"
    )
