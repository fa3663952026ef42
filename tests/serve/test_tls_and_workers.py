"""A real ``mlwarden serve``: HTTPS with a certificate of our own, two worker processes, and stopping on a signal.

Each test starts the command with ``_running.serving`` (its own process group, a free port, up
when ``/healthz`` answers) and checks that it stopped cleanly: the lifespan ran to its end.
"""

from __future__ import annotations

import ipaddress
import signal
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _running import PREDICT, assert_stopped_cleanly, bearer, predictions_in_log, serving, sqlite_leftovers

pytestmark = pytest.mark.slow

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this certificate (it is its own CA)."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A self-signed P-256 certificate for 127.0.0.1 and localhost, and its key (PEM, unencrypted)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlwarden test server")])
    now = datetime.now(UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(tmp_path / "cert.pem", tmp_path / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.key.chmod(0o600)
    return files


# -- TLS ---------------------------------------------------------------------------------------------


def test_https_round_trip_with_a_self_signed_certificate(
    served_copy: Served, tls_files: TlsFiles, tmp_path: Path
) -> None:
    verify = tls_files.client_context()
    token = served_copy.tokens["client-credit"]
    args = ("--tls-cert", str(tls_files.cert), "--tls-key", str(tls_files.key))
    with serving(served_copy, tmp_path, *args, verify=verify) as server:
        assert "listening on https://127.0.0.1:" in server.stderr()
        with httpx.Client(base_url=server.base, verify=verify, timeout=30.0) as client:
            answer = client.post(PREDICT, json={"instances": served_copy.rows[:3]}, headers=bearer(token))
            assert answer.status_code == 200, answer.text
            tls = answer.extensions["network_stream"].get_extra_info("ssl_object")
            assert tls is not None
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        body = answer.json()
        assert len(body["predictions"]) == 3
        assert body["model"]["name"] == "credit-risk"

        # Plain HTTP to the TLS port gets no answer; nor does a client that does not trust the certificate.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10.0)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.base}/healthz", verify=ssl.create_default_context(), timeout=10.0)

        code = server.stop(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises SIGTERM: one worker ends by the signal (-15).
    assert_stopped_cleanly(server, code, served_copy, allowed=(0, -signal.SIGTERM))
    logged = predictions_in_log(served_copy)
    assert body["request_id"] in logged
    assert logged[body["request_id"]].details["instances"] == 3


# -- workers -----------------------------------------------------------------------------------------


def test_two_workers_answer_and_every_prediction_is_audited(served_copy: Served, tmp_path: Path) -> None:
    token = served_copy.tokens["client-all"]
    rows = served_copy.rows

    def predict(i: int) -> tuple[int, str]:
        model = "credit-risk" if i % 2 else "fraud-risk"
        # A fresh connection each time, so that the kernel spreads them over both workers' accepts.
        answer = httpx.post(
            f"{server.base}/v1/models/{model}/predict",
            json={"instances": [rows[i % len(rows)]]},
            headers={**bearer(token), "Connection": "close"},
            timeout=60.0,
        )
        return answer.status_code, answer.json().get("request_id", "")

    with serving(served_copy, tmp_path, "--workers", "2") as server:
        assert len(server.children()) >= 2, server.children()
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(predict, range(40)))
        assert [status for status, _ in answers] == [200] * 40
        assert server.stderr().count("serving credit-risk@1") == 2  # each worker loaded and verified the models
        code = server.stop(signal.SIGINT)
    assert_stopped_cleanly(server, code, served_copy)

    logged = predictions_in_log(served_copy)
    request_ids = [request_id for _, request_id in answers]
    assert len(set(request_ids)) == 40
    assert set(request_ids) <= set(logged)
    assert len(logged) == 40
    assert {e.details["model"] for e in logged.values()} == {"credit-risk@1", "fraud-risk@1"}


# -- stopping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_worker_stops_cleanly_on_a_signal(served_copy: Served, tmp_path: Path, signum: int) -> None:
    token = served_copy.tokens["client-credit"]
    with serving(served_copy, tmp_path) as server:
        answer = httpx.post(
            f"{server.base}{PREDICT}", json={"instances": served_copy.rows[:1]}, headers=bearer(token), timeout=60.0
        )
        assert answer.status_code == 200, answer.text
        assert sqlite_leftovers(served_copy) != []  # the server holds the workspace open
        code = server.stop(signum)
    allowed = (0,) if signum == signal.SIGINT else (0, -signal.SIGTERM)
    assert_stopped_cleanly(server, code, served_copy, allowed=allowed)
    assert answer.json()["request_id"] in predictions_in_log(served_copy)
