"""Which read proves a connection's token works, chosen from its granted scopes (docs/lifecycle.md,
"Testing a connection"). Any 2xx with the token means online; no connection needs `system` to be
tested. The first row whose scopes the connection holds wins: the cheapest reads come first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    path: str  # under the store host, with its query
    scopes: frozenset[str]  # any one of them allows the read

    @property
    def label(self) -> str:
        return f"GET {self.path}"


PROBES: tuple[Probe, ...] = (
    Probe("/api/v1/stores", frozenset({"system"})),
    Probe("/api/v1/products?count=1", frozenset({"catalog", "read_catalog"})),
    Probe("/api/v1/orders?count=1", frozenset({"orders", "read_orders"})),
    Probe("/api/v1/customers?count=1", frozenset({"people", "read_people"})),
    Probe("/api/v1/pages?count=1", frozenset({"content", "read_content"})),
    Probe("/api/v1/adcodes?count=1", frozenset({"marketing", "read_marketing"})),
    Probe("/api/v1/warehouses?count=1", frozenset({"settings"})),
    Probe("/api/v1/custom_fields?count=1", frozenset({"custom_fields"})),
    Probe("/api/v1/email_templates?count=1", frozenset({"email"})),
)
# `import`, `decrypt` and `no_expiry` grant no read. A connection holding only those is tested with
# /stores: its answer (most likely 403) still tells a working token (403) from a refused one (401).
FALLBACK = PROBES[0]


def probe_for(scopes: tuple[str, ...] | frozenset[str]) -> Probe:
    granted = set(scopes)
    return next((probe for probe in PROBES if probe.scopes & granted), FALLBACK)


def refused_because(probe: Probe) -> str:
    """Why a store answers 403 to the probe: the scope, or the authorizing admin's role."""
    needed = " or ".join(f"`{name}`" for name in sorted(probe.scopes))
    return (
        f"the store refused {probe.label} (403): the grant lacks the {needed} scope, or the admin who "
        "authorized it lacks the matching admin-console role permissions"
    )
