"""HTTP API: one blueprint per area, all under /api; ``init_app`` wires the whole HTTP side.

Order matters: the id converter before any blueprint (a rule compiles its converters when it is
added), the OpenAPI settings before the spec is built, and the error handlers before requests.
"""

from __future__ import annotations

from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix

from api import (
    access,
    accounts,
    audit,
    auth,
    broadcast,
    calculator,
    converters,
    errors,
    followers,
    hooks,
    metrics,
    notifications,
    orders,
    results,
    status,
    terminal,
    trades,
    users,
    web,
)
from config import ConfigError
from schemas.common import ERROR_ENVELOPE_SCHEMA, SECURITY_SCHEMES

BLUEPRINTS = (
    status, auth, users, accounts, audit, orders, broadcast, trades, results, notifications,
    terminal, calculator, followers,
)  # fmt: skip


def init_app(app: APIFlask) -> None:
    init_proxy(app)
    init_openapi(app)
    errors.register_error_handlers(app)
    hooks.register_hooks(app)
    converters.register_converters(app)
    access.register_revocation_check()
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
    app.register_blueprint(metrics.bp)  # /metrics, outside /api and the OpenAPI document
    app.register_blueprint(web.bp)  # /, /app/assets/*, /docs: pages, outside the OpenAPI document


def init_proxy(app: APIFlask) -> None:
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
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def init_openapi(app: APIFlask) -> None:
    app.config["HTTP_ERROR_SCHEMA"] = ERROR_ENVELOPE_SCHEMA
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_ENVELOPE_SCHEMA
    app.config["AUTO_404_RESPONSE"] = True
    app.config["INFO"] = {
        "description": "Multi-account MetaTrader 5 trading server. Every error is "
        '`{"error": {"code", "message", "details"}}`; money, prices and volumes are decimal '
        "strings (JSON numbers are accepted on input).",
    }
    app.security_schemes = SECURITY_SCHEMES
