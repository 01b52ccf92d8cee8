"""Breached-password check against Have I Been Pwned's "range" API (k-anonymity).

Only the first 5 hex characters of the password's SHA-1 leave the server; the service answers
every suffix it knows under that prefix (padded with fake zero-count rows, `Add-Padding`) and
the match is made here. Off unless PWNED_PASSWORDS_CHECK is set. A short timeout, and the check
fails open: when the service cannot be asked, the password is accepted and one warning is
logged, naming neither the password nor its hash.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # a real answer is about 40 KB (padded)
USER_AGENT = "mt5-trading-server-password-check"


@dataclass(frozen=True)
class PwnedPasswords:
    url: str  # ends with "/": the prefix is appended
    timeout_s: float

    def breach_count(self, password: str) -> int | None:
        """How often the password appears in known breaches (0: never); None: not checked."""
        # SHA-1 is the service's protocol, not a password hash of ours.
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        request = urllib.request.Request(  # noqa: S310 (the URL scheme is checked in config.py)
            self.url + prefix, headers={"Add-Padding": "true", "User-Agent": USER_AGENT}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                body = response.read(MAX_RESPONSE_BYTES).decode("ascii", "replace")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            _unavailable(exc)
            return None
        for line in body.splitlines():
            found, _, count = line.strip().partition(":")
            if found.upper() == suffix:
                try:
                    return max(0, int(count))  # padding rows say 0
                except ValueError:
                    return 0
        return 0


def _unavailable(exc: BaseException) -> None:
    reason: Any = getattr(exc, "reason", None) or getattr(exc, "code", None) or ""
    logger.warning(
        "breached-password check unavailable (%s%s); the password was accepted without it",
        type(exc).__name__,
        f": {str(reason)[:100]}" if reason else "",
    )


def from_config(config: Any) -> PwnedPasswords | None:
    """The configured check, or None when PWNED_PASSWORDS_CHECK is off."""
    if not config.get("PWNED_PASSWORDS_CHECK"):
        return None
    timeout_ms = max(1, int(config.get("PWNED_PASSWORDS_TIMEOUT_MS", 1500)))
    return PwnedPasswords(url=str(config["PWNED_PASSWORDS_URL"]), timeout_s=timeout_ms / 1000)
