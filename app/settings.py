"""Settings, read from `TWILIO_EMULATOR_*` environment variables; command-line flags override them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, overload

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

TWILIO_BASE_URL = "https://conversations.twilio.com"
ENV_PREFIX = "TWILIO_EMULATOR_"
PROXY_ENV_PREFIX = f"{ENV_PREFIX}PROXY_"

AuthMode = Literal["permissive", "strict"]
WebhookDelivery = Literal["before-answer", "after-answer"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


@dataclass(frozen=True)
class Flag:
    """Declared on a setting whose `serve` flag is not `--name-with-dashes`, or whose help should show a
    placeholder other than NAME."""

    name: str | None = None
    metavar: str | None = None


def bindable_host(value: str) -> str:
    """An address to bind: an IP address or a name this machine resolves. Checked with the other settings
    (the same lookup the bind makes), so a typo stops start-up with one line naming it, not a bind error."""
    if value == "":  # every interface, to uvicorn
        return value
    try:
        socket.getaddrinfo(value, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError):
        raise ValueError("is neither an IP address nor a name this machine resolves") from None
    return value


def shipped_fixtures() -> Path:
    """The shipped `fixtures/`: inside the wheel when installed, beside `app/` in a checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "_shipped_fixtures"
    return installed if installed.is_dir() else package.parent / "fixtures"


class Settings(BaseSettings):
    """Every setting, as a `TWILIO_EMULATOR_*` variable and a flag of `serve`; `--help` keeps this order."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port to bind; 0 picks a free one.")
    database_url: Annotated[str, Flag("--database", metavar="URL")] = Field(
        default="sqlite:///./data/emulator.db",
        description=(
            "SQLAlchemy URL of the database: SQLite (a file's folder is created if missing) or "
            "PostgreSQL (`postgresql+psycopg://user:password@host/database`)."
        ),
    )
    fixtures: Annotated[str, Flag(metavar="PATH")] = Field(
        default_factory=lambda: str(shipped_fixtures()),
        description="A fixture JSON file or a folder of them, applied at start-up; empty for none.",
    )
    auth_mode: AuthMode = Field(
        default="permissive",
        description=(
            "`permissive` (any well-formed account SID is let in) or `strict` (only accounts and keys "
            "from fixtures, with their secrets)."
        ),
    )
    public_base_url: Annotated[str | None, Flag(metavar="URL")] = Field(
        default=None,
        description="Base of `url` and `links` in resources; unset means Twilio's own host.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest request body, in bytes; a larger one is refused with 413 / 20413.",
    )
    log_level: LogLevel = Field(
        default="info",
        description=(
            "uvicorn's log level: `critical`, `error`, `warning`, `info`, `debug` or `trace`; "
            "`debug` and `trace` add the access log."
        ),
    )
    journal_size: int = Field(
        default=1000, ge=0, description="Requests kept in the request journal; 0 turns it off."
    )
    delivery_log_size: int = Field(
        default=1000, ge=0, description="Webhook deliveries kept in the delivery log; 0 turns it off."
    )
    webhook_timeout: float = Field(
        default=5.0, gt=0, le=600, description="Seconds each webhook delivery is waited for."
    )
    webhook_delivery: WebhookDelivery = Field(
        default="before-answer",
        description=(
            "When a REST call's webhooks go: `before-answer` (its answer waits for them, so a test can "
            "look at once) or `after-answer` (as Twilio: the answer first, the webhooks after it)."
        ),
    )
    admin_token: str | None = Field(
        default=None, description="When set, /_emulator/ calls (but health) need `Bearer <token>`."
    )
    webhook_allowed_targets: Annotated[str | None, Flag(metavar="LIST")] = Field(
        default=None,
        description=(
            "Comma-separated hosts (`*.example.com` for subdomains), IP addresses and networks "
            "(`10.0.0.0/8`) webhooks may be delivered to; unset means any."
        ),
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="Server processes sharing the port and the database."
    )
    proxy_port: Annotated[int | None, Flag(metavar="PORT")] = Field(
        default=None,
        ge=0,
        le=65535,
        description=(
            "Also run the intercepting proxy (`twilio-emulator proxy`) on this port, handing "
            "`*.twilio.com` to this server; unset for none. Its other settings are `proxy`'s variables."
        ),
    )

    @field_validator("auth_mode", "log_level", "webhook_delivery", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    _host = field_validator("host")(bindable_host)

    @field_validator("webhook_allowed_targets")
    @classmethod
    def _allow_list(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from .activity.targets import TargetPolicy

        TargetPolicy.parse(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("admin_token")
    @classmethod
    def _usable_token(cls, value: str | None) -> str | None:
        # An empty token would let `Authorization: Bearer` with nothing after it in; one of only spaces
        # could never be sent (header values are trimmed), locking the control API out.
        if value is not None and value.strip() == "":
            raise ValueError("must not be empty or only whitespace; leave it unset for no token")
        if value is not None and value != value.strip():
            raise ValueError("must not begin or end with whitespace (HTTP trims it from header values)")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        # `postgres://` and a driverless `postgresql://` (as hosting services hand them out) mean the
        # one PostgreSQL driver the emulator ships with.
        for scheme in ("postgres://", "postgresql://"):
            if value.startswith(scheme):
                value = "postgresql+psycopg://" + value[len(scheme) :]
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("is not a database URL such as sqlite:///./data/emulator.db") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @property
    def resource_base_url(self) -> str:
        """Where `url` and `links` in resource bodies point."""
        return self.public_base_url or TWILIO_BASE_URL

    @model_validator(mode="after")
    def _workers_share_the_database(self) -> Settings:
        if self.workers > 1 and self.database_is_process_local:
            raise ValueError("an in-memory database cannot be shared by workers; use a file or PostgreSQL")
        if self.workers > 1 and self.webhook_delivery == "after-answer":
            # A reset answered by one worker could not wait for another's webhooks, which would then land
            # in the shared log after it.
            raise ValueError("webhook delivery after-answer needs one process: workers share one log")
        return self

    @property
    def database_is_process_local(self) -> bool:
        """In-memory SQLite: it lives inside one process, so no other worker can see it."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        database = url.database or ""
        # A `file:` URI's own query (`?mode=memory`) may land in the URL's database or in its query.
        in_uri = "mode=memory" in database or url.query.get("mode") == "memory"
        return url.get_backend_name() == "sqlite" and (
            database in ("", ":memory:") or database.startswith("file::memory:") or in_uri
        )

    @property
    def database_is_shared(self) -> bool:
        """Whether other processes may use the database: several workers, or a database server."""
        return self.workers > 1 or not self.database_url.startswith("sqlite")

    def fixture_path(self) -> Path | None:
        return Path(self.fixtures).expanduser() if self.fixtures.strip() else None


