"""Store hosts ("subdomains"): parse what a user pasted, and decide whether cartconnect may connect to it.

Every provider URL is `https://{store-host}`, so the host is the one piece of user input that chooses where
our server sends requests (and client secrets): anything that could reach an internal address is refused.

Right before connecting, a stored host is checked again and resolved once; the check's answer, a
StoreTarget, is pinned for the current context (thread), and the store client's transport
(cartconnect.provider.transport.PinnedStoreTransport) connects only to a pinned target's checked address,
never resolving a name itself. A name that resolves differently by the time of the connection (DNS
rebinding) therefore cannot lead it anywhere else. See docs/decisions/0011-pinned-store-addresses.md.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cartconnect.errors import InvalidField

if TYPE_CHECKING:
    from cartconnect.settings import Settings

Resolver = Callable[[str], list[str]]

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# WHATWG URL parsers (browsers, some HTTP clients) read a host whose last label is a number
# (decimal, octal or 0x-hex) as an IPv4 address: `0x7f.1`, `127.1`, `2130706433`.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_FORBIDDEN_MARKS = (
    ("#", "must not include a fragment ('#')"),
    ("?", "must not include a query ('?')"),
    ("@", "must not include a user name or password ('@')"),
)
_IP_MESSAGE = "IP addresses are not allowed; use the store's host name, such as yourstore.cart.com"


class UnsafeStoreHost(InvalidField):
    """A stored store host failed the check made right before connecting to it."""

    title = "Unsafe store host"
    type_slug = "unsafe-store-host"


@dataclass(frozen=True)
class StoreTarget:
    """Where requests for a stored host go, as checked right before connecting.

    `host` is the stored host: the URL's host, the TLS server name (SNI), the name the certificate
    must be valid for and the `Host` header. `addresses` are every address it resolved to, all public,
    in the resolver's order; `address` (the first) is the one connections go to. Both are empty only
    for the dev-only insecure hosts (CARTCONNECT_INSECURE_STORE_HOSTS), which are reached as given.
    """

    host: str
    base_url: str
    addresses: tuple[str, ...] = ()

    @property
    def address(self) -> str | None:
        return self.addresses[0] if self.addresses else None


# The targets checked in this context (a thread, or an asyncio task), by host; the most recent last.
# Few use cases talk to more than one store, so a handful is plenty; older ones are dropped.
MAX_PINNED_TARGETS = 16
_pinned: ContextVar[dict[str, StoreTarget] | None] = ContextVar(
    "cartconnect_pinned_store_targets", default=None
)


def resolve_addresses(host: str) -> list[str]:
    """Every IPv4 and IPv6 address `host` resolves to (raises OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, 443, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and str(sockaddr[0]) not in addresses:
            addresses.append(str(sockaddr[0]))
    return addresses


def pin(target: StoreTarget) -> None:
    """Let connections to `target.host` made in this context go to the target's checked address."""
    pins = dict(_pinned.get() or {})
    pins.pop(target.host, None)
    pins[target.host] = target
    while len(pins) > MAX_PINNED_TARGETS:
        del pins[next(iter(pins))]
    _pinned.set(pins)


def pinned_target(host: str) -> StoreTarget | None:
    """The target last checked for `host` (a URL's host[:port]) in this context, None when unchecked."""
    return (_pinned.get() or {}).get(host.lower())


def store_base_url(host: str, insecure_hosts: tuple[str, ...]) -> str:
    scheme = "http" if host.lower() in _lowered(insecure_hosts) else "https"
    return f"{scheme}://{host}"


def normalize_store_host(
    raw: str,
    *,
    allowed_suffixes: tuple[str, ...],
    allow_custom_domains: bool,
    insecure_hosts: tuple[str, ...] = (),
    resolve: Resolver = resolve_addresses,
    field: str = "subdomain",
) -> str:
    """The lower-cased host alone, from a bare host or a pasted https URL; InvalidField when unsafe.

    A custom domain must already resolve to public addresses only (early feedback on a typo); hosts
    under the provider's domains are not resolved here. Every host is resolved and checked again
    right before each connection (ensure_safe_to_connect)."""

    def invalid(message: str) -> InvalidField:
        return InvalidField(field, message)

    host, kind = _allowed_host(
        raw,
        allowed_suffixes=allowed_suffixes,
        allow_custom_domains=allow_custom_domains,
        insecure_hosts=insecure_hosts,
        invalid=invalid,
    )
    if kind == "custom":
        _public_addresses(host, resolve, invalid)
    return host


def ensure_safe_to_connect(
    host: str,
    *,
    allowed_suffixes: tuple[str, ...],
    allow_custom_domains: bool,
    insecure_hosts: tuple[str, ...],
    resolve: Resolver = resolve_addresses,
) -> StoreTarget:
    """Re-check a stored host right before connecting (settings may have changed and DNS may have moved),
    resolving it exactly once, provider domains included: `localhost.cart.com` may well resolve to
    127.0.0.1. Raises UnsafeStoreHost unless every address it resolves to is public."""

    def invalid(message: str) -> InvalidField:
        return UnsafeStoreHost("subdomain", message)

    normalized, kind = _allowed_host(
        host,
        allowed_suffixes=allowed_suffixes,
        allow_custom_domains=allow_custom_domains,
        insecure_hosts=insecure_hosts,
        invalid=invalid,
    )
    if normalized != host:
        raise UnsafeStoreHost("subdomain", "is not a normalized store host")
    if kind == "insecure":
        return StoreTarget(host, store_base_url(host, insecure_hosts))
    addresses = _public_addresses(host, resolve, invalid)
    return StoreTarget(host, f"https://{host}", addresses)


def safe_store_base_url(host: str, settings: Settings, *, resolve: Resolver = resolve_addresses) -> str:
    """Where to send a request for a stored host, once it passes ensure_safe_to_connect under this
    deployment's settings (raises UnsafeStoreHost otherwise). The checked target is pinned in this
    context: the store client's connections for `host` go to the address that was checked."""
    target = ensure_safe_to_connect(
        host,
        allowed_suffixes=settings.allowed_store_suffixes,
        allow_custom_domains=settings.allow_custom_store_domains,
        insecure_hosts=settings.insecure_store_hosts,
        resolve=resolve,
    )
    pin(target)
    return target.base_url


def browser_store_base_url(host: str, settings: Settings) -> str:
    """Where to send the admin's browser for a stored host: the deployment's host policy, without a
    DNS lookup (cartconnect does not connect there; the browser does, and every later server-side
    call is checked and pinned by safe_store_base_url). Raises UnsafeStoreHost."""

    def invalid(message: str) -> InvalidField:
        return UnsafeStoreHost("subdomain", message)

    normalized, _kind = _allowed_host(
        host,
        allowed_suffixes=settings.allowed_store_suffixes,
        allow_custom_domains=settings.allow_custom_store_domains,
        insecure_hosts=settings.insecure_store_hosts,
        invalid=invalid,
    )
    if normalized != host:
        raise UnsafeStoreHost("subdomain", "is not a normalized store host")
    return store_base_url(host, settings.insecure_store_hosts)


def _allowed_host(
    raw: str,
    *,
    allowed_suffixes: tuple[str, ...],
    allow_custom_domains: bool,
    insecure_hosts: tuple[str, ...],
    invalid: Callable[[str], InvalidField],
) -> tuple[str, Literal["insecure", "provider", "custom"]]:
    """The host and what kind it is, when its syntax and this deployment's host policy allow it."""
    text = raw.strip()
    insecure = _match_insecure(text, insecure_hosts)
    if insecure is not None:
        return insecure, "insecure"
    host = _authority(text, invalid).lower()
    _check_host_name(host, invalid)

    suffixes = tuple(suffix.lower().strip(".") for suffix in allowed_suffixes)
    if any(host.endswith("." + suffix) for suffix in suffixes if suffix):
        return host, "provider"
    if host in suffixes:
        # The provider's own site is not a store: stores live at `{store}.cart.com`.
        raise invalid(f"must be a store's host under {host}, such as yourstore.{host}")
    if not allow_custom_domains:
        allowed = ", ".join(f"*.{suffix}" for suffix in suffixes) or "none"
        raise invalid(f"custom store domains are disabled in this deployment; allowed hosts: {allowed}")
    return host, "custom"


def _lowered(hosts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in hosts)


def _match_insecure(text: str, insecure_hosts: tuple[str, ...]) -> str | None:
    if not insecure_hosts:
        return None
    candidate = text.lower()
    for scheme in ("http://", "https://"):
        candidate = candidate.removeprefix(scheme)
    candidate = candidate.removesuffix("/")
    return candidate if candidate and candidate in _lowered(insecure_hosts) else None


def _authority(text: str, invalid: Callable[[str], InvalidField]) -> str:
    """The host part of `text`, refusing every URL component other than an https scheme and one `/`."""
    _check_characters(text, invalid)
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() == "http":
            raise invalid("must use https; plain http is not allowed")
        if scheme.lower() != "https":
            raise invalid("only https URLs are accepted")
        text = rest
    for mark, message in _FORBIDDEN_MARKS:
        if mark in text:
            raise invalid(message)
    text = text.removesuffix("/")
    if "/" in text:
        raise invalid("must not include a path; give only the host, such as yourstore.cart.com")
    if "[" in text or "]" in text or text.count(":") > 1:
        raise invalid(_IP_MESSAGE)
    if ":" in text:
        raise invalid("must not include a port (':')")
    if not text:
        raise invalid("has no host")
    return text


def _check_characters(text: str, invalid: Callable[[str], InvalidField]) -> None:
    if not text:
        raise invalid("is empty")
    if not text.isascii():
        raise invalid("must be ASCII; for an internationalized domain use the punycode (xn--) form")
    if any(not char.isprintable() or char.isspace() for char in text):
        raise invalid("must not contain whitespace or control characters")
    if "%" in text:
        raise invalid("must not contain percent-escapes ('%')")
    if "\\" in text:
        raise invalid("must not contain backslashes")


def _check_host_name(host: str, invalid: Callable[[str], InvalidField]) -> None:
    if host.endswith("."):
        raise invalid("must not end with a dot")
    if len(host) > 253:
        raise invalid("is too long (at most 253 characters)")
    labels = host.split(".")
    if any(not label for label in labels):
        raise invalid("must not contain empty labels (leading or consecutive dots)")
    if any(len(label) > 63 for label in labels):
        raise invalid("has a label longer than 63 characters")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise invalid(
            "may contain only letters, digits, hyphens and dots, and a label cannot start or end with '-'"
        )
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise invalid(_IP_MESSAGE)
    if labels[-1] == "localhost":
        raise invalid("must not be localhost")
    if len(labels) == 1:
        raise invalid("must be a full host name, such as yourstore.cart.com")


def _public_addresses(
    host: str, resolve: Resolver, invalid: Callable[[str], InvalidField]
) -> tuple[str, ...]:
    """Every address `host` resolves to (one lookup), in the resolver's order, when all are public."""
    try:
        answer = resolve(host)
    except (OSError, UnicodeError):
        answer = []
    if not answer:
        raise invalid("does not resolve (DNS lookup failed)")
    addresses: list[str] = []
    for text in answer:
        address = _public_address(text)
        if address is None:
            raise invalid("resolves to a private, loopback or otherwise non-public address")
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def _public_address(text: str) -> str | None:
    """The address in its canonical spelling when it is public, else None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(address) if _is_public_address(address) else None


def _is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address are judged by it (older Pythons call them global).
        if address.ipv4_mapped is not None:
            return _is_public_address(address.ipv4_mapped)
        if address in _NAT64:
            return _is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not _is_public_address(address.sixtofour):
            return False
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
