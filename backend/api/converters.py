"""URL converters: `<int:...>` ids bounded to what the database's id columns hold."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

# Ids are 32-bit INTEGER columns on PostgreSQL; SQLite overflows past 64 bits. A larger id in a
# path must be a 404 like any other missing object, not a driver error (a 500).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # werkzeug names it `map`
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register_converters(app: Flask) -> None:
    """Before any blueprint: a rule compiles its converters when it is added."""
    app.url_map.converters["int"] = IdConverter
