"""http/flow_pages: every refusal of the authorization flow has its page, and says it safely."""

from __future__ import annotations

import pytest

from cartconnect.http import flow_pages
from cartconnect.usecases.authorization.flow import FlowRefused, Refusal


@pytest.mark.parametrize("reason", list(Refusal))
def test_every_refusal_has_a_page(reason):
    page = flow_pages.refused(FlowRefused(reason, "detail <b>text</b>"))
    assert 400 <= page["statusCode"] < 600
    assert "<b>" not in page["body"]  # a detail is data, escaped with the page
    assert "cookies" not in page  # the attempt was not said to be over


def test_a_refusal_that_ended_the_attempt_clears_its_cookie():
    page = flow_pages.refused(FlowRefused(Refusal.STATE_SPENT, ended_cookie="__Host-cc_auth_0123"))
    [cleared] = page["cookies"]
    assert cleared.startswith("__Host-cc_auth_0123=;") and "Max-Age=0" in cleared
