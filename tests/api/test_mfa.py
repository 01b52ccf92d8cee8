"""docs/security.md 6.3.3: TOTP (RFC 6238) MFA: enrolment, login with a code or a recovery code,
replay refusal, lockout, disable, the secret sealed at rest and rotated with the key."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from factories import (
    PASSWORD,
    assert_error,
    auth_headers,
    enrol_mfa,
    login,
    make_config,
    make_user,
)
from factories import totp_code as code


def _events(event: str) -> list[Any]:
    from extensions import db
    from models import AuditLog

    db.session.expire_all()
    return list(db.session.query(AuditLog).filter(AuditLog.event == event).order_by(AuditLog.id))


def _reload(user_id: int) -> Any:
    from extensions import db
    from models import User

    db.session.expire_all()
    return db.session.get(User, user_id)


def _login(client: Any, user: Any, **extra: Any) -> Any:
    return client.post(
        "/api/login", json={"username": user.username, "password": PASSWORD, **extra}
    )


def enrol(client: Any, app: Any, clock: Any, user: Any | None = None) -> dict[str, Any]:
    return enrol_mfa(client, user or make_user(app), clock)


# --- enrolment ---------------------------------------------------------------------------------


def test_mfa_setup_returns_secret_and_otpauth_uri_and_stays_pending(client, app, clock):
    user = make_user(app)
    headers = auth_headers(client, user)

    response = client.post("/api/me/mfa/setup", headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])
    uri = urlparse(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    query = parse_qs(uri.query)
    assert query["secret"] == [body["secret"]]
    assert query["issuer"] == ["MT5 Trading Server"]
    assert user.username in uri.path
    assert (body["digits"], body["period"]) == (6, 30)
    assert client.get("/api/me", headers=headers).get_json()["mfa_enabled"] is False
    assert login(client, user.username)["user"]["mfa_enabled"] is False  # pending: no code asked


def test_mfa_setup_again_while_pending_replaces_the_secret(client, app, clock):
    headers = auth_headers(client, make_user(app))
    first = client.post("/api/me/mfa/setup", headers=headers).get_json()["secret"]
    second = client.post("/api/me/mfa/setup", headers=headers).get_json()["secret"]

    old = client.post("/api/me/mfa/confirm", json={"otp": code(first, clock.now)}, headers=headers)
    new = client.post("/api/me/mfa/confirm", json={"otp": code(second, clock.now)}, headers=headers)

    assert first != second
    assert_error(old, 422, "invalid_otp")
    assert new.status_code == 200


def test_mfa_confirm_returns_ten_distinct_recovery_codes_and_turns_mfa_on(client, app, clock):
    world = enrol(client, app, clock)

    codes = world["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    for recovery in codes:
        assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){5}", recovery)  # 24 base32 = 120 bits
    me = client.get("/api/me", headers=world["headers"]).get_json()
    assert me["mfa_enabled"] is True
    assert _events("mfa_enabled")[-1].subject_user_id == world["user"].id


def test_mfa_confirm_wrong_code_is_refused_and_mfa_stays_off(client, app, clock):
    headers = auth_headers(client, make_user(app))
    secret = client.post("/api/me/mfa/setup", headers=headers).get_json()["secret"]
    wrong = f"{(int(code(secret, clock.now)) + 1) % 1_000_000:06d}"

    response = client.post("/api/me/mfa/confirm", json={"otp": wrong}, headers=headers)

    assert_error(response, 422, "invalid_otp")
    assert client.get("/api/me", headers=headers).get_json()["mfa_enabled"] is False
    assert _events("mfa_confirm_failed")


def test_mfa_confirm_code_two_steps_away_is_refused(client, app, clock):
    headers = auth_headers(client, make_user(app))
    secret = client.post("/api/me/mfa/setup", headers=headers).get_json()["secret"]

    for steps in (-2, 2):
        response = client.post(
            "/api/me/mfa/confirm", json={"otp": code(secret, clock.now, steps)}, headers=headers
        )
        assert_error(response, 422, "invalid_otp")


def test_mfa_confirm_without_setup_conflicts(client, app, clock):
    headers = auth_headers(client, make_user(app))

    response = client.post("/api/me/mfa/confirm", json={"otp": "123456"}, headers=headers)

    assert_error(response, 409, "mfa_not_pending")


@pytest.mark.parametrize("otp", ["12345", "1234567", "abcdef", "", 123456, None])
def test_mfa_confirm_malformed_code_is_rejected(client, app, otp):
    headers = auth_headers(client, make_user(app))
    client.post("/api/me/mfa/setup", headers=headers)

    response = client.post("/api/me/mfa/confirm", json={"otp": otp}, headers=headers)

    assert_error(response, 422, "validation_error")


def test_mfa_setup_or_confirm_when_already_on_conflicts(client, app, clock):
    world = enrol(client, app, clock)

    setup = client.post("/api/me/mfa/setup", headers=world["headers"])
    confirm = client.post(
        "/api/me/mfa/confirm",
        json={"otp": code(world["secret"], clock.now)},
        headers=world["headers"],
    )

    assert_error(setup, 409, "mfa_already_enabled")
    assert_error(confirm, 409, "mfa_already_enabled")


# --- login -------------------------------------------------------------------------------------


def test_login_mfa_user_without_code_is_mfa_required_and_gets_no_token(client, app, clock):
    world = enrol(client, app, clock)

    response = _login(client, world["user"])

    error = assert_error(response, 401, "mfa_required")
    assert "token" not in json.dumps(response.get_json()).replace("tokens", "")
    assert "access_token" not in response.get_data(as_text=True)
    assert error["message"]
    assert _reload(world["user"].id).failed_login_count == 0  # the password was right
    assert _events("login_mfa_required")[-1].subject_user_id == world["user"].id


def test_login_mfa_user_with_current_code_gets_tokens(client, app, clock):
    world = enrol(client, app, clock)

    response = _login(client, world["user"], otp=code(world["secret"], clock.now))

    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["mfa_enabled"] is True
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert _events("login_succeeded")[-1].details == {"mfa": "otp"}


def test_login_mfa_code_of_next_step_is_accepted_for_clock_drift(client, app, clock):
    world = enrol(client, app, clock)

    response = _login(client, world["user"], otp=code(world["secret"], clock.now, 1))

    assert response.status_code == 200


def test_login_mfa_wrong_password_with_right_code_is_invalid_credentials(client, app, clock):
    world = enrol(client, app, clock)

    response = client.post(
        "/api/login",
        json={
            "username": world["user"].username,
            "password": "not the password",
            "otp": code(world["secret"], clock.now),
        },
    )

    assert_error(response, 401, "invalid_credentials")


def test_login_mfa_wrong_code_is_invalid_otp_and_counts_as_a_failure(client, app, clock):
    world = enrol(client, app, clock)
    wrong = f"{(int(code(world['secret'], clock.now)) + 7) % 1_000_000:06d}"

    response = _login(client, world["user"], otp=wrong)

    assert_error(response, 401, "invalid_otp")
    assert _reload(world["user"].id).failed_login_count == 1
    assert _events("login_failed")[-1].details == {"reason": "bad_otp"}


def test_login_mfa_replayed_code_is_refused(client, app, clock):
    world = enrol(client, app, clock)
    current = code(world["secret"], clock.now)
    assert _login(client, world["user"], otp=current).status_code == 200

    replay = _login(client, world["user"], otp=current)

    assert_error(replay, 401, "invalid_otp")


def test_login_mfa_code_older_than_the_last_used_step_is_refused(client, app, clock):
    world = enrol(client, app, clock)
    assert _login(client, world["user"], otp=code(world["secret"], clock.now, 1)).status_code == 200

    older = _login(client, world["user"], otp=code(world["secret"], clock.now))

    assert_error(older, 401, "invalid_otp")


def test_login_mfa_the_confirming_code_cannot_be_replayed_at_login(client, app, clock):
    world = enrol(client, app, clock)  # confirmed with the code of step -1

    response = _login(client, world["user"], otp=code(world["secret"], clock.now, -1))

    assert_error(response, 401, "invalid_otp")


def test_login_mfa_next_window_accepts_a_new_code(client, app, clock):
    world = enrol(client, app, clock)
    assert _login(client, world["user"], otp=code(world["secret"], clock.now)).status_code == 200

    clock.advance(30)

    assert _login(client, world["user"], otp=code(world["secret"], clock.now)).status_code == 200


def test_login_mfa_five_wrong_codes_lock_the_account(client, app, clock):
    world = enrol(client, app, clock)
    right = code(world["secret"], clock.now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    for _ in range(4):
        assert_error(_login(client, world["user"], otp=wrong), 401, "invalid_otp")
    locked = _login(client, world["user"], otp=wrong)

    assert_error(locked, 423, "account_locked")
    assert int(locked.headers["Retry-After"]) > 0
    assert_error(_login(client, world["user"], otp=right), 423, "account_locked")


def test_login_mfa_wrong_passwords_and_wrong_codes_share_one_counter(client, app, clock):
    world = enrol(client, app, clock)
    wrong = f"{(int(code(world['secret'], clock.now)) + 1) % 1_000_000:06d}"
    for _ in range(2):
        client.post("/api/login", json={"username": world["user"].username, "password": "nope1"})
    for _ in range(2):
        _login(client, world["user"], otp=wrong)

    fifth = _login(client, world["user"], otp=wrong)

    assert_error(fifth, 423, "account_locked")


def test_login_mfa_recovery_code_logs_in_once(client, app, clock):
    world = enrol(client, app, clock)
    recovery = world["recovery_codes"][3]

    first = _login(client, world["user"], recovery_code=recovery)
    again = _login(client, world["user"], recovery_code=recovery)

    assert first.status_code == 200
    assert_error(again, 401, "invalid_otp")
    assert _events("mfa_recovery_code_used")[-1].details == {"left": 9}


def test_login_mfa_recovery_code_is_read_without_dashes_case_or_spaces(client, app, clock):
    world = enrol(client, app, clock)
    typed = " " + world["recovery_codes"][0].replace("-", " ").upper() + " "

    assert _login(client, world["user"], recovery_code=typed).status_code == 200


def test_login_mfa_other_users_recovery_code_is_refused(client, app, clock):
    alice = enrol(client, app, clock)
    bob = enrol(client, app, clock)

    response = _login(client, bob["user"], recovery_code=alice["recovery_codes"][0])

    assert_error(response, 401, "invalid_otp")
    assert (
        _login(client, alice["user"], recovery_code=alice["recovery_codes"][0]).status_code == 200
    )


def test_login_with_both_code_and_recovery_code_is_rejected(client, app, clock):
    world = enrol(client, app, clock)

    response = _login(
        client,
        world["user"],
        otp=code(world["secret"], clock.now),
        recovery_code=world["recovery_codes"][0],
    )

    assert_error(response, 422, "validation_error")


def test_login_without_mfa_ignores_a_code(client, app):
    user = make_user(app)

    assert _login(client, user, otp="123456").status_code == 200


def test_login_mfa_unknown_user_with_code_answers_like_a_wrong_password(client, app, clock):
    world = enrol(client, app, clock)
    unknown = client.post(
        "/api/login", json={"username": "nobody-here", "password": PASSWORD, "otp": "123456"}
    )
    wrong = client.post(
        "/api/login",
        json={"username": world["user"].username, "password": "wrong pass!", "otp": "123456"},
    )

    assert_error(unknown, 401, "invalid_credentials")
    assert unknown.get_json() == wrong.get_json()


# --- disable -----------------------------------------------------------------------------------


def test_mfa_disable_with_current_code_turns_it_off_and_forgets_everything(client, app, clock):
    from extensions import db
    from models import MfaRecoveryCode

    world = enrol(client, app, clock)

    response = client.post(
        "/api/me/mfa/disable",
        json={"otp": code(world["secret"], clock.now)},
        headers=world["headers"],
    )

    assert response.status_code == 200
    assert response.get_json()["user"]["mfa_enabled"] is False
    row = _reload(world["user"].id)
    assert (row.mfa_enabled_at, row.mfa_secret_encrypted, row.mfa_last_step) == (None, None, None)
    assert db.session.query(MfaRecoveryCode).filter_by(user_id=row.id).count() == 0
    assert login(client, world["user"].username)["user"]["mfa_enabled"] is False
    assert _events("mfa_disabled")[-1].details == {"with": "otp"}


def test_mfa_disable_with_recovery_code_turns_it_off(client, app, clock):
    world = enrol(client, app, clock)

    response = client.post(
        "/api/me/mfa/disable",
        json={"recovery_code": world["recovery_codes"][9]},
        headers=world["headers"],
    )

    assert response.status_code == 200
    assert _reload(world["user"].id).mfa_enabled is False


def test_mfa_disable_wrong_code_is_refused_counts_and_locks(client, app, clock):
    world = enrol(client, app, clock)
    wrong = f"{(int(code(world['secret'], clock.now)) + 1) % 1_000_000:06d}"

    first = client.post("/api/me/mfa/disable", json={"otp": wrong}, headers=world["headers"])
    assert_error(first, 422, "invalid_otp")
    assert _reload(world["user"].id).failed_login_count == 1
    for _ in range(3):
        client.post("/api/me/mfa/disable", json={"otp": wrong}, headers=world["headers"])
    fifth = client.post("/api/me/mfa/disable", json={"otp": wrong}, headers=world["headers"])
    right = client.post(
        "/api/me/mfa/disable",
        json={"otp": code(world["secret"], clock.now)},
        headers=world["headers"],
    )

    assert_error(fifth, 423, "account_locked")
    assert_error(right, 423, "account_locked")  # still locked: no more guesses
    assert _reload(world["user"].id).mfa_enabled is True
    assert _events("mfa_disable_failed")


def test_mfa_disable_replayed_login_code_is_refused(client, app, clock):
    world = enrol(client, app, clock)
    used = code(world["secret"], clock.now)
    assert _login(client, world["user"], otp=used).status_code == 200

    response = client.post("/api/me/mfa/disable", json={"otp": used}, headers=world["headers"])

    assert_error(response, 422, "invalid_otp")


@pytest.mark.parametrize("body", [{}, {"otp": "123456", "recovery_code": "abcd"}, {"otp": "12"}])
def test_mfa_disable_needs_exactly_one_well_formed_code(client, app, clock, body):
    world = enrol(client, app, clock)

    response = client.post("/api/me/mfa/disable", json=body, headers=world["headers"])

    assert_error(response, 422, "validation_error")
    assert _reload(world["user"].id).mfa_enabled is True


def test_mfa_disable_when_off_conflicts(client, app):
    headers = auth_headers(client, make_user(app))

    response = client.post("/api/me/mfa/disable", json={"otp": "123456"}, headers=headers)

    assert_error(response, 409, "mfa_not_enabled")


# --- sessions end when MFA is turned on or off -------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sessions(client: Any, user: Any, count: int = 2, **login_extra: Any) -> list[dict[str, Any]]:
    """``count`` separate logins of the user (each its own session)."""
    sessions = []
    for _ in range(count):
        response = _login(client, user, **login_extra)
        assert response.status_code == 200, response.get_json()
        sessions.append(response.get_json())
    return sessions


def _assert_ended(client: Any, tokens: dict[str, Any]) -> None:
    """Neither the access token nor the refresh token of this login works any more."""
    assert_error(
        client.get("/api/me", headers=_bearer(tokens["access_token"])), 401, "token_revoked"
    )
    assert_error(
        client.post("/api/token/refresh", headers=_bearer(tokens["refresh_token"])),
        401,
        "token_revoked",
    )


def _assert_works(client: Any, tokens: dict[str, Any]) -> None:
    assert client.get("/api/me", headers=_bearer(tokens["access_token"])).status_code == 200
    refreshed = client.post("/api/token/refresh", headers=_bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200, refreshed.get_json()


def test_mfa_confirm_ends_every_earlier_session_and_returns_new_tokens(client, app, clock):
    user = make_user(app)
    caller, other = _sessions(client, user)
    key = client.post("/api/me/api_key", headers=_bearer(caller["access_token"])).get_json()
    secret = client.post("/api/me/mfa/setup", headers=_bearer(caller["access_token"])).get_json()[
        "secret"
    ]

    response = client.post(
        "/api/me/mfa/confirm",
        json={"otp": code(secret, clock.now)},
        headers=_bearer(caller["access_token"]),
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "user",
        "recovery_codes",
    }
    assert body["user"]["mfa_enabled"] is True
    _assert_ended(client, other)
    _assert_ended(client, caller)  # the caller's old tokens too: the new ones carry on
    _assert_works(client, body)
    # the new access token comes from a proof of password and code: still fresh
    fresh = client.post(
        "/api/me/mfa/recovery_codes",
        json={"otp": code(secret, clock.now, 1)},
        headers=_bearer(body["access_token"]),
    )
    assert fresh.status_code == 200, fresh.get_json()
    # an API key is not a login session: it keeps working
    assert client.get("/api/me", headers={"X-API-Key": key["api_key"]}).status_code == 200


def test_mfa_confirm_wrong_code_ends_no_session(client, app, clock):
    user = make_user(app)
    caller, other = _sessions(client, user)
    secret = client.post("/api/me/mfa/setup", headers=_bearer(caller["access_token"])).get_json()[
        "secret"
    ]
    wrong = f"{(int(code(secret, clock.now)) + 1) % 1_000_000:06d}"

    response = client.post(
        "/api/me/mfa/confirm", json={"otp": wrong}, headers=_bearer(caller["access_token"])
    )

    assert_error(response, 422, "invalid_otp")
    assert _reload(user.id).tokens_valid_after is None
    _assert_works(client, other)
    assert client.get("/api/me", headers=_bearer(caller["access_token"])).status_code == 200


@pytest.mark.parametrize("factor", ["otp", "recovery_code"])
def test_mfa_disable_ends_every_earlier_session_and_returns_new_tokens(client, app, clock, factor):
    world = enrol(client, app, clock)
    clock.advance(30)
    (other,) = _sessions(client, world["user"], 1, otp=code(world["secret"], clock.now))
    proof = (
        {"otp": code(world["secret"], clock.now, 1)}
        if factor == "otp"
        else {"recovery_code": world["recovery_codes"][0]}
    )

    response = client.post("/api/me/mfa/disable", json=proof, headers=world["headers"])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["user"]["mfa_enabled"] is False
    _assert_ended(client, other)
    _assert_ended(
        client,
        {
            "access_token": world["headers"]["Authorization"].removeprefix("Bearer "),
            "refresh_token": world["refresh_token"],
        },
    )
    _assert_works(client, body)
    assert _events("mfa_disabled")[-1].details == {"with": factor}


def test_mfa_disable_wrong_code_ends_no_session(client, app, clock):
    world = enrol(client, app, clock)
    wrong = f"{(int(code(world['secret'], clock.now)) + 1) % 1_000_000:06d}"
    before = _reload(world["user"].id).tokens_valid_after

    response = client.post("/api/me/mfa/disable", json={"otp": wrong}, headers=world["headers"])

    assert_error(response, 422, "invalid_otp")
    assert _reload(world["user"].id).tokens_valid_after == before
    assert client.get("/api/me", headers=world["headers"]).status_code == 200


# --- recovery codes regeneration ---------------------------------------------------------------


def _regenerate(client: Any, world: dict[str, Any], otp: Any) -> Any:
    return client.post("/api/me/mfa/recovery_codes", json={"otp": otp}, headers=world["headers"])


def test_regenerate_recovery_codes_replaces_every_code_and_old_ones_stop_working(
    client, app, clock
):
    world = enrol(client, app, clock)
    old = world["recovery_codes"]
    assert _login(client, world["user"], recovery_code=old[0]).status_code == 200  # one spent

    response = _regenerate(client, world, code(world["secret"], clock.now))

    assert response.status_code == 200, response.get_json()
    new = response.get_json()["recovery_codes"]
    assert set(response.get_json()) == {"recovery_codes"}
    assert len(new) == len(set(new)) == 10
    assert not set(new) & set(old)
    for recovery in new:
        assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){5}", recovery)
    for recovery in (old[1], old[9]):  # unused old codes are gone too
        assert_error(_login(client, world["user"], recovery_code=recovery), 401, "invalid_otp")
    assert _login(client, world["user"], recovery_code=new[0]).status_code == 200
    assert _events("mfa_recovery_code_used")[-1].details == {"left": 9}  # of the new ten
    event = _events("mfa_recovery_codes_regenerated")[-1]
    assert (event.actor_id, event.subject_user_id, event.details) == (
        world["user"].id,
        world["user"].id,
        {"count": 10},
    )


def test_regenerate_recovery_codes_keeps_mfa_and_sessions(client, app, clock):
    world = enrol(client, app, clock)

    assert _regenerate(client, world, code(world["secret"], clock.now)).status_code == 200

    assert client.get("/api/me", headers=world["headers"]).get_json()["mfa_enabled"] is True
    clock.advance(30)
    assert_error(_login(client, world["user"]), 401, "mfa_required")
    assert _login(client, world["user"], otp=code(world["secret"], clock.now)).status_code == 200


def test_regenerate_recovery_codes_wrong_code_is_refused_counts_and_keeps_old_codes(
    client, app, clock
):
    world = enrol(client, app, clock)
    wrong = f"{(int(code(world['secret'], clock.now)) + 1) % 1_000_000:06d}"

    response = _regenerate(client, world, wrong)

    assert_error(response, 422, "invalid_otp")
    assert _reload(world["user"].id).failed_login_count == 1
    assert _events("mfa_recovery_codes_failed")[-1].details == {"reason": "bad_otp"}
    assert not _events("mfa_recovery_codes_regenerated")
    login_ = _login(client, world["user"], recovery_code=world["recovery_codes"][0])
    assert login_.status_code == 200


def test_regenerate_recovery_codes_five_wrong_codes_lock(client, app, clock):
    world = enrol(client, app, clock)
    right = code(world["secret"], clock.now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    for _ in range(4):
        assert_error(_regenerate(client, world, wrong), 422, "invalid_otp")
    fifth = _regenerate(client, world, wrong)

    assert_error(fifth, 423, "account_locked")
    assert_error(_regenerate(client, world, right), 423, "account_locked")
    assert not _events("mfa_recovery_codes_regenerated")


def test_regenerate_recovery_codes_replayed_code_is_refused(client, app, clock):
    world = enrol(client, app, clock)
    used = code(world["secret"], clock.now)
    assert _login(client, world["user"], otp=used).status_code == 200

    assert_error(_regenerate(client, world, used), 422, "invalid_otp")


def test_regenerate_recovery_codes_same_code_twice_is_refused(client, app, clock):
    world = enrol(client, app, clock)
    current = code(world["secret"], clock.now)
    first = _regenerate(client, world, current)

    second = _regenerate(client, world, current)

    assert first.status_code == 200
    assert_error(second, 422, "invalid_otp")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"otp": "12"},
        {"otp": None},
        {"otp": 123456},
        {"recovery_code": "abcd-efgh-ijkl-mnop-qrst-uvwx"},
        {"otp": "123456", "recovery_code": "abcd"},
    ],
)
def test_regenerate_recovery_codes_needs_one_current_app_code(client, app, clock, body):
    world = enrol(client, app, clock)
    if "recovery_code" in body and len(body) == 1:
        body = {"recovery_code": world["recovery_codes"][0]}  # a real one: still not accepted

    response = client.post("/api/me/mfa/recovery_codes", json=body, headers=world["headers"])

    assert_error(response, 422, "validation_error")
    assert _login(client, world["user"], recovery_code=world["recovery_codes"][0]).status_code == (
        200
    )


def test_regenerate_recovery_codes_recovery_code_as_otp_is_rejected(client, app, clock):
    world = enrol(client, app, clock)

    response = _regenerate(client, world, world["recovery_codes"][0])

    assert_error(response, 422, "validation_error")


def test_regenerate_recovery_codes_without_mfa_conflicts(client, app, clock):
    headers = auth_headers(client, make_user(app))
    off = client.post("/api/me/mfa/recovery_codes", json={"otp": "123456"}, headers=headers)
    client.post("/api/me/mfa/setup", headers=headers)

    pending = client.post("/api/me/mfa/recovery_codes", json={"otp": "123456"}, headers=headers)

    assert_error(off, 409, "mfa_not_enabled")
    assert_error(pending, 409, "mfa_not_enabled")


# --- freshness and API keys --------------------------------------------------------------------


def _stale(client: Any, user: Any, **login_extra: Any) -> dict[str, str]:
    """An access token from a refresh: valid, but not fresh."""
    tokens = _login(client, user, **login_extra).get_json()
    refreshed = client.post(
        "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    return {"Authorization": f"Bearer {refreshed.get_json()['access_token']}"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/me/mfa/setup", None),
        ("/api/me/mfa/confirm", {"otp": "123456"}),
        ("/api/me/mfa/disable", {"otp": "123456"}),
        ("/api/me/mfa/recovery_codes", {"otp": "123456"}),
    ],
)
def test_mfa_routes_need_a_fresh_login_and_no_api_key(client, app, path, body):
    user = make_user(app)
    key = client.post("/api/me/api_key", headers=auth_headers(client, user)).get_json()["api_key"]

    stale = client.post(path, json=body, headers=_stale(client, user))
    by_key = client.post(path, json=body, headers={"X-API-Key": key})

    assert_error(stale, 401, "fresh_login_required")
    assert_error(by_key, 403, "api_key_not_allowed")
    assert_error(client.post(path, json=body), 401, "unauthorized")


def test_mfa_disable_with_stale_token_leaves_mfa_on(client, app, clock):
    world = enrol(client, app, clock)
    headers = _stale(client, world["user"], otp=code(world["secret"], clock.now))

    response = client.post(
        "/api/me/mfa/disable", json={"otp": code(world["secret"], clock.now, 1)}, headers=headers
    )

    assert_error(response, 401, "fresh_login_required")
    assert _reload(world["user"].id).mfa_enabled is True


# --- secrets at rest, never again in a response -------------------------------------------------


def test_mfa_secret_is_stored_only_sealed_and_recovery_codes_only_hashed(
    client, app, app_config, clock
):
    world = enrol(client, app, clock)
    db_path = app_config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")

    with sqlite3.connect(db_path) as conn:
        sealed = conn.execute(
            "SELECT mfa_secret_encrypted FROM users WHERE id = ?", (world["user"].id,)
        ).fetchone()[0]
        dump = "\n".join(conn.iterdump())

    assert sealed.startswith("v1:")
    assert world["secret"] not in dump
    for recovery in world["recovery_codes"]:
        assert recovery not in dump and recovery.replace("-", "").upper() not in dump


def test_mfa_secret_copied_to_another_user_row_does_not_open(client, app, clock):
    from extensions import db, secret_box
    from utils.security import DecryptionFailed

    alice = enrol(client, app, clock)
    bob = enrol(client, app, clock)
    sealed = _reload(alice["user"].id).mfa_secret_encrypted
    with pytest.raises(DecryptionFailed):
        from services.auth.second_factor import secret_aad

        secret_box().decrypt(sealed, secret_aad(bob["user"].id))
    _reload(bob["user"].id).mfa_secret_encrypted = sealed  # an attacker with database access
    db.session.commit()

    response = _login(client, bob["user"], otp=code(alice["secret"], clock.now))

    assert_error(response, 500, "mfa_unavailable")


def test_mfa_secret_never_appears_after_setup(client, app, clock):
    world = enrol(client, app, clock)
    admin = auth_headers(client, make_user(app, role="super_admin"))
    token = _login(client, world["user"], otp=code(world["secret"], clock.now)).get_data(
        as_text=True
    )

    texts = [
        token,
        client.get("/api/me", headers=world["headers"]).get_data(as_text=True),
        client.get("/api/users?per_page=1000", headers=admin).get_data(as_text=True),
        client.get("/api/audit?per_page=1000", headers=admin).get_data(as_text=True),
        client.post("/api/me/mfa/setup", headers=world["headers"]).get_data(as_text=True),
    ]

    for text in texts:
        assert world["secret"] not in text
        assert not any(recovery in text for recovery in world["recovery_codes"])


# --- key rotation ------------------------------------------------------------------------------

NEW_KEY = "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE="  # 32 bytes


def _app(tmp_path: Any, **keys: Any) -> Any:
    from app import create_app

    return create_app(make_config(tmp_path, EXECUTOR_AUTOSTART=False, **keys))


def test_rotate_encryption_key_reseals_mfa_secrets_and_login_works_on_the_new_key_alone(
    client, app, tmp_path, clock
):
    import base64

    from extensions import db

    world = enrol(client, app, clock)
    pending = make_user(app)
    client.post("/api/me/mfa/setup", headers=auth_headers(client, pending))
    old_key = base64.urlsafe_b64encode(app.config["ENCRYPTION_KEY"]).decode()
    rotating = _app(tmp_path, ENCRYPTION_KEY=NEW_KEY, ENCRYPTION_KEYS_PREVIOUS=old_key)
    new_id = rotating.extensions["secret_box"].current_id

    with rotating.app_context():
        result = rotating.test_cli_runner().invoke(args=["rotate-encryption-key"])
        again = rotating.test_cli_runner().invoke(args=["rotate-encryption-key"])
        db.session.remove()

    assert result.exit_code == 0, result.output
    assert "and 2 MFA secret(s)" in result.output  # the enrolled one and the pending one
    assert "and 0 MFA secret(s)" in again.output
    assert _reload(world["user"].id).mfa_secret_encrypted.startswith(f"v1:{new_id}:")
    only_new = _app(tmp_path, ENCRYPTION_KEY=NEW_KEY, ENCRYPTION_KEYS_PREVIOUS="")
    with only_new.app_context():
        response = only_new.test_client().post(
            "/api/login",
            json={
                "username": world["user"].username,
                "password": PASSWORD,
                "otp": code(world["secret"], clock.now),
            },
        )
        db.session.remove()
    assert response.status_code == 200, response.get_json()


def test_mfa_secret_under_a_lost_key_is_a_clear_error_not_a_login(client, app, tmp_path, clock):
    from extensions import db

    world = enrol(client, app, clock)
    other = _app(tmp_path, ENCRYPTION_KEY=NEW_KEY, ENCRYPTION_KEYS_PREVIOUS="")

    with other.app_context():
        response = other.test_client().post(
            "/api/login",
            json={
                "username": world["user"].username,
                "password": PASSWORD,
                "otp": code(world["secret"], clock.now),
            },
        )
        db.session.remove()

    assert_error(response, 500, "mfa_unavailable")
