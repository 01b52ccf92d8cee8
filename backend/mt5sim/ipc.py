"""The simulated IPC round trip of every terminal call: latency and injected faults."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mt5sim.rendering import BUILD
from services.mt5 import constants as c

Method = TypeVar("Method", bound=Callable[..., Any])
VERSION = (500, BUILD, "01 Jan 2025")
NOT_CONNECTED = (c.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
NOT_LOGGED_IN = (c.RES_E_FAIL, "Terminal: not logged in to a trade account")


def api_call(method: Method) -> Method:
    """Simulate the IPC round trip: latency (outside any lock), then injected faults.

    A terminal made with ``sleeps=False`` leaves the latency to its caller (who waits it out
    before calling). Faults (``Broker.inject_fault``): "timeout" sleeps its ``delay_s`` and raises
    ``TimeoutError`` without reaching the broker; "none" returns None with last_error
    (-10001, "IPC send failed"); "drop_after_fill" runs the call (the order fills) and then
    raises ``ConnectionError``, so the caller never sees the result.
    """
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.latency_ms and self.sleeps:
            time.sleep(self.latency_ms / 1000)
        fault = self.broker.take_fault(self._login, name)
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay_s)
            raise TimeoutError(f"{name}: terminal did not answer")
        if fault is not None and fault.kind == "none":
            self._last_error = (c.RES_E_INTERNAL_FAIL_SEND, "IPC send failed")
            return None
        self._last_error = (c.RES_S_OK, "Success")
        result = method(self, *args, **kwargs)
        if fault is not None and fault.kind == "drop_after_fill":
            raise ConnectionError(f"{name}: connection lost before the result arrived")
        return result

    return wrapper  # type: ignore[return-value]
