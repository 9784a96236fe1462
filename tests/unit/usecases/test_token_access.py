"""usecases/token_access: what an on-demand token call answers for each outcome of the refresh
pipeline, with the repositories, the vault and the pipeline replaced by fakes and time by the
runtime seam (no AWS, no store, no real waiting)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from connections_at_noon import NOW, connection

from cartconnect.adapters import connection_repository, refresh_repository, token_vault
from cartconnect.domain.connection import Connection, ConnectionStatus, LastError
from cartconnect.domain.tokens import TokenSet
from cartconnect.errors import AuthorizationRequired, NotFound, RefreshFailed, TryLater
from cartconnect.usecases import token_access, token_refresh
from cartconnect.usecases.authorization import links
from cartconnect.usecases.token_refresh import Outcome, RefreshResult

DUE = {"refresh_due_at": NOW - timedelta(minutes=1), "expires_at": NOW + timedelta(minutes=14)}
EXPIRED = {"refresh_due_at": NOW - timedelta(minutes=20), "expires_at": NOW - timedelta(minutes=5)}


class Fakes:
    """The table as the use case sees it, the pipeline's scripted answers, a clock that polls move."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, use_runtime) -> None:
        self.stored = connection()
        self.after_poll: list[Connection | None] = []  # what each poll of the item reads
        self.results: list[RefreshResult] = []
        self.refreshes: list[dict] = []
        self.clock = 100.0
        self.polls = 0
        monkeypatch.setattr(refresh_repository, "read_with_tokens", self._read)
        monkeypatch.setattr(connection_repository, "get", self._get)
        monkeypatch.setattr(token_vault, "unseal", self._unseal)
        monkeypatch.setattr(token_refresh, "refresh", self._refresh)
        monkeypatch.setattr(links, "answer_link", lambda c, *, origin: f"{origin}/connect/fresh-ticket")
        use_runtime(now=lambda: NOW, monotonic=lambda: self.clock, poll=self._poll)

    def _read(self, tenant: str, connection_id: str) -> tuple[Connection, bytes] | None:
        return (self.stored, f"sealed-{self.stored.token_version}".encode()) if self.stored else None

    def _get(self, tenant: str, connection_id: str) -> Connection | None:
        if self.after_poll:
            self.stored = self.after_poll.pop(0)
        return self.stored

    @staticmethod
    def _unseal(tenant: str, connection_id: str, blob: bytes) -> token_vault.Tokens:
        return token_vault.Tokens(f"access-{blob.decode().removeprefix('sealed-')}", "refresh")

    def _refresh(self, tenant: str, connection_id: str, **kwargs) -> RefreshResult:
        self.refreshes.append(kwargs)
        result = self.results.pop(0)
        if result.connection is not None:
            self.stored = result.connection
        return result

    def _poll(self, seconds: float) -> None:
        self.polls += 1
        self.clock += seconds

    def token(self, deadline: float = 110.0) -> token_access.IssuedToken:
        return token_access.get_token("acme", "con_1", origin="https://cc.example", deadline=deadline)


@pytest.fixture
def fakes(monkeypatch, use_runtime) -> Iterator[Fakes]:
    yield Fakes(monkeypatch, use_runtime)


def test_a_token_that_is_not_due_is_handed_out_without_a_refresh(fakes):
    issued = fakes.token()
    assert (issued.access_token, issued.token_version) == ("access-3", 3)
    assert fakes.refreshes == []


def test_a_due_token_is_refreshed_first_and_the_new_one_handed_out(fakes):
    fakes.stored = connection(**DUE)
    refreshed = connection(token_version=4)
    fakes.results = [
        RefreshResult(Outcome.REFRESHED, refreshed, tokens=TokenSet("access-new", "refresh-new", NOW))
    ]
    issued = fakes.token()
    assert (issued.access_token, issued.token_version) == ("access-new", 4)
    assert fakes.refreshes == [{"expected_version": 3, "deadline": 110.0}]


def test_a_failed_refresh_still_hands_out_a_token_that_is_valid(fakes):
    fakes.stored = connection(**DUE)
    fakes.results = [RefreshResult(Outcome.FAILED, None, reason="store_unavailable", retry_after_seconds=30)]
    assert fakes.token().access_token == "access-3"


