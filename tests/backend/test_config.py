"""Configuration: production refuses weak secrets; .env, database and path resolution."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

import config
from config import ConfigError, load_config

STRONG = {
    "FLASK_ENV": "production",
    "SECRET_KEY": "s" * 48,
    "JWT_SECRET_KEY": "j" * 48,
    "ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "API_KEY_PEPPER": "p" * 48,
}
SHIPPED_ENV_FILE = config.ENV_FILE  # before the autouse fixture replaces it
SECRET_NAMES = ("SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY", "API_KEY_PEPPER")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No backend/.env and none of our variables from the developer's shell."""
    monkeypatch.setattr(config, "ENV_FILE", tmp_path / "absent.env")
    for name in (
        *SECRET_NAMES,
        "FLASK_ENV",
        "DATABASE_URL",
        "DATABASE_PATH",
        "ENCRYPTION_KEYS_PREVIOUS",
        "BCRYPT_ROUNDS",
        "PORT",
        "MFA_REQUIRED_ROLES",
    ):
        monkeypatch.delenv(name, raising=False)


def test_load_config_production_with_strong_secrets_succeeds():
    settings = load_config(STRONG)

    assert settings["PRODUCTION"] is True
    assert len(settings["ENCRYPTION_KEY"]) == 32


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY"])
def test_load_config_production_missing_secret_names_it(monkeypatch, name):
    for key, value in STRONG.items():
        if key != name:
            monkeypatch.setenv(key, value)

    with pytest.raises(ConfigError, match=name):
        load_config()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", config.DEV_SECRET_KEY),
        ("JWT_SECRET_KEY", config.DEV_JWT_SECRET_KEY),
        ("ENCRYPTION_KEY", config.DEV_ENCRYPTION_KEY),
        ("API_KEY_PEPPER", config.DEV_API_KEY_PEPPER),
        ("SECRET_KEY", "your-secret-key"),
    ],
)
def test_load_config_production_default_secret_names_it(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({**STRONG, name: value})


def test_load_config_production_example_env_file_is_refused(monkeypatch):
    example = config.ROOT_DIR / "config" / "backend.env.example"
    monkeypatch.setattr(config, "ENV_FILE", example)
    monkeypatch.setenv("FLASK_ENV", "production")

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config()


def test_load_config_production_short_secret_is_refused():
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        load_config({**STRONG, "JWT_SECRET_KEY": "short-but-not-default"})


def test_load_config_production_low_bcrypt_cost_is_refused():
    with pytest.raises(ConfigError, match="BCRYPT_ROUNDS"):
        load_config({**STRONG, "BCRYPT_ROUNDS": "10"})


def test_load_config_production_empty_pepper_falls_back_to_secret_key():
    settings = load_config({**STRONG, "API_KEY_PEPPER": ""})

    assert settings["API_KEY_PEPPER"] == STRONG["SECRET_KEY"]


@pytest.mark.parametrize("length", [16, 31, 33, 64])
def test_load_config_encryption_key_wrong_length_is_refused(length):
    key = base64.urlsafe_b64encode(b"k" * length).decode()

    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        load_config({"ENCRYPTION_KEY": key})


def test_load_config_encryption_key_not_base64_is_refused():
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        load_config({"ENCRYPTION_KEY": "not base64 at all!!"})


def test_load_config_previous_key_wrong_length_is_refused():
    with pytest.raises(ConfigError, match="ENCRYPTION_KEYS_PREVIOUS"):
        load_config({"ENCRYPTION_KEYS_PREVIOUS": "c2hvcnQ="})


def test_load_config_development_without_env_starts():
    settings = load_config()

    assert settings["PRODUCTION"] is False
    assert settings["ENCRYPTION_KEY"] == b"dev-only-key-do-not-use-in-prod!"


def test_load_config_non_integer_port_names_it():
    with pytest.raises(ConfigError, match="PORT"):
        load_config({"PORT": "eighty"})


def test_env_file_is_next_to_config_module():
    assert Path(config.__file__).resolve().parent / ".env" == SHIPPED_ENV_FILE
    assert SHIPPED_ENV_FILE.is_absolute()


def test_load_config_reads_env_file_whatever_the_working_directory(monkeypatch, tmp_path):
    env_file = tmp_path / "backend.env"
    env_file.write_text("PORT=9123\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".env").write_text("PORT=7777\n")
    monkeypatch.setattr(config, "ENV_FILE", env_file)
    monkeypatch.chdir(elsewhere)

    assert load_config()["PORT"] == 9123


def test_load_config_environment_wins_over_env_file(monkeypatch, tmp_path):
    env_file = tmp_path / "backend.env"
    env_file.write_text("PORT=9123\n")
    monkeypatch.setattr(config, "ENV_FILE", env_file)
    monkeypatch.setenv("PORT", "9200")

    assert load_config()["PORT"] == 9200


def test_load_config_database_url_wins_over_database_path():
    settings = load_config(
        {"DATABASE_URL": "postgresql://u@db:5432/trading", "DATABASE_PATH": "/tmp/x.sqlite"}
    )

    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db:5432/trading"


def test_load_config_postgres_scheme_uses_psycopg3():
    settings = load_config({"DATABASE_URL": "postgres://u@db/trading"})

    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/trading"


def test_load_config_relative_database_path_resolves_against_repo_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    settings = load_config({"DATABASE_PATH": "data/trading.sqlite"})

    expected = config.ROOT_DIR / "data" / "trading.sqlite"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


def test_load_config_default_database_is_config_database_sqlite():
    settings = load_config()

    expected = config.ROOT_DIR / "config" / "database.sqlite"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


def test_load_config_string_override_is_parsed_like_the_variable():
    key = base64.urlsafe_b64encode(b"x" * 32).decode()

    settings = load_config({"ENCRYPTION_KEY": key, "CORS_ORIGINS": "https://a.example,https://b"})

    assert settings["ENCRYPTION_KEY"] == b"x" * 32
    assert settings["CORS_ORIGINS"] == ["https://a.example", "https://b"]


def test_load_config_mfa_required_roles_default_to_none():
    assert load_config()["MFA_REQUIRED_ROLES"] == ()


def test_load_config_mfa_required_roles_are_read_as_a_list(monkeypatch):
    monkeypatch.setenv("MFA_REQUIRED_ROLES", " super_admin, admin ,,")

    assert load_config()["MFA_REQUIRED_ROLES"] == ("admin", "super_admin")


def test_load_config_mfa_required_roles_unknown_role_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"MFA_REQUIRED_ROLES .*superadmin"):
        load_config({"MFA_REQUIRED_ROLES": "admin,superadmin"})


def test_config_knows_the_models_roles():
    from models.user import ROLES

    assert config.KNOWN_ROLES == ROLES


def test_load_config_token_lifetimes_are_configurable():
    settings = load_config({"JWT_ACCESS_MINUTES": "5", "JWT_REFRESH_DAYS": "7"})

    assert settings["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds() == 300
    assert settings["JWT_REFRESH_TOKEN_EXPIRES"].days == 7
    assert settings["JWT_DECODE_ALGORITHMS"] == ["HS256"]


def test_load_config_empty_log_format_in_production_gives_json_lines(monkeypatch):
    import base64
    import os as _os

    from config import load_config

    monkeypatch.setenv("FLASK_ENV", "production")
    monkeypatch.setenv("LOG_FORMAT", "")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("JWT_SECRET_KEY", "j" * 48)
    monkeypatch.setenv("API_KEY_PEPPER", "p" * 48)
    monkeypatch.setenv("ENCRYPTION_KEY", base64.urlsafe_b64encode(_os.urandom(32)).decode())
    assert load_config()["LOG_FORMAT"] == "json"


def _variables_config_reads() -> set[str]:
    source = (config.ROOT_DIR / "backend" / "config.py").read_text()
    pattern = r'env\.get\("([A-Z0-9_]+)"|env, "([A-Z0-9_]+)"|env\["([A-Z0-9_]+)"\]'
    reads = re.findall(pattern, source)
    return {name for groups in reads for name in groups if name} - {"TESTING"}


def test_every_variable_config_reads_is_documented_in_the_readme():
    readme = (config.ROOT_DIR / "README.md").read_text()
    variables = _variables_config_reads()

    assert len(variables) > 30, variables  # the pattern still finds what config.py reads
    assert sorted(v for v in variables if f"`{v}`" not in readme) == []


def test_load_config_session_keeper_defaults():
    loaded = load_config({})

    assert loaded["SESSION_KEEPER_ENABLED"] is True
    assert (loaded["MT5_HEARTBEAT_S"], loaded["SESSION_KEEPER_THREADS"]) == (15, 32)
    assert loaded["SESSION_KEEPER_WARM_SYMBOLS"] == "XAUUSD"
    assert loaded["EQUITY_HISTORY_DAYS"] == 30
    assert loaded["SESSION_KEEPER_WARM_START_S"] == 30
    assert load_config({"SESSION_KEEPER_WARM_START_S": "0"})["SESSION_KEEPER_WARM_START_S"] == 0


def test_load_config_negative_warm_start_names_it():
    with pytest.raises(ConfigError, match="SESSION_KEEPER_WARM_START_S"):
        load_config({"SESSION_KEEPER_WARM_START_S": "-1"})


@pytest.mark.parametrize(
    "name", ["MT5_HEARTBEAT_S", "SESSION_KEEPER_THREADS", "EQUITY_HISTORY_DAYS"]
)
@pytest.mark.parametrize("value", ["0", "-5"])
def test_load_config_session_keeper_below_one_names_it(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})
