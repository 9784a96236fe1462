"""AWS errors are translated at the adapters' boundary (cartconnect/aws.py, adapters/table.py): a
refused condition is a result, any other botocore error is errors.AwsCallFailed, and nothing above
the adapters (usecases/, refresh_policy.py) imports botocore or Powertools' metric types."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError, ReadTimeoutError

from cartconnect import aws
from cartconnect.adapters import refresh_queue, table, token_vault
from cartconnect.adapters.envelope import Envelope
from cartconnect.errors import AwsCallFailed, Conflict, DomainError
from cartconnect.usecases import token_refresh

CARTCONNECT = Path(table.__file__).resolve().parents[1]
KEY = table.key("T#acme", "CONN#c1")


def _client_error(code: str, operation: str = "UpdateItem", **response: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "AWS's own words"}, **response}, operation)


class FakeDynamoDB:
    """Answers each call with the next of `answers` (an exception is raised), recording requests."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, operation: str, request: dict[str, Any]) -> Any:
        self.requests.append((operation, request))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def update_item(self, **request: Any) -> Any:
        return self._answer("update_item", request)

    def batch_get_item(self, **request: Any) -> Any:
        return self._answer("batch_get_item", request)

    def transact_write_items(self, **request: Any) -> Any:
        return self._answer("transact_write_items", request)


@pytest.fixture
def dynamodb(monkeypatch):
    def install(*answers: Any) -> FakeDynamoDB:
        fake = FakeDynamoDB(*answers)
        monkeypatch.setattr(table, "client", lambda: fake)
        monkeypatch.setattr(table, "table_name", lambda: "cartconnect")
        return fake

    return install


@pytest.fixture
def sleeps(use_runtime) -> list[float]:
    recorded: list[float] = []
    use_runtime(sleep=recorded.append)
    return recorded


# ---- the translation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "throttled", "transient"),
    [
        (
            _client_error("ProvisionedThroughputExceededException"),
            "ProvisionedThroughputExceededException",
            True,
            True,
        ),
        (_client_error("ThrottlingException", "Decrypt"), "ThrottlingException", True, True),
        (
            _client_error("InternalServerError", ResponseMetadata={"HTTPStatusCode": 500}),
            "InternalServerError",
            False,
            True,
        ),
        (_client_error("ValidationException"), "ValidationException", False, False),
        (_client_error("AccessDeniedException", "Decrypt"), "AccessDeniedException", False, False),
        (ClientError({}, "GetItem"), "ClientError", False, False),
        (EndpointConnectionError(endpoint_url="https://dynamodb"), "EndpointConnectionError", False, True),
        (ReadTimeoutError(endpoint_url="https://dynamodb"), "ReadTimeoutError", False, True),
        (NoRegionError(), "NoRegionError", False, False),
    ],
)
def test_a_botocore_error_leaves_as_aws_call_failed_with_its_code_and_nothing_else(
    error, code, throttled, transient
):
    with pytest.raises(AwsCallFailed) as raised, aws.translated():
        raise error
    failed = raised.value
    assert (failed.code, failed.throttled, failed.transient) == (code, throttled, transient)
    assert str(failed) == failed.detail == f"AWS call failed ({code})"
    assert "AWS's own words" not in str(failed) and "dynamodb" not in str(failed)
    # Not a DomainError: the management API answers it as any unexpected error (500), as before.
    assert not isinstance(failed, DomainError)


def test_anything_but_a_botocore_error_passes_through_untouched():
    with pytest.raises(Conflict), aws.translated():
        raise Conflict("a domain error")


def test_creating_the_table_client_is_inside_the_boundary(monkeypatch):
    def no_region() -> Any:
        raise NoRegionError()

    monkeypatch.setattr(aws, "dynamodb", no_region)
    with pytest.raises(AwsCallFailed, match="NoRegionError"):
        table.client()


# ---- conditional writes -----------------------------------------------------------------------


def test_a_conditional_write_answers_its_response(dynamodb):
    fake = dynamodb({"Attributes": {"pk": {"S": "T#acme"}}})
    response = table.conditional(
        table.client().update_item,
        TableName="cartconnect",
        Key=KEY,
        ConditionExpression="attribute_exists(pk)",
    )
    assert response == {"Attributes": {"pk": {"S": "T#acme"}}}
    assert fake.requests == [
        (
            "update_item",
            {"TableName": "cartconnect", "Key": KEY, "ConditionExpression": "attribute_exists(pk)"},
        )
    ]


def test_a_refused_condition_is_none(dynamodb):
    dynamodb(_client_error("ConditionalCheckFailedException"))
    assert table.conditional(table.client().update_item, Key=KEY) is None


def test_a_refused_condition_can_say_what_stood(dynamodb):
    dynamodb(
        _client_error(
            "ConditionalCheckFailedException", Item={"pk": {"S": "T#acme"}, "token_version": {"N": "3"}}
        ),
        _client_error("ConditionalCheckFailedException"),
    )
    assert table.conditional_or_current(table.client().update_item, Key=KEY) == (
        None,
        {"pk": "T#acme", "token_version": 3},
    )
    # No item stood there (it was deleted): nothing to say.
    assert table.conditional_or_current(table.client().update_item, Key=KEY) == (None, None)


