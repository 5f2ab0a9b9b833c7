"""`serve`'s flags, the `TWILIO_EMULATOR_*` variables and `--help`: all read off `Settings`."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field
from twilio_conversations_emulator.cli import build_parser, main, why_unlistenable
from twilio_conversations_emulator.settings import (
    ENV_PREFIX,
    Flag,
    ProxySettings,
    Settings,
    SettingsError,
    load_settings,
    options,
    settings_environment,
)
from twilio_conversations_emulator.testing import free_port

from tests.conftest import REPO, CommandLine

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

# Today's flags and placeholders, in `--help` order, written out so that a renamed field or a lost
# override fails here rather than in a user's script.
FLAGS = [
    ("host", "--host", "HOST"),
    ("port", "--port", "PORT"),
    ("database_url", "--database", "URL"),
    ("fixtures", "--fixtures", "PATH"),
    ("auth_mode", "--auth-mode", "AUTH_MODE"),
    ("public_base_url", "--public-base-url", "URL"),
    ("max_body_bytes", "--max-body-bytes", "MAX_BODY_BYTES"),
    ("log_level", "--log-level", "LOG_LEVEL"),
    ("journal_size", "--journal-size", "JOURNAL_SIZE"),
    ("delivery_log_size", "--delivery-log-size", "DELIVERY_LOG_SIZE"),
    ("webhook_timeout", "--webhook-timeout", "WEBHOOK_TIMEOUT"),
    ("webhook_delivery", "--webhook-delivery", "WEBHOOK_DELIVERY"),
    ("admin_token", "--admin-token", "ADMIN_TOKEN"),
    ("webhook_allowed_targets", "--webhook-allowed-targets", "LIST"),
    ("workers", "--workers", "WORKERS"),
    ("proxy_port", "--proxy-port", "PORT"),
]
# `proxy`'s flags: ProxySettings, whose variables are TWILIO_EMULATOR_PROXY_*.
PROXY_FLAGS = [
    ("host", "--host", "HOST"),
    ("port", "--port", "PORT"),
    ("target", "--target", "URL"),
    ("ca_dir", "--ca-dir", "PATH"),
]

# A value for each setting other than its default, once as a variable would give it and once as a flag.
SAMPLES = {
    "host": ("0.0.0.0", "127.0.0.2"),
    "port": ("9001", "9002"),
    "database_url": ("sqlite:///./env.db", "sqlite:///./flag.db"),
    "fixtures": ("", "/some/fixtures"),
    "auth_mode": ("strict", "Permissive"),
    "public_base_url": ("http://env.example", "https://flag.example/"),
    "max_body_bytes": ("10", "20"),
    "log_level": ("debug", "trace"),
    "journal_size": ("0", "7"),
    "delivery_log_size": ("0", "9"),
    "webhook_timeout": ("0.5", "2.5"),
    "webhook_delivery": ("after-answer", "Before-Answer"),
    "admin_token": ("env-token", "flag-token"),
    "webhook_allowed_targets": ("10.0.0.0/8", "hooks.example.com,127.0.0.1"),
    "workers": ("2", "3"),
    "proxy_port": ("8897", "8898"),
}


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: the runner's own TWILIO_EMULATOR_* variables would change the defaults."""
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)


def serve_parser(
    settings_class: type[Settings] | None = None, command: str = "serve"
) -> argparse.ArgumentParser:
    parser = build_parser(settings_class)
    (commands,) = (action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    serve: argparse.ArgumentParser = commands.choices[command]
    return serve


def flag_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if not isinstance(action, argparse._HelpAction)]


def serve_help(capsys: pytest.CaptureFixture[str], settings_class: type[Settings] | None = None) -> str:
    """`serve --help` with its lines unwrapped, so a phrase can be looked for whatever the terminal width."""
    with pytest.raises(SystemExit) as stopped:
        serve_parser(settings_class).parse_args(["--help"])
    assert stopped.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def parsed(settings_class: type[Settings] | None, *args: str) -> dict[str, object]:
    arguments = vars(build_parser(settings_class).parse_args(["serve", *args]))
    arguments.pop("command")
    return arguments


