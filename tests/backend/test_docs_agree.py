"""The README and config/backend.env.example say what the product does (defaults, checks)."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
from types import ModuleType

import pytest

import config
from config import ConfigError, check_production_secrets
from mt5sim.flavours import describe_flavours

README = config.ROOT_DIR / "README.md"
EXAMPLE = config.ROOT_DIR / "config" / "backend.env.example"
STRONG = {
    "SECRET_KEY": "s" * 48,
    "JWT_SECRET_KEY": "j" * 48,
    "ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "API_KEY_PEPPER": "p" * 48,
}


def ensure_env() -> ModuleType:
    """scripts/ensure_env.py, what `make run` runs to write backend/.env."""
    path = config.ROOT_DIR / "scripts" / "ensure_env.py"
    spec = importlib.util.spec_from_file_location("ensure_env", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_row(variable: str) -> str:
    rows = [line for line in README.read_text().splitlines() if line.startswith(f"| `{variable}`")]
    assert len(rows) == 1, rows
    return rows[0]


def written_by_make_run(variable: str) -> str:
    rendered = ensure_env().render(EXAMPLE.read_text(encoding="utf-8"))
    values = [
        line.split("=", 1)[1] for line in rendered.splitlines() if line.startswith(f"{variable}=")
    ]
    assert len(values) == 1, values
    return values[0]


def load_default(variable: str) -> object:
    """What config makes of the variable when nothing sets it."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return config.load_config({"ENCRYPTION_KEY": key})[variable]


@pytest.fixture
def no_env_file(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "ENV_FILE", tmp_path / "absent.env")
    monkeypatch.delenv("CORS_ORIGINS", raising=False)


def as_written(value: object) -> str:
    """How the README writes a setting's value: "empty", or the value in backticks."""
    text = ",".join(value) if isinstance(value, list) else str(value)
    return f"`{text}`" if text else "empty"


def test_readme_cors_origins_states_the_default_and_what_make_run_writes(no_env_file):
    default = load_default("CORS_ORIGINS")
    written = written_by_make_run("CORS_ORIGINS")
    default_cell = readme_row("CORS_ORIGINS").split("|")[2]

    assert as_written(default) in default_cell
    assert "make run" in default_cell and as_written(written) in default_cell


def checked_secrets() -> set[str]:
    """The variables production refuses at the example's own (placeholder) value."""
    names = set()
    for name, value in re.findall(r"^([A-Z_]+)=(.*)$", EXAMPLE.read_text(), flags=re.MULTILINE):
        try:
            check_production_secrets({**STRONG, name: value})
        except ConfigError as exc:
            if name in str(exc):
                names.add(name)
    return names


def test_env_example_comment_names_every_secret_production_checks():
    comment = " ".join(
        line for line in EXAMPLE.read_text().splitlines()[:6] if line.startswith("#")
    )

    secrets = checked_secrets()

    assert secrets == {"SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY", "API_KEY_PEPPER"}
    assert {name for name in secrets if name not in comment} == set()


@pytest.mark.parametrize("route", ["POST /api/send_orders", "POST /api/broadcast_orders"])
def test_readme_says_idempotency_key_is_optional(route):
    text = README.read_text()
    path = route.split()[1]
    rows = [line for line in text.splitlines() if f"`{route}`" in line or f"`POST {path}`" in line]

    assert any("`Idempotency-Key` optional" in row for row in rows), rows
    assert "Without it every request is a new dispatch" in text


# --- simulated servers: docs/operations.md and `flask mt5 sim-account --help` -------------------

OPERATIONS = config.ROOT_DIR / "docs" / "operations.md"


def folded(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("rule", describe_flavours())
def test_operations_md_lists_each_simulated_server_rule(rule):
    assert folded(rule) in folded(OPERATIONS.read_text())


def test_sim_account_help_lists_each_simulated_server_rule(app):
    result = app.test_cli_runner().invoke(args=["mt5", "sim-account", "--help"])

    assert result.exit_code == 0, result.output
    assert [rule for rule in describe_flavours() if rule not in result.output] == []
    assert "--reset" in result.output
