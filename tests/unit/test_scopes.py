import pytest

from cartconnect.errors import InvalidField
from cartconnect.scopes import SCOPES, canonical_scopes, scope_string


def test_canonical_order_and_duplicates_collapse():
    assert canonical_scopes(["catalog", "read_orders", "catalog", "people"]) == (
        "people",
        "read_orders",
        "catalog",
    )
    assert scope_string(("people", "read_orders")) == "people,read_orders"


@pytest.mark.parametrize("requested", [[], ["orders", "Orders"], ["read-orders"], ["orders,catalog"]])
def test_rejects_empty_and_unknown(requested):
    with pytest.raises(InvalidField) as raised:
        canonical_scopes(requested)
    assert raised.value.field == "scopes"


def test_catalog_matches_documented_names_and_twins():
    names = [scope.name for scope in SCOPES]
    assert len(names) == len(set(names)) == 17
    twins = {scope.name: scope.read_only_twin for scope in SCOPES if scope.read_only_twin}
    assert twins == {f: f"read_{f}" for f in ("people", "orders", "catalog", "content", "marketing")}
