"""The README's SDK and test-setup snippets, run as a user runs them.

Each snippet is taken from README.md as written; the only changes are the ones a user makes: the emulator's
address (the README's examples use 127.0.0.1:8080 or port 8089) and, for the pytest examples, the user's own
module they import (`myapp.chat`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio_conversations_emulator.testing.processes import GROUP_OF_ITS_OWN, run, stop_group
from twilio_conversations_emulator.testing.server import STOP_TIMEOUT_S, free_port

from tests.conftest import DEMO_SERVICE, Server, webhooks_path
from tests.test_node_sdk import NODE_DIR, NODE_TIMEOUT, node

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

README = Path(__file__).resolve().parent.parent / "README.md"
README_URL = "http://127.0.0.1:8080"
__all__ = ["node"]  # the fixture that installs the twilio Node library, shared with test_node_sdk


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Each fenced block of a Markdown text: its language (`""` for none) and its lines."""
    blocks: list[tuple[str, str]] = []
    language: str | None = None
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if language is None:
            if line.startswith("```"):
                language, lines = line[3:].strip(), []
        elif line.rstrip("\n") == "```":
            blocks.append((language, "".join(lines)))
            language = None
        else:
            lines.append(line)
    return blocks


def readme_block(language: str, marker: str) -> str:
    """The one fenced `language` block of the README that contains `marker` (`""`: a block without a
    language, such as printed output)."""
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    found = [block for kind, block in blocks if kind == language and marker in block]
    assert len(found) == 1, f"{len(found)} ```{language} blocks of README.md contain {marker!r}"
    return found[0]


def with_node_modules(folder: Path) -> Path:
    """`folder`, where `require("twilio")` and `import twilio` find the library tests/node installed."""
    (folder / "node_modules").symlink_to(NODE_DIR / "node_modules", target_is_directory=True)
    return folder


