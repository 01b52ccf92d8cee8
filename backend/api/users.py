"""User administration endpoints (admins; role changes and MFA resets by super admins)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from api.access import auth_required, body_has, client_ip, current_user
from extensions import db
from models import User
from schemas.auth import UserListOut, UserOut, UserPatchIn
from schemas.common import PageQuery
from services import users_service

bp = APIBlueprint("users", __name__, url_prefix="/api", tag="Users")


@bp.get("/users")
@auth_required("admin")
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(UserListOut)
def list_users(query: dict[str, Any]) -> dict[str, Any]:
    """List users (admin)"""
    users, total = users_service.list_users(session=db.session, **query)
    return {"users": users, "total": total, **query}


@bp.patch("/users/<int:user_id>")
@auth_required("admin", fresh=body_has("role"))
@bp.input(UserPatchIn, arg_name="body")
@bp.output(UserOut)
@bp.doc(responses={404: "No such user", 409: "Cannot demote or deactivate yourself"})
def update_user(user_id: int, body: dict[str, Any]) -> User:
    """Activate/deactivate a user (admin) or change a role (super admin, fresh login)"""
    return users_service.update_user(
        session=db.session, actor=current_user(), user_id=user_id, changes=body, ip=client_ip()
    )


@bp.delete("/users/<int:user_id>/mfa")
@auth_required("super_admin", fresh=True)
@bp.output({}, status_code=204)
@bp.doc(
    responses={
        404: "No such user",
        409: "Your own MFA (`cannot_modify_self`: use POST /api/me/mfa/disable) or MFA is not "
        "on for this user (`mfa_not_enabled`)",
    }
)
def reset_user_mfa(user_id: int) -> tuple[str, int]:
    """Clear a user's MFA, e.g. a lost device (super admin, fresh login)

    The secret and recovery codes are forgotten and every session of the user ends; they log in
    with the password alone and, if their role is in MFA_REQUIRED_ROLES, must enrol again before
    doing anything else. Audited as `mfa_reset`.
    """
    users_service.reset_mfa(
        session=db.session, actor=current_user(), user_id=user_id, ip=client_ip()
    )
    return "", 204
