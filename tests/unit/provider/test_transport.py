"""cartconnect.provider.transport.PinnedStoreTransport: a store host is connected to only at the address it
was checked to resolve to, with the name for SNI, the certificate check and `Host`; the TLS half is
built at the first https request and verifies exactly as httpx2's default transport does.

Every server here is on loopback. A "public" address appears only as what a resolver we control
answers; the one connection made to it is redirected, at the socket, to the loopback TLS server (so the
whole path, TLS included, runs). No real DNS lookup is made and no other address is ever connected to.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cartconnect import hosts
from cartconnect.hosts import StoreTarget, UnsafeStoreHost
from cartconnect.provider.americommerce import AmeriCommerceClient
from cartconnect.provider.errors import ProviderResponseError
from cartconnect.provider.transport import PinnedStoreTransport, UncheckedStoreHost
from cartconnect.settings import Settings

NAME = "www.pinned-store.example"  # the certificate's name; nothing resolves it but the tests' resolvers
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
TOKEN_IN_LOCATION = "tok-in-the-location-query"


@dataclass
class Seen:
    """What the TLS server saw: the SNI of each handshake and the Host header of each request."""

    sni: list[str | None] = field(default_factory=list)
    hosts: list[str | None] = field(default_factory=list)


def _handler(seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Store(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            seen.hosts.append(self.headers.get("Host"))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            stores = {"total_count": 1, "stores": [{"id": 7, "name": "Pinned", "domain_name": NAME}]}
            self._answer(200, json.dumps(stores).encode())

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            location = f"https://shop.brand.example/api/oauth/access_token?access_token={TOKEN_IN_LOCATION}"
            self._answer(302, b"{}", {"Location": location})

        def log_message(self, *args: Any) -> None:
            pass

    return Store


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@dataclass
class TLSStore:
    port: int
    seen: Seen
    trusting: ssl.SSLContext  # a client context that trusts only this server's certificate


def _serve(server: HTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tls_store(tmp_path: Path) -> Iterator[TLSStore]:
    """An https server on 127.0.0.1 whose certificate is for NAME (and nothing else)."""
    cert_file, key_file = _certificate(tmp_path, NAME)
    seen = Seen()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, server_name, ctx: seen.sni.append(server_name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(seen))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    for port in _serve(server):
        yield TLSStore(port, seen, trusting)


@dataclass
class Network:
    """Every name looked up and every address connected to, from inside httpcore2's socket calls."""

    lookups: list[str] = field(default_factory=list)
    connects: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    record = Network()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.create_connection

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        record.lookups.append(str(host))
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        record.connects.append(address)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return record


@pytest.fixture
def public_address_is_the_tls_store(
    monkeypatch: pytest.MonkeyPatch, network: Network, tls_store: TLSStore
) -> Network:
    """A connection to (PUBLIC_V4, 443) is recorded, then made to the loopback TLS store instead; a
    connection to any other address is recorded and refused (none is expected)."""

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        network.connects.append(address)
        if address != (PUBLIC_V4, 443):
            raise ConnectionRefusedError(f"test: no connection to {address}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", tls_store.port))
        return sock

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return network


@pytest.fixture(autouse=True)
def no_pins_left_behind() -> Iterator[None]:
    token = hosts._pinned.set(None)
    yield
    hosts._pinned.reset(token)


def _client(transport: PinnedStoreTransport) -> httpx2.Client:
    return httpx2.Client(transport=transport, trust_env=False, follow_redirects=False, timeout=5)


def _pins(*targets: StoreTarget) -> Callable[[str], StoreTarget | None]:
    by_host = {target.host: target for target in targets}
    return by_host.get


# -- (b) the transport connects to exactly the address it was given ---------------------------------


def test_connects_to_the_pinned_address_with_the_name_for_sni_host_and_certificate(
    tls_store: TLSStore, network: Network
) -> None:
    # The check is bypassed here (it would refuse 127.0.0.1): the target is given to the transport.
    host = f"{NAME}:{tls_store.port}"
    target = StoreTarget(host, f"https://{host}", ("127.0.0.1",))
    with _client(PinnedStoreTransport(targets=_pins(target), verify=tls_store.trusting)) as client:
        response = client.get(f"https://{host}/api/v1/stores")
        assert response.status_code == 200
        assert response.json()["stores"][0]["id"] == 7
        assert str(response.request.url) == f"https://{host}/api/v1/stores"  # the caller sees the name
    assert network.connects == [("127.0.0.1", tls_store.port)]
    assert NAME not in network.lookups and host not in network.lookups  # the name is never resolved
    assert tls_store.seen.sni == [NAME]
    assert tls_store.seen.hosts == [host]


