"""HTTP API: one blueprint per area, all under /api."""

from __future__ import annotations

from apiflask import APIFlask


def register_api(app: APIFlask) -> None:
    from api import (
        access,
        accounts,
        audit,
        auth,
        broadcast,
        calculator,
        metrics,
        orders,
        status,
        terminal,
        trades,
        users,
        web,
    )

    access.register_revocation_check()
    for module in (
        status,
        auth,
        users,
        accounts,
        audit,
        orders,
        broadcast,
        trades,
        terminal,
        calculator,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(metrics.bp)  # /metrics, outside /api and the OpenAPI document
    app.register_blueprint(web.bp)  # /, /app/assets/*, /docs: pages, outside the OpenAPI document
