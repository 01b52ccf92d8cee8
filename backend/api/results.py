"""Results: a dispatch's P&L per target account (a broadcast's, the creator's, a follower's)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from api.access import auth_required, current_user
from extensions import db, mt5_gateway, secret_box
from schemas.orders import DispatchQuery
from schemas.results import ResultsOut
from services import results_service
from services.results_service import Page, ResultsSettings

bp = APIBlueprint("results", __name__, url_prefix="/api", tag="Results")
RESULTS_DOC = {
    404: "No such dispatch (or not one the caller may see)",
    422: "An action's dispatch: ask for the dispatch it follows up (not_an_open)",
}


def _context(query: dict[str, Any]) -> dict[str, Any]:
    return {
        "session": db.session,
        "gateway": mt5_gateway(),
        "box": secret_box(),
        "settings": ResultsSettings.from_config(current_app.config),
        "page": Page(query["page"], query["per_page"]),
    }


def results_route(rule: str, role: str | None = None) -> Any:
    """What every results route shares: the role, ``?page=&per_page=``, the ResultsOut body."""

    def register(view: Any) -> Any:
        view = bp.doc(responses=RESULTS_DOC)(view)
        view = bp.output(ResultsOut)(view)
        view = bp.input(DispatchQuery, location="query", arg_name="query")(view)
        view = auth_required(role)(view)
        return bp.get(rule)(view)

    return register


@results_route("/broadcasts/<int:broadcast_id>/results", "super_admin")
def broadcast_results(broadcast_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """A broadcast's results on every follower's account, with totals"""
    return results_service.broadcast_results(
        admin=current_user(), broadcast_id=broadcast_id, **_context(query)
    )


@results_route("/dispatches/<int:dispatch_id>/results")
def dispatch_results(dispatch_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """Your dispatch's results on every account it reached, with totals"""
    return results_service.dispatch_results(
        user=current_user(), dispatch_id=dispatch_id, **_context(query)
    )


@results_route("/me/dispatches/<int:dispatch_id>/results")
def my_dispatch_results(dispatch_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """A dispatch's results on your own accounts (a broadcast you follow)"""
    return results_service.my_results(
        user=current_user(), dispatch_id=dispatch_id, **_context(query)
    )