def test_the_certificate_is_checked_against_the_name_not_the_address(
    tls_store: TLSStore, network: Network
) -> None:
    host = f"other-store.example:{tls_store.port}"  # same address, a name the certificate is not for
    target = StoreTarget(host, f"https://{host}", ("127.0.0.1",))
    with (
        _client(PinnedStoreTransport(targets=_pins(target), verify=tls_store.trusting)) as client,
        pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"https://{host}/api/v1/stores")
    assert tls_store.seen.sni == ["other-store.example"]
    assert tls_store.seen.hosts == []


def test_a_name_is_never_carried_on_a_connection_opened_for_another_name(
    tls_store: TLSStore, network: Network
) -> None:
    good = f"{NAME}:{tls_store.port}"
    other = f"other-store.example:{tls_store.port}"
    targets = _pins(
        StoreTarget(good, f"https://{good}", ("127.0.0.1",)),
        StoreTarget(other, f"https://{other}", ("127.0.0.1",)),
    )
    with _client(PinnedStoreTransport(targets=targets, verify=tls_store.trusting)) as client:
        assert client.get(f"https://{good}/api/v1/stores").status_code == 200
        # Same address and port: httpcore2 alone would reuse the connection verified for NAME.
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://{other}/api/v1/stores")
        assert client.get(f"https://{good}/api/v1/stores").status_code == 200
    assert tls_store.seen.hosts == [good, good]


def test_an_unchecked_host_is_refused_before_any_connection(network: Network) -> None:
    with _client(PinnedStoreTransport(targets=_pins())) as client, pytest.raises(UncheckedStoreHost):
        client.get(f"https://{NAME}/api/v1/stores")
    assert network.connects == [] and network.lookups == []


def test_a_pin_for_http_only_covers_the_insecure_dev_hosts(network: Network) -> None:
    target = StoreTarget(NAME, f"https://{NAME}", (PUBLIC_V4,))
    with _client(PinnedStoreTransport(targets=_pins(target))) as client, pytest.raises(UncheckedStoreHost):
        client.get(f"http://{NAME}/api/v1/stores")
    assert network.connects == []


def test_ipv6_addresses_are_bracketed_and_the_name_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[httpx2.Request] = []

    class Recording(httpx2.BaseTransport):
        def __init__(self, **kwargs: Any) -> None:
            pass

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            sent.append(request)
            return httpx2.Response(200, content=b"{}")

    monkeypatch.setattr(httpx2, "HTTPTransport", Recording)
    target = StoreTarget(NAME, f"https://{NAME}", (PUBLIC_V6, PUBLIC_V4))
    context = ssl.create_default_context()
    with _client(PinnedStoreTransport(targets=_pins(target), verify=context)) as client:
        assert client.get(f"https://{NAME}/api/v1/stores?count=1").status_code == 200
    (request,) = sent
    assert str(request.url) == f"https://[{PUBLIC_V6}]/api/v1/stores?count=1"  # the first address
    assert request.headers["Host"] == NAME
    assert request.extensions["sni_hostname"] == NAME


# -- (c) rebinding: the address checked is the address connected to, and the name is resolved once ---


