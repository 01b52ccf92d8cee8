"""The app's SecretBox (AES-256-GCM key ring), built once from the configuration."""

from __future__ import annotations

from flask import Flask, current_app

from utils.security import SecretBox


def init_secret_box(app: Flask) -> None:
    app.extensions["secret_box"] = SecretBox(
        app.config["ENCRYPTION_KEY"], app.config["ENCRYPTION_KEYS_PREVIOUS"]
    )


def secret_box() -> SecretBox:
    box: SecretBox = current_app.extensions["secret_box"]
    return box
