"""The pages this server serves to browsers: the dashboard at / and the API docs at /docs.

The dashboard is web/ built by Vite (`make web`) into WEB_DIST_DIR: ``index.html`` is never
cached (it names the current assets), the assets under ``/app/assets/`` carry a content hash in
their names and are cached for a year. ``/docs`` is Swagger UI from the flask-swagger-ui
package's copy of its files, started by ``web_assets/docs.js``. Everything comes from this
server (no CDN), and neither page needs ``'unsafe-inline'`` in its CSP. The dashboard routes by
the URL fragment (``/#/accounts``), so every other path keeps its JSON 404.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, send_from_directory

from errors import NotFound

bp = Blueprint(
    "web",
    __name__,
    static_folder="web_assets",
    static_url_path="/docs/static",
    template_folder="web_assets",
)

# Every resource from this server; fetch() and the SSE stream only to this server's API.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI draws its icons as data: SVGs; "try it out" calls the API on this server.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HASHED_ASSET_CACHE = "public, max-age=31536000, immutable"
SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui") / "dist"))


@bp.get("/")
def dashboard() -> Response:
    """The dashboard's page."""
    dist = Path(current_app.config["WEB_DIST_DIR"])
    if not (dist / "index.html").is_file():
        raise NotFound(
            "The dashboard is not built: run `make web` (make run and make test do it).",
            code="dashboard_not_built",
        )
    response = send_from_directory(dist, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = APP_CSP
    return response


@bp.get("/app/assets/<path:filename>")
def dashboard_asset(filename: str) -> Response:
    """A built asset; its name holds its content hash, so it may be cached for good."""
    assets = Path(current_app.config["WEB_DIST_DIR"]) / "assets"
    response = send_from_directory(assets, filename)
    response.headers["Cache-Control"] = HASHED_ASSET_CACHE
    return response


@bp.get("/docs")
def docs() -> Response:
    """Swagger UI over /openapi.json."""
    title = getattr(current_app, "title", "API")
    page = render_template("docs.html", title=title, version=current_app.config["VERSION"])
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/swagger-ui/<path:filename>")
def swagger_ui_asset(filename: str) -> Response:
    """Swagger UI's own files (versioned with the package: revalidated, not cached for good)."""
    response = send_from_directory(SWAGGER_UI_DIST, filename)
    response.headers["Cache-Control"] = "no-cache"
    return response
