"""usecases/store_budget: waiting for the store's shared call budget within its bounds, and timing a
call, with the rate limiter replaced by scripted answers and time by the runtime seam."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from connections_at_noon import NOW

from cartconnect.adapters import store_rate_limiter
from cartconnect.usecases import store_budget
from cartconnect.usecases.store_budget import ATTEMPT_BUDGET_SECONDS, BUDGET_WAITS


class Budget:
    """The limiter's scripted answers (a wait, or None for a granted call) and what spend did."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, use_runtime) -> None:
        self.answers: list[float | None] = []
        self.log: list[tuple[str, Any]] = []
        self.clock = 0.0
        monkeypatch.setattr(store_rate_limiter, "try_acquire", self._try_acquire)
        monkeypatch.setattr(
            store_budget, "milliseconds", lambda name, seconds: self.log.append((name, seconds))
        )
        use_runtime(now=lambda: NOW, monotonic=lambda: self.clock, sleep=self._sleep)

    def _try_acquire(self, host: str, *, now: float) -> float | None:
        self.log.append(("acquire", (host, now)))
        return self.answers.pop(0) if self.answers else None

    def _sleep(self, seconds: float) -> None:
        self.log.append(("sleep", seconds))
        self.clock += seconds

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.log]

    def spend(self, deadline: float = 60.0, **kwargs: Any) -> float | None:
        return store_budget.spend("shop.example.com", deadline=deadline, **kwargs)


@pytest.fixture
def budget(monkeypatch, use_runtime) -> Iterator[Budget]:
    yield Budget(monkeypatch, use_runtime)


def test_a_call_that_fits_goes_at_once(budget):
    assert budget.spend() is None
    assert budget.log == [("acquire", ("shop.example.com", NOW.timestamp()))]


def test_a_short_wait_is_waited_and_heard_before_it_starts(budget):
    budget.answers = [2.0, 1.5, None]
    heard: list[float] = []
    assert budget.spend(on_wait=lambda wait: (heard.append(wait), budget.log.append(("heard", wait)))) is None
    assert heard == [2.0, 1.5]
    assert budget.kinds() == ["acquire", "heard", "sleep", "acquire", "heard", "sleep", "acquire"]


def test_a_wait_longer_than_max_wait_seconds_is_answered_without_sleeping(budget):
    budget.answers = [5.5]
    heard: list[float] = []
    assert budget.spend(max_wait_seconds=5.0, on_wait=heard.append) == 5.5
    assert budget.kinds() == ["acquire"] and heard == []
    budget.answers = [5.0, None]  # at most max_wait_seconds: waited
    assert budget.spend(max_wait_seconds=5.0) is None
    assert ("sleep", 5.0) in budget.log


def test_without_max_wait_seconds_any_wait_that_fits_the_deadline_is_waited(budget):
    budget.answers = [30.0, None]
    assert budget.spend(deadline=100.0) is None and ("sleep", 30.0) in budget.log


@pytest.mark.parametrize(
    ("attempt_budget", "waited"), [(ATTEMPT_BUDGET_SECONDS, True), (17.0, True), (17.5, False)]
)
def test_a_wait_must_leave_a_whole_attempt_before_the_deadline(budget, attempt_budget, waited):
    budget.clock = 10.0
    budget.answers = [3.0, None]  # 30 - 10 - 3 = 17 s left for the attempt
    result = budget.spend(deadline=30.0, attempt_budget_seconds=attempt_budget)
    assert (result is None) is waited
    assert (("sleep", 3.0) in budget.log) is waited


def test_the_default_attempt_budget_is_attempt_budget_seconds(budget):
    budget.answers = [3.0]
    assert budget.spend(deadline=3.0 + ATTEMPT_BUDGET_SECONDS - 0.01) == 3.0
    assert budget.kinds() == ["acquire"]


def test_after_its_last_wait_spend_tries_once_more_instead_of_answering_a_wait_it_has_spent(budget):
    budget.answers = [1.0] * BUDGET_WAITS + [None]
    budget.spend(deadline=1000.0)
    # Sleeping and then answering the wait just slept (without asking again) is no use: every wait
    # is followed by a try, or not slept at all.
    assert budget.kinds()[-1] == "acquire", budget.kinds()


def test_spend_gives_up_after_budget_waits_windows(budget):
    budget.answers = [1.0] * (BUDGET_WAITS + 5)
    assert budget.spend(deadline=1000.0) == 1.0
    assert budget.kinds().count("sleep") <= BUDGET_WAITS


def test_timed_records_the_calls_latency_as_the_metric_it_is_given(budget):
    with store_budget.timed("ProxyStoreLatency"):
        budget.clock += 0.25
    with pytest.raises(RuntimeError), store_budget.timed("X"):
        budget.clock += 1.0
        raise RuntimeError("the call failed")
    with store_budget.timed():
        pass
    assert budget.log == [("ProxyStoreLatency", 0.25), ("X", 1.0), ("StoreCallLatency", 0.0)]
