"""The rpycs:// backend end to end: a TLS node requiring client certificates, a gateway on it.

A throwaway CA, a server certificate for 127.0.0.1 and client certificates are made here; the
node is `flask mt5 serve-simulator --certfile/--keyfile/--ca-certs` in a subprocess.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from test_rpyc_gateway import BACKEND, DONE, free_port, wait_for_port

from errors import MT5Unavailable
from services.mt5.dto import AccountRef, OrderRequest
from services.mt5.gateway import MT5Gateway


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue(ca: Issued, common_name: str, *, server: bool) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


def write(directory: Path, stem: str, issued: Issued) -> tuple[str, str]:
    """Write ``stem.key`` / ``stem.pem``; return (keyfile, certfile)."""
    keyfile, certfile = directory / f"{stem}.key", directory / f"{stem}.pem"
    keyfile.write_bytes(
        issued.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    certfile.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    return str(keyfile), str(certfile)


@dataclass(frozen=True)
class Pki:
    ca_certs: str
    server: tuple[str, str]
    client: tuple[str, str]
    stranger: tuple[str, str]  # a client certificate from another CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca, other_ca = make_ca("Test Node CA"), make_ca("Some Other CA")
    _, ca_certs = write(tmp, "ca", ca)
    return Pki(
        ca_certs=ca_certs,
        server=write(tmp, "server", issue(ca, "127.0.0.1", server=True)),
        client=write(tmp, "client", issue(ca, "gateway", server=False)),
        stranger=write(tmp, "stranger", issue(other_ca, "gateway", server=False)),
    )


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("tls-node")
    port = free_port()
    env = {
        **os.environ,
        "FLASK_ENV": "development",
        "DATABASE_PATH": str(tmp / "app.sqlite"),
        "LOG_DIR": str(tmp / "logs"),
        "MT5_SIM_LATENCY_MS": "0",
        "DATABASE_URL": "",
    }
    keyfile, certfile = pki.server
    command = [
        sys.executable, "-m", "flask", "--app", "app:create_app", "mt5", "serve-simulator",
        "--host", "127.0.0.1", "--port", str(port), "--db", str(tmp / "node-sim.sqlite"),
        "--keyfile", keyfile, "--certfile", certfile, "--ca-certs", pki.ca_certs,
    ]  # fmt: skip
    node = subprocess.Popen(
        command, cwd=BACKEND, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, node)
        yield f"rpycs://127.0.0.1:{port}"
    finally:
        node.terminate()
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait(timeout=10)


def gateway_for(tmp_path: Path, ca_certs: str, client: tuple[str, str] | None) -> MT5Gateway:
    keyfile, certfile = client or ("", "")
    return MT5Gateway.from_config(
        {
            "MT5_SIM_DB": str(tmp_path / "unused.sqlite"),
            "MT5_CALL_TIMEOUT_S": 10,
            "MT5_RPYC_KEYFILE": keyfile,
            "MT5_RPYC_CERTFILE": certfile,
            "MT5_RPYC_CA_CERTS": ca_certs,
        }
    )


def account(url: str, login: int) -> AccountRef:
    return AccountRef(account_id=login, terminal=url, login=login, password="pw", server="Sim-Demo")


def test_gateway_over_rpycs_with_client_certificate_connects_and_trades(
    tmp_path: Path, pki: Pki, node_url: str
) -> None:
    gateway = gateway_for(tmp_path, pki.ca_certs, pki.client)
    ref = account(node_url, 32001)
    try:
        snapshot, terminal, _ = gateway.connect(ref)
        spec = gateway.symbol_spec(ref, "GOLD")
        opened = gateway.send_order(
            ref,
            OrderRequest(
                symbol=spec.name, side="buy", volume=Decimal("0.1"), magic=78, comment="tls-1"
            ),
        )
        positions = gateway.positions(ref)
    finally:
        gateway.close()

    assert snapshot.login == 32001 and terminal.simulated
    assert (spec.name, spec.contract_size) == ("XAUUSD", Decimal(100))
    assert opened.retcode == DONE and opened.order
    [position] = positions
    assert (position.magic, position.comment, position.volume) == (78, "tls-1", Decimal("0.1"))


@pytest.mark.parametrize("client", ["none", "stranger"])
def test_gateway_over_rpycs_without_a_trusted_client_certificate_is_refused(
    tmp_path: Path, pki: Pki, node_url: str, client: str
) -> None:
    gateway = gateway_for(tmp_path, pki.ca_certs, pki.stranger if client == "stranger" else None)
    try:
        with pytest.raises(MT5Unavailable) as caught:
            gateway.connect(account(node_url, 32002))
    finally:
        gateway.close()

    assert caught.value.code == "mt5_unavailable", caught.value.details


def test_gateway_over_rpycs_not_trusting_the_node_is_refused(
    tmp_path: Path, pki: Pki, node_url: str
) -> None:
    # The client's own CA file does not vouch for the node's certificate.
    gateway = gateway_for(tmp_path, pki.client[1], pki.client)
    try:
        with pytest.raises(MT5Unavailable) as caught:
            gateway.connect(account(node_url, 32003))
    finally:
        gateway.close()

    assert caught.value.code == "mt5_unavailable", caught.value.details
