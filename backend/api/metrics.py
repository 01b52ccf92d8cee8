"""GET /metrics for Prometheus, and the per-request instruments that feed it.

Access: open by default, as Prometheus scrapes usually are (the figures are counts, latencies
and the default terminal's address, no user data); set METRICS_TOKEN to require
``Authorization: Bearer <token>``. Not part of the OpenAPI document (it is not JSON).
"""

from __future__ import annotations

import hmac
import time

from apiflask import APIBlueprint
from flask import Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST

from errors import Unauthorized
from services import metrics

bp = APIBlueprint("metrics", __name__, enable_openapi=False)


@bp.record_once
def _init(state: BlueprintSetupState) -> None:
    # state.app is typed as Sansio App; it is the Flask app being set up.
    metrics.init_metrics(state.app)  # type: ignore[arg-type]


@bp.before_app_request
def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


@bp.after_app_request
def _observe(response: Response) -> Response:
    instruments = metrics.get_metrics(current_app)
    if instruments is not None:
        started = g.get("metrics_started", time.perf_counter())
        metrics.observe_request(
            instruments,
            method=request.method,
            # the rule, not the path: /api/accounts/<int:account_id>, one series for all ids
            route=request.url_rule.rule if request.url_rule else "unmatched",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
    return response


def _require_token() -> None:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        return
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized(
            "A valid metrics token is required.", headers={"WWW-Authenticate": "Bearer"}
        )


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus metrics (text exposition format)"""
    _require_token()
    return Response(metrics.render(current_app), mimetype=CONTENT_TYPE_LATEST)
