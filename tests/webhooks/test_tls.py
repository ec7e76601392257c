"""TLS through the guard: the socket goes to the vetted IP, SNI and verification stay on the hostname."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.webhooks.conftest import attempts, fast_settings, queue, sender_running, settled
from tests.webhooks.receiver import receiver, wait_for
from trova.store import Database


@pytest.fixture
def localhost_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name ``localhost`` only (no IP address in it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _contexts(cert: Path, key: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def test_https_to_a_hostname_sends_sni_and_verifies_the_name(
    db: Database, account: tuple[int, str], localhost_cert: tuple[Path, Path]
) -> None:
    server_tls, client_tls = _contexts(*localhost_cert)
    with receiver(tls=server_tls) as hook:
        message_id = queue(db, account[0], f"https://localhost:{hook.port}/hook")
        with sender_running(fast_settings(db), db, ssl_context=client_tls):
            done = wait_for(lambda: settled(db, message_id), what="delivery")
    assert done.status == "delivered"
    assert hook.server_names == ["localhost"]
    assert hook.requests[0].headers["host"] == f"localhost:{hook.port}"


def test_https_to_an_address_the_certificate_does_not_name_fails_verification(
    db: Database, account: tuple[int, str], localhost_cert: tuple[Path, Path]
) -> None:
    server_tls, client_tls = _contexts(*localhost_cert)
    settings = fast_settings(db, webhook_retry_schedule_s=(0.01,))
    with receiver(tls=server_tls) as hook:
        message_id = queue(db, account[0], f"https://127.0.0.1:{hook.port}/hook")
        with sender_running(settings, db, ssl_context=client_tls):
            done = wait_for(lambda: settled(db, message_id), what="failure")
    assert done.status == "failed" and hook.requests == []
    assert all(
        a.error is not None and "CERTIFICATE_VERIFY_FAILED" in a.error for a in attempts(db, message_id)
    )
