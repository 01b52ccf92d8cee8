"""Settings from the environment and backend/.env, validated; production refuses weak secrets."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

BACKEND_DIR = Path(__file__).resolve().parent
ROOT_DIR = BACKEND_DIR.parent
ENV_FILE = BACKEND_DIR / ".env"

# Values shipped in config/backend.env.example and docs: fine for a laptop, refused in production.
DEV_SECRET_KEY = "dev-secret-key-change-me-in-production"
DEV_JWT_SECRET_KEY = "dev-jwt-secret-change-me-in-production"
DEV_API_KEY_PEPPER = "dev-api-key-pepper-change-me-in-production"
DEV_ENCRYPTION_KEY = (
    "ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE="  # b"dev-only-key-do-not-use-in-prod!"
)
KNOWN_WEAK_SECRETS = frozenset(
    {
        "",
        DEV_SECRET_KEY,
        DEV_JWT_SECRET_KEY,
        DEV_ENCRYPTION_KEY,
        DEV_API_KEY_PEPPER,
        "your-secret-key",
        "your-jwt-secret",
        "your-encryption-key",
        "change-me",
        "changeme",
        "secret",
    }
)


class ConfigError(RuntimeError):
    """The configuration cannot run: the message names the variable."""


class _Env(dict[str, str]):
    """Environment values that remember which names the loader read."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


def _env() -> _Env:
    """The process environment over backend/.env (the environment wins, as systemd expects)."""
    values = {k: v for k, v in dotenv_values(ENV_FILE).items() if v is not None}
    values.update(os.environ)
    return _Env(values)


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _decimal(env: dict[str, str], name: str, default: str) -> Decimal:
    """A non-negative decimal number (money: never a float)."""
    raw = (env.get(name) or "").strip() or default
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{name} must be a number of at least 0, got {raw!r}")
    return value


PWNED_PASSWORDS_DEFAULT_URL = "https://api.pwnedpasswords.com/range/"
# models.user.ROLES, spelled out so loading the configuration imports no model (a test keeps
# the two equal).
KNOWN_ROLES = ("user", "admin", "super_admin")


