"""Settings, read once at start-up from the environment (prefix ``WINBACK_``) or ``.env``."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from winback.errors import SettingsError

if TYPE_CHECKING:
    from winback.policy import Policy

SCAN_MEMORY = "2GB"
"""What the scan's DuckDB queries may hold before they spill, unless WINBACK_SCAN_MEMORY says."""

SPARK_DRIVER_MEMORY = "4g"
"""The Spark driver's heap (and the most a result may bring back to it), unless
WINBACK_SPARK_DRIVER_MEMORY or Spark's own configuration says."""

_DESK_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


class Settings(BaseSettings):
    """Where winback keeps its data. Every field is documented in docs/operations.md."""

    model_config = SettingsConfigDict(
        env_prefix="WINBACK_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Field(
        default=Path(".winback"),
        description="The workspace folder: the ledger, scan runs, rejects files, and the "
        "SQLite desk database unless WINBACK_DESK_URL says otherwise.",
    )
    desk_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the desk database. Default: a SQLite file in the "
        "workspace. PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )

    desk_threads: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Requests each winback serve worker process runs at once (its thread "
        "pool), and the desk database connections it keeps for them (plus 5 spare). Further "
        "requests wait their turn without a thread or a connection.",
    )

    import_memory: str = Field(
        default="1GB",
        description="How much memory one import may use before it spills to the workspace "
        "(a DuckDB size such as 512MB or 2GB).",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )

    scan_memory: str = Field(
        default=SCAN_MEMORY,
        description="How much memory the scan's DuckDB queries may use before they spill to "
        "a temporary folder (a DuckDB size such as 1GB or 4GB); the scan's own tables need "
        "memory beside it (a scan of 1M customers peaked at 6.6 GB in all).",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )

    spark_master: str = Field(
        default="local[2]",
        description="Where `winback scan --engine spark` runs: local[N] (N cores of this "
        "machine, inside the scan's process) or a cluster's master URL such as "
        "spark://host:7077; the cluster's workers must read the workspace's ledger folder "
        "at the same path (shared storage).",
        min_length=1,
    )
    spark_driver_memory: str = Field(
        default=SPARK_DRIVER_MEMORY,
        description="The heap of the Spark driver that `winback scan --engine spark` starts "
        "(a JVM size such as 4g or 8g), and the most one result may bring back to it "
        "(spark.driver.maxResultSize); in local[N] mode the driver does all the work. Not "
        "applied where Spark's own configuration (spark-defaults.conf, PYSPARK_SUBMIT_ARGS) "
        "sets spark.driver.memory or spark.driver.maxResultSize.",
        pattern=r"^\d+[kKmMgGtT]$",
    )

    secret_key: str | None = Field(
        default=None,
        description="The key that signs session cookies. Default: a random key generated "
        "once and kept in the workspace file secret_key.",
        min_length=32,
    )
    session_hours: float = Field(
        default=12.0,
        gt=0,
        description="How long a desk login lasts before the user must log in again.",
    )

    login_account_attempts: int = Field(
        default=5,
        ge=1,
        description="Failed logins an account (a username as typed, known or not) may have "
        "within WINBACK_LOGIN_WINDOW_MINUTES; the last of them locks it out.",
    )
    login_address_attempts: int = Field(
        default=20,
        ge=1,
        description="Failed logins one client address may have within "
        "WINBACK_LOGIN_WINDOW_MINUTES, across accounts; the last of them locks it out.",
    )
    login_window_minutes: float = Field(
        default=15.0,
        gt=0,
        description="The window in which failed logins are counted.",
    )
    login_lockout_minutes: float = Field(
        default=15.0,
        gt=0,
        description="How long a locked-out account or address is refused (the right password too).",
    )
    login_checks: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Password checks (argon2, 64 MiB each) at once in each worker process. "
        "Default: one per core, from 2 to 8.",
    )
    login_queue: int = Field(
        default=200,
        ge=0,
        description="Logins that may wait for a password check in each worker process; one "
        "more is answered 503 at once.",
    )
    login_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="The longest a login waits for a password check before it is answered "
        "503 (try again).",
    )

    timezone: str = Field(
        default="UTC",
        description="The business's time zone (an IANA name such as Europe/London): the desk "
        "judges due dates, overdue work and 'not in the past' by the date there.",
    )
    policy: Path | None = Field(
        default=None,
        description="The policy TOML file that winback scan, winback sync and the desk use "
        "(red-carpet length, assignment rules, lapse thresholds). Default: policy.toml in "
        "the workspace if it exists, else the built-in defaults (winback policy --defaults).",
    )

    inbox: Path | None = Field(
        default=None,
        description="The drop folder whose files each pass of the cycle imports (named after "
        "a contract table: orders.csv, customers-2026-11.parquet), then moves to done/ or "
        "failed/. Default: inbox in the workspace.",
    )
    public_url: str | None = Field(
        default=None,
        description="The address customers and desk users reach the desk at, such as "
        "https://desk.example.com: the start of every e-mail's unsubscribe link. Required "
        "for sending e-mail.",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
    )
    currency: str = Field(
        default="USD",
        description="The ISO 4217 code of the currency the ledger's amounts are in (USD, EUR, "
        "GBP, JPY ...): the desk shows every amount with its symbol.",
    )
    business_name: str = Field(
        default="",
        max_length=200,
        description="The business's name as customers know it: e-mails sign off with it.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="The SMTP server that sends e-mail (outreach campaigns). Unset: no "
        "e-mail is sent (messages wait in the outbox), and the cycle skips its send step.",
    )
    smtp_port: int = Field(
        default=587,
        ge=1,
        le=65535,
        description="The SMTP server's port: 587 for starttls, 465 for tls, 25 for none.",
    )
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="How the connection to the SMTP server is encrypted: starttls (upgrade "
        "a plain connection), tls (encrypted from the start), or none (a relay on the same "
        "machine only).",
    )
    smtp_username: str | None = Field(
        default=None, description="The SMTP login's user name; unset: no login."
    )
    smtp_password: SecretStr | None = Field(
        default=None,
        description="The SMTP login's password (never printed or logged).",
    )
    smtp_from: str | None = Field(
        default=None,
        description="The sender of every e-mail, such as 'Acme Coffee <hello@acme.example>'; "
        "its domain also ends each Message-ID. Required with WINBACK_SMTP_HOST.",
    )
    smtp_rate: float | None = Field(
        default=5.0,
        gt=0,
        description="E-mails sent per second at most (each sender process); winback outbox "
        "send --rate overrides it for one run.",
    )
    smtp_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long to wait for the SMTP server's answer before giving up on it.",
    )
    smtp_max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Tries per e-mail that the SMTP server defers (a 4xx answer) before it "
        "is marked failed.",
    )
    smtp_retry_minutes: float = Field(
        default=15.0,
        ge=0,
        description="The wait before retrying a deferred e-mail; it doubles at each retry.",
    )
    smtp_claim_minutes: float = Field(
        default=10.0,
        gt=0,
        description="How long e-mails claimed by a sender that has gone quiet (on another "
        "machine, or a process that may still run) wait before another sender takes them "
        "over. A sender on this machine whose process has ended is taken over at once.",
    )

    cycle_schedule: str = Field(
        default="0 2 * * *",
        description="When winback serve runs the periodic cycle (import the inbox, scan, sync, "
        "red carpet, timeline): a cron expression in WINBACK_TIMEZONE (default 02:00 every "
        "night), 'every N minutes' (seconds, hours), or 'off' for people who run winback cycle "
        "from cron or a systemd timer.",
    )

    @field_validator("cycle_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        from winback.schedule import trigger_of

        trigger_of(value)
        return value

    @field_validator("currency")
    @classmethod
    def _currency_is_known(cls, value: str) -> str:
        from babel.numbers import list_currencies

        code = value.strip().upper()
        if code not in list_currencies():
            raise ValueError(
                f"unknown currency {value!r}: give an ISO 4217 code such as USD, EUR or GBP"
            )
        return code

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        from winback.clock import zone_of

        zone_of(value)
        return value

    @model_validator(mode="after")
    def _smtp_has_a_sender(self) -> Settings:
        if self.smtp_host and not self.smtp_from:
            raise ValueError(
                "WINBACK_SMTP_FROM is required with WINBACK_SMTP_HOST: give the sender, "
                "such as 'Acme Coffee <hello@acme.example>'"
            )
        if self.smtp_host and not self.public_url:
            raise ValueError(
                "WINBACK_PUBLIC_URL is required with WINBACK_SMTP_HOST: give the address "
                "customers reach the desk at (unsubscribe links start with it), such as "
                "https://desk.example.com"
            )
        return self

    @field_validator("home")
    @classmethod
    def _home_is_not_a_file(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a folder; point WINBACK_HOME at a folder")
        return value

    @field_validator("desk_url")
    @classmethod
    def _desk_url_is_supported(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in _DESK_SCHEMES:
            raise ValueError(
                f"{value!r} is not a supported database URL; use sqlite:///path/desk.db "
                "or postgresql+psycopg://user@host:5432/dbname"
            )
        return value

    @cached_property
    def ledger_dir(self) -> Path:
        return self.home / "ledger"

    @cached_property
    def rejects_dir(self) -> Path:
        return self.home / "rejects"

    @cached_property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def inbox_dir(self) -> Path:
        """The drop folder: the setting, else ``inbox`` in the workspace."""
        return self.inbox if self.inbox is not None else self.home / "inbox"

    @property
    def policy_path(self) -> Path | None:
        """The policy file in force: the setting, else the workspace's policy.toml if any."""
        if self.policy is not None:
            return self.policy
        default = self.home / "policy.toml"
        return default if default.exists() else None

    def read_policy(self) -> Policy:
        """The policy in force (read fresh each call: an edited file applies at once)."""
        from winback.policy import load_policy

        return load_policy(self.policy_path)

    @property
    def has_desk(self) -> bool:
        """Whether this workspace has a desk: a configured database, or the SQLite file."""
        return bool(self.desk_url) or (self.home / "desk.sqlite3").exists()

    @property
    def desk_database_url(self) -> str:
        return self.desk_url or f"sqlite:///{(self.home / 'desk.sqlite3').resolve()}"

    @cached_property
    def session_secret(self) -> str:
        """The session-signing key: the setting, else the workspace's own (made once)."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret_key"
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pass
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.home / f".secret_key.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            # link() fails when another process made the key first: theirs wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_text(encoding="utf-8").strip()


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; a bad value raises SettingsError naming the variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"WINBACK_{field.upper()}: {message}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None
    from winback.clock import use_zone

    use_zone(settings.timezone)
    return settings
