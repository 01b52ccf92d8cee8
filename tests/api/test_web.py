"""The pages: the dashboard at / with its hashed assets, and /docs with Swagger UI from here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from factories import assert_error

from api.web import APP_CSP, DOCS_CSP

INDEX = (
    '<!doctype html><html><head><script type="module" src="/app/assets/index-Ab12Cd.js">'
    "</script></head><body><div id=app></div></body></html>"
)


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A built dashboard as Vite lays it out: index.html and hashed assets."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-Ab12Cd.js").write_text("console.log('dashboard')")
    return root


@pytest.fixture
def web_client(make_app: Any, dist: Path) -> Any:
    return make_app(WEB_DIST_DIR=str(dist)).test_client()


def test_dashboard_page_is_served_uncached_with_the_app_csp(web_client):
    response = web_client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.get_data(as_text=True) == INDEX
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == APP_CSP


def test_app_csp_allows_nothing_inline_and_nothing_from_elsewhere():
    directives = dict(d.strip().split(" ", 1) for d in APP_CSP.split(";"))

    assert "unsafe-inline" not in APP_CSP and "unsafe-eval" not in APP_CSP
    assert "http" not in APP_CSP and "*" not in APP_CSP
    assert directives["script-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


def test_dashboard_hashed_asset_is_cached_for_a_year(web_client):
    response = web_client.get("/app/assets/index-Ab12Cd.js")

    assert response.status_code == 200
    assert response.get_data(as_text=True) == "console.log('dashboard')"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    "path", ["/app/assets/missing.js", "/app/assets/../index.html", "/app/assets/%2e%2e/index.html"]
)
def test_dashboard_missing_or_escaping_asset_is_json_not_found(web_client, path):
    assert_error(web_client.get(path), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/no-such-route", "/api/accounts/1/nope", "/nowhere"])
def test_unknown_paths_stay_json_not_found_beside_the_dashboard(web_client, path):
    assert_error(web_client.get(path), 404, "not_found")


def test_dashboard_not_built_is_json_not_found_saying_how_to_build(make_app, tmp_path):
    client = make_app(WEB_DIST_DIR=str(tmp_path / "nothing-here")).test_client()

    error = assert_error(client.get("/"), 404, "dashboard_not_built")

    assert "make web" in error["message"]


def test_docs_page_loads_swagger_ui_from_this_server_without_inline_code(client):
    response = client.get("/docs")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"] == DOCS_CSP
    assert "unsafe-inline" not in DOCS_CSP
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    assert re.search(r"<script>|<script [^>]*>[^<]+</script>|<style|style=", page) is None
    assert 'data-spec-url="/openapi.json"' in page


@pytest.mark.parametrize(
    "path",
    [
        "/docs/swagger-ui/swagger-ui-bundle.js",
        "/docs/swagger-ui/swagger-ui.css",
        "/docs/static/docs.js",
        "/docs/static/docs.css",
    ],
)
def test_docs_assets_are_served_from_this_server(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert len(response.data) > 100
    assert response.headers["Cache-Control"] == "no-cache"


def test_docs_script_turns_off_the_online_validator(client):
    assert "validatorUrl: null" in client.get("/docs/static/docs.js").get_data(as_text=True)


def test_pages_stay_outside_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    assert not {"/", "/docs", "/app/assets/{filename}"} & set(paths)
