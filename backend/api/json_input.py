"""Make APIFlask's request parser read JSON through our strict reader (exact Decimals).

webargs, under APIFlask, parses bodies with the standard ``json.loads``: floats (0.1 becomes a
binary approximation), NaN and Infinity accepted, duplicate keys silently merged. Routing it
through ``request.get_json()`` gives every schema the app's strict parse instead.
"""

from __future__ import annotations

from typing import Any

from flask import Request
from webargs import core


def _strict_json(request: Request, _schema: Any) -> Any:
    if not request.is_json or not request.get_data(cache=True):
        return core.missing
    return request.get_json()


def install_strict_json_parser() -> None:
    from apiflask.schema_adapters.marshmallow import parser

    parser.location_loader("json")(_strict_json)
