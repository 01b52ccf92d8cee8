"""Schemas for registration, login, tokens, the caller's profile and API keys."""

from __future__ import annotations

from apiflask import Schema, fields
from apiflask.validators import Email, Length, OneOf, Regexp

from models.user import ROLES

USERNAME = Regexp(r"^[A-Za-z0-9_.-]{3,50}$", error="3-50 letters, digits, '_', '.', '-'.")
PASSWORD_RULE = "8 to 128 characters; the most common passwords are refused."


class RegisterIn(Schema):
    username = fields.String(required=True, validate=USERNAME)
    email = fields.String(required=True, validate=[Length(max=100), Email()])
    password = fields.String(
        required=True, validate=Length(min=8, max=128), metadata={"description": PASSWORD_RULE}
    )


class LoginIn(Schema):
    username = fields.String(
        required=True,
        validate=Length(min=1, max=100),
        metadata={"description": "Username or email."},
    )
    password = fields.String(required=True, validate=Length(min=1, max=128))


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


class TokensOut(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(metadata={"description": "Access token lifetime in seconds."})
    user = fields.Nested(UserOut)


class AccessTokenOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, validate=Length(min=1, max=128))
    new_password = fields.String(
        required=True, validate=Length(min=8, max=128), metadata={"description": PASSWORD_RULE}
    )


class ApiKeyOut(Schema):
    api_key = fields.String(metadata={"description": "Shown once; store it now."})
    prefix = fields.String()
    created_at = fields.DateTime()


class UserPatchIn(Schema):
    is_active = fields.Boolean()
    role = fields.String(validate=OneOf(ROLES))
    allow_broadcast = fields.Boolean()


class UserListOut(Schema):
    users = fields.List(fields.Nested(UserOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
