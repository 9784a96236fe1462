"""Which read tests a connection, from its granted scopes (cartconnect/store_probes.py)."""

from __future__ import annotations

import pytest

from cartconnect.scopes import SCOPES
from cartconnect.store_probes import FALLBACK, PROBES, probe_for, refused_because
from cartconnect_dev.sandbox_store import API_RESOURCES


@pytest.mark.parametrize(
    ("scopes", "path"),
    [
        (("system",), "/api/v1/stores"),
        (("read_orders", "system"), "/api/v1/stores"),
        (("catalog",), "/api/v1/products?count=1"),
        (("read_catalog", "read_orders"), "/api/v1/products?count=1"),
        (("orders",), "/api/v1/orders?count=1"),
        (("read_people",), "/api/v1/customers?count=1"),
        (("content",), "/api/v1/pages?count=1"),
        (("read_marketing",), "/api/v1/adcodes?count=1"),
        (("settings",), "/api/v1/warehouses?count=1"),
        (("custom_fields", "decrypt"), "/api/v1/custom_fields?count=1"),
        (("email",), "/api/v1/email_templates?count=1"),
        (("import", "no_expiry"), "/api/v1/stores"),
    ],
)
def test_the_probe_follows_the_granted_scopes(scopes, path):
    assert probe_for(scopes).path == path


def test_only_scopes_without_a_read_fall_back():
    readable = {name for probe in PROBES for name in probe.scopes}
    catalog = {scope.name for scope in SCOPES}
    assert readable <= catalog
    assert catalog - readable == {"import", "decrypt", "no_expiry"}
    assert probe_for(("decrypt",)) is FALLBACK


def test_the_sandbox_store_enforces_the_same_scopes_as_the_probes_assume():
    for probe in PROBES:
        resource = probe.path.removeprefix("/api/v1/").partition("?")[0]
        assert API_RESOURCES[resource] == probe.scopes


def test_a_refusal_names_the_scopes_and_the_admin_role():
    message = refused_because(probe_for(("read_orders",)))
    assert "`orders` or `read_orders`" in message and "admin-console role" in message
    assert "GET /api/v1/orders?count=1 (403)" in message
