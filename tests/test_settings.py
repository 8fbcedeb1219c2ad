"""Typed settings: every WIZARD_* list parsed once, secrets as SecretStr, a bad value stops the start
with one line naming the variable (WIZARD_SECRET_KEY apart), unknown names warned about, and the
README's settings table generated from the fields."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from backend.settings import Settings, SettingsError, load_settings, settings_table, unknown_names

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No WIZARD_* of the caller's: each test sets its own."""
    for name in list(os.environ):
        if name.startswith("WIZARD_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_lists_are_parsed_once_into_types(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("WIZARD_OWN_PORTS", " 8443, 80 ,80")
    environ.setenv("WIZARD_ALLOWED_TARGETS", "10.0.0.0/8, DB.Example.com., *.corp.example, 192.168.1.7")
    environ.setenv("WIZARD_TRUSTED_ORIGINS", "https://ui.example.com/, http://localhost:8501")
    environ.setenv("WIZARD_FRAME_ANCESTORS", "'self' https://portal.example.com")
    environ.setenv("WIZARD_LOG_LEVEL", "debug")
    s = load_settings()
    assert s.own_ports == frozenset({80, 8443})
    assert s.allowed_targets == ("10.0.0.0/8", "db.example.com", "*.corp.example", "192.168.1.7/32")
    assert s.blocked_targets == ()
    assert s.trusted_origins == ("https://ui.example.com", "http://localhost:8501")
    assert s.frame_ancestors == ("'self'", "https://portal.example.com")
    assert s.log_level == "DEBUG"


@pytest.mark.parametrize(("name", "value"), [
    ("WIZARD_OWN_PORTS", "8443,eighty"),
    ("WIZARD_OWN_PORTS", "70000"),
    ("WIZARD_MAX_CONCURRENT_TESTS", "many"),
    ("WIZARD_LOG_LEVEL", "LOUD"),
    ("WIZARD_LOG_FORMAT", "xml"),
    ("WIZARD_BLOCKED_TARGETS", "10.0.0.0/8, http://db.example.com/"),
    ("WIZARD_TRUSTED_ORIGINS", "ui.example.com"),
    ("WIZARD_AUTH_ENABLED", "perhaps"),
])
def test_a_value_that_cannot_be_read_stops_the_start_naming_it(environ: pytest.MonkeyPatch, name: str,
                                                               value: str) -> None:
    environ.setenv(name, value)
    with pytest.raises(SettingsError) as stopped:
        load_settings()
    assert name in stopped.value.line and "\n" not in stopped.value.line


def test_a_bad_secret_is_named_never_quoted(environ: pytest.MonkeyPatch) -> None:
    settings = Settings(admin_password="Canary-Admin-Pw", metrics_token="Canary-Token", secret_key="k1,k2",
                        database_url="postgresql://u:Canary-Db@127.0.0.1/w")
    assert isinstance(settings.admin_password, SecretStr) and isinstance(settings.metrics_token, SecretStr)
    assert [k.get_secret_value() for k in settings.secret_key] == ["k1", "k2"]
    assert "Canary" not in repr(settings) and "k1" not in repr(settings)
    environ.setenv("WIZARD_ADMIN_PASSWORD", "Canary-Admin-Pw")
    environ.setenv("WIZARD_SESSION_TTL_S", "not-a-number")
    with pytest.raises(SettingsError) as stopped:
        load_settings()
    assert "WIZARD_SESSION_TTL_S" in stopped.value.line and "Canary" not in stopped.value.line


def test_a_malformed_secret_key_does_not_stop_the_start(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("WIZARD_SECRET_KEY", "not-a-fernet-key, another")
    assert len(load_settings().secret_key) == 2  # the store refuses them later: 503 SERVICE_BUSY


def test_unknown_wizard_names_are_warned_about(environ: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    environ.setenv("WIZARD_TEST_TIMEOUT", "5")  # the setting is WIZARD_TEST_TIMEOUT_S
    environ.setenv("WIZARD_TEST_TIMEOUT_S", "5")
    caplog.set_level(logging.WARNING, logger="wizard.settings")
    load_settings()
    assert unknown_names() == ["WIZARD_TEST_TIMEOUT"]
    assert "WIZARD_TEST_TIMEOUT is not a setting" in caplog.text and "WIZARD_TEST_TIMEOUT_S" not in caplog.text


def test_the_api_does_not_start_with_a_bad_value(tmp_path: Path) -> None:
    """``uvicorn backend.main:app`` imports the app: a bad value ends that process with one line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "WIZARD_OWN_PORTS": "8000,http",
                "WIZARD_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"})
    done = subprocess.run([sys.executable, "-c", "import backend.main"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "invalid settings: WIZARD_OWN_PORTS: 'http' is not a port number (got '8000,http')"]


def test_every_setting_is_described() -> None:
    for name, info in Settings.model_fields.items():
        assert info.description and info.description.strip().endswith((".", ")")), name


def test_the_readme_settings_table_is_generated() -> None:
    """``cog -r -I . README.md`` leaves it as it is: the table says what the fields say."""
    readme = (ROOT / "README.md").read_text()
    begin = readme.index("cog.outl(settings_table())\n]]] -->\n") + len("cog.outl(settings_table())\n]]] -->\n")
    end = readme.index("<!-- [[[end]]] -->", begin)
    assert readme[begin:end].rstrip("\n") == settings_table(), "run: cog -r -I . README.md"
    for name in Settings.model_fields:
        assert f"`WIZARD_{name.upper()}`" in readme[begin:end]