@pytest.mark.parametrize(
    ("error", "throttled", "transient"),
    [
        (_client_error("ProvisionedThroughputExceededException"), True, True),
        (EndpointConnectionError(endpoint_url="https://dynamodb"), False, True),
        (_client_error("ValidationException"), False, False),
    ],
)
def test_any_other_failure_of_a_conditional_write_is_aws_call_failed(dynamodb, error, throttled, transient):
    dynamodb(error)
    with pytest.raises(AwsCallFailed) as raised:
        table.conditional(table.client().update_item, Key=KEY)
    assert (raised.value.throttled, raised.value.transient) == (throttled, transient)


# ---- batch reads ------------------------------------------------------------------------------


def _raw(pk: str, sk: str, **attributes: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{name: {"S": value} for name, value in attributes.items()}}


def _answer(items: list[dict[str, Any]], unprocessed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"Responses": {"cartconnect": items}}
    if unprocessed:
        answer["UnprocessedKeys"] = {"cartconnect": {"Keys": unprocessed}}
    return answer


def test_a_batch_read_asks_again_for_unprocessed_keys_and_answers_in_the_order_asked(dynamodb, sleeps):
    keys = [table.key("T#a", f"CONN#{n}") for n in range(3)]
    fake = dynamodb(
        _answer([_raw("T#a", "CONN#2", name="two")], unprocessed=keys[:2]),
        _answer([_raw("T#a", "CONN#0", name="zero")], unprocessed=keys[1:2]),
        _answer([]),  # CONN#1 no longer exists
    )
    items = table.batch_get(keys, ConsistentRead=True)
    assert items == [
        {"pk": "T#a", "sk": "CONN#0", "name": "zero"},
        {"pk": "T#a", "sk": "CONN#2", "name": "two"},
    ]
    asked = [request["RequestItems"]["cartconnect"] for _, request in fake.requests]
    assert asked == [
        {"Keys": keys, "ConsistentRead": True},
        {"Keys": keys[:2], "ConsistentRead": True},
        {"Keys": keys[1:2], "ConsistentRead": True},
    ]
    assert sleeps == [0.05, 0.1]


def test_keys_still_unprocessed_after_its_attempts_fail_the_batch_read_as_throttled(dynamodb, sleeps):
    keys = [table.key("T#a", "CONN#0")]
    fake = dynamodb(*[_answer([], unprocessed=keys)] * table.BATCH_GET_ATTEMPTS)
    with pytest.raises(AwsCallFailed) as raised:
        table.batch_get(keys)  # never an item taken for missing
    assert raised.value.throttled and raised.value.transient
    assert len(fake.requests) == table.BATCH_GET_ATTEMPTS
    assert len(sleeps) == table.BATCH_GET_ATTEMPTS - 1 and max(sleeps) == 1.0


def test_a_partial_batch_read_leaves_out_what_stays_unprocessed_and_says_so(dynamodb, sleeps, caplog):
    keys = [table.key("T#a", "CONN#0"), table.key("T#a", "CONN#1")]
    found = _answer([_raw("T#a", "CONN#1", name="one")], unprocessed=keys[:1])
    dynamodb(found, *[_answer([], unprocessed=keys[:1])] * (table.BATCH_GET_ATTEMPTS - 1))
    assert table.batch_get(keys, partial=True) == [{"pk": "T#a", "sk": "CONN#1", "name": "one"}]
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert warning.getMessage() == "BatchGetItem left keys unprocessed" and warning.count == 1


def test_a_batch_read_sends_at_most_100_keys_a_request(dynamodb, sleeps):
    keys = [table.key("T#a", f"CONN#{n:03}") for n in range(250)]
    fake = dynamodb(_answer([]), _answer([]), _answer([]))
    assert table.batch_get(keys) == []
    assert [len(request["RequestItems"]["cartconnect"]["Keys"]) for _, request in fake.requests] == [
        100,
        100,
        50,
    ]
    assert table.batch_get([]) == [] and sleeps == []


def test_a_failed_batch_read_is_aws_call_failed(dynamodb):
    dynamodb(_client_error("ProvisionedThroughputExceededException", "BatchGetItem"))
    with pytest.raises(AwsCallFailed) as raised:
        table.batch_get([KEY])
    assert raised.value.throttled


# ---- transactions -----------------------------------------------------------------------------


def _cancelled(*codes: str) -> ClientError:
    return _client_error(
        "TransactionCanceledException",
        "TransactWriteItems",
        CancellationReasons=[{"Code": code} for code in codes],
    )


def test_a_transaction_s_failed_condition_is_the_domain_error_explain_names(dynamodb):
    dynamodb(_cancelled("None", "ConditionalCheckFailed"))
    seen: list[list[str]] = []

    def explain(codes: list[str]) -> Exception:
        seen.append(codes)
        return Conflict("taken")

    with pytest.raises(Conflict):
        table.transact([{"Put": {}}, {"Put": {}}], explain)
    assert seen == [["None", "ConditionalCheckFailed"]]