def _roles(env: dict[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of roles; an unknown one refuses to start, naming it."""
    roles = [r.strip() for r in env.get(name, "").split(",") if r.strip()]
    unknown = [r for r in roles if r not in KNOWN_ROLES]
    if unknown:
        raise ConfigError(
            f"{name} names unknown role(s) {', '.join(unknown)}; use {', '.join(KNOWN_ROLES)}"
        )
    return tuple(r for r in KNOWN_ROLES if r in roles)


def _pwned_url(value: str) -> str:
    """The HIBP range endpoint (the 5-character prefix is appended); http(s) only."""
    url = value.strip() or PWNED_PASSWORDS_DEFAULT_URL
    if not url.startswith(("https://", "http://")):
        raise ConfigError("PWNED_PASSWORDS_URL must be an http:// or https:// URL")
    return url if url.endswith("/") else url + "/"


def decode_encryption_key(value: str, name: str = "ENCRYPTION_KEY") -> bytes:
    """Decode a URL-safe base64 key and insist on exactly 32 bytes (AES-256)."""
    try:
        raw = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{name} must be URL-safe base64 of 32 random bytes") from exc
    if len(raw) != 32:
        raise ConfigError(f"{name} must decode to 32 bytes, got {len(raw)}")
    return raw


def resolve_path(value: str) -> Path:
    """Relative paths are relative to the repository root, whatever the working directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else ROOT_DIR / path


def _path_or_empty(value: str) -> str:
    return str(resolve_path(value)) if value.strip() else ""


def database_uri(env: dict[str, str]) -> str:
    url = env.get("DATABASE_URL", "").strip()
    if url:
        # "postgresql://" means psycopg 3 here (the driver we ship), not psycopg2.
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    path = resolve_path(env.get("DATABASE_PATH") or "config/database.sqlite")
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class SecretCheck:
    name: str
    value: str
    min_length: int


def check_production_secrets(env: dict[str, str]) -> None:
    """Refuse to run in production on missing, default or short secrets, naming the variable."""
    for check in (
        SecretCheck("SECRET_KEY", env.get("SECRET_KEY", ""), 32),
        SecretCheck("JWT_SECRET_KEY", env.get("JWT_SECRET_KEY", ""), 32),
        SecretCheck("ENCRYPTION_KEY", env.get("ENCRYPTION_KEY", ""), 40),
        SecretCheck("API_KEY_PEPPER", env.get("API_KEY_PEPPER") or env.get("SECRET_KEY", ""), 32),
    ):
        if check.value.strip() in KNOWN_WEAK_SECRETS:
            raise ConfigError(
                f"{check.name} is missing or a default value; set a random secret for production"
            )
        if len(check.value) < check.min_length:
            raise ConfigError(f"{check.name} is too short for production")
    decode_encryption_key(env["ENCRYPTION_KEY"])
    if _int(env, "BCRYPT_ROUNDS", 12) < 12:
        raise ConfigError("BCRYPT_ROUNDS must be at least 12 in production")


def _trading_day_start(env: dict[str, str]) -> int:
    """The hour (UTC) a trading day starts: "22" or "22:00" (the FX rollover by default)."""
    raw = (env.get("TRADING_DAY_START_UTC") or "").strip() or "22"
    hour, _, minutes = raw.partition(":")
    if not hour.isdigit() or not 0 <= int(hour) <= 23 or minutes.strip("0"):
        raise ConfigError(
            f"TRADING_DAY_START_UTC must be a whole hour 0-23 (22 or 22:00), got {raw!r}"
        )
    return int(hour)


def _followers_config(env: dict[str, str]) -> dict[str, Any]:
    """Subscriptions and protection (services/subscriptions_service.py, protection_service.py)."""
    interval = _int(env, "PROTECTION_CHECK_S", 30)
    if interval < 0:
        raise ConfigError(f"PROTECTION_CHECK_S must be 0 (off) or more, got {interval}")
    return {
        # The terms a follower accepts by subscribing; recorded with each acceptance.
        "BROADCAST_TERMS_VERSION": env.get("BROADCAST_TERMS_VERSION", "").strip() or "2026-12",
        "TRADING_DAY_START_UTC": _trading_day_start(env),
        # Seconds between the equity reads of protected subscriptions (0: none in this process).
        "PROTECTION_CHECK_S": interval,
    }


def _signals_config(env: dict[str, str]) -> dict[str, Any]:
    """Signal intake (POST /hooks/signals/<token>): its rate limit, resend window and default."""
    window = _int(env, "SIGNAL_RESEND_WINDOW_S", 120)
    if window < 1:
        raise ConfigError(f"SIGNAL_RESEND_WINDOW_S must be at least 1, got {window}")
    return {
        "SIGNAL_RATE_LIMIT": env.get("SIGNAL_RATE_LIMIT", "60 per minute"),
        "SIGNAL_RESEND_WINDOW_S": window,
        "SIGNAL_DEFAULT_RISK_PERCENT": _decimal(env, "SIGNAL_DEFAULT_RISK_PERCENT", "1"),
    }


def _session_keeper_config(env: dict[str, str]) -> dict[str, Any]:
    """The session keeper (services/session_keeper): on/off, heartbeat, pool, warm symbols,
    how long ``python app.py`` waits for the sessions before serving, how long the equity
    history is kept."""
    heartbeat = _int(env, "MT5_HEARTBEAT_S", 15)
    threads = _int(env, "SESSION_KEEPER_THREADS", 32)
    days = _int(env, "EQUITY_HISTORY_DAYS", 30)
    for name, value in (("MT5_HEARTBEAT_S", heartbeat), ("SESSION_KEEPER_THREADS", threads),
                        ("EQUITY_HISTORY_DAYS", days)):  # fmt: skip
        if value < 1:
            raise ConfigError(f"{name} must be at least 1")
    warm_start = _int(env, "SESSION_KEEPER_WARM_START_S", 30)
    if warm_start < 0:
        raise ConfigError("SESSION_KEEPER_WARM_START_S must be 0 (off) or more")
    return {
        "SESSION_KEEPER_ENABLED": _bool(env.get("SESSION_KEEPER_ENABLED"), True),
        "MT5_HEARTBEAT_S": heartbeat,
        "SESSION_KEEPER_THREADS": threads,
        "SESSION_KEEPER_WARM_SYMBOLS": env.get("SESSION_KEEPER_WARM_SYMBOLS", "XAUUSD").strip(),
        "SESSION_KEEPER_WARM_START_S": warm_start,
        "EQUITY_HISTORY_DAYS": days,
    }


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment (and test overrides).

    An override named like an environment variable is applied as that variable, so it is parsed
    and checked the same way (``ENCRYPTION_KEY="..."`` becomes 32 bytes); other overrides
    (``SQLALCHEMY_DATABASE_URI``, ``LOG_DIR`` as a Path) are set as given.
    """
    env = _env()
    if overrides:
        env.update({k: str(v) for k, v in overrides.items() if isinstance(v, str | int | bool)})
    flask_env = env.get("FLASK_ENV", "development").strip() or "development"
    production = flask_env == "production"
    if production:
        check_production_secrets(env)
    config: dict[str, Any] = {
        "ENV_NAME": flask_env,
        "PRODUCTION": production,
        "TESTING": _bool(env.get("TESTING"), False),
    }
    for section in CONFIG_SECTIONS:
        config.update(section(env))
    config["HOST"] = env.get("HOST", "127.0.0.1" if not production else "0.0.0.0")  # noqa: S104
    config["LOG_FORMAT"] = env.get("LOG_FORMAT") or ("json" if production else "text")
    if overrides:
        config.update(
            {
                k: v
                for k, v in overrides.items()
                if not (k in env.read and isinstance(v, str | int | bool))
            }
        )
    return config


def _secrets_config(env: _Env) -> dict[str, Any]:
    """The keys: Flask's, the JWT signer's, the MT5-password encryption key and the API pepper."""
    secret_key = env.get("SECRET_KEY") or DEV_SECRET_KEY
    encryption_key = env.get("ENCRYPTION_KEY") or DEV_ENCRYPTION_KEY
    previous_keys = [k for k in env.get("ENCRYPTION_KEYS_PREVIOUS", "").split(",") if k.strip()]
    return {
        "SECRET_KEY": secret_key,
        "JWT_SECRET_KEY": env.get("JWT_SECRET_KEY") or DEV_JWT_SECRET_KEY,
        "ENCRYPTION_KEY": decode_encryption_key(encryption_key),
        "ENCRYPTION_KEYS_PREVIOUS": [
            decode_encryption_key(k, "ENCRYPTION_KEYS_PREVIOUS") for k in previous_keys
        ],
        "API_KEY_PEPPER": env.get("API_KEY_PEPPER") or secret_key,
    }


def _auth_config(env: _Env) -> dict[str, Any]:
    """Tokens, MFA, password checks, lockout and the login/register rate limits."""
    return {
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        "JWT_TOKEN_LOCATION": ["headers"],
        # The dashboard's refresh token travels in this HttpOnly cookie, read only by
        # POST /api/token/refresh; its CSRF check is api/session_cookie.py's (bound to the
        # session), not the library's (which needs a claim in every token).
        "JWT_REFRESH_COOKIE_NAME": "mt5_refresh",
        "JWT_COOKIE_CSRF_PROTECT": False,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=_int(env, "JWT_ACCESS_MINUTES", 15)),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=_int(env, "JWT_REFRESH_DAYS", 30)),
        # How long after a password login an access token counts as "fresh" (sensitive actions).
        "JWT_FRESH_EXPIRES": timedelta(minutes=_int(env, "JWT_FRESH_MINUTES", 15)),
        "MFA_ISSUER": env.get("MFA_ISSUER", "").strip() or "MT5 Trading Server",
        # Roles that must turn MFA on before doing anything but enrol (api/access.py).
        "MFA_REQUIRED_ROLES": _roles(env, "MFA_REQUIRED_ROLES"),
        "PWNED_PASSWORDS_CHECK": _bool(env.get("PWNED_PASSWORDS_CHECK"), False),
        "PWNED_PASSWORDS_URL": _pwned_url(env.get("PWNED_PASSWORDS_URL", "")),
        "PWNED_PASSWORDS_TIMEOUT_MS": _int(env, "PWNED_PASSWORDS_TIMEOUT_MS", 1500),
        "BCRYPT_ROUNDS": _int(env, "BCRYPT_ROUNDS", 12),
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "20 per minute"),
        "REGISTER_RATE_LIMIT": env.get("REGISTER_RATE_LIMIT", "10 per minute"),
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOCKOUT_THRESHOLD": _int(env, "LOCKOUT_THRESHOLD", 5),
        "LOCKOUT_MINUTES": _int(env, "LOCKOUT_MINUTES", 15),
    }


def _server_config(env: _Env) -> dict[str, Any]:
    """The database, the HTTP server, logs, the dashboard's files and what clients may send."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_uri(env),
        "SQLITE_PATH": _sqlite_path(env),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "CORS_ORIGINS": [o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()],
        "PORT": _int(env, "PORT", 8080),
        "SERVER_THREADS": _int(env, "SERVER_THREADS", 32),
        "LOG_DIR": resolve_path(env.get("LOG_DIR") or "logs"),
        # The built dashboard (`make web`: web/ built by Vite), served at / by api/web.py.
        "WEB_DIST_DIR": resolve_path(env.get("WEB_DIST_DIR") or "web/dist"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024),
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        "TRUSTED_PROXY_HOPS": _int(env, "TRUSTED_PROXY_HOPS", 0),
    }


def _sqlite_path(env: _Env) -> Path:
    return resolve_path(env.get("DATABASE_PATH") or "config/database.sqlite")


def _mt5_config(env: _Env) -> dict[str, Any]:
    """Which terminals accounts may use, and the simulated broker's settings."""
    return {
        "MT5_DEFAULT_TERMINAL": env.get("MT5_DEFAULT_TERMINAL", "sim://default"),
        "MT5_ALLOWED_TERMINALS": [
            t.strip() for t in env.get("MT5_ALLOWED_TERMINALS", "").split(",") if t.strip()
        ],
        "MT5_SIM_DB": str(
            resolve_path(env.get("MT5_SIM_DB") or str(_sqlite_path(env).parent / "mt5_sim.sqlite"))
        ),
        "MT5_SIM_LATENCY_MS": _int(env, "MT5_SIM_LATENCY_MS", 0),
        "MT5_SIM_SEED": _int(env, "MT5_SIM_SEED", 42),
        # A recorded tick file (CSV time_ms,symbol,bid,ask) the simulator replays, looping.
        "MT5_SIM_TICKS": _path_or_empty(env.get("MT5_SIM_TICKS") or ""),
        "MT5_SIM_COMMISSION_PER_LOT": _decimal(env, "MT5_SIM_COMMISSION_PER_LOT", "0"),
        # The simulated brokers in a child process of their own, as a real broker is not in
        # ours (POSIX; the in-process simulator otherwise, and in tests that reach into it).
        "MT5_SIM_PROCESS": _bool(env.get("MT5_SIM_PROCESS"), os.name == "posix"),
        "MT5_CALL_TIMEOUT_S": _int(env, "MT5_CALL_TIMEOUT_S", 75),
        "MT5_RPYC_KEYFILE": env.get("MT5_RPYC_KEYFILE", ""),
        "MT5_RPYC_CERTFILE": env.get("MT5_RPYC_CERTFILE", ""),
        "MT5_RPYC_CA_CERTS": env.get("MT5_RPYC_CA_CERTS", ""),
    }


def _execution_config(env: _Env) -> dict[str, Any]:
    """Where orders run (threads in this process, or Celery workers) and the price watcher."""
    return {
        "EXECUTOR": env.get("EXECUTOR", "threads"),
        "EXECUTOR_THREADS": _int(env, "EXECUTOR_THREADS", 256),
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        # A Celery worker's own Prometheus endpoint (0 = off).
        "WORKER_METRICS_PORT": _int(env, "WORKER_METRICS_PORT", 0),
        "WORKER_METRICS_HOST": env.get("WORKER_METRICS_HOST", "").strip() or "127.0.0.1",
        # The price watcher of breakeven, trailing and virtual take profits (services/automation).
        "AUTOMATION_ENABLED": _bool(env.get("AUTOMATION_ENABLED"), True),
        "AUTOMATION_TICK_MS": _int(env, "AUTOMATION_TICK_MS", 250),
        "AUTOMATION_MAX_AGE_DAYS": _int(env, "AUTOMATION_MAX_AGE_DAYS", 7),
    }


def _results_config(env: _Env) -> dict[str, Any]:
    """Results (services/results_service.py): re-read an open target after this long; read at
    most this many targets at their terminals per request, this many at a time."""
    return {
        "RESULTS_REFRESH_S": _int(env, "RESULTS_REFRESH_S", 30),
        "RESULTS_MAX_READS": _int(env, "RESULTS_MAX_READS", 200),
        "RESULTS_READ_THREADS": _int(env, "RESULTS_READ_THREADS", 16),
    }


def _notifications_config(env: _Env) -> dict[str, Any]:
    """Notifications (services/notifications, workers/notifier.py) and their channels' servers."""
    return {
        "NOTIFY_ENABLED": _bool(env.get("NOTIFY_ENABLED"), True),
        "NOTIFY_POLL_S": _int(env, "NOTIFY_POLL_S", 1),
        "NOTIFY_TIMEOUT_S": _int(env, "NOTIFY_TIMEOUT_S", 10),
        "NOTIFY_MAX_ATTEMPTS": _int(env, "NOTIFY_MAX_ATTEMPTS", 6),
        "NOTIFY_BACKOFF_S": _int(env, "NOTIFY_BACKOFF_S", 5),
        "ALERT_DISCONNECTED_S": _int(env, "ALERT_DISCONNECTED_S", 300),
        "TELEGRAM_API_BASE": env.get("TELEGRAM_API_BASE", "").strip() or "https://api.telegram.org",
        "SMTP_HOST": env.get("SMTP_HOST", "").strip(),
        "SMTP_PORT": _int(env, "SMTP_PORT", 587),
        "SMTP_USERNAME": env.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_FROM": env.get("SMTP_FROM", "").strip(),
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS"), True),
    }


# Each section reads its own variables; load_config merges them in this order.
CONFIG_SECTIONS = (
    _secrets_config,
    _auth_config,
    _server_config,
    _mt5_config,
    _execution_config,
    _results_config,
    _notifications_config,
    _followers_config,
    _signals_config,
    _session_keeper_config,
)
