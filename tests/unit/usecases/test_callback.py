"""usecases/authorization/callback: the parsed answer never shows its credentials."""

from __future__ import annotations

from cartconnect.usecases.authorization.callback import _answer

STATE = "ab" * 32


def test_the_parsed_answer_hides_the_state_auth_id_and_code():
    answer = _answer({"cc_state": [STATE], "auth_id": ["auth-id-1"], "code": ["code-1"]})
    assert (answer.state, answer.auth_id, answer.code) == (STATE, "auth-id-1", "code-1")
    shown = repr(answer)
    assert STATE not in shown and "auth-id-1" not in shown and "code-1" not in shown