def test_a_transaction_conflict_is_retried_then_aws_call_failed(dynamodb, sleeps):
    fake = dynamodb({}, *[_cancelled("TransactionConflict")] * table.TRANSACTION_CONFLICT_ATTEMPTS)
    table.transact([{"Put": {}}], lambda codes: Conflict("unused"))
    assert len(fake.requests) == 1
    with pytest.raises(AwsCallFailed, match="TransactionCanceledException"):
        table.transact([{"Put": {}}], lambda codes: Conflict("unused"))
    assert len(fake.requests) == 1 + table.TRANSACTION_CONFLICT_ATTEMPTS
    assert sleeps == [0.02 * 2**attempt for attempt in range(table.TRANSACTION_CONFLICT_ATTEMPTS - 1)]


def test_a_throttled_transaction_is_aws_call_failed(dynamodb):
    dynamodb(_cancelled("None", "ThrottlingError"))
    with pytest.raises(AwsCallFailed):
        table.transact([{"Put": {}}, {"Put": {}}], lambda codes: Conflict("unused"))


# ---- KMS and SQS ------------------------------------------------------------------------------


def test_kms_failing_while_tokens_are_sealed_or_opened_is_aws_call_failed_not_damaged_tokens(monkeypatch):
    def throttled(self, *args: Any) -> Any:
        raise _client_error("ThrottlingException", "Decrypt")

    monkeypatch.setattr(Envelope, "_decrypt", throttled)
    monkeypatch.setattr(Envelope, "_generate", throttled)
    blob = bytes([1, 0, 4]) + b"dkey" + bytes(12) + b"ciphertext"
    with pytest.raises(AwsCallFailed) as opened:
        token_vault.unseal("acme", "c1", blob)
    assert opened.value.throttled and not isinstance(opened.value, token_vault.SealedTokenError)
    token_vault.forget_keys()
    with pytest.raises(AwsCallFailed):
        token_vault.seal("acme", "c1", token_vault.Tokens("access", "refresh"))


def test_sqs_failing_is_aws_call_failed(monkeypatch):
    class FailingSqs:
        def change_message_visibility(self, **_request: Any) -> None:
            raise EndpointConnectionError(endpoint_url="https://sqs")

    monkeypatch.setattr(refresh_queue, "_client", FailingSqs)
    monkeypatch.setattr(refresh_queue, "_queue_url", lambda: "https://sqs/queue")
    with pytest.raises(AwsCallFailed, match="EndpointConnectionError"):
        refresh_queue.delay("receipt", 30)


# ---- the use cases see only AwsCallFailed -----------------------------------------------------


def test_writing_rotated_tokens_retries_every_failed_aws_call_then_gives_up(sleeps):
    attempts: list[int] = []

    def write() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise AwsCallFailed("ProvisionedThroughputExceededException", throttled=True)
        return "stored"

    assert token_refresh._retrying_write("storing", "c1", write) == "stored"
    assert len(attempts) == 3 and len(sleeps) == 2

    def failing() -> str:
        raise AwsCallFailed("AccessDeniedException")  # not transient: retried all the same

    with pytest.raises(AwsCallFailed):
        token_refresh._retrying_write("storing", "c1", failing)
    assert len(sleeps) == 2 + token_refresh.PERSIST_ATTEMPTS - 1


# Modules above the adapters: they name AWS's failures only as errors.AwsCallFailed, and metrics by
# name (observability.count, observability.milliseconds).
_ABOVE_THE_ADAPTERS = [*sorted((CARTCONNECT / "usecases").rglob("*.py")), CARTCONNECT / "refresh_policy.py"]
_FORBIDDEN_MODULES = ("botocore", "boto3", "aws_lambda_powertools.metrics")
_FORBIDDEN_NAMES = {"MetricUnit", "add_metric"}


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    found: list[tuple[str, set[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # function-level imports too
        if isinstance(node, ast.Import):
            found += [(alias.name, set()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", {alias.name for alias in node.names}))
    return found


def _forbidden(module: str, names: set[str]) -> bool:
    in_module = any(module == name or module.startswith(f"{name}.") for name in _FORBIDDEN_MODULES)
    of_powertools = module == "aws_lambda_powertools" and "metrics" in names
    return in_module or of_powertools or bool(names & _FORBIDDEN_NAMES)


def test_the_scan_finds_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import botocore.exceptions\n"
        "def f():\n    from aws_lambda_powertools.metrics import MetricUnit\n"
        "from cartconnect.observability import add_metric\n"
        "from cartconnect.errors import AwsCallFailed\n"
    )
    assert [module for module, names in _imports(sample) if _forbidden(module, names)] == [
        "botocore.exceptions",
        "cartconnect.observability",
        "aws_lambda_powertools.metrics",
    ]


def test_nothing_above_the_adapters_imports_botocore_or_powertools_metric_types():
    assert len(_ABOVE_THE_ADAPTERS) > 10
    offending = [
        f"{path.relative_to(CARTCONNECT)}: {module} {sorted(names)}"
        for path in _ABOVE_THE_ADAPTERS
        for module, names in _imports(path)
        if _forbidden(module, names)
    ]
    assert not offending, "\n".join(offending)
