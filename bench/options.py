"""The command-line options the benchmark scripts share: one parser shape, the wrk load (--quick,
--duration, --warmup, --threads, --connections), --json and --check. Each script adds its own flags."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict

DEFAULT_DURATION_S = 10
QUICK_DURATION_S = 3
DEFAULT_WARMUP_S = 1
DEFAULT_THREADS = 2
DEFAULT_CONNECTIONS = 32


def new_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """A parser whose help is the script's docstring, as written."""
    return argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_load_arguments(
    parser: argparse.ArgumentParser, quick_help: str, *, default_duration: int = DEFAULT_DURATION_S
) -> None:
    """The wrk load options and --json; a script's own `default_duration` is kept for `load_options`."""
    parser.set_defaults(default_duration=default_duration)  # a value of the namespace, not an option
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--duration",
        type=int,
        metavar="SECONDS",
        help=f"seconds per wrk load (default {default_duration}, --quick {QUICK_DURATION_S})",
    )
    parser.add_argument(
        "--warmup", type=int, metavar="SECONDS", help=f"wrk warm-up before each load ({DEFAULT_WARMUP_S})"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help=f"wrk threads (default {DEFAULT_THREADS})"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"wrk connections (default {DEFAULT_CONNECTIONS})",
    )
    parser.add_argument("--json", dest="json_path", type=Path, metavar="PATH", help="write results as JSON")


def add_check_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--check", action="store_true", help=help_text)


class LoadFields(TypedDict):
    """`LoadOptions`' fields, as `load_options` reads them: a script's own Options takes them as keywords."""

    duration: int
    warmup: int
    threads: int
    connections: int
    json_path: Path | None
    check: bool


@dataclass(frozen=True)
class LoadOptions:
    """What every load benchmark is told; a script's Options adds its own fields."""

    duration: int
    warmup: int
    threads: int
    connections: int
    json_path: Path | None
    check: bool

    def as_json(self) -> dict[str, Any]:
        """Every field, paths as strings: the `options` of a JSON report."""
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}


def load_options(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> LoadFields:
    """The options of `add_load_arguments` and `add_check_argument`, checked (`parser.error` otherwise);
    `check` is False for a script without --check."""
    duration: int = (
        arguments.duration
        if arguments.duration is not None
        else (QUICK_DURATION_S if arguments.quick else arguments.default_duration)
    )
    warmup: int = arguments.warmup if arguments.warmup is not None else DEFAULT_WARMUP_S
    if duration < 1 or warmup < 0 or arguments.threads < 1 or arguments.connections < arguments.threads:
        parser.error("--duration must be >= 1, --warmup >= 0, and --connections >= --threads >= 1")
    return LoadFields(
        duration=duration,
        warmup=warmup,
        threads=arguments.threads,
        connections=arguments.connections,
        json_path=arguments.json_path,
        check=getattr(arguments, "check", False),
    )
