"""Flask CLI: create-user, reset-mfa, rotate-encryption-key, generate-key, and the mt5 group."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from errors import AppError
from extensions import auth_settings, db, secret_box
from models import User
from models.user import ROLES
from mt5sim import admin_commands, admin_requests
from services.accounts_service import rotate_encryption
from services.auth import create_user, reset_mfa, rotate_mfa_encryption
from services.mt5.sources import sim_db_path
from utils.security import generate_encryption_key

mt5_cli = AppGroup("mt5", help="MT5 terminals and the simulated broker.")


@click.command("create-user")
@click.argument("username")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="user", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(username: str, email: str, role: str, password: str) -> None:
    """Create a user with any role (the first super admin comes from here)."""

    if not 8 <= len(password) <= 128:
        raise click.BadParameter("must be 8 to 128 characters", param_hint="--password")
    try:
        user = create_user(
            session=db.session,
            username=username,
            email=email,
            password=password,
            role=role,
            password_policy=auth_settings().password_policy,
        )
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created user {user.username} (id {user.id}, role {user.role})")


@click.command("reset-mfa")
@click.argument("username")
@click.confirmation_option(
    prompt="Clear this user's two-factor authentication and end all their sessions?"
)
def reset_mfa_command(username: str) -> None:
    """Clear USERNAME's MFA (lost device) and end their sessions; audited as the CLI.

    For when no other super admin can do it through DELETE /api/users/<id>/mfa, such as the only
    super admin losing their authenticator. They then log in with the password alone and enrol
    again.
    """
    from sqlalchemy import select

    user = db.session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    try:
        reset_mfa(session=db.session, user=user, actor=None, ip=None)
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"two-factor authentication cleared for {user.username} (id {user.id}); every session "
        "of theirs has ended; they log in with the password alone (and enrol again if their "
        "role is in MFA_REQUIRED_ROLES)"
    )


@click.command("rotate-encryption-key")
def rotate_encryption_key_command() -> None:
    """Re-encrypt every MT5 password and TOTP secret under ENCRYPTION_KEY.

    Put the new key in ENCRYPTION_KEY and the old one in ENCRYPTION_KEYS_PREVIOUS, run this,
    then drop the old key.
    """

    count = rotate_encryption(session=db.session, box=secret_box())
    secrets = rotate_mfa_encryption(session=db.session, box=secret_box())
    click.echo(
        f"re-encrypted {count} account password(s) and {secrets} MFA secret(s) "
        f"under key {secret_box().current_id}"
    )


@click.command("generate-key")
def generate_key_command() -> None:
    """Print a fresh ENCRYPTION_KEY (32 random bytes, URL-safe base64)."""

    click.echo(generate_encryption_key())


def _sim_db(name: str, db: str | None) -> str:

    return db or sim_db_path(current_app.config["MT5_SIM_DB"], name)


@mt5_cli.command("serve-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=18812, show_default=True, type=int)
@click.option("--name", default="default", show_default=True, help="The sim:// broker name.")
@click.option("--db", default=None, help="SQLite file (default: MT5_SIM_DB, per name).")
@click.option("--keyfile", default=None, help="TLS private key (default: inside --certfile).")
@click.option("--certfile", default=None, help="TLS certificate: serve rpycs://HOST:PORT.")
@click.option("--ca-certs", default=None, help="TLS: require client certificates of this CA.")
def serve_simulator_command(
    host: str, port: int, name: str, db: str | None, keyfile: str | None,
    certfile: str | None, ca_certs: str | None,
) -> None:  # fmt: skip
    """Serve a simulated broker as an RPyC terminal node (rpyc://, or rpycs:// with --certfile)."""
    from mt5sim import node  # the RPyC server stack loads only when a node is served

    path = _sim_db(name, db)
    scheme = "rpycs" if certfile else "rpyc"
    click.echo(f"simulated MT5 terminal node on {scheme}://{host}:{port} (broker {name}, {path})")
    node.serve(
        path, host, port,
        latency_ms=current_app.config["MT5_SIM_LATENCY_MS"],
        seed=current_app.config["MT5_SIM_SEED"],
        keyfile=keyfile, certfile=certfile, ca_certs=ca_certs,
    )  # fmt: skip


WAIT_HELP = "Seconds to wait for a running simulator to apply the change."


def _submit(db_path: str, name: str, kind: str, payload: dict[str, Any], wait: float) -> None:
    """Hand the change to the broker serving the file (or apply it here if none runs)."""
    try:
        applied = admin_commands.submit(db_path, kind, payload, name=name, wait_s=wait)
    except admin_commands.RequestRefused as exc:
        raise click.ClickException(str(exc)) from exc
    except admin_commands.RequestPending as exc:
        owner = f"pid {exc.owner_pid}" if exc.owner_pid else "another process"
        raise click.ClickException(
            f"the simulator serving {db_path} ({owner}) did not confirm request "
            f"{exc.request_id} within {wait:g} s; it stays queued and is applied when that "
            "simulator next looks, or when the file is next opened"
        ) from exc
    where = (
        f" (applied by the running simulator, pid {applied.applied_by})"
        if applied.by_running_simulator
        else ""
    )
    click.echo(applied.result + where)


@mt5_cli.command("sim-account")
@click.argument("login", type=int)
@click.option("--password", required=True)
@click.option("--server", required=True)
@click.option("--balance", default="10000", show_default=True, help="Deposit (or top-up).")
@click.option("--currency", default=None, help="USD, USC, THB or EUR (default: the server's).")
@click.option("--leverage", default=100, show_default=True, type=int)
@click.option("--margin-mode", type=click.Choice(["hedging", "netting"]), default="hedging")
@click.option("--name", default="default", show_default=True, help="The sim:// broker name.")
@click.option("--db", default=None, help="SQLite file (default: MT5_SIM_DB, per name).")
@click.option("--wait", default=10.0, show_default=True, type=float, help=WAIT_HELP)
def sim_account_command(
    login: int, password: str, server: str, balance: str, currency: str | None, leverage: int,
    margin_mode: str, name: str, db: str | None, wait: float,
) -> None:  # fmt: skip
    """Create a simulated MT5 account, or fund an existing one with --balance.

    Works on a running server or terminal node too: the process serving the simulator's file
    applies the change (within a fraction of a second) and the next call sees it; with nothing
    running, the command applies it to the file itself.
    """
    from decimal import Decimal, InvalidOperation

    try:
        amount = Decimal(balance)
    except InvalidOperation as exc:
        raise click.BadParameter("must be a decimal", param_hint="--balance") from exc
    if not amount.is_finite():
        raise click.BadParameter("must be a finite decimal", param_hint="--balance")
    payload = admin_requests.account_request(
        login, password=password, server=server, balance=amount, currency=currency,
        leverage=leverage, netting=margin_mode == "netting",
    )  # fmt: skip
    _submit(_sim_db(name, db), name, "account", payload, wait)


@mt5_cli.command("set-quote")
@click.argument("symbol")
@click.argument("bid")
@click.argument("ask")
@click.option("--freeze", is_flag=True, help="Keep the price walk from moving it (until restart).")
@click.option("--name", default="default", show_default=True, help="The sim:// broker name.")
@click.option("--db", default=None, help="SQLite file (default: MT5_SIM_DB, per name).")
@click.option("--wait", default=10.0, show_default=True, type=float, help=WAIT_HELP)
def set_quote_command(
    symbol: str, bid: str, ask: str, freeze: bool, name: str, db: str | None, wait: float
) -> None:
    """Set a simulated quote (saved; pending orders and SL/TP fire on it).

    Works on a running server or terminal node too: the process serving the simulator's file
    applies it and the next call sees it; with nothing running, it is saved to the file.
    """
    from decimal import Decimal, InvalidOperation

    try:
        low, high = Decimal(bid), Decimal(ask)
    except InvalidOperation as exc:
        raise click.BadParameter("BID and ASK must be decimals") from exc
    if not (low.is_finite() and high.is_finite()) or low <= 0:
        raise click.BadParameter("BID and ASK must be positive decimals")
    if low > high:
        raise click.BadParameter("BID must not exceed ASK")
    payload = admin_requests.quote_request(symbol, low, high, freeze=freeze)
    _submit(_sim_db(name, db), name, "quote", payload, wait)


def init_app(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(reset_mfa_command)
    app.cli.add_command(rotate_encryption_key_command)
    app.cli.add_command(generate_key_command)
    app.cli.add_command(mt5_cli)