def shown(default: object) -> str:
    return "unset" if default is None else str(default)


def test_every_setting_has_exactly_one_flag_and_no_flag_is_not_a_setting() -> None:
    actions = flag_actions(serve_parser())
    assert [(action.dest, *action.option_strings, action.metavar) for action in actions] == FLAGS
    assert [name for name, _, _ in FLAGS] == list(Settings.model_fields)
    # Nothing typed or defaulted in argparse: a flag not given must leave its variable in force.
    assert all(action.type is None and action.default is None for action in actions)


def test_every_proxy_setting_is_a_flag_of_proxy_and_a_proxy_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    actions = flag_actions(serve_parser(command="proxy"))
    assert [(action.dest, *action.option_strings, action.metavar) for action in actions] == PROXY_FLAGS
    assert [name for name, _, _ in PROXY_FLAGS] == list(ProxySettings.model_fields)
    assert all(action.type is None and action.default is None for action in actions)
    for name, option in options(ProxySettings).items():
        assert option.variable == f"TWILIO_EMULATOR_PROXY_{name.upper()}"
        assert option.description, name
    # serve's --proxy-port and proxy's --port are one variable.
    assert options(ProxySettings)["port"].variable == options()["proxy_port"].variable
    monkeypatch.setenv("TWILIO_EMULATOR_PROXY_TARGET", "http://127.0.0.1:9000/")
    monkeypatch.setenv("TWILIO_EMULATOR_PROXY_PORT", "9001")
    settings = load_settings(ProxySettings, port="9002")
    assert (settings.target, settings.port, settings.host) == ("http://127.0.0.1:9000", 9002, "127.0.0.1")
    with pytest.raises(SystemExit):
        serve_parser(command="proxy").parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(TWILIO_EMULATOR_PROXY_CA_DIR, default ./data/proxy)" in text


@pytest.mark.parametrize(
    "target", ["127.0.0.1:8080", "ftp://127.0.0.1", "http://", "http://127.0.0.1:8080/v1", "http://h:99999"]
)
def test_a_proxy_target_that_is_not_an_emulator_base_url_is_refused(target: str) -> None:
    with pytest.raises(SettingsError, match=r"^invalid --target: "):
        load_settings(ProxySettings, target=target)
    assert main(["proxy", "--target", target]) == 2


def test_every_setting_has_exactly_one_variable() -> None:
    for name, field in Settings.model_fields.items():
        # An alias would replace the prefixed variable (pydantic-settings reads the alias, unprefixed).
        assert field.alias is None, name
        assert field.validation_alias is None, name
        assert options()[name].variable == f"TWILIO_EMULATOR_{name.upper()}"
    assert Settings.model_config.get("case_sensitive", False) is False


def test_every_setting_is_described_and_the_help_names_its_flag_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = serve_help(capsys)
    assert "Each flag overrides its TWILIO_EMULATOR_* variable." in text
    for name, option in options().items():
        assert option.description, f"{name} has no description="
        assert f"{option.flag} {option.metavar} {option.description.rstrip('.')} " in text
        assert f"({option.variable}, default {shown(option.default)})" in text
    assert "default unset" in text  # public_base_url and admin_token
    assert f"default {Settings().fixtures}" in text


def test_each_choice_of_a_setting_with_few_is_in_its_description() -> None:
    for name in ("auth_mode", "log_level"):
        annotation = Settings.model_fields[name].annotation
        for choice in annotation.__args__:  # type: ignore[union-attr]
            assert f"`{choice}`" in options()[name].description, (name, choice)