class ProxySettings(BaseSettings):
    """The intercepting proxy's settings, as `TWILIO_EMULATOR_PROXY_*` variables and flags of `proxy`.

    `serve --proxy-port` reads the same variables for the proxy it runs, its target being the server."""

    model_config = SettingsConfigDict(env_prefix=PROXY_ENV_PREFIX, frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the proxy binds.")
    port: int = Field(default=8899, ge=0, le=65535, description="Port the proxy binds; 0 picks a free one.")
    target: Annotated[str, Flag(metavar="URL")] = Field(
        default="http://127.0.0.1:8080",
        description="The emulator that requests to `*.twilio.com` are handed to; nothing goes anywhere else.",
    )
    ca_dir: Annotated[str, Flag(metavar="PATH")] = Field(
        default="./data/proxy",
        description=(
            "Folder of the proxy's own CA (made on first start, then kept), the CA bundle beside the "
            "system's roots, and `env.sh`; made if missing."
        ),
    )

    _host = field_validator("host")(bindable_host)

    @field_validator("target")
    @classmethod
    def _emulator_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:
            raise ValueError("has a bad port") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, such as http://127.0.0.1:8080")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError("must be the emulator's base URL, with no path, such as http://127.0.0.1:8080")
        return value.rstrip("/")


AnySettings = TypeVar("AnySettings", bound=BaseSettings)


class SettingsError(Exception):
    """A setting with a bad value, described in one line that names it."""


class Option(NamedTuple):
    """How one setting is given: the flag of `serve` and the environment variable, both named from the
    field, and what `--help` says of it."""

    name: str
    flag: str
    metavar: str
    variable: str
    description: str
    default: Any

    @property
    def help(self) -> str:
        shown = "unset" if self.default is None else str(self.default)
        text = f"{self.description.rstrip('.')} ({self.variable}, default {shown})".lstrip()
        return text.replace("%", "%%")  # argparse %-formats help strings


def options(settings_class: type[BaseSettings] = Settings) -> dict[str, Option]:
    """Every field of `settings_class`, in declaration order, as its flag and variable."""
    prefix = settings_class.model_config.get("env_prefix", "")
    found: dict[str, Option] = {}
    for name, field in settings_class.model_fields.items():
        flag = next((item for item in field.metadata if isinstance(item, Flag)), Flag())
        found[name] = Option(
            name=name,
            flag=flag.name or f"--{name.replace('_', '-')}",
            metavar=flag.metavar or name.upper(),
            variable=f"{prefix}{name.upper()}",
            description=field.description or "",
            default=field.get_default(call_default_factory=True),
        )
    return found


@overload
def load_settings(**overrides: object) -> Settings: ...
@overload
def load_settings(settings_class: type[AnySettings], /, **overrides: object) -> AnySettings: ...
def load_settings(settings_class: type[BaseSettings] = Settings, /, **overrides: object) -> BaseSettings:
    """Settings from the environment, with explicit values (from flags) winning."""
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return settings_class(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        # A rule between settings (the workers and the database) is reported against the workers.
        name = str(error["loc"][0]) if error["loc"] else "workers"
        option = options(settings_class)[name]
        source = option.flag if name in given else option.variable
        raise SettingsError(f"invalid {source}: {error['msg']}") from None


class GivenSettings(Settings):
    """Settings from the values given alone: an emulator a suite makes for itself (`mock_twilio`) does
    not change with the shell's `TWILIO_EMULATOR_*` variables, as the plugin's server does not."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def given_settings(caller: str, **values: object) -> Settings:
    """Settings from keyword arguments alone, each error naming the keyword; `caller` opens the message."""
    # The model ignores unknown names (so stray variables do no harm); a misspelt keyword must not.
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise TypeError(f"{caller} got an unknown setting {unknown[0]!r}")
    try:
        return GivenSettings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "workers"
        raise SettingsError(f"{caller}: invalid {name}: {error['msg']}") from None


def settings_environment(settings: Settings) -> dict[str, str]:
    """`settings` as the environment variables that give them: how worker processes receive them."""
    variables = options(type(settings))
    return {
        variables[name].variable: str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }
