from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartconnect import hosts
from cartconnect.errors import DomainError, InvalidField
from cartconnect.hosts import (
    StoreTarget,
    UnsafeStoreHost,
    ensure_safe_to_connect,
    normalize_store_host,
    pinned_target,
    resolve_addresses,
    safe_store_base_url,
    store_base_url,
)
from cartconnect.settings import Settings

SUFFIXES = ("americommerce.com", "cart.com")
INSECURE = ("127.0.0.1:8765",)
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def answers(*addresses: str) -> Callable[[str], list[str]]:
    return lambda host: list(addresses)


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"unexpected DNS lookup of {host}")


def dns_failure(host: str) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def normalize(raw: str, **overrides: object) -> str:
    options: dict[str, object] = {
        "allowed_suffixes": SUFFIXES,
        "allow_custom_domains": False,
        "insecure_hosts": INSECURE,
        "resolve": no_dns,
    }
    options.update(overrides)
    return normalize_store_host(raw, **options)  # type: ignore[arg-type]


def rejection(raw: str, **overrides: object) -> InvalidField:
    with pytest.raises(InvalidField) as info:
        normalize(raw, **overrides)
    assert info.value.field == "subdomain"
    assert info.value.status == 422
    return info.value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("celigo.cart.com", "celigo.cart.com"),
        ("https://celigo.cart.com/", "celigo.cart.com"),
        ("https://celigo.cart.com", "celigo.cart.com"),
        ("HTTPS://Celigo.Cart.com", "celigo.cart.com"),
        ("  celigo.cart.com \n", "celigo.cart.com"),
        ("\thttps://celigo.cart.com/ ", "celigo.cart.com"),
        ("celigo.cart.com/", "celigo.cart.com"),
        ("celigoinc.americommerce.com", "celigoinc.americommerce.com"),
        ("CeligoInc.AmeriCommerce.COM", "celigoinc.americommerce.com"),
        ("shop-1.eu.cart.com", "shop-1.eu.cart.com"),
        ("123store.cart.com", "123store.cart.com"),
        ("xn--bcher-kva.cart.com", "xn--bcher-kva.cart.com"),
        ("a" * 63 + ".cart.com", "a" * 63 + ".cart.com"),
    ],
)
def test_accepted_hosts(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["127.0.0.1:8765", "http://127.0.0.1:8765/", "HTTP://127.0.0.1:8765", "https://127.0.0.1:8765/"],
)
def test_insecure_dev_hosts_skip_other_checks(raw: str) -> None:
    assert normalize(raw) == "127.0.0.1:8765"
    assert normalize(raw, insecure_hosts=("127.0.0.1:8765".upper(),)) == "127.0.0.1:8765"


@pytest.mark.parametrize(
    "raw", ["127.0.0.1:8766", "http://127.0.0.1:8765/x", "127.0.0.1", "http://127.0.0.1"]
)
def test_insecure_hosts_match_exactly(raw: str) -> None:
    rejection(raw)


def test_http_rejected_without_insecure_hosts() -> None:
    assert "https" in rejection("http://127.0.0.1:8765", insecure_hosts=()).message


HOSTILE = {
    "empty": ["", "   ", "\n\t", "https://", "https:///", "/"],
    "scheme": [
        "http://celigo.cart.com",
        "HTTP://celigo.cart.com/",
        "ftp://celigo.cart.com",
        "javascript://celigo.cart.com",
        "file:///etc/passwd",
        "gopher://celigo.cart.com",
        "https:celigo.cart.com",
        "//celigo.cart.com",
    ],
    "userinfo": [
        "user@celigo.cart.com",
        "user:pw@celigo.cart.com",
        "https://user:pw@celigo.cart.com/",
        "https://celigo.cart.com@evil.example",
        "https://evil.example@celigo.cart.com",
    ],
    "port": [
        "celigo.cart.com:443",
        "https://celigo.cart.com:8443/",
        "celigo.cart.com:",
        "celigo.cart.com:abc",
    ],
    "path": [
        "https://celigo.cart.com/api",
        "celigo.cart.com/api/v1/",
        "https://celigo.cart.com//",
        "celigo.cart.com/.evil.example",
    ],
    "query": ["https://celigo.cart.com/?x=1", "celigo.cart.com?", "celigo.cart.com?.evil.example"],
    "fragment": ["https://celigo.cart.com/#x", "celigo.cart.com#", "celigo.cart.com#.evil.example"],
    "ipv4": [
        "127.0.0.1",
        "https://127.0.0.1/",
        "10.0.0.1",
        "169.254.169.254",
        "8.8.8.8",
        "0.0.0.0",
        "2130706433",
        "0x7f000001",
        "0X7F000001",
        "0x7f.0.0.1",
        "0x7f.0x0.0x0.0x1",
        "0177.0.0.1",
        "017700000001",
        "127.1",
        "127.0.1",
        "1.cart.0x1",
        "celigo.cart.123",
    ],
    "ipv6": [
        "[::1]",
        "::1",
        "https://[::1]/",
        "[::ffff:127.0.0.1]",
        "::ffff:127.0.0.1",
        "[::ffff:7f00:1]",
        "[fe80::1%25eth0]",
        "fd00:ec2::254",
        "[fd00:ec2::254]",
        "[0:0:0:0:0:0:0:1]",
    ],
    "localhost": ["localhost", "LOCALHOST", "https://localhost/", "evil.localhost", "a.b.localhost"],
    "single_label": ["intranet", "https://intranet/", "metadata", "com"],
    "trailing_dot": ["celigo.cart.com.", "https://celigo.cart.com./", "celigo.cart.com.."],
    "whitespace_control": [
        "celigo .cart.com",
        "celigo.cart.com\n.evil.example",
        "celigo.cart.com\x00.evil.example",
        "celigo\t.cart.com",
        "celigo.cart.com\x7f",
        "\x00celigo.cart.com",
        "https://celigo.cart.com\r\nX-Injected: 1",
    ],
    "percent": ["celigo%2ecart.com", "%63eligo.cart.com", "https://celigo.cart.com%2f", "127%2e0%2e0%2e1"],
    "backslash": ["https://evil.example\\@celigo.cart.com", "celigo.cart.com\\", "https:\\\\celigo.cart.com"],
    "non_ascii": [
        "bücher.cart.com",
        "celigo.cart.cóm",
        "celigo。cart。com",
        "ｃｅｌｉｇｏ.cart.com",
        "\u212aelly.cart.com",
        "celigo.cart.com\u200b",
        "celigo.cart.com\u00a0x",
    ],
    "ldh": [
        "-celigo.cart.com",
        "celigo-.cart.com",
        "cel_igo.cart.com",
        "celigo..cart.com",
        ".celigo.cart.com",
        "celigo.cart.com*",
        "*.cart.com",
        "a" * 64 + ".cart.com",
        ".".join(["a" * 63] * 4) + ".cart.com",
        "celigo.cart.com;evil",
        "celigo.cart.com'",
        "<script>.cart.com",
    ],
    "suffix": [
        "evilcart.com",
        "cart.com",
        "americommerce.com",
        "https://cart.com/",
        "cart.com.evil.example",
        "celigo.cart.co",
        "celigo.cart.community",
    ],
}

EXPECTED_WORDS = {
    "empty": ("empty", "no host"),
    "scheme": ("https", "port", "path"),
    "userinfo": ("user name",),
    "port": ("port",),
    "path": ("path",),
    "query": ("query",),
    "fragment": ("fragment",),
    "ipv4": ("IP address",),
    "ipv6": ("IP address", "percent"),
    "localhost": ("localhost",),
    "single_label": ("full host name",),
    "trailing_dot": ("end with a dot",),
    "whitespace_control": ("whitespace or control",),
    "percent": ("percent",),
    "backslash": ("backslash",),
    "non_ascii": ("punycode (xn--)",),
    "ldh": ("letters, digits, hyphens", "label", "too long"),
    "suffix": ("custom store domains are disabled", "store's host under"),
}


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        pytest.param(raw, kind, id=f"{kind}-{index}")
        for kind, cases in HOSTILE.items()
        for index, raw in enumerate(cases)
    ],
)
def test_hostile_inputs_rejected(raw: str, kind: str) -> None:
    error = rejection(raw)
    assert error.detail.startswith("subdomain: ")
    assert any(word in error.message for word in EXPECTED_WORDS[kind]), error.message


def test_messages_say_what_is_wrong_without_echoing_input() -> None:
    assert "port" in rejection("celigo.cart.com:443").message
    assert "IP address" in rejection("0x7f000001").message
    assert "IP address" in rejection("[::1]").message
    assert "punycode (xn--)" in rejection("bücher.cart.com").message
    assert "path" in rejection("celigo.cart.com/secret-looking-path").message
    assert (
        "does not resolve"
        in rejection("shop.example.com", allow_custom_domains=True, resolve=dns_failure).message
    )
    for raw in ["user:hunter2@celigo.cart.com", "celigo.cart.com/hunter2", "hunter2.example.org"]:
        assert "hunter2" not in rejection(raw).detail


def test_custom_domains_disabled_names_the_allowed_suffixes() -> None:
    message = rejection("shop.example.com", resolve=answers(PUBLIC_V4)).message
    assert "custom store domains are disabled in this deployment" in message
    assert "*.americommerce.com" in message
    assert "*.cart.com" in message


def test_suffix_matching_uses_configured_suffixes() -> None:
    assert normalize("store.example.org", allowed_suffixes=("Example.ORG.",)) == "store.example.org"
    rejection("celigo.cart.com", allowed_suffixes=("example.org",))
    rejection("celigo.cart.com", allowed_suffixes=())


@pytest.mark.parametrize(
    "addresses",
    [[PUBLIC_V4], [PUBLIC_V6], [PUBLIC_V4, PUBLIC_V6], ["8.8.8.8", "1.1.1.1"], ["::ffff:8.8.8.8"]],
)
def test_custom_domain_with_public_addresses_accepted(addresses: list[str]) -> None:
    seen: list[str] = []

    def resolve(host: str) -> list[str]:
        seen.append(host)
        return addresses

    assert (
        normalize("https://Shop.Example.com/", allow_custom_domains=True, resolve=resolve)
        == "shop.example.com"
    )
    assert seen == ["shop.example.com"]


REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd00::1",
    "fd00:ec2::254",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:0.0.0.0",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "not-an-address",
    "",
]


@pytest.mark.parametrize("bad", REFUSED_ADDRESSES)
def test_custom_domain_with_any_non_public_address_rejected(bad: str) -> None:
    for addresses in ([bad], [PUBLIC_V4, bad], [bad, PUBLIC_V6]):
        error = rejection("shop.example.com", allow_custom_domains=True, resolve=answers(*addresses))
        assert "non-public address" in error.message


@pytest.mark.parametrize(
    "resolve", [dns_failure, answers(), lambda host: (_ for _ in ()).throw(UnicodeError())]
)
def test_custom_domain_that_does_not_resolve_rejected(resolve: Callable[[str], list[str]]) -> None:
    assert (
        "does not resolve"
        in rejection("shop.example.com", allow_custom_domains=True, resolve=resolve).message
    )


def test_allowed_suffix_hosts_are_not_resolved() -> None:
    assert normalize("celigo.cart.com", allow_custom_domains=True, resolve=no_dns) == "celigo.cart.com"


def test_hostile_syntax_rejected_before_any_dns_lookup() -> None:
    for raw in ["127.0.0.1", "localhost", "intranet", "[::1]", "user@shop.example.com"]:
        rejection(raw, allow_custom_domains=True, resolve=no_dns)


