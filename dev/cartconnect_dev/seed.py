"""`cartconnect-dev seed`: the objects the sample events in events/ refer to, under their fixed ids.

Every sample then answers 2xx (or its documented 3xx; the store-denied callback answers its error
page, 400), under `cartconnect-dev invoke` and under `sam local invoke` alike:

    tenant sample-tenant (the samples' tenant_id claim)
      icl_00000000000000000000000001  "Sample store app": the sandbox store's app; used by both connections
      icl_00000000000000000000000002  "Unused app": no connection uses it (management-delete-iclient)
      con_00000000000000000000000001  "Sandbox store": active, authorized on the sandbox store (token,
                                      refresh, test, get, update, authorize-link, the worker batch, the
                                      store proxy's samples: `catalog` lets them read and write products)
      con_00000000000000000000000002  "Sandbox store (pending)": pending_authorization (delete-connection,
                                      authorize-connect's link ticket, callback-store-denied's state)
      link ticket 00…00 (64 zeros) for con_…02, valid 10 minutes (authorize-connect)
      OAuth state 00…00 (64 zeros) for con_…02, with a fixed browser-binding key (callback-store-denied
                                      carries the matching cookie)

Everything is written through the project's own use cases and repositories (never hand-written
items): iClients and connections by the use cases (which mint random ids, so the seed hands them the
fixed one), the active connection authorized by the real flow (authorize redirect, the sandbox
store's consent, the callback's token exchange), the ticket and the state by the authorization
repository. Idempotent: what exists is kept; a sample that deleted or spent something (a delete, the
ticket, the state) finds it again after the next seed. The ticket and the state are renewed on every
seed (a sample spends them, and a new authorize link voids the ticket).

The fixed ticket and state are test fixtures, known to everyone: a deployed stack never has them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import httpx2

from cartconnect import aws, clock
from cartconnect.adapters import authorization_repository, iclient_secret
from cartconnect.domain.authorization import State, Ticket
from cartconnect.domain.connection import Connection, ConnectionStatus
from cartconnect.errors import NotFound
from cartconnect.scopes import scope_string
from cartconnect.usecases import connections, iclients
from cartconnect.usecases.authorization import callback, flow, links, redirect
from cartconnect_dev.demo import approve_on_sandbox

TENANT = "sample-tenant"
SAMPLE_ICLIENT_ID = "icl_00000000000000000000000001"
UNUSED_ICLIENT_ID = "icl_00000000000000000000000002"
ACTIVE_CONNECTION_ID = "con_00000000000000000000000001"
PENDING_CONNECTION_ID = "con_00000000000000000000000002"
SCOPES = ["catalog", "read_orders", "system"]
# Fixtures, not secrets: the samples carry them (events/authorize-connect.json, callback-store-denied.json).
SAMPLE_TICKET = "0" * 64
SAMPLE_STATE = "0" * 64
# The callback sample's cookie is `{flow.cookie_name(SAMPLE_STATE)}={credentials.binding(SAMPLE_BINDING_KEY,
# SAMPLE_STATE)}`, the one an authorize redirect would have set for this state.
SAMPLE_BINDING_KEY = "0" * 64


@dataclass(frozen=True)
class SandboxApp:
    """The sandbox store the active connection is authorized on, and the app it knows."""

    base_url: str
    host: str
    client_id: str
    client_secret: str = field(repr=False)


@dataclass
class SeedReport:
    lines: list[str] = field(default_factory=list)

    def add(self, what: str, outcome: str) -> None:
        self.lines.append(f"{what}: {outcome}")


class SeedFailed(Exception):
    pass


@contextlib.contextmanager
def _fixed_id(module: ModuleType, value: str) -> Iterator[None]:
    """The use case in `module` creates its next object under `value` instead of a random id."""
    original = getattr(module, "new_id")  # noqa: B009 - any use case module that mints ids
    prefix = value.partition("_")[0]

    def fixed(asked: str) -> str:
        if asked != prefix:
            raise SeedFailed(f"asked for a {asked}_ id while seeding {value}")
        return value

    setattr(module, "new_id", fixed)  # noqa: B010
    try:
        yield
    finally:
        setattr(module, "new_id", original)  # noqa: B010


def seed(sandbox: SandboxApp, *, origin: str | None = None) -> SeedReport:
    """Create what is missing (see the module docstring); needs the handlers' environment (TABLE_NAME,
    KMS_KEY_ID, AWS_ENDPOINT_URL, CARTCONNECT_INSECURE_STORE_HOSTS with the sandbox's host) set."""
    origin = (origin or os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if not origin:
        raise SeedFailed("no origin for the connections' callback URL (PUBLIC_BASE_URL is not set)")
    report = SeedReport()
    _iclient(report, SAMPLE_ICLIENT_ID, "Sample store app", sandbox)
    _iclient(report, UNUSED_ICLIENT_ID, "Unused app", sandbox)
    _connection(report, ACTIVE_CONNECTION_ID, "Sandbox store", sandbox, origin)
    _connection(report, PENDING_CONNECTION_ID, "Sandbox store (pending)", sandbox, origin)
    active = connections.get(TENANT, ACTIVE_CONNECTION_ID)
    if active.status is ConnectionStatus.ACTIVE:
        report.add(f"connection {ACTIVE_CONNECTION_ID}", "active (kept)")
    else:
        _authorize(active.id, sandbox, origin)
        report.add(f"connection {ACTIVE_CONNECTION_ID}", "authorized on the sandbox store: active")
    pending = connections.get(TENANT, PENDING_CONNECTION_ID)
    _renew_ticket(pending.link_generation)
    report.add(f"link ticket {SAMPLE_TICKET[:6]}… for {PENDING_CONNECTION_ID}", "renewed (10 minutes)")
    _renew_state(pending, sandbox)
    report.add(f"OAuth state {SAMPLE_STATE[:6]}… for {PENDING_CONNECTION_ID}", "renewed (10 minutes)")
    return report


def _ensure(report: SeedReport, what: str, read: Callable[[], object], create: Callable[[], object]) -> None:
    """Keep the object `read` finds; otherwise `create` it."""
    try:
        read()
        report.add(what, "kept")
    except NotFound:
        create()
        report.add(what, "created")


def _iclient(report: SeedReport, iclient_id: str, name: str, sandbox: SandboxApp) -> None:
    def create() -> None:
        # A sample deleted this fixed-id iClient before: its secret waits out the 7-day recovery window
        # under the same name, which a new CreateSecret may not reuse. Real ids never repeat.
        _forget_secret(iclient_secret.secret_name(TENANT, iclient_id))
        with _fixed_id(iclients, iclient_id):
            iclients.create(
                TENANT, name=name, client_id=sandbox.client_id, client_secret=sandbox.client_secret
            )

    _ensure(report, f"iClient {iclient_id}", lambda: iclients.get(TENANT, iclient_id), create)


def _forget_secret(name: str) -> None:
    from botocore.exceptions import ClientError

    try:
        aws.client("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise


def _connection(report: SeedReport, connection_id: str, name: str, sandbox: SandboxApp, origin: str) -> None:
    def create() -> None:
        with _fixed_id(connections, connection_id):
            connections.create(
                TENANT,
                name=name,
                subdomain=sandbox.host,
                iclient_id=SAMPLE_ICLIENT_ID,
                scopes=SCOPES,
                callback_url=None,
                origin=origin,
            )

    _ensure(report, f"connection {connection_id}", lambda: connections.get(TENANT, connection_id), create)


def _authorize(connection_id: str, sandbox: SandboxApp, origin: str) -> None:
    """The real flow, in this process: a new link, the authorize redirect, the sandbox store's consent
    and the callback's code exchange."""
    link = links.issue_link(TENANT, connection_id, origin=origin)
    started = redirect.start(link.rsplit("/", 1)[1])
    cookie_name, _, cookie_value = started.cookie.partition(";")[0].partition("=")
    with httpx2.Client(follow_redirects=False, timeout=30, trust_env=False) as http:
        callback_url = approve_on_sandbox(http.request, started.location, sandbox.base_url)
    query = parse_qs(urlsplit(callback_url).query, keep_blank_values=True)
    outcome = callback.complete(query, {cookie_name: cookie_value})
    if outcome.connection.status is not ConnectionStatus.ACTIVE:
        raise SeedFailed(f"{connection_id} is {outcome.connection.status.value} after its authorization")


def _renew_ticket(link_generation: int) -> None:
    authorization_repository.consume_ticket(SAMPLE_TICKET)
    authorization_repository.put_ticket(
        SAMPLE_TICKET,
        Ticket(
            TENANT, PENDING_CONNECTION_ID, link_generation, clock.epoch_seconds() + flow.LINK_LIFETIME_SECONDS
        ),
    )


def _renew_state(connection: Connection, sandbox: SandboxApp) -> None:
    """The state an authorize redirect would have recorded for the connection (it is pending)."""
    authorization_repository.consume_state(SAMPLE_STATE)
    authorization_repository.put_state(
        SAMPLE_STATE,
        State(
            tenant=connection.tenant,
            connection_id=connection.id,
            subdomain=connection.subdomain,
            client_id=sandbox.client_id,
            iclient_id=connection.iclient_id,
            scope=scope_string(connection.scopes),
            callback_url=connection.callback_url,
            auth_generation=connection.auth_generation,
            binding_key=SAMPLE_BINDING_KEY,
            expires_at=clock.epoch_seconds() + flow.STATE_LIFETIME_SECONDS,
        ),
    )
