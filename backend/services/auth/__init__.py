"""Authentication use cases: the names the routes, the CLI and other services call."""

from services.auth.api_keys import api_key_scopes, create_api_key, revoke_api_key, user_for_api_key
from services.auth.credentials import login
from services.auth.mfa import (
    begin_mfa_setup,
    disable_mfa,
    enable_mfa,
    regenerate_recovery_codes,
    reset_mfa,
    rotate_mfa_encryption,
)
from services.auth.passwords import change_password
from services.auth.registration import create_user, register_user
from services.auth.second_factor import SecondFactor
from services.auth.sessions import (
    TokenPair,
    is_fresh,
    issue_tokens,
    logout,
    rotate_refresh_token,
    session_csrf_token,
    token_user,
    user_for_claims,
)
from services.auth.settings import AuthSettings, init_app

__all__ = [
    "AuthSettings",
    "SecondFactor",
    "TokenPair",
    "api_key_scopes",
    "begin_mfa_setup",
    "change_password",
    "create_api_key",
    "create_user",
    "disable_mfa",
    "enable_mfa",
    "init_app",
    "is_fresh",
    "issue_tokens",
    "login",
    "logout",
    "regenerate_recovery_codes",
    "register_user",
    "reset_mfa",
    "revoke_api_key",
    "rotate_mfa_encryption",
    "rotate_refresh_token",
    "session_csrf_token",
    "token_user",
    "user_for_api_key",
    "user_for_claims",
]
