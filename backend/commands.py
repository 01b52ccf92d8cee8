"""Flask CLI: create-user, rotate-encryption-key, and the mt5 group."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from errors import AppError
from extensions import db
from models.user import ROLES

mt5_cli = AppGroup("mt5", help="MT5 terminals and the simulated broker.")


@click.command("create-user")
@click.argument("username")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="user", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(username: str, email: str, role: str, password: str) -> None:
    """Create a user with any role (the first super admin comes from here)."""
    from services.auth_service import create_user

    if not 8 <= len(password) <= 128:
        raise click.BadParameter("must be 8 to 128 characters", param_hint="--password")
    try:
        user = create_user(
            session=db.session, username=username, email=email, password=password, role=role,
            rounds=current_app.config["BCRYPT_ROUNDS"],
        )
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created user {user.username} (id {user.id}, role {user.role})")


@click.command("rotate-encryption-key")
def rotate_encryption_key_command() -> None:
    """Re-encrypt every MT5 password under ENCRYPTION_KEY.

    Put the new key in ENCRYPTION_KEY and the old one in ENCRYPTION_KEYS_PREVIOUS, run this,
    then drop the old key.
    """
    from services.accounts_service import rotate_encryption
    from services.crypto import secret_box

    count = rotate_encryption(session=db.session, box=secret_box())
    click.echo(f"re-encrypted {count} account password(s) under key {secret_box().current_id}")


@click.command("generate-key")
def generate_key_command() -> None:
    """Print a fresh ENCRYPTION_KEY (32 random bytes, URL-safe base64)."""
    from utils.security import generate_encryption_key

    click.echo(generate_encryption_key())


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(rotate_encryption_key_command)
    app.cli.add_command(generate_key_command)
    app.cli.add_command(mt5_cli)
