"""Authorization attempts: link tickets and OAuth states, keyed by their hashes, single-use.

Consumption is a conditional delete, so one ticket or state can be spent once however many
requests race for it. Expiry is checked in code: DynamoDB's TTL only tidies up, late.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cartconnect import aws
from cartconnect.adapters import table
from cartconnect.credentials import digest
from cartconnect.domain.authorization import State, Ticket

TTL_GRACE_SECONDS = 86_400


def _ticket_key(ticket: str) -> dict[str, Any]:
    return table.key(f"TICKET#{digest(ticket)}", "TICKET")


def _state_key(state: str) -> dict[str, Any]:
    return table.key(f"STATE#{digest(state)}", "STATE")


def put_ticket(ticket: str, value: Ticket) -> None:
    _put(_ticket_key(ticket), "ticket", value)


def put_state(state: str, value: State) -> None:
    _put(_state_key(state), "state", value)


def _put(key: dict[str, Any], kind: str, value: Ticket | State) -> None:
    item = {**_plain_key(key), "type": kind, **_fields(value)}
    item["ttl"] = value.expires_at + TTL_GRACE_SECONDS
    with aws.translated():
        table.client().put_item(
            TableName=table.table_name(),
            Item=table.marshal(item),
            ConditionExpression="attribute_not_exists(pk)",
        )


def _read(key: dict[str, Any]) -> table.Item | None:
    with aws.translated():
        response = table.client().get_item(TableName=table.table_name(), Key=key, ConsistentRead=True)
    raw = response.get("Item")
    return table.unmarshal(raw) if raw else None


def read_ticket(ticket: str) -> Ticket | None:
    """The ticket as stored, left unspent (the link's page: previews open links too)."""
    raw = _read(_ticket_key(ticket))
    return _ticket(raw) if raw is not None else None


def consume_ticket(ticket: str) -> Ticket | None:
    raw = _delete(_ticket_key(ticket))
    return _ticket(raw) if raw is not None else None


def _ticket(raw: table.Item) -> Ticket:
    api_link = raw.get("api_link_generation")
    return Ticket(
        raw["tenant"],
        raw["connection_id"],
        int(raw["link_generation"]),
        int(raw["expires_at"]),
        int(api_link) if api_link is not None else None,
    )


def read_state(state: str) -> State | None:
    raw = _read(_state_key(state))
    return _state(raw) if raw is not None else None


def consume_state(state: str) -> State | None:
    """Spend the state; None when another request spent it first (or it never existed)."""
    raw = _delete(_state_key(state))
    return _state(raw) if raw is not None else None


def _state(raw: table.Item) -> State:
    return State(
        tenant=raw["tenant"],
        connection_id=raw["connection_id"],
        subdomain=raw["subdomain"],
        client_id=raw["client_id"],
        iclient_id=raw["iclient_id"],
        scope=raw["scope"],
        callback_url=raw["callback_url"] if "callback_url" in raw else _legacy_callback_url(raw),
        auth_generation=int(raw["auth_generation"]),
        binding_key=raw["binding_key"],
        expires_at=int(raw["expires_at"]),
    )


def _legacy_callback_url(raw: table.Item) -> str:
    """A state recorded before the URI was kept without it (at most STATE_LIFETIME old when a
    deploy lands mid-authorization): its redirect URI is the callback URL plus the state, last."""
    uri = urlsplit(raw["redirect_uri"])
    pairs = parse_qsl(uri.query, keep_blank_values=True)[:-1]
    return urlunsplit(uri._replace(query=urlencode(pairs)))


def _delete(key: dict[str, Any]) -> table.Item | None:
    response = table.conditional(
        table.client().delete_item,
        TableName=table.table_name(),
        Key=key,
        ConditionExpression="attribute_exists(pk)",
        ReturnValues="ALL_OLD",
    )
    return table.unmarshal(response["Attributes"]) if response is not None else None


def _plain_key(key: dict[str, Any]) -> dict[str, str]:
    return {"pk": key["pk"]["S"], "sk": key["sk"]["S"]}


def _fields(value: Ticket | State) -> dict[str, Any]:
    return asdict(value)
