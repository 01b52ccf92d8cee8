"""Cost of one order_send: the simulator called directly vs through MT5Gateway, in process and RPyC.

Run from the repository root: ``python bench/mt5_gateway.py [--n 2000]``. Simulator latency is 0
(the default 500 ms price walk everywhere, deviation wide enough never to requote), so the figures
are the adapter's and the link's overhead. Each send alternates buy/sell
on a netting account (one position at most, so the broker's work stays constant); on a netting
account the gateway reads each fill's deal for its position id, one more terminal call. The
hedging row opens a position and closes it by ticket, which needs no such call. Prints per-call
microseconds (median of 5 rounds) and ratios against the direct in-process call.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))

from mt5sim.broker import Broker  # noqa: E402
from mt5sim.facade import make_module  # noqa: E402
from services.mt5.dto import AccountRef, OrderRequest  # noqa: E402
from services.mt5.gateway import MT5Gateway  # noqa: E402
from services.mt5.sources import SimSettings  # noqa: E402

NETTING, HEDGING = 0, 2
BALANCE = Decimal(10**9)  # every round trip pays the spread


def per_call_us(send: Callable[[int], None], n: int, rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(n):
            send(i)
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


def raw_request(mt5: object, i: int) -> dict[str, object]:
    return {"action": 1, "symbol": "XAUUSD", "volume": 0.1, "type": i % 2, "price": 0.0,
            "deviation": 1000, "magic": 1, "comment": "bench", "type_filling": 0}  # fmt: skip


def direct(tmp: Path, n: int) -> dict[str, float]:
    broker = Broker(str(tmp / "direct.sqlite"))
    broker.create_account(1, "pw", "Sim-Demo", margin_mode=NETTING, balance=BALANCE)
    mt5 = make_module(broker)
    mt5.initialize(login=1, password="pw", server="Sim-Demo")

    start = mt5.symbol_info_tick("XAUUSD")

    def send_only(i: int) -> None:
        request = raw_request(mt5, i) | {"price": start.ask if i % 2 == 0 else start.bid}
        assert mt5.order_send(request).retcode == 10009

    def tick_and_send(i: int) -> None:
        tick = mt5.symbol_info_tick("XAUUSD")
        request = raw_request(mt5, i) | {"price": tick.ask if i % 2 == 0 else tick.bid}
        assert mt5.order_send(request).retcode == 10009

    figures = {"direct order_send": per_call_us(send_only, n),
               "direct tick + order_send": per_call_us(tick_and_send, n)}  # fmt: skip
    broker.close()
    return figures


def through_gateway(
    gateway: MT5Gateway, ref: AccountRef, n: int, *, hedging: bool = False
) -> float:
    gateway.connect(ref)
    opened = [0]

    def send(i: int) -> None:
        side = "buy" if i % 2 == 0 else "sell"
        close = opened[0] if hedging and side == "sell" else None
        order = OrderRequest(
            symbol="XAUUSD", side=side, volume=Decimal("0.1"), deviation=1000, magic=1,
            comment="bench", position=close,
        )  # fmt: skip
        result = gateway.send_order(ref, order)
        assert result.retcode == 10009 and result.position
        opened[0] = result.position

    return per_call_us(send, n)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_node(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    code = ("from mt5sim.node import serve; "
            f"serve({str(tmp / 'node.sqlite')!r}, '127.0.0.1', {port}, latency_ms=0)")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "backend")}
    node = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            import rpyc  # a full handshake: a bare TCP probe makes the node log a traceback

            rpyc.classic.connect("127.0.0.1", port).close()
            return node, port
        except OSError:
            time.sleep(0.05)
    node.kill()
    raise RuntimeError("node did not start")


def raw_rpyc(port: int, n: int) -> float:
    """The mt5linux-style client: conn.modules.MetaTrader5 and conn.builtins.dict(local dict)."""
    import rpyc

    conn = rpyc.classic.connect("127.0.0.1", port)
    mt5 = conn.modules.MetaTrader5
    mt5.initialize(login=3, password="pw", server="Sim-Demo")

    def send(i: int) -> None:
        tick = mt5.symbol_info_tick("XAUUSD")
        request = raw_request(mt5, i) | {"price": tick.ask if i % 2 == 0 else tick.bid}
        assert mt5.order_send(conn.builtins.dict(request)).retcode == 10009

    figure = per_call_us(send, n)
    conn.close()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="sends per round (5 rounds)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mt5-"))
    figures = direct(tmp, args.n)

    gateway = MT5Gateway(sim=SimSettings(db_path=str(tmp / "sim.sqlite")))
    broker = gateway.sources.brokers.get("default")  # the broker its sim:// sessions trade on
    broker.create_account(2, "pw", "Sim-Demo", margin_mode=NETTING, balance=BALANCE)
    local = AccountRef(
        account_id=2, terminal="sim://default", login=2, password="pw", server="Sim-Demo"
    )
    figures["gateway sim:// (tick + order_send)"] = through_gateway(gateway, local, args.n)
    broker.create_account(5, "pw", "Sim-Demo", margin_mode=HEDGING, balance=BALANCE)
    hedged = AccountRef(
        account_id=5, terminal="sim://default", login=5, password="pw", server="Sim-Demo"
    )
    figures["gateway sim:// hedging (tick + order_send)"] = through_gateway(
        gateway, hedged, args.n, hedging=True
    )

    node, port = start_node(tmp)
    try:
        import rpyc

        admin = rpyc.classic.connect("127.0.0.1", port)
        for login in (3, 4):
            admin.modules.MetaTrader5.broker.create_account(
                login, "pw", "Sim-Demo", margin_mode=NETTING
            )
        admin.close()
        remote = AccountRef(
            account_id=4, terminal=f"rpyc://127.0.0.1:{port}", login=4, password="pw",
            server="Sim-Demo",
        )  # fmt: skip
        figures["raw rpyc classic (tick + order_send)"] = raw_rpyc(port, max(args.n // 4, 100))
        figures["gateway rpyc:// (tick + order_send)"] = through_gateway(
            gateway, remote, args.n // 4
        )
    finally:
        gateway.close()
        node.terminate()
        node.wait(timeout=10)

    base = figures["direct order_send"]
    print(f"order_send cost, simulator latency 0, median of 5 rounds (n={args.n}; rpyc n/4)")
    for name, micros in figures.items():
        print(f"  {name:44s} {micros:9.1f} us   x{micros / base:6.2f}")


if __name__ == "__main__":
    main()
