"""What to do with a trade server's return code: record, retry with a fresh price, wait, or fail."""

from __future__ import annotations

from enum import Enum

from services.mt5 import constants as c


class RetcodeClass(Enum):
    SUCCESS = "success"
    PRICE_MOVED = "price_moved"  # retry at once with a fresh price, a few times within ~2 s
    TRANSIENT = "transient"  # wait, then retry (after reconciling, for a lost connection)
    UNKNOWN_OUTCOME = "unknown_outcome"  # never resend blind: look for the tagged order first
    FINAL = "final"  # fail with the reason recorded


RETCODE_NAMES = {
    value: name.removeprefix("TRADE_RETCODE_")
    for name, value in vars(c).items()
    if name.startswith("TRADE_RETCODE_")
}

FILLED_CODES = frozenset({c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_DONE_PARTIAL})  # a deal happened
SUCCESS_CODES = FILLED_CODES | {c.TRADE_RETCODE_PLACED}  # a pending order is on the book
PRICE_MOVED_CODES = frozenset(
    {c.TRADE_RETCODE_REQUOTE, c.TRADE_RETCODE_PRICE_CHANGED, c.TRADE_RETCODE_PRICE_OFF}
)
TRANSIENT_CODES = frozenset({c.TRADE_RETCODE_TOO_MANY_REQUESTS, c.TRADE_RETCODE_CONNECTION})
UNKNOWN_OUTCOME_CODES = frozenset({c.TRADE_RETCODE_TIMEOUT})


def classify(retcode: int) -> RetcodeClass:
    """Anything not known to be safe to retry is final: a wrong retry can double an order."""
    if retcode in SUCCESS_CODES:
        return RetcodeClass.SUCCESS
    if retcode in PRICE_MOVED_CODES:
        return RetcodeClass.PRICE_MOVED
    if retcode in TRANSIENT_CODES:
        return RetcodeClass.TRANSIENT
    if retcode in UNKNOWN_OUTCOME_CODES:
        return RetcodeClass.UNKNOWN_OUTCOME
    return RetcodeClass.FINAL


def retcode_name(retcode: int | None) -> str:
    if retcode is None:
        return "NONE"
    return RETCODE_NAMES.get(retcode, str(retcode))
