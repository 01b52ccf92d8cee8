"""The app's SecretBox (AES-256-GCM key ring), built once from the configuration."""

from __future__ import annotations

from flask import Flask

from extensions import SECRET_BOX
from utils.security import SecretBox


def init_app(app: Flask) -> None:
    app.extensions[SECRET_BOX] = SecretBox(
        app.config["ENCRYPTION_KEY"], app.config["ENCRYPTION_KEYS_PREVIOUS"]
    )
