"""AmeriCommerce's documented OAuth scopes, in the canonical order cartconnect stores and sends them."""

from __future__ import annotations

from dataclasses import dataclass

from cartconnect.errors import InvalidField


@dataclass(frozen=True)
class Scope:
    name: str
    grants: str
    read_only_twin: str | None = None


SCOPES: tuple[Scope, ...] = (
    Scope("read_people", "Read customers, users, profiles and addresses"),
    Scope("people", "Read and write customers, users, profiles and addresses", "read_people"),
    Scope("read_orders", "Read orders, carts, payments, shipments, quotes and subscriptions"),
    Scope(
        "orders", "Read and write orders, carts, payments, shipments, quotes and subscriptions", "read_orders"
    ),
    Scope("read_catalog", "Read products, categories, attributes, variants and inventory"),
    Scope(
        "catalog", "Read and write products, categories, attributes, variants and inventory", "read_catalog"
    ),
    Scope("read_content", "Read blogs, pages and links"),
    Scope("content", "Read and write blogs, pages and links", "read_content"),
    Scope("read_marketing", "Read adcodes, coupons, discounts, gift certificates and mailing lists"),
    Scope(
        "marketing",
        "Read and write adcodes, coupons, discounts, gift certificates and mailing lists",
        "read_marketing",
    ),
    Scope("email", "Send email templates"),
    Scope("custom_fields", "Custom fields and their values"),
    Scope("import", "Data import"),
    Scope("settings", "Shipping, warehouses, tax rates, regions, payment methods and redirects"),
    Scope("system", "Stores, microstores, sessions and uploads"),
    Scope("decrypt", "Decrypted card and payment data"),
    Scope("no_expiry", "The access token never expires and needs no refresh"),
)

_ORDER = {scope.name: index for index, scope in enumerate(SCOPES)}

# The provider does not document a separator; third-party guides send a comma-separated list.
SCOPE_SEPARATOR = ","


def canonical_scopes(requested: list[str] | tuple[str, ...], field: str = "scopes") -> tuple[str, ...]:
    """Validate scope names, collapse duplicates and return them in the catalog's order."""
    if not requested:
        raise InvalidField(field, "at least one scope is required")
    unknown = sorted({name for name in requested if name not in _ORDER})
    if unknown:
        raise InvalidField(field, f"unknown scope(s): {', '.join(unknown)}; see GET /v1/scopes")
    return tuple(sorted(set(requested), key=_ORDER.__getitem__))


def scope_string(scopes: tuple[str, ...]) -> str:
    """The exact scope string sent to the store and signed in the token exchange."""
    return SCOPE_SEPARATOR.join(scopes)