def run_python_snippet(marker: str, emulator: Server, replacements: dict[str, str] | None = None) -> str:
    """What the README's Python block holding `marker` prints, run against `emulator` (and with the
    `replacements` a user would make, such as the handler's port)."""
    snippet = readme_block("python", marker)
    assert README_URL in snippet
    snippet = snippet.replace(README_URL, emulator.base_url)
    for old, new in (replacements or {}).items():
        assert old in snippet, old
        snippet = snippet.replace(old, new)
    result = run([sys.executable, "-c", snippet], timeout=NODE_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_python_sdk_snippet_configures_the_demo_service(emulator: Server) -> None:
    printed = run_python_snippet("print(webhooks.fetch().filters)", emulator)
    assert printed.strip() == "['onMessageAdded']"
    stored = emulator.client().get(webhooks_path(DEMO_SERVICE)).json()
    assert stored["filters"] == ["onMessageAdded"]
    assert stored["post_webhook_url"] == "https://example.com/post"


def test_the_three_ways_base_url_snippet_runs(emulator: Server) -> None:
    assert run_python_snippet('friendly_name="base URL"', emulator).strip() == "base URL"


def test_the_three_ways_in_process_snippet_runs_with_no_server() -> None:
    snippet = readme_block("python", 'friendly_name="in process"')
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_")}
    result = run([sys.executable, "-c", snippet], env=environment, timeout=NODE_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "in process"


def test_the_python_sdk_conversation_snippet_runs(emulator: Server) -> None:
    printed = run_python_snippet("room.participants.create(identity=", emulator)
    assert printed.splitlines() == ["0 True sms", "['Hi, how can we help?']"]
    with emulator.client() as api:
        stored = api.get("/v1/Conversations/support-42/Participants").json()["participants"]
    assert [participant["identity"] for participant in stored] == ["agent-ana", None]


def test_the_node_sdk_snippet_configures_the_demo_service(
    node: str, emulator: Server, tmp_path: Path
) -> None:
    snippet = readme_block("js", "// configure.mjs")
    assert README_URL in snippet
    script = with_node_modules(tmp_path) / "configure.mjs"
    script.write_text(snippet.replace(README_URL, emulator.base_url), encoding="utf-8")
    result = run([node, str(script)], cwd=tmp_path, timeout=NODE_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[ 'onMessageAdded' ]"
    stored = emulator.client().get(webhooks_path(DEMO_SERVICE)).json()
    assert stored["filters"] == ["onMessageAdded"]
    assert stored["method"] == "POST"
    assert stored["pre_webhook_url"] is None


def test_the_node_test_setup_runs_and_stops_its_emulator(node: str, tmp_path: Path) -> None:
    port = str(free_port())
    project = with_node_modules(tmp_path)
    helper = readme_block("js", "async function startEmulator(port = 8089)")
    suite = readme_block("js", 'require("node:test")')
    (project / "support").mkdir()
    (project / "support" / "emulator.js").write_text(helper.replace("8089", port), encoding="utf-8")
    (project / "test").mkdir()
    (project / "test" / "webhooks.test.js").write_text(suite, encoding="utf-8")
    # `twilio-emulator` on PATH, as after `pip install` of this project.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_")}
    # `node --test` runs the file in a node process of its own, which starts an emulator: `run` kills all
    # three on a timeout, a failure or Ctrl-C, and whatever the suite's `after` left running.
    result = run([node, "--test"], cwd=project, env=environment | {"PATH": path}, timeout=NODE_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^# pass 1$", result.stdout, re.M), result.stdout
    assert re.search(r"^# fail 0$", result.stdout, re.M), result.stdout
    # The suite's `after` stopped the emulator: its port is free again.
    rebound = run(
        [sys.executable, "-c", f"import socket; socket.create_server(('127.0.0.1', {port})).close()"],
        timeout=NODE_TIMEOUT,
    )
    assert rebound.returncode == 0, rebound.stderr


USER_MODULE = """
def configure_hooks(client, service_sid):
    client.conversations.v1.services(service_sid).configuration.webhooks().update(
        filters=["onMessageAdded"], post_webhook_url="https://example.com/hooks", method="POST"
    )
"""


def run_user_suite(pytester: pytest.Pytester, opening: str, *options: str) -> pytest.RunResult:
    """The README's test file that `opening` finds, beside the user module it tests, run by a new pytest
    with no TWILIO_ variables from this one, and with these options."""
    pytester.makepyfile(test_chat=readme_block("python", opening))
    pytester.mkpydir("myapp")
    (pytester.path / "myapp" / "chat.py").write_text(USER_MODULE, encoding="utf-8")
    for name in list(os.environ):
        if name.startswith("TWILIO_"):
            pytester._monkeypatch.delenv(name)
    return rerun_user_suite(pytester, *options)


def rerun_user_suite(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    """The suite `run_user_suite` wrote, run again by a new pytest."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *options)


def test_the_pytest_example_passes_on_the_plugin(pytester: pytest.Pytester) -> None:
    run_user_suite(pytester, "def test_survives_rate_limits").assert_outcomes(passed=2)


def test_the_pytest_example_passes_run_after_run_on_a_running_emulator(
    pytester: pytest.Pytester, emulator: Server
) -> None:
    """With `--twilio-emulator-url` the plugin never wipes the emulator whole: the example's fault and
    journal read are its account's, so a second run does not meet the first one's leftovers, and no fault
    outlives the suite."""
    url = f"--twilio-emulator-url={emulator.base_url}"
    run_user_suite(pytester, "def test_survives_rate_limits", url).assert_outcomes(passed=2)
    rerun_user_suite(pytester, url).assert_outcomes(passed=2)
    with emulator.client() as client:
        assert client.get("/_emulator/faults").json() == {"faults": []}


def test_the_mock_twilio_example_passes_in_process(pytester: pytest.Pytester) -> None:
    run_user_suite(pytester, "@mock_twilio()").assert_outcomes(passed=3)


# --- the webhook walkthrough -----------------------------------------------------------------------------

HANDLER_PORT = "3000"


@pytest.fixture
def handler(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """The walkthrough's handler.py, as written but for its port, running until the test ends."""
    port = free_port()
    script = tmp_path / "handler.py"
    code = readme_block("python", "HTTPServer((")
    marker = f'HTTPServer(("127.0.0.1", {HANDLER_PORT}), Hook)'
    assert marker in code
    script.write_text(code.replace(marker, f'HTTPServer(("127.0.0.1", {port}), Hook)'), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **GROUP_OF_ITS_OWN,
    )
    try:
        for _ in range(600):  # readiness, not a measurement: the handler listens once Python has started
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
        yield port, process
    finally:
        stop_group(process, STOP_TIMEOUT_S)


def test_the_webhook_walkthrough_runs_as_written(
    emulator: Server, handler: tuple[int, subprocess.Popen[str]]
) -> None:
    port, process = handler
    hooks = {f"127.0.0.1:{HANDLER_PORT}": f"127.0.0.1:{port}"}
    # 2. Configure the service: before anything else, so no delivery follows the demo's example.com.
    printed = run_python_snippet('post_webhook_url="http://127.0.0.1:3000/hooks"', emulator, hooks)
    assert printed.strip() == f"http://127.0.0.1:{port}/hooks"
    # 3. A REST conversation and message with the header.
    assert run_python_snippet('unique_name="support"', emulator).splitlines() == ["0 hello"]
    # 4. SDK actions: one modified, one rejected; the output is the README's.
    printed = run_python_snippet("/_emulator/events", emulator)
    assert printed == readme_block("", "rejected None")
    # 5. The delivery log, by curl.
    command = readme_block("sh", "deliveries?status=403").replace(README_URL, emulator.base_url)
    logged = run(["sh", "-c", command], timeout=NODE_TIMEOUT)
    assert logged.returncode == 0, logged.stderr
    (spam,) = json.loads(logged.stdout)["deliveries"]
    assert (spam["event"], spam["parameters"]["Body"]) == ("onMessageAdd", "buy spam")

    process.terminate()
    output, errors = process.communicate(timeout=30)
    assert output == readme_block("", "onMessageAdded from API") + readme_block("", "from SDK signature"), (
        errors
    )
    with emulator.client() as api:
        messages = api.get(f"/v1/Services/{DEMO_SERVICE}/Conversations/support/Messages").json()["messages"]
    assert [(message["author"], message["body"]) for message in messages] == [
        ("alice", "hello"),
        ("alice", "HOW DO I PAY?"),
    ]
