"""Position-size calculator and the built-in symbol catalog it works from."""

from __future__ import annotations

from apiflask import APIBlueprint

bp = APIBlueprint("calculator", __name__, url_prefix="/api", tag="Calculator")