def test_a_failed_refresh_with_no_valid_token_left_is_a_refresh_failure(fakes):
    fakes.stored = connection(**EXPIRED)
    fakes.results = [
        RefreshResult(
            Outcome.FAILED, None, reason="store_unavailable", detail="HTTP 500", retry_after_seconds=30
        )
    ]
    with pytest.raises(RefreshFailed) as failure:
        fakes.token()
    assert failure.value.extra["code"] == "store_unavailable" and failure.value.retry_after_seconds == 30
    assert "HTTP 500" in failure.value.detail


def test_a_refresh_the_call_budget_deferred_asks_to_retry_after_it(fakes):
    fakes.stored = connection(**EXPIRED)
    fakes.results = [RefreshResult(Outcome.DEFERRED, None, reason="store_call_budget", retry_after_seconds=4)]
    with pytest.raises(TryLater) as later:
        fakes.token()
    assert later.value.retry_after_seconds == 4


def test_a_caller_that_finds_the_lease_taken_waits_for_the_holders_token(fakes):
    holding = connection(**DUE, lease_owner="other", lease_expires_at=10**15)
    fakes.stored = connection(**DUE)
    fakes.results = [RefreshResult(Outcome.BUSY, holding)]
    # Two polls see the holder still at work, the third its new token.
    fakes.after_poll = [holding, holding, connection(token_version=4)]
    issued = fakes.token()
    assert (issued.access_token, issued.token_version) == ("access-4", 4)
    assert fakes.polls == 3 and len(fakes.refreshes) == 1  # one store call for every caller


def test_a_waiter_shares_the_holders_failure_instead_of_calling_the_store(fakes):
    fakes.stored = connection(**EXPIRED)
    holding = connection(**EXPIRED, lease_owner="other", lease_expires_at=10**15)
    failed = connection(
        expires_at=EXPIRED["expires_at"],
        refresh_due_at=NOW + timedelta(seconds=20),
        last_error=LastError("store_unavailable", "HTTP 503", NOW),
    )
    fakes.results = [RefreshResult(Outcome.BUSY, holding)]
    fakes.after_poll = [failed]
    with pytest.raises(RefreshFailed) as failure:
        fakes.token()
    assert failure.value.extra["code"] == "store_unavailable" and failure.value.retry_after_seconds == 20
    assert len(fakes.refreshes) == 1


def test_a_holder_that_outlasts_the_deadline_answers_try_later(fakes):
    holding = connection(**DUE, lease_owner="other", lease_expires_at=10**15)
    fakes.stored = connection(**EXPIRED)
    fakes.results = [RefreshResult(Outcome.BUSY, holding)]
    fakes.after_poll = [holding] * 1000
    with pytest.raises(TryLater):
        fakes.token(deadline=100.5)
    assert fakes.clock >= 100.5  # it waited on the runtime's clock, not the wall's


@pytest.mark.parametrize(
    "status", [ConnectionStatus.PENDING_AUTHORIZATION, ConnectionStatus.NEEDS_REAUTHORIZATION]
)
def test_a_connection_without_a_grant_answers_with_a_fresh_link(fakes, status):
    fakes.stored = connection(status=status)
    with pytest.raises(AuthorizationRequired) as required:
        fakes.token()
    assert required.value.extra["authorize_url"] == "https://cc.example/connect/fresh-ticket"
    assert fakes.refreshes == []


def test_a_connection_deleted_during_the_refresh_is_not_found(fakes):
    fakes.stored = connection(**DUE)
    fakes.results = [RefreshResult(Outcome.GONE, None)]
    with pytest.raises(NotFound):
        fakes.token()


def test_an_issued_tokens_repr_hides_the_token_and_the_connection(fakes):
    issued = fakes.token()
    text = repr(issued)
    assert "access-3" not in text and "connection" not in text and fakes.stored.subdomain not in text
    assert "token_version=3" in text
    assert issued.connection == fakes.stored  # carried, for the caller's store host and scopes


# -- after_rejection: a token to try again with after the store's 401 ----------------------------


def _after_rejection(fakes: Fakes) -> token_access.IssuedToken:
    rejected = fakes.token()
    return token_access.after_rejection(
        "acme", "con_1", rejected, origin="https://cc.example", deadline=110.0
    )


def test_after_a_rejection_the_token_is_refreshed_whether_due_or_not(fakes):
    refreshed = connection(token_version=4, subdomain="moved.example.com")
    fakes.results = [
        RefreshResult(Outcome.REFRESHED, refreshed, tokens=TokenSet("access-new", "refresh-new", NOW))
    ]
    issued = _after_rejection(fakes)
    assert (issued.access_token, issued.token_version, issued.connection) == ("access-new", 4, refreshed)
    assert fakes.refreshes == [{"expected_version": 3, "force": True, "deadline": 110.0}]


