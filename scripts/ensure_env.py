"""Write backend/.env with freshly generated secrets if it does not exist (stdlib only)."""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / "backend" / ".env"
EXAMPLE = ROOT / "config" / "backend.env.example"
GENERATED = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "JWT_SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "ENCRYPTION_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"),
    "API_KEY_PEPPER": lambda: secrets.token_urlsafe(48),
}


def render(example: str) -> str:
    lines = []
    for line in example.splitlines():
        name = line.split("=", 1)[0].strip()
        if name in GENERATED and not line.lstrip().startswith("#"):
            line = f"{name}={GENERATED[name]()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> int:
    if ENV_FILE.exists():
        print(f"{ENV_FILE.relative_to(ROOT)} exists; leaving it as it is")
        return 0
    ENV_FILE.write_text(render(EXAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    ENV_FILE.chmod(0o600)
    print(f"wrote {ENV_FILE.relative_to(ROOT)} with freshly generated secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
