"""Settings, read once from the environment (or `.env`) and passed in everywhere."""

from __future__ import annotations

import base64
import binascii
import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from alerter.durations import parse_duration

DEFAULT_CALL_END_EVENTS = (
    "call.ended,call_ended,call.completed,call_completed,call.failed,call_failed"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    diga_api_key: SecretStr | None = Field(default=None, alias="DIGA_API_KEY")
    diga_api_url: str = Field(default="https://api.diga.io", alias="DIGA_API_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    max_body_bytes: int = Field(default=262_144, alias="ALERTER_MAX_BODY_BYTES", ge=1)
    rules_path: Path = Field(default=Path("./rules"), alias="ALERTER_RULES")
    host: str = Field(default="127.0.0.1", alias="ALERTER_HOST")
    port: int = Field(default=8000, alias="ALERTER_PORT", ge=0, le=65535)
    # `alerter api` serves from this many processes sharing one socket (docs/performance.md,
    # "Intake"); unset, one a CPU this process may use.
    api_processes: int = Field(
        default_factory=lambda: usable_cpus(), alias="ALERTER_API_PROCESSES", ge=1
    )
    webhook_secret: SecretStr | None = Field(default=None, alias="ALERTER_WEBHOOK_SECRET")
    # Off loopback, the api refuses to start without a webhook secret unless this is set.
    allow_unsigned: bool = Field(default=False, alias="ALERTER_ALLOW_UNSIGNED")
    settle_seconds: float = Field(default=5.0, alias="ALERTER_SETTLE_SECONDS", ge=0)
    call_end_events: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(DEFAULT_CALL_END_EVENTS.split(",")), alias="ALERTER_CALL_END_EVENTS"
    )
    # Where `alerter serve` keeps the embedded server's data and URL file.
    state_dir: Path = Field(default=Path(".alerter"), alias="ALERTER_STATE_DIR")
    # Sized for Diga latencies up to about 300 ms (docs/performance.md): requests in flight
    # ≈ calls/s * 2 * latency, and aiohttp's pool costs nothing more for being large.
    diga_timeout_seconds: float = Field(default=10.0, alias="ALERTER_DIGA_TIMEOUT", gt=0)
    diga_max_connections: int = Field(default=128, alias="ALERTER_DIGA_CONNECTIONS", ge=1)
    diga_page_cap: int = Field(default=50, alias="ALERTER_DIGA_PAGE_CAP", ge=1)
    # A call's first request: every level at once (one request for a call that fits a
    # page), one per level, or chosen by the calls seen lately (pipeline/first_page.py).
    diga_first_page: Literal["adaptive", "whole", "level"] = Field(
        default="adaptive", alias="ALERTER_DIGA_FIRST_PAGE"
    )
    worker_max_jobs: int = Field(default=256, alias="ALERTER_WORKER_JOBS", ge=1)
    # A job running longer is cancelled and retried; a crashed worker's job is taken over
    # by another worker this long (plus 10 s) after it started.
    job_timeout_seconds: float = Field(default=120.0, alias="ALERTER_JOB_TIMEOUT", gt=0)
    # On SIGTERM, running jobs get this long to finish before they are put back in the queue.
    shutdown_grace_seconds: float = Field(default=20.0, alias="ALERTER_SHUTDOWN_GRACE", ge=0)
    log_level: str = Field(default="INFO", alias="ALERTER_LOG_LEVEL")
    log_format: str = Field(
        default="auto", alias="ALERTER_LOG_FORMAT", pattern="^(auto|json|text)$"
    )
    # `alerter worker` serves its own /metrics here (0: not at all).
    worker_metrics_port: int = Field(default=9100, alias="ALERTER_WORKER_METRICS_PORT", ge=0)
    worker_metrics_host: str = Field(default="127.0.0.1", alias="ALERTER_WORKER_METRICS_HOST")
    # Names this worker's heartbeat key: `alerter worker --check` on the same host (pod)
    # reads its own worker's, so a probe sees a stuck worker even while others are fine.
    worker_name: str = Field(default_factory=socket.gethostname, alias="ALERTER_WORKER_NAME")
    rules_poll_seconds: float = Field(default=2.0, alias="ALERTER_RULES_POLL", gt=0)
    # How often one worker (any one) resolves `when` episodes and checks flatline rules:
    # seconds that divide a minute.
    tick_seconds: int = Field(default=10, alias="ALERTER_TICK_SECONDS", ge=1, le=60)
    # Each ended call's record (fields, fetch, decisions, sends) is kept this long: the
    # console's call page and the backtest read it. `14d`, `36h`, or seconds.
    call_retention_seconds: float = Field(default=14 * 86_400, alias="ALERTER_CALL_RETENTION", gt=0)
    # The console and JSON API (`/ui/`, `/api/v1/`): who may sign in, and how.
    # Unset: `none` on a loopback address (everyone an operator), else `token`.
    console_auth: str | None = Field(
        default=None, alias="ALERTER_CONSOLE_AUTH", pattern="^(token|proxy|none)$"
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), alias="ALERTER_TRUSTED_PROXIES"
    )
    console_operators: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), alias="ALERTER_CONSOLE_OPERATORS"
    )
    # Host names (besides loopback ones and ALERTER_PUBLIC_URL's) that the console and API
    # answer to: any other Host is refused, so a DNS-rebound name cannot reach them.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), alias="ALERTER_ALLOWED_HOSTS"
    )
    # The console's address as users reach it; alerts link to it when set.
    public_url: str | None = Field(default=None, alias="ALERTER_PUBLIC_URL")
    # Signs the console's CSRF tokens; unset, each api process makes its own (set it when
    # several api replicas sit behind one address).
    console_secret: SecretStr | None = Field(default=None, alias="ALERTER_CONSOLE_SECRET")
    # Slack apps (`slack_app` destinations): the Web API's base, the interactivity signing
    # secret, and who may acknowledge and silence from a message (user ids U…, groups S…).
    slack_api_url: str = Field(default="https://slack.com/api/", alias="ALERTER_SLACK_API_URL")
    slack_signing_secret: SecretStr | None = Field(
        default=None, alias="ALERTER_SLACK_SIGNING_SECRET"
    )
    slack_operators: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), alias="ALERTER_SLACK_OPERATORS"
    )

    @field_validator("tick_seconds")
    @classmethod
    def _divides_a_minute(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)")
        return value

    @field_validator("call_retention_seconds", mode="before")
    @classmethod
    def _retention(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator(
        "trusted_proxies", "console_operators", "allowed_hosts", "slack_operators", mode="before"
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR") from None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        names = []
        for host in value:
            name = host.lower().removeprefix("[").removesuffix("]")
            odd = not name or name.startswith(".") or any(c in name for c in "/@ \\")
            if ":" in name:
                try:
                    ipaddress.IPv6Address(name)
                except ValueError:
                    odd = True
            if odd:
                raise ValueError(f"{host!r} is not a host name (a name only: no scheme, no port)")
            names.append(name)
        return tuple(names)

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: object) -> object:
        if value in ("", None):
            return None
        text = str(value).rstrip("/")
        if not text.startswith(("http://", "https://")):
            raise ValueError("ALERTER_PUBLIC_URL must start with http:// or https://")
        return text

    def console_mode(self) -> str:
        """The console's sign-in mode: as set, else `none` on loopback and `token` off it."""
        if self.console_auth is not None:
            return self.console_auth
        return "none" if is_loopback(self.host) else "token"

    @field_validator("call_end_events", mode="before")
    @classmethod
    def _split_events(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        if isinstance(value, (set, frozenset, list, tuple)):
            return frozenset(str(part).lower() for part in value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _usable_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            signing_key_of(value.get_secret_value())  # raises ValueError, naming no secret
        return value

    @field_validator(
        "redis_url",
        "webhook_secret",
        "diga_api_key",
        "console_secret",
        "console_auth",
        "slack_signing_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota (a
    container's limit, which the affinity does not show)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = cgroup.read_text().split()[:2]
        if quota != "max":
            count = min(count or 1, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count or 1)


def signing_key_of(secret: str) -> bytes:
    """The HMAC key of a webhook secret: `whsec_<base64>` decoded as the Standard Webhooks
    reference library does (missing `=` padding added), any other text as its bytes."""
    if secret.startswith("whsec_"):
        encoded = secret.removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "ALERTER_WEBHOOK_SECRET starts with whsec_ but the rest is not base64"
            ) from None
        if len(key) < 8:
            raise ValueError("ALERTER_WEBHOOK_SECRET decodes to fewer than 8 bytes: too weak")
        return key
    if len(secret) < 8:
        raise ValueError("ALERTER_WEBHOOK_SECRET is shorter than 8 characters: too weak")
    return secret.encode()


def rules_environment(env_file: Path = Path(".env")) -> dict[str, str]:
    """What `${VAR}` in rule files reads: `.env` in the working directory, under the
    process environment (which wins), the same sources settings read; and `VAR_FILE`, a
    file holding the value (Docker and Kubernetes secrets), where `VAR` itself is unset."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    merged = {**values, **os.environ}
    # An unreadable file is skipped: the rules then say which ${VAR} is not set.
    return {**from_files(merged, strict=False), **merged}


# The secret settings, each also read from the file named by `<NAME>_FILE`.
SECRET_SETTINGS = (
    "DIGA_API_KEY",
    "ALERTER_WEBHOOK_SECRET",
    "REDIS_URL",
    "ALERTER_CONSOLE_SECRET",
)


def from_files(
    environ: Mapping[str, str], names: Iterable[str] | None = None, *, strict: bool = True
) -> dict[str, str]:
    """`NAME` for each `NAME_FILE` in `environ` whose `NAME` is unset: the file's text, its
    final newline dropped. An unreadable file is an error naming the variable, not the path's
    content."""
    wanted = {key.removesuffix("_FILE") for key in environ if key.endswith("_FILE")}
    if names is not None:
        wanted &= set(names)
    out = {}
    for name in sorted(wanted):
        if environ.get(name):
            continue
        path = Path(environ[f"{name}_FILE"])
        try:
            out[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            if strict:
                raise ValueError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from None
    return out


def load_settings() -> Settings:
    from dotenv import dotenv_values

    dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    secrets = from_files({**dotenv, **os.environ}, SECRET_SETTINGS)
    return Settings(**secrets)  # type: ignore[arg-type]
