from pathlib import Path

import pytest

from winback.errors import SettingsError
from winback.settings import load_settings


def test_defaults_put_everything_in_the_workspace(workspace: Path) -> None:
    settings = load_settings()
    assert settings.home == workspace
    assert settings.ledger_dir == workspace / "ledger"
    assert settings.desk_database_url.startswith("sqlite:///")
    assert settings.desk_database_url.endswith("ws/desk.sqlite3")


def test_postgresql_url_is_accepted(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://root@127.0.0.1:5432/test"
    monkeypatch.setenv("WINBACK_DESK_URL", url)
    assert load_settings().desk_database_url == url


def test_bad_desk_url_names_the_variable_and_the_fix(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINBACK_DESK_URL", "mysql://x@y/z")
    with pytest.raises(
        SettingsError, match=r"WINBACK_DESK_URL: 'mysql://x@y/z' is not a supported"
    ):
        load_settings()


def test_home_that_is_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    monkeypatch.setenv("WINBACK_HOME", str(f))
    with pytest.raises(SettingsError, match=r"WINBACK_HOME: .* is not a folder"):
        load_settings()