def test_after_a_rejection_a_caller_that_finds_the_lease_held_takes_the_holders_token(fakes):
    holding = connection(lease_owner="other", lease_expires_at=10**15)
    fakes.results = [RefreshResult(Outcome.BUSY, holding)]
    fakes.after_poll = [holding, connection(token_version=4)]
    issued = _after_rejection(fakes)
    assert (issued.access_token, issued.token_version) == ("access-4", 4)
    assert fakes.polls == 2 and len(fakes.refreshes) == 1  # one store call for every rejected caller


@pytest.mark.parametrize("outcome", [Outcome.NOT_NEEDED, Outcome.SUPERSEDED])
def test_after_a_rejection_a_version_that_moved_meanwhile_is_taken(fakes, outcome):
    fakes.results = [RefreshResult(outcome, connection(token_version=4))]
    issued = _after_rejection(fakes)
    assert (issued.access_token, issued.token_version) == ("access-4", 4)
    assert len(fakes.refreshes) == 1 and fakes.polls == 0


def test_after_a_rejection_a_deleted_connection_is_not_found(fakes):
    fakes.results = [RefreshResult(Outcome.GONE, None)]
    with pytest.raises(NotFound):
        _after_rejection(fakes)


@pytest.mark.parametrize("outcome", [Outcome.INACTIVE, Outcome.NEEDS_REAUTHORIZATION])
def test_after_a_rejection_a_connection_without_a_grant_needs_authorization(fakes, outcome):
    fakes.results = [
        RefreshResult(
            outcome, connection(status=ConnectionStatus.NEEDS_REAUTHORIZATION), reason="grant_refused"
        )
    ]
    with pytest.raises(AuthorizationRequired) as required:
        _after_rejection(fakes)
    assert required.value.extra["authorize_url"] == "https://cc.example/connect/fresh-ticket"
    assert required.value.extra["connection_status"] == "needs_reauthorization"


def test_after_a_rejection_a_failed_refresh_fails_even_while_the_old_token_is_valid(fakes):
    fakes.results = [
        RefreshResult(
            Outcome.FAILED, None, reason="store_unavailable", detail="HTTP 503", retry_after_seconds=30
        )
    ]
    with pytest.raises(RefreshFailed) as failure:
        _after_rejection(fakes)  # the rejected token is no fallback, however long it would last
    assert failure.value.extra["code"] == "store_unavailable" and failure.value.retry_after_seconds == 30


def test_after_a_rejection_a_deferred_refresh_asks_to_retry_after_the_budget(fakes):
    fakes.results = [RefreshResult(Outcome.DEFERRED, None, reason="store_call_budget", retry_after_seconds=4)]
    with pytest.raises(TryLater) as later:
        _after_rejection(fakes)
    assert later.value.retry_after_seconds == 4


# -- a proxied call's 401 on the connection is no refresh failure to share ------------------------


def test_a_holders_api_token_rejected_error_is_not_shared_as_a_refresh_failure():
    rejected = connection(last_error=LastError(refresh_repository.API_TOKEN_REJECTED, "rejected", NOW))
    assert token_access._holder_failed(rejected, NOW - timedelta(seconds=1)) is None
    failed = connection(last_error=LastError("store_unavailable", "HTTP 503", NOW))
    assert isinstance(token_access._holder_failed(failed, NOW - timedelta(seconds=1)), RefreshFailed)


def test_a_waiter_that_finds_an_api_token_rejected_error_refreshes_instead_of_failing(fakes):
    fakes.stored = connection(**EXPIRED)
    holding = connection(**EXPIRED, lease_owner="other", lease_expires_at=10**15)
    done = connection(
        **EXPIRED,
        last_error=LastError(refresh_repository.API_TOKEN_REJECTED, "rejected after a refresh", NOW),
    )
    fakes.results = [
        RefreshResult(Outcome.BUSY, holding),
        RefreshResult(
            Outcome.REFRESHED, connection(token_version=4), tokens=TokenSet("access-new", "r", NOW)
        ),
    ]
    fakes.after_poll = [done]
    assert fakes.token().access_token == "access-new"
    assert len(fakes.refreshes) == 2
