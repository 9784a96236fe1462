"""Every file in events/ through `sam local invoke` (Docker, the Lambda base image stand-in) against the
local AWS, after a seed: each answers what it answers under `cartconnect-dev invoke`.

The invokes run four at a time (each is a SAM CLI process and a container: seconds, mostly start-up).
Three samples change what others rely on, so they run afterwards, one by one, each after a new seed:
the link's POST (it spends the link ticket the page sample reads), deleting the pending connection
(the link ticket's and the OAuth state's), and refreshing the active connection (its token, which the
token and test samples read meanwhile).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sample_events import EVENTS, check_answer, function_of

# The setup (start-api, then every sample through sam local invoke) takes minutes on a busy machine.
pytestmark = [pytest.mark.sam, pytest.mark.timeout(600)]

AFTERWARDS = (
    "authorize-connect-post.json",
    "management-delete-connection.json",
    "management-refresh-connection.json",
)
PARALLEL = 4


@pytest.fixture(scope="module")
def answers(sam) -> dict[str, Any]:
    """The answer of every sample, by file name."""
    found: dict[str, Any] = {}
    sam.seed()
    together = [path for path in EVENTS if path.name not in AFTERWARDS]

    def invoke(path: Path) -> tuple[str, Any]:
        try:
            return path.name, sam.invoke(function_of(path), path)
        except (AssertionError, pytest.fail.Exception) as failure:
            return path.name, failure

    with ThreadPoolExecutor(PARALLEL) as pool:
        found.update(pool.map(invoke, together))
    for path in EVENTS:
        if path.name in AFTERWARDS:
            sam.seed()
            found.update([invoke(path)])
    return found


@pytest.mark.parametrize("event_file", EVENTS, ids=lambda path: path.name)
def test_sample_event_answers_under_sam_local_invoke(answers, event_file):
    answer = answers[event_file.name]
    if isinstance(answer, BaseException):
        raise answer
    check_answer(event_file, answer)


def test_a_crashing_handler_is_caught_although_sam_exits_0(sam, tmp_path):
    """The management function on an event that is no API Gateway event raises: sam exits 0 and prints
    the error as the answer, which check_answer refuses."""
    event = tmp_path / "not-an-api-event.json"
    event.write_text(json.dumps({"not": "an API Gateway event"}))
    answer = sam.invoke("management", event)
    assert answer.get("errorType") == "KeyError", sorted(answer)
    with pytest.raises(AssertionError, match="the handler failed"):
        check_answer(EVENTS[0], answer)
