"""The deliverer's settings, read once from the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    starttls: bool = True

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)


@dataclass(frozen=True)
class NotifySettings:
    telegram_api_base: str = "https://api.telegram.org"
    smtp: SmtpSettings = SmtpSettings()
    timeout_s: float = 10.0  # one send, at most
    max_attempts: int = 6  # then the delivery fails with its last error
    backoff_s: float = 5.0  # after the first failure; doubles each time
    backoff_max_s: float = 600.0
    poll_s: float = 1.0  # how often the deliverer looks for due deliveries
    lease_s: float = 60.0  # a delivery whose sender died is retried after this
    threads: int = 8  # sends at a time: a channel that hangs holds only its own thread
    batch: int = 100  # deliveries claimed per pass
    alert_disconnected_s: int = 300

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NotifySettings:
        smtp = SmtpSettings(
            host=config["SMTP_HOST"], port=int(config["SMTP_PORT"]),
            username=config["SMTP_USERNAME"], password=config["SMTP_PASSWORD"],
            sender=config["SMTP_FROM"], starttls=bool(config["SMTP_STARTTLS"]),
        )  # fmt: skip
        return cls(
            telegram_api_base=config["TELEGRAM_API_BASE"].rstrip("/"), smtp=smtp,
            timeout_s=float(config["NOTIFY_TIMEOUT_S"]),
            max_attempts=int(config["NOTIFY_MAX_ATTEMPTS"]),
            backoff_s=float(config["NOTIFY_BACKOFF_S"]), poll_s=float(config["NOTIFY_POLL_S"]),
            alert_disconnected_s=int(config["ALERT_DISCONNECTED_S"]),
        )  # fmt: skip

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones: 5, 10, 20, ... capped."""
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (attempts - 1)))
