"""The application factory, init_database(), and `python app.py` to serve."""

from __future__ import annotations

import time
from typing import Any

from apiflask import APIFlask
from flask import Flask

import extensions
from config import ConfigError, load_config
from utils.database import engine_options, ensure_sqlite_dir, upgrade_to_head
from utils.strict_json import install_strict_json

VERSION = "0.1.0"


def create_app(config: dict[str, Any] | None = None, *, mt5_gateway: Any = None) -> APIFlask:
    """Build the app: configuration, extensions, errors, logging, blueprints, CLI."""
    app = APIFlask(
        __name__,
        title="MT5 Trading Server",
        version=VERSION,
        spec_path="/openapi.json",
        docs_path=None,  # /docs is api/web.py's: Swagger UI from this server, a CSP without inline
    )
    install_strict_json(app)
    app.config.update(load_config(config))
    app.config["STARTED_AT"] = time.monotonic()
    app.config["VERSION"] = VERSION
    register_proxy(app)
    register_openapi(app)
    register_extensions(app)
    register_logging(app)
    register_errors(app)
    register_request_hooks(app)
    register_gateway(app, mt5_gateway)
    register_converters(app)
    register_blueprints(app)
    register_commands(app)
    register_executor(app)
    return app


def register_proxy(app: Flask) -> None:
    """Behind TRUSTED_PROXY_HOPS reverse proxies, the client is who they say it is.

    werkzeug's ProxyFix takes the client address and scheme from X-Forwarded-For/-Proto, the
    value the proxy nearest to us appended (the last of ``hops``): what a client sends itself in
    those headers is ignored. With 0 (no proxy) the headers are ignored altogether. Per-IP rate
    limits, the audit log's IP and HSTS (``request.is_secure``) all read the result.
    """
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops < 0:
        raise ConfigError("TRUSTED_PROXY_HOPS must be 0 (no proxy) or the number of proxies")
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_openapi(app: APIFlask) -> None:
    from schemas.common import ERROR_ENVELOPE_SCHEMA, SECURITY_SCHEMES

    app.config["HTTP_ERROR_SCHEMA"] = ERROR_ENVELOPE_SCHEMA
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_ENVELOPE_SCHEMA
    app.config["AUTO_404_RESPONSE"] = True
    app.config["INFO"] = {
        "description": "Multi-account MetaTrader 5 trading server. Every error is "
        '`{"error": {"code", "message", "details"}}`; money, prices and volumes are decimal '
        "strings (JSON numbers are accepted on input).",
    }
    app.security_schemes = SECURITY_SCHEMES


def register_extensions(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    ensure_sqlite_dir(uri)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(uri))
    extensions.db.init_app(app)
    from utils.database import MIGRATIONS_DIR

    extensions.migrate.init_app(app, extensions.db, directory=str(MIGRATIONS_DIR))
    extensions.jwt.init_app(app)
    # A shared store (RATELIMIT_STORAGE_URI=redis://...) that goes away must not turn every
    # limited route into a 500: the limits then hold per process until it is back.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    extensions.limiter.init_app(app)
    origins = app.config["CORS_ORIGINS"]
    extensions.cors.init_app(
        app,
        resources={r"/api/*": {"origins": origins}} if origins else {},
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    import models  # noqa: F401  (registers the tables)
    from services.auth import init_auth_settings
    from services.crypto import init_secret_box
    from utils.security import prepare_dummy_hash

    init_secret_box(app)
    init_auth_settings(app)
    # Built now, not on the first unknown-user login, which would otherwise take twice as long.
    prepare_dummy_hash(app.config["BCRYPT_ROUNDS"])


def register_logging(app: Flask) -> None:
    from utils.log_setup import configure_logging

    configure_logging(app)


def register_errors(app: APIFlask) -> None:
    from api.errors import register_error_handlers

    register_error_handlers(app)


def register_request_hooks(app: Flask) -> None:
    from api.hooks import register_hooks

    register_hooks(app)


def register_gateway(app: Flask, gateway: Any) -> None:
    from services.mt5_service import init_gateway

    init_gateway(app, gateway)


def register_converters(app: Flask) -> None:
    from api.converters import register_converters as register

    register(app)


def register_blueprints(app: APIFlask) -> None:
    from api import register_api

    register_api(app)


def register_commands(app: Flask) -> None:
    from commands import register_cli

    register_cli(app)


def register_executor(app: Flask) -> None:
    from workers import init_executor

    init_executor(app)


def init_database(config: dict[str, Any] | None = None) -> None:
    """Create or upgrade the database to the newest schema; safe to run any number of times."""
    upgrade_to_head(create_app(config, mt5_gateway=None))


def waitress_options(app: Flask) -> dict[str, Any]:
    """waitress settings; it drops X-Forwarded-* itself unless told to leave them to ProxyFix."""
    options: dict[str, Any] = {
        "host": app.config["HOST"],
        "port": app.config["PORT"],
        "threads": app.config["SERVER_THREADS"],
    }
    if app.config["TRUSTED_PROXY_HOPS"]:
        options["clear_untrusted_proxy_headers"] = False
    return options


def serve(app: Flask) -> None:
    """Serve with waitress in production (a real WSGI server), Flask's server otherwise."""
    host, port = app.config["HOST"], app.config["PORT"]
    if app.config["PRODUCTION"]:
        from waitress import serve as waitress_serve

        app.logger.info("serving with waitress on %s:%s", host, port)
        waitress_serve(app, **waitress_options(app))
    else:
        app.logger.info("serving (development) on http://%s:%s", host, port)
        app.run(host=host, port=port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    try:
        application = create_app()
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    upgrade_to_head(application)
    serve(application)
