"""A terminal node: an RPyC *classic* server on which ``import MetaTrader5`` is the simulator.

This is what mt5linux / mt5-remote run next to a real terminal, so their clients (and our
``rpyc://`` backend) work against it unchanged::

    conn = rpyc.classic.connect("127.0.0.1", 18812)
    mt5 = conn.modules.MetaTrader5
    mt5.initialize(); mt5.login(123, password="x", server="Sim-Demo")

A real classic node serves one terminal per process, and ``conn.modules`` is the server
process's ``sys.modules``: so one ``MetaTrader5`` facade (one ``SimTerminal``) is installed per
node and every connection shares it, logins included. Run one node per simulated terminal.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rpyc.core.service import SlaveService
from rpyc.utils.authenticators import SSLAuthenticator
from rpyc.utils.server import ThreadedServer

from mt5sim.broker import Broker
from mt5sim.facade import make_module

# Above MT5's own 60 s IPC timeout, as the reference asks of every RPyC link to a terminal.
SYNC_REQUEST_TIMEOUT_S = 120


def install(broker: Broker, *, latency_ms: int | None = None) -> Any:
    """Make ``import MetaTrader5`` in this process return a facade over ``broker``."""
    module = make_module(broker, latency_ms=latency_ms)
    sys.modules["MetaTrader5"] = module
    return module


def make_server(
    broker_factory_or_path: Callable[[], Broker] | str | Path,
    host: str = "127.0.0.1",
    port: int = 18812,
    *,
    latency_ms: int | None = None,
    seed: int | None = None,
    step_ms: int = 500,
    keyfile: str | None = None,
    certfile: str | None = None,
    ca_certs: str | None = None,
) -> ThreadedServer:
    """Build (not start) the classic server; a path opens a ``Broker`` on that SQLite file.

    With ``certfile`` the node speaks TLS (``rpycs://``); with ``ca_certs`` too, clients must
    present a certificate signed by that CA.
    """
    if callable(broker_factory_or_path):
        broker = broker_factory_or_path()
    else:
        broker = Broker(broker_factory_or_path, seed=seed, step_ms=step_ms)
    install(broker, latency_ms=latency_ms)
    authenticator = None
    if certfile:
        authenticator = SSLAuthenticator(
            keyfile or certfile,  # a None keyfile would become the path "None"
            certfile,
            ca_certs=ca_certs,
            cert_reqs=ssl.CERT_REQUIRED if ca_certs else ssl.CERT_NONE,
        )
    return ThreadedServer(
        SlaveService,
        hostname=host,
        port=port,
        reuse_addr=True,
        authenticator=authenticator,
        protocol_config={"sync_request_timeout": SYNC_REQUEST_TIMEOUT_S},
    )


def serve(
    broker_factory_or_path: Callable[[], Broker] | str | Path,
    host: str = "127.0.0.1",
    port: int = 18812,
    *,
    latency_ms: int | None = None,
    seed: int | None = None,
    step_ms: int = 500,
    keyfile: str | None = None,
    certfile: str | None = None,
    ca_certs: str | None = None,
) -> None:
    """Serve the simulator as a terminal node until interrupted (blocks); TLS with ``certfile``."""
    server = make_server(
        broker_factory_or_path, host, port, latency_ms=latency_ms, seed=seed, step_ms=step_ms,
        keyfile=keyfile, certfile=certfile, ca_certs=ca_certs,
    )  # fmt: skip
    try:
        server.start()
    finally:
        broker = sys.modules["MetaTrader5"].broker
        broker.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the simulated MT5 broker over RPyC.")
    parser.add_argument("--db", required=True, help="SQLite file of the simulated broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18812)
    parser.add_argument("--latency-ms", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--step-ms", type=int, default=500)
    parser.add_argument("--keyfile", default=None, help="TLS key (default: in --certfile)")
    parser.add_argument("--certfile", default=None, help="TLS certificate: serve rpycs://")
    parser.add_argument("--ca-certs", default=None, help="CA of required client certificates")
    args = parser.parse_args(argv)
    serve(
        args.db,
        args.host,
        args.port,
        latency_ms=args.latency_ms,
        seed=args.seed,
        step_ms=args.step_ms,
        keyfile=args.keyfile,
        certfile=args.certfile,
        ca_certs=args.ca_certs,
    )


if __name__ == "__main__":
    main()
