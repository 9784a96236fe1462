import json

from cartconnect.errors import Conflict, InvalidField, NotFound
from cartconnect.http import problems


def _body(response):
    return json.loads(response.body)


def test_domain_errors_become_problem_json_naming_the_field():
    response = problems.from_domain_error(InvalidField("subdomain", "IP addresses are not allowed"))
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    body = _body(response)
    assert body["status"] == 422 and body["errors"] == [
        {"field": "subdomain", "message": "IP addresses are not allowed"}
    ]
    assert body["type"].endswith("/validation-error")
    assert _body(problems.from_domain_error(Conflict("taken", "name")))["errors"][0]["field"] == "name"
    assert "errors" not in _body(problems.from_domain_error(NotFound("gone")))


def test_validation_errors_never_echo_the_input():
    raw = [
        {
            "loc": ("body", "client_secret"),
            "msg": "String should have at most 1024 characters",
            "input": "s3cr3t",
        },
        {"loc": ("query", "limit"), "msg": "too big", "input": 1000, "type": "less_than_equal"},
        {"loc": ("body", "name"), "msg": "Field required", "type": "missing"},
    ]
    response = problems.from_validation_errors(raw)
    body = _body(response)
    assert response.status_code == 422
    assert [error["field"] for error in body["errors"]] == ["client_secret", "query.limit", "name"]
    assert body["errors"][2]["message"] == "is required"
    assert "s3cr3t" not in response.body


def test_malformed_json_is_a_400():
    response = problems.from_validation_errors(
        [{"loc": ("body", 0), "msg": "JSON decode error", "type": "json_invalid"}]
    )
    assert response.status_code == 400


def test_internal_error_reveals_nothing_but_the_request_id():
    response = problems.unexpected(RuntimeError("internal detail 41c7"), "req-123")
    body = _body(response)
    assert body["status"] == 500 and body["request_id"] == "req-123"
    assert "41c7" not in response.body and "Retry-After" not in response.headers