def test_a_rebinding_name_reaches_only_the_address_that_was_checked(
    tls_store: TLSStore, public_address_is_the_tls_store: Network
) -> None:
    network = public_address_is_the_tls_store
    answers = iter([[PUBLIC_V4], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: str) -> list[str]:
        lookups.append(host)
        return next(answers)

    settings = Settings(table_name="t", kms_key_id="k")  # custom store domains: allowed by default
    base_url = hosts.safe_store_base_url(NAME, settings, resolve=rebinding)
    assert base_url == f"https://{NAME}"
    transport = PinnedStoreTransport(verify=tls_store.trusting)  # the real pins (hosts.pinned_target)
    with _client(transport) as http:
        client = AmeriCommerceClient(http=http)
        assert client.probe(base_url, "access-token", "/api/v1/stores").store_name == "Pinned"
        assert (
            client.probe(base_url, "access-token", "/api/v1/stores").status_code == 200
        )  # again: same address
        # The next check sees the rebound answer and refuses it: nothing is connected to.
        with pytest.raises(UnsafeStoreHost):
            hosts.safe_store_base_url(NAME, settings, resolve=rebinding)
    assert lookups == [NAME, NAME]  # once per check, never by the transport
    assert network.lookups == []  # httpcore2 resolved nothing (not even the address)
    assert set(network.connects) == {(PUBLIC_V4, 443)}
    assert tls_store.seen.sni and set(tls_store.seen.sni) == {NAME}
    assert tls_store.seen.hosts == [NAME, NAME]


def test_pins_belong_to_the_context_that_checked(tls_store: TLSStore, network: Network) -> None:
    settings = Settings(table_name="t", kms_key_id="k")
    hosts.safe_store_base_url("shop.pins-elsewhere.example", settings, resolve=lambda host: [PUBLIC_V4])
    assert hosts.pinned_target("shop.pins-elsewhere.example") is not None
    outcome: list[BaseException] = []

    def other_thread() -> None:
        with _client(PinnedStoreTransport()) as client:
            try:
                client.get("https://shop.pins-elsewhere.example/")
            except BaseException as error:  # the test inspects it
                outcome.append(error)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], UncheckedStoreHost)
    assert network.connects == []


# -- a redirect names only the host it points to ----------------------------------------------------


def test_a_redirect_to_another_host_names_that_host_and_nothing_else(
    tls_store: TLSStore, public_address_is_the_tls_store: Network
) -> None:
    settings = Settings(table_name="t", kms_key_id="k")
    base_url = hosts.safe_store_base_url(NAME, settings, resolve=lambda host: [PUBLIC_V4])
    with (
        _client(PinnedStoreTransport(verify=tls_store.trusting)) as http,
        pytest.raises(ProviderResponseError) as info,
    ):
        AmeriCommerceClient(http=http).refresh(
            base_url, client_id="1", client_secret="s3cret", refresh_token="rt", scope="orders"
        )
    assert info.value.status_code == 302
    assert "the store answered a redirect to shop.brand.example" in info.value.detail
    assert "use that host as the connection's subdomain" in info.value.detail
    assert TOKEN_IN_LOCATION not in info.value.detail and "/api/oauth" not in info.value.detail
    assert public_address_is_the_tls_store.connects == [(PUBLIC_V4, 443)]  # not followed


# -- deferred TLS: built at the first https request, httpx2's default verification ------------------


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[str]:
    for port in _serve(HTTPServer(("127.0.0.1", 0), _Hello)):
        yield f"127.0.0.1:{port}"


def _record_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[dict[str, Any]]:
    """The keyword arguments of every call of httpx2.<name>, which still does its work."""
    calls: list[dict[str, Any]] = []
    real = getattr(httpx2, name)

    def recording(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(httpx2, name, recording)
    return calls


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments of every httpx2.HTTPTransport built."""
    return _record_calls(monkeypatch, "HTTPTransport")


def test_insecure_dev_hosts_go_as_given_over_plain_http_and_build_no_tls(
    plain_server: str, built: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts: list[Any] = []
    monkeypatch.setattr(httpx2, "create_ssl_context", lambda **kwargs: contexts.append(kwargs))
    target = StoreTarget(plain_server, f"http://{plain_server}")  # no addresses: exempt, reached as given
    with _client(PinnedStoreTransport(targets=_pins(target))) as client:
        assert built == []  # nothing at construction
        assert client.get(f"http://{plain_server}/").text == "hello"
        assert client.get(f"http://{plain_server}/").text == "hello"
    assert contexts == []  # no CA bundle loaded
    assert len(built) == 1
    context = built[0]["verify"]
    assert built[0]["trust_env"] is False
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # trusts nothing


def test_https_uses_httpx2s_default_verification_built_once(
    monkeypatch: pytest.MonkeyPatch, tls_store: TLSStore
) -> None:
    contexts = _record_calls(monkeypatch, "create_ssl_context")
    first, second = f"{NAME}:{tls_store.port}", f"b.{NAME}:{tls_store.port}"
    targets = _pins(
        StoreTarget(first, f"https://{first}", ("127.0.0.1",)),
        StoreTarget(second, f"https://{second}", ("127.0.0.1",)),
    )
    with _client(PinnedStoreTransport(targets=targets)) as client:
        assert contexts == []
        for host in (first, second):
            # httpx2's default context trusts the system's CAs, not this self-signed certificate.
            with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                client.get(f"https://{host}/")
    assert contexts == [{"trust_env": False}]  # verify left at httpx2's default (True), built once