def test_the_samples_cover_every_setting() -> None:
    assert set(SAMPLES) == set(Settings.model_fields)
    defaults = Settings()
    for name, (from_variable, from_flag) in SAMPLES.items():
        assert load_settings(**{name: from_variable}) != defaults, name
        assert load_settings(**{name: from_flag}) != load_settings(**{name: from_variable}), name


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_setting_is_read_from_its_variable_and_its_flag_wins(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_variable, from_flag = SAMPLES[name]
    # What each value means, worked out with nothing in the environment.
    variable_gives, flag_gives = load_settings(**{name: from_variable}), load_settings(**{name: from_flag})
    option = options()[name]
    monkeypatch.setenv(option.variable, from_variable)
    assert load_settings(**parsed(None)) == variable_gives
    overrides = parsed(None, option.flag, from_flag)
    assert overrides == {other: (from_flag if other == name else None) for other in Settings.model_fields}
    assert load_settings(**overrides) == flag_gives


def test_settings_environment_round_trips_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    given = load_settings(**{name: from_flag for name, (_, from_flag) in SAMPLES.items()})
    assert given.model_dump() != Settings().model_dump()
    environment = settings_environment(given)
    assert set(environment) == {option.variable for option in options().values()}
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert Settings() == given


def test_settings_environment_leaves_out_what_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    environment = settings_environment(defaults)
    assert "TWILIO_EMULATOR_PUBLIC_BASE_URL" not in environment
    assert "TWILIO_EMULATOR_ADMIN_TOKEN" not in environment
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert Settings() == defaults


@pytest.mark.parametrize(
    ("name", "bad"),
    [("port", "eighty"), ("database_url", "not a url"), ("workers", "0"), ("host", "999.1.1.1")],
)
def test_a_bad_value_names_the_flag_it_came_from_or_else_the_variable(
    name: str, bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    option = options()[name]
    with pytest.raises(SettingsError, match=rf"^invalid {option.flag}: "):
        load_settings(**parsed(None, option.flag, bad))
    monkeypatch.setenv(option.variable, bad)
    with pytest.raises(SettingsError, match=rf"^invalid {option.variable}: "):
        load_settings(**parsed(None))


def test_the_proxy_refuses_a_host_it_could_not_bind_as_serve_does() -> None:
    with pytest.raises(SettingsError, match=r"^invalid --host: .*neither an IP address nor a name"):
        load_settings(ProxySettings, host="999.1.1.1")
    assert load_settings(ProxySettings, host="localhost").host == "localhost"


class Extended(Settings):
    """A settings class grown by two fields; cli.py is not told about them."""

    retries: int = Field(default=3, ge=0, description="Times a thing is tried again; 0 for never.")
    greeting_file: Annotated[str, Flag("--greeting", metavar="FILE")] = Field(
        default="hello.txt", description="Where the greeting is read from."
    )


def test_a_field_added_to_a_settings_subclass_gets_a_flag_a_variable_and_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    actions = flag_actions(serve_parser(Extended))
    assert [(action.dest, *action.option_strings, action.metavar) for action in actions] == [
        *FLAGS,
        ("retries", "--retries", "RETRIES"),
        ("greeting_file", "--greeting", "FILE"),
    ]
    text = serve_help(capsys, Extended)
    assert (
        "--retries RETRIES Times a thing is tried again; 0 for never (TWILIO_EMULATOR_RETRIES, default 3)"
        in text
    )
    assert (
        "--greeting FILE Where the greeting is read from (TWILIO_EMULATOR_GREETING_FILE, default hello.txt)"
        in text
    )

    monkeypatch.setenv("TWILIO_EMULATOR_RETRIES", "5")
    monkeypatch.setenv("TWILIO_EMULATOR_GREETING_FILE", "env.txt")
    settings = load_settings(Extended, **parsed(Extended, "--greeting", "flag.txt"))
    assert isinstance(settings, Extended)
    assert (settings.retries, settings.greeting_file) == (5, "flag.txt")
    assert settings_environment(settings)["TWILIO_EMULATOR_GREETING_FILE"] == "flag.txt"

    with pytest.raises(SettingsError, match=r"^invalid --retries: "):
        load_settings(Extended, **parsed(Extended, "--retries", "-1"))
    monkeypatch.setenv("TWILIO_EMULATOR_RETRIES", "many")
    with pytest.raises(SettingsError, match=r"^invalid TWILIO_EMULATOR_RETRIES: "):
        load_settings(Extended, **parsed(Extended))


def test_an_unknown_flag_is_refused_by_argparse_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--database-url", "sqlite://"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --database-url" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_taken_port_stops_serve_with_one_line_before_the_database_is_made(
    host: str, cli: CommandLine, tmp_path: Path
) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        taken = socket.create_server((host, 0), family=family)
    except OSError:
        pytest.fail(f"this machine cannot listen on {host}")
    with taken:
        port = taken.getsockname()[1]
        database = tmp_path / "db.sqlite"
        code, stderr = cli.run(
            "serve", "--host", host, "--port", str(port), "--database", f"sqlite:///{database}"
        )
    shown = f"[{host}]" if ":" in host else host
    assert code == 2
    assert stderr.splitlines() == [
        f"twilio-emulator: cannot listen on {shown}:{port}: address already in use"
    ]
    assert not database.exists()


def test_a_free_port_is_left_free_by_the_check() -> None:
    port = free_port()
    assert why_unlistenable("127.0.0.1", port) is None
    assert why_unlistenable("127.0.0.1", 0) is None
    with socket.create_server(("127.0.0.1", port)):  # the check's socket is closed, and held nothing
        pass


def test_help_version_and_a_bad_setting_answer_without_the_web_stack() -> None:
    script = """
import json, sys
from twilio_conversations_emulator.cli import main


codes = []
for argv in (["--help"], ["--version"], ["serve", "--help"], ["proxy", "--help"]):
    try:
        main(argv)
    except SystemExit as stopped:
        codes.append(stopped.code)
codes.append(main(["serve", "--port", "eighty"]))
loaded = sorted({"uvicorn", "fastapi", "starlette", "mitmproxy"} & set(sys.modules))
print(json.dumps({"codes": codes, "loaded": loaded}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"codes": [0, 0, 0, 0, 2], "loaded": []}
    assert result.stderr.strip().splitlines() == [
        "twilio-emulator: invalid --port: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_the_readme_table_has_one_row_per_setting_with_its_flag_and_default() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(TWILIO_EMULATOR_\w+)` \| `(--[a-z-]+)` \| ([^|]+) \|", readme, re.MULTILINE)
    declared = [*options().values(), *options(ProxySettings).values()]
    assert sorted((variable, flag) for variable, flag, _ in rows) == sorted(
        (option.variable, option.flag) for option in declared
    )
    for variable, flag, default in rows:
        option = next(option for option in declared if (option.variable, option.flag) == (variable, flag))
        if option.name == "fixtures":
            assert "shipped `fixtures/`" in default  # the path depends on where the package is installed
        elif option.default is None:
            assert default.strip() == "unset", variable
        else:
            value = f"{option.default:g}" if isinstance(option.default, float) else str(option.default)
            assert default.startswith(f"`{value}`"), variable


@pytest.mark.parametrize("token", ["", " ", "\t", "  \t "])
@pytest.mark.parametrize("source", ["flag", "variable"])
def test_an_empty_or_blank_admin_token_stops_start_up(token: str, source: str) -> None:
    """`Bearer` with nothing after it must never pass, and a token nobody can send must not lock the
    control API: both are refused before the server starts, with exit 2 and one line naming the setting."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_EMULATOR_")}
    args = [sys.executable, "-m", "twilio_conversations_emulator", "serve", "--port", "0"]
    if source == "flag":
        args += ["--admin-token", token]
    else:
        env["TWILIO_EMULATOR_ADMIN_TOKEN"] = token
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    named = "--admin-token" if source == "flag" else "TWILIO_EMULATOR_ADMIN_TOKEN"
    assert result.stderr.startswith(f"twilio-emulator: invalid {named}: "), result.stderr
    assert "must not be empty or only whitespace" in result.stderr
    assert "Uvicorn running" not in result.stderr
