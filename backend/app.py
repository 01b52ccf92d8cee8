"""The application factory, init_database(), and `python app.py` to serve."""

from __future__ import annotations

import time
from typing import Any

from apiflask import APIFlask
from flask import Flask
from waitress import serve as waitress_serve

import api
import commands
import extensions
import models  # noqa: F401  (registers the tables)
import workers
from config import ConfigError, load_config
from services import auth, automation, crypto, mt5_service, protection_service, session_keeper
from utils.database import init_engine_options, upgrade_to_head
from utils.log_setup import configure_logging
from utils.runtime import settle_heap
from utils.security import prepare_dummy_hash
from utils.strict_json import install_strict_json

VERSION = "0.1.0"


def create_app(config: dict[str, Any] | None = None, *, mt5_gateway: Any = None) -> APIFlask:
    """Build the app: configuration, then each package's ``init_app``, lowest layer first."""
    app = APIFlask(
        __name__,
        title="MT5 Trading Server",
        version=VERSION,
        spec_path="/openapi.json",
        docs_path=None,  # /docs is api/web.py's: Swagger UI from this server, a CSP without inline
    )
    app.config.update(load_config(config))
    app.config["STARTED_AT"] = time.monotonic()
    app.config["VERSION"] = VERSION
    install_strict_json(app)
    init_engine_options(app)
    extensions.init_app(app)
    configure_logging(app)
    crypto.init_app(app)
    auth.init_app(app)
    # Built now, not on the first unknown-user login, which would otherwise take twice as long.
    prepare_dummy_hash(app.config["BCRYPT_ROUNDS"])
    mt5_service.init_app(app, mt5_gateway)
    api.init_app(app)
    commands.init_app(app)
    workers.init_app(app)
    automation.init_app(app)
    protection_service.init_app(app)
    session_keeper.init_app(app)
    return app


def init_database(config: dict[str, Any] | None = None) -> None:
    """Create or upgrade the database to the newest schema; safe to run any number of times."""
    upgrade_to_head(create_app(config, mt5_gateway=None))


def waitress_options(app: Flask) -> dict[str, Any]:
    """waitress settings; it drops X-Forwarded-* itself unless told to leave them to ProxyFix.

    ``poll()``, not waitress's default ``select()``: select cannot watch a descriptor numbered
    1024 or more, and the simulator links (one per executor thread), the database pool and the
    terminal connections get there (EXECUTOR_THREADS=1024 reset every client's connection).
    """
    options: dict[str, Any] = {
        "host": app.config["HOST"],
        "port": app.config["PORT"],
        "threads": app.config["SERVER_THREADS"],
        "asyncore_use_poll": True,
    }
    if app.config["TRUSTED_PROXY_HOPS"]:
        options["clear_untrusted_proxy_headers"] = False
    return options


def serve(app: Flask) -> None:
    """Serve through waitress in every mode, so ``make run`` is the server production runs.

    Flask's own server warns against itself, and nothing it adds was in use here (reloader and
    debugger off); development differs only in its settings (text logs, placeholder secrets).
    """
    host, port = app.config["HOST"], app.config["PORT"]
    if app.config["PRODUCTION"]:
        app.logger.info("serving with waitress on http://%s:%s (production)", host, port)
    else:
        app.logger.info(
            "serving with waitress on http://%s:%s in development mode; for production set "
            "FLASK_ENV=production (strict secrets, JSON logs; docs/operations.md)",
            host,
            port,
        )
    session_keeper.start_in_server(app)
    settle_heap()  # after the warm start: the sessions it opened are start-up's too
    waitress_serve(app, **waitress_options(app))


if __name__ == "__main__":
    try:
        application = create_app()
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    upgrade_to_head(application)
    serve(application)
