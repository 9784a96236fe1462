"""cartconnect.http.transport: the store client's TLS half is built at the first https request, and
verifies exactly as httpx2's default transport does."""

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cartconnect.http.transport import DeferredTLSTransport


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: Any) -> None:
        pass


def _serve(server: HTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain_server() -> Iterator[str]:
    yield from _serve(HTTPServer(("127.0.0.1", 0), _Hello))


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments of every httpx2.HTTPTransport built."""
    calls: list[dict[str, Any]] = []
    real = httpx2.HTTPTransport

    def recording(**kwargs: Any) -> httpx2.HTTPTransport:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(httpx2, "HTTPTransport", recording)
    return calls


def test_plain_http_builds_no_tls_transport(plain_server: str, built: list[dict[str, Any]]) -> None:
    with httpx2.Client(transport=DeferredTLSTransport(), trust_env=False) as client:
        assert built == []  # nothing at construction
        assert client.get(f"http://{plain_server}/").text == "hello"
        assert client.get(f"http://{plain_server}/").text == "hello"
    assert len(built) == 1
    context = built[0]["verify"]
    assert built[0]["trust_env"] is False
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # trusts nothing


def test_https_uses_httpx2s_default_verification(built: list[dict[str, Any]]) -> None:
    deferred = DeferredTLSTransport()
    request = httpx2.Request("GET", "https://store.example/")
    first = deferred._transport(request.url.scheme)
    assert deferred._transport("https") is first  # built once
    assert built == [{"trust_env": False}]  # verify left at httpx2's default: True
    deferred.close()


def test_https_refuses_an_untrusted_certificate(self_signed_server: str) -> None:
    with (
        httpx2.Client(transport=DeferredTLSTransport(), trust_env=False) as client,
        pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"https://{self_signed_server}/")
