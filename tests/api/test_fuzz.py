"""Schemathesis over the app's own OpenAPI document, in process (WSGI), as every role.

Every documented operation gets FUZZ_EXAMPLES positive and as many negative (schema-violating)
cases per role: each response must be a non-5xx that conforms to its documented schema and content
type. Every method a path does not serve answers 405 with the JSON envelope and an Allow header.
`make test` runs a few examples, derandomised so it cannot flake; `make fuzz` sets
FUZZ_EXAMPLES=500 and lets Hypothesis explore.

schemathesis' own pytest plugin (`schema.parametrize()`) is not used: under pytest 9 it fails on
`Function._nodeid`, so each operation's strategy is driven with Hypothesis' `@given` directly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from factories import assert_error, make_account, make_config, make_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
ROLES = ("user", "admin", "super_admin")
# Server-Sent Events stream until a broadcast is final: not a request/response operation.
SKIPPED_PATHS = ["/api/broadcasts/{broadcast_id}/events"]
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


class FuzzWorld:
    """One app and database for the module: a user per role, the user's accounts, a dispatch and
    a broadcast, so generated ids sometimes name real objects."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()
        users = {role: make_user(app, role=role) for role in ROLES}
        self.user_ids = {role: user.id for role, user in users.items()}
        self.account_ids = [
            make_account(self.client, self.headers_for("user"), subscribed=True)["id"]
            for _ in range(3)
        ]
        self.dispatch_id = self._post(
            "user",
            "/api/send_orders",
            {"account_ids": self.account_ids[:1], "symbol": "XAUUSD", "side": "buy"}
            | {"volume": "0.10", "wait_s": 0},
        )["dispatch_id"]
        self.broadcast_id = self._post(
            "super_admin",
            "/api/broadcast_orders",
            {
                "targets": {"all": True},
                "order": {"symbol": "XAUUSD", "side": "buy", "volume": "0.10"},
            },
        )["broadcast_id"]

    def _post(self, role: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body, headers=self.headers_for(role))
        assert response.status_code in (200, 201, 202), response.get_json()
        return dict(response.get_json())

    def real_path_parameters(self, role: str) -> dict[str, Any]:
        return {
            "account_id": self.account_ids[0],
            "user_id": self.user_ids[role],
            "dispatch_id": self.dispatch_id,
            "broadcast_id": self.broadcast_id,
            "ticket": 1,  # the fuzzer names real tickets by chance; this one answers 404
            "symbol": "XAUUSD",
            "name": "XAUUSD",
        }

    def headers_for(self, role: str, *, refresh: bool = False) -> dict[str, str]:
        """A fresh token per call: a fuzzed logout or password change must not end the run."""
        from extensions import auth_settings, db
        from models import User
        from services.auth import issue_tokens

        self.restore_users()
        user = db.session.get(User, self.user_ids[role])
        pair = issue_tokens(user, lifetimes=auth_settings().token_lifetimes)
        token = pair.refresh_token if refresh else pair.access_token
        return {"Authorization": f"Bearer {token}"}

    def restore_users(self) -> None:
        """Undo what a fuzzed PATCH /api/users/{id} may have done to the role users."""
        from extensions import db
        from models import User

        db.session.rollback()
        for role, user_id in self.user_ids.items():
            user = db.session.get(User, user_id)
            user.role, user.is_active = role, True
            user.locked_until, user.failed_login_count = None, 0
        db.session.commit()


@pytest.fixture(scope="module")
def fuzz_world(
    tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path
) -> Iterator[FuzzWorld]:
    from app import create_app

    from extensions import db

    tmp_path = tmp_path_factory.mktemp("fuzz")
    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    # The executor starts only when an order is submitted, and then runs it on the simulator.
    config = make_config(tmp_path, RATELIMIT_ENABLED=False, EXECUTOR_AUTOSTART=False)
    app = create_app(config)
    with app.app_context():
        yield FuzzWorld(app)
        app.extensions["executor_stop"]()  # before the engine goes away
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


@pytest.fixture(scope="module")
def fuzz_operations(fuzz_world: FuzzWorld) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_world.app)
    operations = [result.ok() for result in schema.exclude(path=SKIPPED_PATHS).get_all_operations()]
    only = os.environ.get("FUZZ_ONLY")  # e.g. "POST /api/me/password", to chase one failure
    if only:
        operations = [op for op in operations if only in op.label]
    # Deletes last, so the objects the other operations aim at still exist.
    return sorted(operations, key=lambda op: (op.method.upper() == "DELETE", op.label))


def case_strategy(operation: Any, world: FuzzWorld, role: str) -> Any:
    """Generated cases, half of them aimed at the objects the fixture created."""
    wanted = {p.name for p in operation.path_parameters}
    real = {k: v for k, v in world.real_path_parameters(role).items() if k in wanted}
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if real:
        strategies.append(operation.as_strategy(path_parameters=real))
    return st.one_of(strategies)


def call_and_validate(case: Any, world: FuzzWorld, role: str) -> None:
    if case.operation.path == "/api/send_orders" and isinstance(case.body, dict):
        # Up to 30 s per case waiting for results would blow the time budget; 0 answers 202.
        case.body["wait_s"] = 0
    refresh = case.operation.path == "/api/token/refresh"
    case.call_and_validate(headers=world.headers_for(role, refresh=refresh), checks=CHECKS)


def _describe(exc: BaseException) -> str:
    """The failure and, for Hypothesis' flaky/grouped errors, what each attempt raised."""
    text = str(exc)
    for sub in getattr(exc, "exceptions", ()):
        text += f"\n  - {type(sub).__name__}: {_describe(sub)}"
    return text


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_every_operation_as_role_has_no_5xx_and_conforms(
    role: str, fuzz_world: FuzzWorld, fuzz_operations: list[Any]
) -> None:
    failures = []
    for operation in fuzz_operations:

        @FUZZ_SETTINGS
        @given(case=case_strategy(operation, fuzz_world, role))
        def run(case: Any) -> None:
            call_and_validate(case, fuzz_world, role)

        try:
            run()
        except Exception as exc:  # report every failing operation, not the first
            failures.append(f"{operation.label} as {role}:\n{_describe(exc)}")
    assert not failures, "\n\n".join(failures)


def test_fuzz_covers_every_route_but_the_event_stream(
    fuzz_world: FuzzWorld, fuzz_operations: list[Any]
) -> None:
    documented = {(op.method.upper(), op.path) for op in fuzz_operations}
    routed = {
        (method, rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}"))
        for rule in fuzz_world.app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed - documented == {("GET", SKIPPED_PATHS[0])}


def test_fuzz_unsupported_methods_answer_405_envelope(fuzz_world: FuzzWorld) -> None:
    real = fuzz_world.real_path_parameters("super_admin")
    headers = fuzz_world.headers_for("super_admin")
    served: dict[str, set[str]] = {}
    for rule in fuzz_world.app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.build({k: real[k] for k in rule.arguments}, append_unknown=False)[1]
            served.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    checked = 0
    for path, methods in served.items():
        for method in sorted(set(HTTP_METHODS) - methods):
            response = fuzz_world.client.open(path, method=method, headers=headers)
            assert_error(response, 405, "method_not_allowed")
            assert set(response.headers["Allow"].split(", ")) >= methods, path
            checked += 1
    assert checked > 50
