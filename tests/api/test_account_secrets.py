"""MT5 passwords at rest: encrypted, bound to their row, and rotatable to a new key."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from factories import auth_headers, make_account, make_config, make_user

MT5_PASSWORD = "Mt5-S3cret!pass"
NEW_KEY = "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE="  # b"new-key-new-key-new-key-new-key!"


def _db_path(app_config: dict[str, Any]) -> Path:
    return Path(app_config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))


def _stored_ciphertexts(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT id, password_encrypted FROM mt5_accounts").fetchall())


def _all_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _accounts(client: Any, app: Any, count: int) -> list[dict[str, Any]]:
    headers = auth_headers(client, make_user(app))
    return [make_account(client, headers, password=f"{MT5_PASSWORD}-{n}") for n in range(count)]


def test_create_account_raw_database_holds_no_password(client, app, app_config):
    from extensions import db

    account = _accounts(client, app, 1)[0]
    db.session.remove()
    db.engine.dispose()  # checkpoint the WAL so the main file is complete

    stored = _stored_ciphertexts(_db_path(app_config))[account["id"]]
    assert stored.startswith("v1:") and MT5_PASSWORD not in stored
    assert MT5_PASSWORD.encode() not in _all_bytes(_db_path(app_config))


def test_create_account_ciphertext_decrypts_to_password(client, app):
    from extensions import db, secret_box
    from models import MT5Account
    from services.accounts_service import account_password

    account = _accounts(client, app, 1)[0]

    row = db.session.get(MT5Account, account["id"])
    assert account_password(row, secret_box()) == f"{MT5_PASSWORD}-0"


def test_update_account_password_is_reencrypted(client, app):
    from extensions import db, secret_box
    from models import MT5Account
    from services.accounts_service import account_password

    headers = auth_headers(client, make_user(app))
    account = make_account(client, headers)

    client.patch(f"/api/accounts/{account['id']}", json={"password": "Changed-1"}, headers=headers)

    db.session.expire_all()
    assert account_password(db.session.get(MT5Account, account["id"]), secret_box()) == "Changed-1"


def test_ciphertext_copied_to_another_row_fails_to_decrypt(client, app):
    from extensions import db, secret_box
    from models import MT5Account
    from services.accounts_service import account_password
    from utils.security import DecryptionFailed

    first, second = _accounts(client, app, 2)
    source = db.session.get(MT5Account, first["id"])
    target = db.session.get(MT5Account, second["id"])
    target.password_encrypted = source.password_encrypted
    db.session.commit()

    with pytest.raises(DecryptionFailed):
        account_password(target, secret_box())


def _app_with_keys(tmp_path: Path, **keys: Any) -> Any:
    from app import create_app

    return create_app(make_config(tmp_path, EXECUTOR_AUTOSTART=False, **keys))


def _rotate(application: Any) -> Any:
    """Run the CLI command inside this app's context (the test's own app context is active)."""
    with application.app_context():
        result = application.test_cli_runner().invoke(args=["rotate-encryption-key"])
        from extensions import db

        db.session.remove()
    return result


def _decrypt_all(application: Any) -> dict[int, str]:
    from extensions import db, secret_box
    from models import MT5Account
    from services.accounts_service import account_password

    with application.app_context():
        rows = db.session.query(MT5Account).all()
        plain = {row.id: account_password(row, secret_box()) for row in rows}
        db.session.remove()
    return plain


def test_rotate_encryption_key_reencrypts_every_account(client, app, tmp_path):
    from utils.security import key_id

    accounts = _accounts(client, app, 3)
    old_key = app.config["ENCRYPTION_KEY"]
    rotating = _app_with_keys(
        tmp_path, ENCRYPTION_KEY=NEW_KEY, ENCRYPTION_KEYS_PREVIOUS=_b64(old_key)
    )
    new_id = rotating.extensions["secret_box"].current_id

    result = _rotate(rotating)

    assert result.exit_code == 0, result.output
    assert "re-encrypted 3 " in result.output
    stored = _stored_ciphertexts(tmp_path / "db.sqlite")
    assert all(value.startswith(f"v1:{new_id}:") for value in stored.values())
    assert new_id != key_id(old_key)
    assert _decrypt_all(rotating) == {
        a["id"]: f"{MT5_PASSWORD}-{n}" for n, a in enumerate(accounts)
    }


def test_rotate_encryption_key_then_new_key_alone_decrypts(client, app, tmp_path):
    accounts = _accounts(client, app, 2)
    rotating = _app_with_keys(
        tmp_path,
        ENCRYPTION_KEY=NEW_KEY,
        ENCRYPTION_KEYS_PREVIOUS=_b64(app.config["ENCRYPTION_KEY"]),
    )
    _rotate(rotating)

    only_new = _app_with_keys(tmp_path, ENCRYPTION_KEY=NEW_KEY, ENCRYPTION_KEYS_PREVIOUS="")

    assert sorted(_decrypt_all(only_new)) == sorted(a["id"] for a in accounts)


def test_new_key_without_previous_cannot_decrypt_old_rows(client, app, tmp_path):
    from utils.security import DecryptionFailed

    _accounts(client, app, 1)
    only_new = _app_with_keys(tmp_path, ENCRYPTION_KEY=NEW_KEY, ENCRYPTION_KEYS_PREVIOUS="")

    with pytest.raises(DecryptionFailed):
        _decrypt_all(only_new)


def test_rotate_encryption_key_twice_changes_nothing(client, app, tmp_path):
    _accounts(client, app, 2)
    rotating = _app_with_keys(
        tmp_path,
        ENCRYPTION_KEY=NEW_KEY,
        ENCRYPTION_KEYS_PREVIOUS=_b64(app.config["ENCRYPTION_KEY"]),
    )
    _rotate(rotating)
    before = _stored_ciphertexts(tmp_path / "db.sqlite")

    result = _rotate(rotating)

    assert result.exit_code == 0
    assert "re-encrypted 0" in result.output
    assert _stored_ciphertexts(tmp_path / "db.sqlite") == before


def test_rotate_encryption_key_skips_deleted_accounts(client, app, tmp_path):
    headers = auth_headers(client, make_user(app))
    account = make_account(client, headers)
    client.delete(f"/api/accounts/{account['id']}", headers=headers)
    rotating = _app_with_keys(
        tmp_path,
        ENCRYPTION_KEY=NEW_KEY,
        ENCRYPTION_KEYS_PREVIOUS=_b64(app.config["ENCRYPTION_KEY"]),
    )

    result = _rotate(rotating)

    assert result.exit_code == 0 and "re-encrypted 0" in result.output
    assert _stored_ciphertexts(tmp_path / "db.sqlite")[account["id"]] == ""


def _b64(key: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(key).decode()