CONNECT = {"allowed_suffixes": SUFFIXES, "allow_custom_domains": True, "insecure_hosts": INSECURE}


def test_ensure_safe_to_connect_catches_dns_rebinding() -> None:
    answers_in_order = iter([[PUBLIC_V4], ["169.254.169.254"]])

    def rebinding(host: str) -> list[str]:
        return next(answers_in_order)

    host = normalize("shop.example.com", allow_custom_domains=True, resolve=rebinding)
    with pytest.raises(UnsafeStoreHost) as info:
        ensure_safe_to_connect(host, resolve=rebinding, **CONNECT)  # type: ignore[arg-type]
    assert isinstance(info.value, DomainError)
    assert info.value.status == 422
    assert info.value.field == "subdomain"
    assert "non-public" in info.value.message


def test_ensure_safe_to_connect_passes_safe_hosts() -> None:
    provider = ensure_safe_to_connect("celigo.cart.com", resolve=answers(PUBLIC_V4), **CONNECT)  # type: ignore[arg-type]
    assert provider == StoreTarget("celigo.cart.com", "https://celigo.cart.com", (PUBLIC_V4,))
    # The dev-only insecure hosts are exempt: never resolved, reached as given.
    insecure = ensure_safe_to_connect("127.0.0.1:8765", resolve=no_dns, **CONNECT)  # type: ignore[arg-type]
    assert insecure == StoreTarget("127.0.0.1:8765", "http://127.0.0.1:8765", ())
    assert insecure.address is None
    custom = ensure_safe_to_connect("shop.example.com", resolve=answers(PUBLIC_V6, PUBLIC_V4), **CONNECT)  # type: ignore[arg-type]
    assert custom.addresses == (PUBLIC_V6, PUBLIC_V4) and custom.address == PUBLIC_V6  # resolver order


def test_the_target_keeps_each_checked_address_once_in_its_canonical_spelling() -> None:
    target = ensure_safe_to_connect(
        "shop.example.com",
        resolve=answers("2606:2800:021f:cb07:6820:80da:af6b:8b2c", PUBLIC_V4, PUBLIC_V6, PUBLIC_V4),
        **CONNECT,  # type: ignore[arg-type]
    )
    assert target.addresses == (PUBLIC_V6, PUBLIC_V4)


@pytest.mark.parametrize("host", ["localhost.cart.com", "shop.americommerce.com", "shop.example.com"])
@pytest.mark.parametrize("bad", REFUSED_ADDRESSES)
def test_every_host_is_resolved_and_refused_at_connect_time_unless_all_public(host: str, bad: str) -> None:
    """Provider domains too: any name can be pointed at 127.0.0.1 or the metadata service."""
    for addresses in ([bad], [PUBLIC_V4, bad], [bad, PUBLIC_V6]):
        lookups: list[str] = []

        def resolve(name: str, addresses: list[str] = addresses, lookups: list[str] = lookups) -> list[str]:
            lookups.append(name)
            return addresses

        with pytest.raises(UnsafeStoreHost) as info:
            ensure_safe_to_connect(host, resolve=resolve, **CONNECT)  # type: ignore[arg-type]
        assert "non-public address" in info.value.message
        assert lookups == [host]  # exactly one lookup per check


@pytest.mark.parametrize("resolve", [dns_failure, answers()])
def test_a_provider_host_that_does_not_resolve_is_refused_at_connect_time(
    resolve: Callable[[str], list[str]],
) -> None:
    with pytest.raises(UnsafeStoreHost, match="does not resolve"):
        ensure_safe_to_connect("gone.cart.com", resolve=resolve, **CONNECT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "options"),
    [
        ("shop.example.com", {**CONNECT, "allow_custom_domains": False}),
        (
            "celigo.cart.com",
            {**CONNECT, "allowed_suffixes": ("americommerce.com",), "allow_custom_domains": False},
        ),
        ("127.0.0.1:8765", {**CONNECT, "insecure_hosts": ()}),
        ("https://celigo.cart.com/", CONNECT),
        ("Celigo.cart.com", CONNECT),
        ("127.0.0.1", CONNECT),
    ],
)
def test_ensure_safe_to_connect_revalidates(host: str, options: dict[str, object]) -> None:
    with pytest.raises(UnsafeStoreHost):
        ensure_safe_to_connect(host, resolve=answers(PUBLIC_V4), **options)  # type: ignore[arg-type]


