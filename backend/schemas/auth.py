"""Schemas for registration, login, tokens, the caller's profile, API keys and MFA."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Email, Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates_schema

from extensions import auth_settings
from models.user import API_KEY_SCOPES, ROLES

USERNAME = Regexp(r"^[A-Za-z0-9_.-]{3,50}$", error="3-50 letters, digits, '_', '.', '-'.")
PASSWORD_RULE = (
    "8 to 128 characters; the most common passwords are refused (and, when the operator turns "
    "it on, passwords found in known data breaches)."
)
OTP_RULE = Regexp(r"^[0-9]{6}$", error="The 6-digit code from the authenticator app.")


def otp_field(description: str) -> fields.String:
    return fields.String(validate=OTP_RULE, metadata={"description": description})


def recovery_code_field() -> fields.String:
    return fields.String(
        validate=Length(min=1, max=64),
        metadata={"description": "One of the one-time recovery codes given when MFA was enabled."},
    )


class _OneFactorAtMost(Schema):
    @validates_schema
    def _not_both(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("otp") is not None and data.get("recovery_code") is not None:
            raise ValidationError("Send `otp` or `recovery_code`, not both.", "recovery_code")


class RegisterIn(Schema):
    username = fields.String(required=True, validate=USERNAME)
    email = fields.String(required=True, validate=[Length(max=100), Email()])
    password = fields.String(
        required=True, validate=Length(min=8, max=128), metadata={"description": PASSWORD_RULE}
    )


class LoginIn(_OneFactorAtMost):
    username = fields.String(
        required=True,
        validate=Length(min=1, max=100),
        metadata={"description": "Username or email."},
    )
    password = fields.String(required=True, validate=Length(min=1, max=128))
    otp = otp_field(
        "Accounts with MFA: the current code (without one the answer is 401 `mfa_required`)."
    )
    recovery_code = recovery_code_field()
    refresh_cookie = fields.Boolean(
        load_default=False,
        metadata={
            "description": "The web dashboard: set the refresh token as the HttpOnly cookie "
            "`mt5_refresh` (and its CSRF token as `mt5_csrf`) instead of returning it."
        },
    )


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    is_active = fields.Boolean()
    allow_broadcast = fields.Boolean()
    created_at = fields.DateTime()
    last_login = fields.DateTime(allow_none=True)
    api_key_prefix = fields.String(allow_none=True)
    api_key_scopes = fields.List(
        fields.String(metadata={"enum": list(API_KEY_SCOPES)}),
        allow_none=True,
        attribute="api_key_scope_list",
    )
    api_key_expires_at = fields.DateTime(allow_none=True)
    mfa_enabled = fields.Boolean()
    mfa_enrollment_required = fields.Method(
        "_mfa_enrollment_required",
        metadata={
            "type": "boolean",
            "description": "The role must use MFA (MFA_REQUIRED_ROLES) and it is not on yet: "
            "until it is, only GET /api/me, MFA setup/confirm, password change, refresh and "
            "logout work (403 `mfa_enrollment_required` elsewhere).",
        },
    )

    def _mfa_enrollment_required(self, user: Any) -> bool:
        return bool(user.mfa_enrolment_pending(auth_settings().mfa_required_roles))


class TokensOut(Schema):
    access_token = fields.String()
    refresh_token = fields.String(
        metadata={"description": "Absent when the login asked for `refresh_cookie`."}
    )
    token_type = fields.String(metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(metadata={"description": "Access token lifetime in seconds."})
    user = fields.Nested(UserOut)


class RefreshedTokensOut(Schema):
    access_token = fields.String(metadata={"description": "Not fresh: no sensitive actions."})
    refresh_token = fields.String(
        metadata={
            "description": "Replaces the refresh token sent, which is now retired: sending that "
            "one again ends the whole session (401 `token_reused`). Absent when the refresh "
            "token came as the cookie: the new one is set as the cookie."
        }
    )
    token_type = fields.String(metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(metadata={"description": "Access token lifetime in seconds."})


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, validate=Length(min=1, max=128))
    new_password = fields.String(
        required=True, validate=Length(min=8, max=128), metadata={"description": PASSWORD_RULE}
    )


class ApiKeyIn(Schema):
    scopes = fields.List(
        fields.String(validate=OneOf(API_KEY_SCOPES)),
        validate=Length(min=1, max=len(API_KEY_SCOPES)),
        metadata={
            "description": "What the key may do: `read` (every GET), `calculate` (POST "
            "/api/calculate), `trade` (send, broadcast, cancel, connect), `manage` (create, "
            "edit, delete accounts; activate users). Default: all four. No key can change "
            "passwords, MT5 credentials, roles, API keys or MFA."
        },
    )
    expires_in_days = fields.Integer(
        allow_none=True,
        validate=Range(min=1, max=3650),
        metadata={"description": "Days until the key stops working; default: never."},
    )


class ApiKeyOut(Schema):
    api_key = fields.String(metadata={"description": "Shown once; store it now."})
    prefix = fields.String()
    created_at = fields.DateTime()
    scopes = fields.List(fields.String(metadata={"enum": list(API_KEY_SCOPES)}))
    expires_at = fields.DateTime(allow_none=True)


class MfaSetupOut(Schema):
    secret = fields.String(
        metadata={"description": "Base32 TOTP secret, shown only now; never returned again."}
    )
    otpauth_uri = fields.String(
        metadata={"description": "otpauth://totp/... URI for a QR code (holds the secret)."}
    )
    digits = fields.Integer(metadata={"enum": [6]})
    period = fields.Integer(metadata={"enum": [30]})


class MfaConfirmIn(Schema):
    otp = fields.String(
        required=True,
        validate=OTP_RULE,
        metadata={"description": "A current code from the secret given by setup."},
    )


def recovery_codes_field() -> fields.List:
    return fields.List(
        fields.String(),
        metadata={
            "description": "Ten one-time codes for when the app is lost, shown only now; "
            "any earlier codes no longer work."
        },
    )


class RecoveryCodesOut(Schema):
    recovery_codes = recovery_codes_field()


class MfaEnabledOut(TokensOut):
    """MFA is on: the recovery codes, and new tokens (every earlier token has stopped working)."""

    recovery_codes = recovery_codes_field()


class MfaCodeIn(Schema):
    otp = fields.String(
        required=True,
        validate=OTP_RULE,
        metadata={"description": "A current code from the app (a recovery code will not do)."},
    )


class MfaDisableIn(_OneFactorAtMost):
    otp = otp_field("A current code.")
    recovery_code = recovery_code_field()

    @validates_schema
    def _one_needed(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("otp") is None and data.get("recovery_code") is None:
            raise ValidationError("Send `otp` or `recovery_code`.", "otp")


class UserPatchIn(Schema):
    is_active = fields.Boolean()
    role = fields.String(validate=OneOf(ROLES))
    allow_broadcast = fields.Boolean()


class UserListOut(Schema):
    users = fields.List(fields.Nested(UserOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
