"""What to do with a trade server's return code: record, retry with a fresh price, wait, or fail."""

from __future__ import annotations

from enum import Enum


class RetcodeClass(Enum):
    SUCCESS = "success"
    PRICE_MOVED = "price_moved"  # retry at once with a fresh price, a few times within ~2 s
    TRANSIENT = "transient"  # wait, then retry (after reconciling, for a lost connection)
    UNKNOWN_OUTCOME = "unknown_outcome"  # never resend blind: look for the tagged order first
    FINAL = "final"  # fail with the reason recorded


RETCODE_NAMES = {
    10004: "REQUOTE",
    10006: "REJECT",
    10007: "CANCEL",
    10008: "PLACED",
    10009: "DONE",
    10010: "DONE_PARTIAL",
    10011: "ERROR",
    10012: "TIMEOUT",
    10013: "INVALID",
    10014: "INVALID_VOLUME",
    10015: "INVALID_PRICE",
    10016: "INVALID_STOPS",
    10017: "TRADE_DISABLED",
    10018: "MARKET_CLOSED",
    10019: "NO_MONEY",
    10020: "PRICE_CHANGED",
    10021: "PRICE_OFF",
    10022: "INVALID_EXPIRATION",
    10023: "ORDER_CHANGED",
    10024: "TOO_MANY_REQUESTS",
    10025: "NO_CHANGES",
    10026: "SERVER_DISABLES_AT",
    10027: "CLIENT_DISABLES_AT",
    10028: "LOCKED",
    10029: "FROZEN",
    10030: "INVALID_FILL",
    10031: "CONNECTION",
    10032: "ONLY_REAL",
    10033: "LIMIT_ORDERS",
    10034: "LIMIT_VOLUME",
    10035: "INVALID_ORDER",
    10036: "POSITION_CLOSED",
    10038: "INVALID_CLOSE_VOLUME",
    10039: "CLOSE_ORDER_EXIST",
    10040: "LIMIT_POSITIONS",
    10041: "REJECT_CANCEL",
    10042: "LONG_ONLY",
    10043: "SHORT_ONLY",
    10044: "CLOSE_ONLY",
    10045: "FIFO_CLOSE",
}

FILLED_CODES = frozenset({10009, 10010})  # DONE, DONE_PARTIAL: a deal happened
SUCCESS_CODES = FILLED_CODES | {10008}  # and PLACED: a pending order is on the book
PRICE_MOVED_CODES = frozenset({10004, 10020, 10021})
TRANSIENT_CODES = frozenset({10024, 10031})
UNKNOWN_OUTCOME_CODES = frozenset({10012})


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