def test_store_base_url() -> None:
    assert store_base_url("celigo.cart.com", ()) == "https://celigo.cart.com"
    assert store_base_url("celigo.cart.com", INSECURE) == "https://celigo.cart.com"
    assert store_base_url("127.0.0.1:8765", INSECURE) == "http://127.0.0.1:8765"
    assert store_base_url("127.0.0.1:8765", ()) == "https://127.0.0.1:8765"


def test_resolve_addresses_returns_unique_ip_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        assert host == "shop.example.com"
        assert kwargs["family"] == socket.AF_UNSPEC
        stream = socket.SOCK_STREAM
        return [
            (socket.AF_INET, stream, 6, "", (PUBLIC_V4, port)),
            (socket.AF_INET6, stream, 6, "", (PUBLIC_V6, port, 0, 0)),
            (socket.AF_INET, stream, 6, "", (PUBLIC_V4, port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert resolve_addresses("shop.example.com") == [PUBLIC_V4, PUBLIC_V6]


# Property tests: whatever is accepted is a bare, lower-case host that a URL parser reads back unchanged.
labels = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
plausible_hosts = st.builds(
    lambda prefix, names, suffix, tail: prefix + ".".join(names) + suffix + tail,
    st.sampled_from(["", "https://", "HTTPS://", " ", "http://", "//", "user@"]),
    st.lists(labels, min_size=1, max_size=4),
    st.sampled_from(["", ".cart.com", ".AmeriCommerce.com", ".example.com", ".com", ".localhost", "."]),
    st.sampled_from(["", "/", ":443", "/x", "?", "#", " ", "\n", "%2e"]),
)
url_ish_text = st.text(alphabet="abcXYZ019-._:/@[]%\\?#x \t\n", max_size=40)
candidates = st.one_of(plausible_hosts, url_ish_text, st.text(max_size=40))


@given(names=st.lists(labels, min_size=1, max_size=4), suffix=st.sampled_from(SUFFIXES))
def test_any_ldh_subdomain_of_an_allowed_suffix_is_accepted(names: list[str], suffix: str) -> None:
    host = ".".join(names) + "." + suffix.upper()
    assert normalize("https://" + host + "/") == host.lower()


@given(raw=candidates)
def test_accepted_results_are_bare_hosts_and_idempotent(raw: str) -> None:
    options: dict[str, object] = {
        "allow_custom_domains": True,
        "insecure_hosts": (),
        "resolve": answers(PUBLIC_V4),
    }
    try:
        result = normalize(raw, **options)
    except InvalidField as error:
        assert error.field == "subdomain"
        return
    parts = urlsplit("https://" + result)
    assert parts.hostname == result
    assert parts.port is None
    assert parts.path == ""
    assert parts.netloc == result
    assert result.isascii()
    assert result == result.lower()
    assert normalize(result, **options) == result


@pytest.fixture
def no_pins() -> Iterator[None]:
    token = hosts._pinned.set(None)
    yield
    hosts._pinned.reset(token)


def test_safe_store_base_url_checks_the_host_under_the_deployments_settings(no_pins: None) -> None:
    settings = Settings(table_name="t", kms_key_id="k", insecure_store_hosts=INSECURE)
    assert safe_store_base_url("127.0.0.1:8765", settings, resolve=no_dns) == "http://127.0.0.1:8765"
    # Custom domains are allowed by default, once they resolve to public addresses only.
    assert safe_store_base_url("shop.example.com", settings, resolve=answers(PUBLIC_V4)) == (
        "https://shop.example.com"
    )
    restricted = Settings(table_name="t", kms_key_id="k", allow_custom_store_domains=False)
    with pytest.raises(UnsafeStoreHost, match="custom store domains are disabled"):
        safe_store_base_url("shop.example.com", restricted, resolve=no_dns)
    with pytest.raises(UnsafeStoreHost):
        safe_store_base_url("127.0.0.1:8765", Settings(table_name="t", kms_key_id="k"), resolve=no_dns)


def test_safe_store_base_url_pins_what_it_checked_and_only_that(no_pins: None) -> None:
    settings = Settings(table_name="t", kms_key_id="k", insecure_store_hosts=INSECURE)
    assert pinned_target("shop.example.com") is None
    safe_store_base_url("shop.example.com", settings, resolve=answers(PUBLIC_V4))
    assert pinned_target("shop.example.com") == StoreTarget(
        "shop.example.com", "https://shop.example.com", (PUBLIC_V4,)
    )
    assert pinned_target("Shop.Example.com") == pinned_target("shop.example.com")
    safe_store_base_url("shop.example.com", settings, resolve=answers(PUBLIC_V6))
    assert pinned_target("shop.example.com").address == PUBLIC_V6  # type: ignore[union-attr]
    # A refused check pins nothing new (and a host refused outright leaves no pin).
    with pytest.raises(UnsafeStoreHost):
        safe_store_base_url("localhost.cart.com", settings, resolve=answers("127.0.0.1"))
    assert pinned_target("localhost.cart.com") is None
    safe_store_base_url("127.0.0.1:8765", settings, resolve=no_dns)
    assert pinned_target("127.0.0.1:8765") == StoreTarget("127.0.0.1:8765", "http://127.0.0.1:8765")


def test_only_the_latest_pins_are_kept(no_pins: None) -> None:
    settings = Settings(table_name="t", kms_key_id="k")
    names = [f"store-{index}.cart.com" for index in range(hosts.MAX_PINNED_TARGETS + 2)]
    for name in names:
        safe_store_base_url(name, settings, resolve=answers(PUBLIC_V4))
    assert pinned_target(names[0]) is None and pinned_target(names[1]) is None
    assert all(pinned_target(name) is not None for name in names[2:])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, True),
        ({"ALLOW_CUSTOM_STORE_DOMAINS": ""}, True),
        ({"ALLOW_CUSTOM_STORE_DOMAINS": "true"}, True),
        ({"ALLOW_CUSTOM_STORE_DOMAINS": "false"}, False),
    ],
)
def test_custom_store_domains_are_allowed_unless_the_deployment_says_false(
    env: dict[str, str], expected: bool
) -> None:
    settings = Settings.from_environment({"TABLE_NAME": "t", "KMS_KEY_ID": "k", **env})
    assert settings.allow_custom_store_domains is expected
    assert Settings(table_name="t", kms_key_id="k").allow_custom_store_domains is True


def test_the_browser_is_sent_by_policy_alone_never_after_a_dns_lookup(monkeypatch):
    import socket

    from cartconnect.hosts import UnsafeStoreHost, browser_store_base_url
    from cartconnect.settings import Settings

    def no_dns(*_args, **_kwargs):
        raise AssertionError("the authorize redirect must not resolve the store host")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    allowed = Settings(table_name="t", kms_key_id="k", allow_custom_store_domains=True)
    assert browser_store_base_url("www.brand.com", allowed) == "https://www.brand.com"
    assert browser_store_base_url("localhost.cart.com", allowed) == "https://localhost.cart.com"
    restricted = Settings(table_name="t", kms_key_id="k", allow_custom_store_domains=False)
    with pytest.raises(UnsafeStoreHost):
        browser_store_base_url("www.brand.com", restricted)
    with pytest.raises(UnsafeStoreHost):
        browser_store_base_url("127.0.0.1", allowed)
