"""AuthSettings: the auth services' configuration, read once at app creation and passed in."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from factories import PASSWORD, assert_error, make_user

import config
from config import load_config
from services.auth.passwords import PwnedPasswords
from services.auth.settings import AuthSettings

AUTH_PACKAGE = Path(config.ROOT_DIR) / "backend" / "services" / "auth"
# What a service may not reach for: it is handed its settings and collaborators instead.
FLASK_CONTEXT = {"current_app", "g", "request", "session", "has_app_context", "has_request_context"}
AUTH_VARIABLES = (
    "BCRYPT_ROUNDS",
    "LOCKOUT_THRESHOLD",
    "LOCKOUT_MINUTES",
    "JWT_ACCESS_MINUTES",
    "JWT_REFRESH_DAYS",
    "JWT_FRESH_MINUTES",
    "API_KEY_PEPPER",
    "SECRET_KEY",
    "MFA_ISSUER",
    "MFA_REQUIRED_ROLES",
    "PWNED_PASSWORDS_CHECK",
    "PWNED_PASSWORDS_URL",
    "PWNED_PASSWORDS_TIMEOUT_MS",
)


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No backend/.env and none of the auth variables from the developer's shell."""
    monkeypatch.setattr(config, "ENV_FILE", tmp_path / "absent.env")
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_from_config_reads_every_auth_setting(no_env):
    settings = AuthSettings.from_config(
        load_config(
            {
                "BCRYPT_ROUNDS": "13",
                "LOCKOUT_THRESHOLD": "3",
                "LOCKOUT_MINUTES": "7",
                "JWT_ACCESS_MINUTES": "5",
                "JWT_REFRESH_DAYS": "2",
                "JWT_FRESH_MINUTES": "4",
                "API_KEY_PEPPER": "q" * 40,
                "MFA_ISSUER": "Acme Trading",
                "MFA_REQUIRED_ROLES": "admin,super_admin",
            }
        )
    )

    assert settings.password_policy.rounds == 13
    assert (settings.lockout.threshold, settings.lockout.minutes) == (3, 7)
    lifetimes = settings.token_lifetimes
    assert (lifetimes.access, lifetimes.refresh, lifetimes.fresh) == (
        timedelta(minutes=5),
        timedelta(days=2),
        timedelta(minutes=4),
    )
    assert settings.api_key_pepper == "q" * 40
    assert settings.mfa_issuer == "Acme Trading"
    assert settings.mfa_required_roles == frozenset({"admin", "super_admin"})


def test_from_config_without_pwned_check_has_no_breach_check(no_env):
    settings = AuthSettings.from_config(load_config({}))

    assert settings.password_policy.breach_check is None


def test_from_config_with_pwned_check_builds_the_range_client(no_env):
    settings = AuthSettings.from_config(
        load_config(
            {
                "PWNED_PASSWORDS_CHECK": "true",
                "PWNED_PASSWORDS_URL": "http://127.0.0.1:9/range",
                "PWNED_PASSWORDS_TIMEOUT_MS": "250",
            }
        )
    )

    assert settings.password_policy.breach_check == PwnedPasswords(
        url="http://127.0.0.1:9/range/", timeout_s=0.25
    )


def test_create_app_keeps_the_settings_of_its_configuration(make_app):
    from extensions import auth_settings

    application = make_app(LOCKOUT_THRESHOLD=3, MFA_ISSUER="Acme Trading")

    with application.app_context():
        settings = auth_settings()

    assert settings == AuthSettings.from_config(application.config)
    assert (settings.lockout.threshold, settings.mfa_issuer) == (3, "Acme Trading")


def test_login_lockout_follows_the_configured_threshold(make_app):
    application = make_app(LOCKOUT_THRESHOLD=2)
    client = application.test_client()
    with application.app_context():
        username = make_user(application).username
    wrong = {"username": username, "password": PASSWORD + "!"}

    first = client.post("/api/login", json=wrong)
    second = client.post("/api/login", json=wrong)

    assert_error(first, 401, "invalid_credentials")
    assert_error(second, 423, "account_locked")


def _flask_context_uses(path: Path) -> list[str]:
    uses = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "flask":
            uses += [alias.name for alias in node.names if alias.name in FLASK_CONTEXT]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in FLASK_CONTEXT
            and isinstance(node.value, ast.Name)
            and node.value.id == "flask"
        ):
            uses.append(f"flask.{node.attr}")
    return uses


@pytest.mark.parametrize("module", sorted(p.name for p in AUTH_PACKAGE.glob("*.py")))
def test_auth_service_module_never_reaches_for_the_flask_context(module):
    assert _flask_context_uses(AUTH_PACKAGE / module) == []
