"""GET /api/status, the OpenAPI document and the interactive docs."""

from __future__ import annotations

import json

from factories import make_config

PUBLIC_ROUTES = {
    ("get", "/api/status"),
    ("post", "/api/register"),
    ("post", "/api/login"),
}


def test_status_healthy_database_is_ok(client):
    response = client.get("/api/status")

    assert response.status_code == 200
    body = json.loads(response.data)
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert isinstance(body["uptime_s"], int | float) and body["uptime_s"] >= 0
    assert {"gateway", "executor"} <= set(body)
    assert body["database"] == {"ok": True, "backend": "sqlite"}


def test_status_database_unreachable_is_service_unavailable(client, monkeypatch):
    import services.status_service

    monkeypatch.setattr(services.status_service, "database_reachable", lambda: False)

    response = client.get("/api/status")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["database"]["ok"] is False


def test_status_database_file_unopenable_is_service_unavailable(tmp_path):
    from app import create_app

    directory = tmp_path / "a-directory-not-a-database"
    directory.mkdir()
    application = create_app(
        make_config(
            tmp_path, EXECUTOR_AUTOSTART=False, SQLALCHEMY_DATABASE_URI=f"sqlite:///{directory}"
        )
    )

    with application.app_context():
        response = application.test_client().get("/api/status")
        from extensions import db

        db.session.remove()

    assert response.status_code == 503
    assert json.loads(response.data)["database"]["ok"] is False


def test_status_needs_no_authentication(client):
    assert client.get("/api/status", headers={"Authorization": "Bearer junk"}).status_code == 200


def _spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def test_openapi_lists_every_api_route(client, app):
    paths = _spec(client)["paths"]
    documented = {(m, p) for p, ops in paths.items() for m in ops if m != "parameters"}

    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method.lower(), path) in documented, (method, path)


def test_openapi_protected_routes_declare_security(client):
    paths = _spec(client)["paths"]

    for path, ops in paths.items():
        for method, op in ops.items():
            if (method, path) in PUBLIC_ROUTES or not path.startswith("/api/"):
                continue
            assert op.get("security"), (method, path)
            assert "401" in op["responses"], (method, path)


def test_openapi_public_routes_declare_no_security(client):
    paths = _spec(client)["paths"]

    for method, path in PUBLIC_ROUTES:
        assert not paths[path][method].get("security"), (method, path)


def test_openapi_declares_both_security_schemes(client):
    schemes = _spec(client)["components"]["securitySchemes"]

    assert schemes["BearerAuth"]["scheme"] == "bearer"
    assert schemes["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def test_openapi_never_documents_password_in_responses(client):
    schemas = _spec(client)["components"]["schemas"]

    for name in ("AccountOut", "UserOut"):
        assert not {"password", "password_encrypted", "password_hash", "api_key"} & set(
            schemas[name]["properties"]
        ), name


def test_docs_page_is_html(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_openapi_registers_each_schema_once_and_every_reference_resolves(app):
    import json
    import re
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app._spec = None  # built afresh here, where its warnings are seen
        spec = app._get_spec("json", force_update=True)

    assert [str(w.message) for w in caught if "already been added" in str(w.message)] == []
    names = set(spec["components"]["schemas"])
    refs = set(re.findall(r"#/components/schemas/([\w.-]+)", json.dumps(spec)))
    assert refs - names == set()
    # A class registered twice comes back as Name1, Name2 ...: none is.
    assert (
        sorted(n for n in names if re.search(r"\d$", n) and n.rstrip("0123456789") in names) == []
    )
