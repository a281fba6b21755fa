"""Settings, read once at start-up from the environment (prefix ``WINBACK_``) or ``.env``."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from winback.errors import SettingsError

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

    import_memory: str = Field(
        default="1GB",
        description="How much memory one import may use before it spills to the workspace "
        "(a DuckDB size such as 512MB or 2GB).",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )

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
    def desk_database_url(self) -> str:
        return self.desk_url or f"sqlite:///{(self.home / 'desk.sqlite3').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"WINBACK_{field.upper()}: {message}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None
