"""AuthSettings: what the auth services need of the configuration, read once at app creation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from extensions import AUTH_SETTINGS
from services.auth.credentials import LockoutPolicy
from services.auth.passwords import PasswordPolicy, PwnedPasswords
from services.auth.sessions import TokenLifetimes


@dataclass(frozen=True)
class AuthSettings:
    """Routes and commands read it through extensions.auth_settings() and pass the parts on."""

    password_policy: PasswordPolicy
    lockout: LockoutPolicy
    token_lifetimes: TokenLifetimes
    api_key_pepper: str  # also keys the HMAC of MFA recovery codes
    mfa_issuer: str
    mfa_required_roles: frozenset[str]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AuthSettings:
        """From the values config.load_config() produced (already parsed and checked)."""
        return cls(
            password_policy=PasswordPolicy(
                rounds=int(config["BCRYPT_ROUNDS"]), breach_check=_breach_check(config)
            ),
            lockout=LockoutPolicy(
                threshold=int(config["LOCKOUT_THRESHOLD"]), minutes=int(config["LOCKOUT_MINUTES"])
            ),
            token_lifetimes=TokenLifetimes(
                access=config["JWT_ACCESS_TOKEN_EXPIRES"],
                refresh=config["JWT_REFRESH_TOKEN_EXPIRES"],
                fresh=config["JWT_FRESH_EXPIRES"],
            ),
            api_key_pepper=str(config["API_KEY_PEPPER"]),
            mfa_issuer=str(config["MFA_ISSUER"]),
            mfa_required_roles=frozenset(config["MFA_REQUIRED_ROLES"]),
        )


def _breach_check(config: Mapping[str, Any]) -> PwnedPasswords | None:
    """The breached-password range check, or None when PWNED_PASSWORDS_CHECK is off."""
    if not config.get("PWNED_PASSWORDS_CHECK"):
        return None
    timeout_ms = max(1, int(config.get("PWNED_PASSWORDS_TIMEOUT_MS", 1500)))
    return PwnedPasswords(url=str(config["PWNED_PASSWORDS_URL"]), timeout_s=timeout_ms / 1000)


def init_app(app: Flask) -> None:
    app.extensions[AUTH_SETTINGS] = AuthSettings.from_config(app.config)
