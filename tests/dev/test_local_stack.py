"""The local stack over real sockets: resources created from template.yaml, the JWT authorizer,
concurrency, the Invoke API and the cartconnect-dev CLI."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from cartconnect_dev import cli, invoke_secret
from cartconnect_dev.gateway.app import GatewayApp
from cartconnect_dev.gateway.authorizer import JwtAuthorizer
from cartconnect_dev.gateway.functions import LocalFunction
from cartconnect_dev.gateway.server import GatewayServer
from cartconnect_dev.jwt_issuer import LocalIssuer
from cartconnect_dev.moto_resources import create_resources
from cartconnect_dev.stack import LocalStack
from cartconnect_dev.template import Resolver, Route, load_template, project_root

ROOT = project_root()


# ---------------------------------------------------------------------------------------------
# Resources come from template.yaml


def _table_properties(local_stack: LocalStack) -> dict[str, Any]:
    """The table's Properties with the stack's parameter values (BillingMode is TableBillingMode's)."""
    template = load_template()
    (table,) = template.resources_of_type("AWS::DynamoDB::Table").values()
    resolver = Resolver(template, local_stack.resources, local_stack.parameters)
    return dict(resolver.resolve(table["Properties"]))


def test_table_matches_the_template(local_stack: LocalStack) -> None:
    expected = _table_properties(local_stack)
    ddb = local_stack.aws_client("dynamodb")
    name = local_stack.env["TABLE_NAME"]
    assert name == local_stack.resources["Table"].ref
    table = ddb.describe_table(TableName=name)["Table"]

    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert table["BillingModeSummary"]["BillingMode"] == expected["BillingMode"]
    indexes = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {index["IndexName"] for index in expected["GlobalSecondaryIndexes"]}
    for declared in expected["GlobalSecondaryIndexes"]:
        created = indexes[declared["IndexName"]]
        assert created["KeySchema"] == declared["KeySchema"]
        assert created["Projection"]["ProjectionType"] == declared["Projection"]["ProjectionType"]

    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": expected["TimeToLiveSpecification"]["AttributeName"],
    }
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["SSEDescription"]["SSEType"] == "KMS"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == local_stack.resources["KmsKey"].attributes["Arn"]
    assert table.get("DeletionProtectionEnabled") is expected.get("DeletionProtectionEnabled", False)
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_kms_key_and_alias(local_stack: LocalStack) -> None:
    kms = local_stack.aws_client("kms")
    arn = local_stack.env["KMS_KEY_ID"]
    assert arn == local_stack.resources["KmsKey"].attributes["Arn"]
    metadata = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert metadata["Enabled"] is True
    assert metadata["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert kms.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/cartconnect-cartconnect-local"] == metadata["KeyId"]
    sealed = kms.encrypt(KeyId=arn, Plaintext=b"hello", EncryptionContext={"tenant": "t"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"tenant": "t"})["Plaintext"] == b"hello"


QUEUES_AND_BUS = """
Conditions:
  Never: !Equals [a, b]
Resources:
  TestDlq:
    Type: AWS::SQS::Queue
    Properties: {MessageRetentionPeriod: 1209600}
  TestQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 90
      RedrivePolicy: {deadLetterTargetArn: !GetAtt TestDlq.Arn, maxReceiveCount: 5}
  TestFifo:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, ContentBasedDeduplication: true}
  TestBus:
    Type: AWS::Events::EventBus
    Properties: {Name: !Sub "${AWS::StackName}-test-bus"}
  Skipped:
    Type: AWS::Events::EventBus
    Condition: Never
    Properties: {Name: never}
  Schedule:
    Type: AWS::Scheduler::Schedule
    Properties: {}
"""


def test_queues_and_buses_are_created_from_their_definitions(local_stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(QUEUES_AND_BUS)
    created = create_resources(load_template(path), local_stack.aws_endpoint)
    assert set(created.physical) == {"TestDlq", "TestQueue", "TestFifo", "TestBus"}
    assert created.skipped == {"Skipped": "AWS::Events::EventBus", "Schedule": "AWS::Scheduler::Schedule"}
    sqs = local_stack.aws_client("sqs")
    queue = created.physical["TestQueue"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue.ref, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == queue.attributes["Arn"]
    assert attributes["VisibilityTimeout"] == "90"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": created.physical["TestDlq"].attributes["Arn"],
        "maxReceiveCount": 5,
    }
    fifo = created.physical["TestFifo"]
    assert fifo.attributes["QueueName"] == "cartconnect-local-TestFifo.fifo"
    assert sqs.get_queue_attributes(QueueUrl=fifo.ref, AttributeNames=["FifoQueue"])["Attributes"] == {
        "FifoQueue": "true"
    }
    bus = created.physical["TestBus"]
    assert bus.ref == "cartconnect-local-test-bus"
    assert local_stack.aws_client("events").describe_event_bus(Name=bus.ref)["Arn"] == bus.attributes["Arn"]


def test_environment_is_resolved_from_the_template(local_stack: LocalStack) -> None:
    env = local_stack.env
    template_vars = load_template().data["Globals"]["Function"]["Environment"]["Variables"]
    assert set(template_vars) <= set(env)
    assert env["TENANT_CLAIM"] == "tenant_id" == local_stack.tenant_claim
    assert env["PUBLIC_BASE_URL"] == local_stack.api_url
    assert env["AWS_ENDPOINT_URL"] == local_stack.aws_endpoint
    assert env["POWERTOOLS_TRACE_DISABLED"] == "1"
    for name, value in env.items():
        assert os.environ[name] == value
    # Any boto3 client in this process now talks to moto.
    assert boto3.client("dynamodb").list_tables()["TableNames"] == [env["TABLE_NAME"]]


def test_update_env_reaches_the_process(local_stack: LocalStack) -> None:
    local_stack.update_env({"CARTCONNECT_TEST_MARKER": "on"})
    assert os.environ["CARTCONNECT_TEST_MARKER"] == "on"
    assert local_stack.env["CARTCONNECT_TEST_MARKER"] == "on"


# ---------------------------------------------------------------------------------------------
# A gateway with fake functions, trusting the stack's issuer


class Recorder:
    """A handler that records its events; with `together`, each call waits (up to 10 s) until that
    many calls are in the handler at once, so a test of concurrency depends on no timing."""

    def __init__(self, together: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.all_in = threading.Condition(self.lock)
        self.together = together
        self.running = 0
        self.max_running = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.events.append(event)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.all_in.notify_all()
            if self.together:
                self.all_in.wait_for(lambda: self.max_running >= self.together, timeout=10)
        try:
            if event.get("fail"):
                raise RuntimeError("asked to fail")
            return {"got": event, "function": context.function_name}
        finally:
            with self.lock:
                self.running -= 1


class FakeGateway:
    def __init__(self, stack: LocalStack) -> None:
        self.recorder = Recorder()
        self.slow = Recorder(together=25)
        routes = [
            Route("GET", "/private/{id}", "Echo", authorizer="JwtAuthorizer"),
            Route("POST", "/echo", "Echo"),
            Route("GET", "/slow", "Slow"),
            Route("GET", "/missing", "Missing"),
        ]
        functions = {
            "Echo": LocalFunction("Echo", handler=self.recorder, short_name="echo"),
            "Slow": LocalFunction("Slow", handler=self.slow),
            "Missing": LocalFunction("Missing", module_path=Path("/nonexistent/app.py")),
        }
        authorizer = JwtAuthorizer(stack.issuer, [stack.audience], stack.local_issuer.public_key_set())
        self.invoke_secret = invoke_secret.new_secret()
        app = GatewayApp(
            routes,
            functions,
            {"JwtAuthorizer": authorizer},
            issuer=stack.local_issuer,
            invoke_secret=self.invoke_secret,
        )
        self.server = GatewayServer(app)
        self.url = self.server.url


@pytest.fixture(scope="module")
def fake(local_stack: LocalStack) -> Iterator[FakeGateway]:
    gateway = FakeGateway(local_stack)
    gateway.server.start()
    yield gateway
    gateway.server.stop()


def _other_key_token(stack: LocalStack, tmp_path: Path, *, same_kid: bool) -> str:
    other = LocalIssuer(stack.issuer, key_path=tmp_path / "other.pem", tenant_claim=stack.tenant_claim)
    if not same_kid:
        return other.issue_token("acme")
    now = int(time.time())
    claims = {
        "iss": stack.issuer,
        "aud": stack.audience,
        "exp": now + 600,
        "iat": now,
        stack.tenant_claim: "acme",
    }
    key = RSAKey.import_key((tmp_path / "other.pem").read_bytes())
    return jwt.encode({"alg": "RS256", "kid": stack.local_issuer.kid}, claims, key)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


BAD_TOKENS = [
    "missing",
    "empty",
    "malformed",
    "not-a-jwt",
    "alg-none",
    "tampered",
    "other-key",
    "other-key-same-kid",
    "expired",
    "not-yet-valid",
    "wrong-audience",
    "wrong-issuer",
    "no-expiry",
]


def _bad_authorization(kind: str, stack: LocalStack, tmp_path: Path) -> str | None:  # noqa: PLR0911
    if kind == "missing":
        return None
    if kind == "empty":
        return "Bearer"
    if kind == "malformed":
        return "Bearer abc.def.ghi"
    if kind == "not-a-jwt":
        return "Bearer hello"
    if kind == "alg-none":
        now = int(time.time())
        claims = {"iss": stack.issuer, "aud": stack.audience, "exp": now + 600, stack.tenant_claim: "acme"}
        return f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    if kind == "tampered":
        header, _, signature = stack.token("acme").split(".")
        now = int(time.time())
        claims = {"iss": stack.issuer, "aud": stack.audience, "exp": now + 600, stack.tenant_claim: "victim"}
        return f"Bearer {header}.{_b64(claims)}.{signature}"
    if kind in ("other-key", "other-key-same-kid"):
        return f"Bearer {_other_key_token(stack, tmp_path, same_kid=kind.endswith('same-kid'))}"
    tokens = {
        "expired": lambda: stack.token("acme", expires_in=-60),
        "not-yet-valid": lambda: stack.token("acme", extra_claims={"nbf": int(time.time()) + 600}),
        "wrong-audience": lambda: stack.token("acme", audience="someone-else"),
        "wrong-issuer": lambda: stack.token("acme", extra_claims={"iss": "http://127.0.0.1:1/_local/issuer"}),
        "no-expiry": lambda: stack.token("acme", extra_claims={"exp": None}),
    }
    return f"Bearer {tokens[kind]()}"


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_jwt_refusals_are_401_and_never_invoke_the_handler(
    kind: str, fake: FakeGateway, local_stack: LocalStack, tmp_path: Path
) -> None:
    authorization = _bad_authorization(kind, local_stack, tmp_path)
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = len(fake.recorder.events)
    response = httpx2.get(f"{fake.url}/private/x", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert len(fake.recorder.events) == before


@pytest.mark.parametrize(
    "kind", ["missing", "tampered", "other-key", "expired", "wrong-audience", "wrong-issuer"]
)
def test_the_stack_refuses_bad_tokens_on_template_routes(
    kind: str, local_stack: LocalStack, tmp_path: Path
) -> None:
    function = local_stack.function("ManagementFunction")
    before = function.invocations
    authorization = _bad_authorization(kind, local_stack, tmp_path)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx2.get(f"{local_stack.api_url}/v1/connections/c-1", headers=headers)
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    assert function.invocations == before


def test_valid_token_and_the_event_over_http(fake: FakeGateway, local_stack: LocalStack) -> None:
    token = local_stack.token("acme")
    response = httpx2.get(
        f"{fake.url}/private/a%20b?x=1&x=2&y",
        headers=[
            ("Authorization", f"Bearer {token}"),
            ("X-Dup", "1"),
            ("X-Dup", "2"),
            ("Cookie", "s=1; t=2"),
        ],
    )
    assert response.status_code == 200, response.text
    assert response.headers["apigw-requestid"]
    event = response.json()["got"]
    assert response.json()["function"] == "cartconnect-local-Echo"
    assert event["routeKey"] == "GET /private/{id}"
    assert event["rawPath"] == "/private/a%20b"
    assert event["rawQueryString"] == "x=1&x=2&y"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-dup"] == "1,2"
    assert event["headers"]["authorization"] == f"Bearer {token}"
    context = event["requestContext"]
    assert context["domainName"] == f"127.0.0.1:{fake.server.port}"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["method"] == "GET"
    claims = context["authorizer"]["jwt"]["claims"]
    assert claims["tenant_id"] == "acme"
    assert claims["aud"] == local_stack.audience
    assert claims["iss"] == local_stack.issuer
    assert claims["exp"].isdigit()


def test_binary_body_arrives_base64(fake: FakeGateway) -> None:
    payload = bytes(range(256))
    response = httpx2.post(
        f"{fake.url}/echo", content=payload, headers={"content-type": "application/octet-stream"}
    )
    event = response.json()["got"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    response = httpx2.post(f"{fake.url}/echo", json={"a": 1})
    event = response.json()["got"]
    assert (event["isBase64Encoded"], json.loads(event["body"])) == (False, {"a": 1})


def test_unknown_routes_and_broken_handlers(fake: FakeGateway) -> None:
    assert httpx2.get(f"{fake.url}/nope").status_code == 404
    assert httpx2.get(f"{fake.url}/echo").json() == {"message": "Not Found"}
    broken = httpx2.get(f"{fake.url}/missing")
    assert (broken.status_code, broken.json()) == (500, {"message": "Internal Server Error"})


def test_access_log_names_routes_never_raw_paths_or_queries(
    fake: FakeGateway, local_stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {local_stack.token('acme')}"}
    assert (
        httpx2.get(f"{fake.url}/private/one-time-ticket-123?code=auth-code-456", headers=headers).status_code
        == 200
    )
    assert httpx2.get(f"{fake.url}/nope/other-ticket-789").status_code == 404
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cartconnect_dev"))
    assert "GET /private/{id} [Echo] -> 200" in logged
    assert "GET (no route) -> 404" in logged
    for secret in ("one-time-ticket-123", "auth-code-456", "other-ticket-789"):
        assert secret not in logged


def test_serves_requests_concurrently(fake: FakeGateway) -> None:
    # Each request stays in the handler until all 25 are in it: served one at a time, they could not
    # all be (each would give up after 10 s, and max_running would stay at 1).
    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(lambda _: httpx2.get(f"{fake.url}/slow", timeout=30).status_code, range(25)))
    assert statuses == [200] * 25
    assert fake.slow.max_running == 25


def test_issuer_discovery_and_jwks_verify_the_stacks_tokens(local_stack: LocalStack) -> None:
    config = httpx2.get(f"{local_stack.issuer}/.well-known/openid-configuration").json()
    assert config["issuer"] == local_stack.issuer
    keys = httpx2.get(config["jwks_uri"]).json()

    decoded = jwt.decode(local_stack.token("acme"), KeySet.import_key_set(keys), algorithms=["RS256"])
    assert decoded.claims[local_stack.tenant_claim] == "acme"
    assert decoded.header["kid"] == local_stack.local_issuer.kid


# ---------------------------------------------------------------------------------------------
# Invoke API


def test_invoke_api_with_boto3(fake: FakeGateway) -> None:
    client = invoke_secret.lambda_client(fake.url, fake.invoke_secret)
    result = client.invoke(FunctionName="Echo", Payload=json.dumps({"hello": "world"}).encode())
    assert result["StatusCode"] == 200
    assert "FunctionError" not in result
    assert json.loads(result["Payload"].read())["got"] == {"hello": "world"}
    failed = client.invoke(FunctionName="echo", Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorMessage"] == "asked to fail"
    queued = client.invoke(FunctionName="Echo", InvocationType="Event", Payload=b'{"async": 1}')
    assert queued["StatusCode"] == 202


def test_cli_invoke(
    fake: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _running_state(
        tmp_path, monkeypatch, port=fake.server.port, api_url=fake.url, invoke_secret=fake.invoke_secret
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"detail": {"n": 1}}))
    assert cli.main(["invoke", "Echo", "-e", str(event)]) == 0
    assert json.loads(capsys.readouterr().out)["got"] == {"detail": {"n": 1}}

    event.write_text('{"fail": true}')
    assert cli.main(["invoke", "echo", "-e", str(event)]) == 1
    captured = capsys.readouterr()
    # One line naming the error; the traceback stays in the stack's log.
    assert "echo failed: RuntimeError" in captured.err, captured.err
    assert captured.out == "" and "stackTrace" not in captured.err and "Traceback" not in captured.err

    assert cli.main(["invoke", "Nope"]) == 1
    assert "Function not found: Nope" in capsys.readouterr().err

    event.write_text("{not json")
    assert cli.main(["invoke", "Echo", "-e", str(event)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err

    event.write_text("")
    assert cli.main(["invoke", "Echo", "-e", str(event)]) == 2
    assert "is empty" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_invoke_when_the_stack_is_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARTCONNECT_ROOT", str(tmp_path))
    monkeypatch.setenv("PORT", str(_closed_port()))
    assert cli.main(["invoke", "ManagementFunction"]) == 1
    assert "not running" in capsys.readouterr().err
    # A state file left behind by a dead process does not count as running.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / ".cartconnect-dev" / f"stack-{os.environ['PORT']}.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"pid": dead.pid, "api_url": "http://127.0.0.1:1"}))
    assert cli.main(["invoke", "ManagementFunction"]) == 1
    assert "not running" in capsys.readouterr().err
    # Nor does one whose process lives but whose gateway does not answer.
    state.write_text(json.dumps({"pid": os.getpid(), "api_url": f"http://127.0.0.1:{os.environ['PORT']}"}))
    assert cli.main(["invoke", "ManagementFunction"]) == 1
    assert "not running" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# token


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _running_state(root: Path, monkeypatch: pytest.MonkeyPatch, port: int = 4321, **fields: Any) -> None:
    """A state file as `cartconnect-dev up` writes it, of a stack "running" in this process on API port
    `port` under `root`, which the CLI picks (PORT)."""
    state = root / ".cartconnect-dev" / f"stack-{port}.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"pid": os.getpid(), **fields}))
    monkeypatch.setenv("CARTCONNECT_ROOT", str(root))
    monkeypatch.setenv("PORT", str(port))


def test_cli_sam_env_writes_the_env_vars_file_from_the_running_stack(
    local_stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _running_state(
        tmp_path,
        monkeypatch,
        api_url=local_stack.api_url,
        function_envs=local_stack.function_envs,
        local_env=local_stack.local_env(local_stack.api_url),
    )
    output = tmp_path / "env.json"
    assert cli.main(["sam-env", "--public-base-url", "http://127.0.0.1:3001/", "--output", str(output)]) == 0
    assert json.loads(output.read_text()) == local_stack.sam_env_vars("http://127.0.0.1:3001")


def test_cli_token_is_accepted_by_the_running_stack(
    local_stack: LocalStack,
    fake: FakeGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _running_state(
        tmp_path,
        monkeypatch,
        api_url=local_stack.api_url,
        issuer=local_stack.issuer,
        audience=local_stack.audience,
        tenant_claim=local_stack.tenant_claim,
        key_path=str(local_stack.local_issuer.key_path),
    )
    assert cli.main(["token", "--tenant", "acme", "--claim", "scope=read write", "--expires-in", "120"]) == 0
    token = capsys.readouterr().out.strip()
    claims = _claims(token)
    assert claims["scope"] == "read write"
    assert claims["exp"] - claims["iat"] == 120
    response = httpx2.get(f"{fake.url}/private/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["got"]["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] == "acme"


def test_cli_token_without_a_running_stack_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A token for a stack that is not running would be refused by whatever later listens on the port.
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    monkeypatch.setenv("CARTCONNECT_ROOT", str(tmp_path))
    monkeypatch.setenv("PORT", "4567")
    assert cli.main(["token", "--tenant", "globex"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "the local stack on port 4567 is not running" in captured.err
    assert "PORT=4567 make dev" in captured.err
    monkeypatch.delenv("PORT")
    assert cli.main(["token", "--tenant", "globex"]) == 1
    assert "the local stack on port 3000 is not running" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# openapi

FAKE_MANAGEMENT_APP = """
import os
print("noise at import")
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver(enable_validation=True)
app.configure_openapi(title="fake API", version="9.8.7")
TABLE = os.environ["TABLE_NAME"]


@app.get("/v1/openapi.json", include_in_schema=False)
def document() -> str:
    print("noise per request")
    return app.get_openapi_json_schema()


@app.get("/v1/ping")
def ping() -> dict:
    return {"ok": True}


@app.post("/v1/things")
def create() -> dict:
    return {}


def lambda_handler(event, context):
    return app.resolve(event, context)
"""

FAKE_TEMPLATE = """
Resources:
  ManagementFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/management
      Handler: app.lambda_handler
      Events:
        Document: {Type: HttpApi, Properties: {Method: GET, Path: /v1/openapi.json}}
"""


def test_cli_openapi_prints_the_served_document_deterministically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "functions" / "management" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text(FAKE_MANAGEMENT_APP)
    (tmp_path / "template.yaml").write_text(FAKE_TEMPLATE)
    monkeypatch.setenv("CARTCONNECT_ROOT", str(tmp_path))
    table_before = os.environ.get("TABLE_NAME")

    assert cli.main(["openapi"]) == 0
    captured = capsys.readouterr()
    assert "noise" not in captured.out
    assert "noise at import" in captured.err
    assert "noise per request" in captured.err
    document = json.loads(captured.out)
    # The title and version the function configures: what GET /v1/openapi.json answers.
    assert document["info"] == {"title": "fake API", "version": "9.8.7"}
    assert set(document["paths"]) == {"/v1/ping", "/v1/things"}
    assert captured.out.endswith("}\n")
    assert captured.out == json.dumps(document, sort_keys=True, indent=2) + "\n"
    assert cli.openapi_json(tmp_path) == captured.out
    assert os.environ.get("TABLE_NAME") == table_before


def test_cli_openapi_without_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "template.yaml").write_text(FAKE_TEMPLATE)
    monkeypatch.setenv("CARTCONNECT_ROOT", str(tmp_path))
    assert cli.main(["openapi"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_openapi_without_the_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.setenv("CARTCONNECT_ROOT", str(tmp_path))
    assert cli.main(["openapi"]) == 1
    assert "no GET /v1/openapi.json route" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# up (a real process, stopped by a signal)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_up_runs_in_the_foreground_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORT", "MOTO_", "TABLE_", "KMS_"))
    }
    port = _closed_port()
    env.update(CARTCONNECT_ROOT=str(tmp_path), PORT=str(port), SANDBOX_PORT=str(_closed_port()))
    command = [str(Path(sys.executable).with_name("cartconnect-dev")), "up"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state_file = tmp_path / ".cartconnect-dev" / f"stack-{port}.json"
    try:
        deadline = time.monotonic() + 60
        while not state_file.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the stack did not start"
            time.sleep(0.1)
        state = json.loads(state_file.read_text())
        api = state["api_url"]
        assert api == f"http://127.0.0.1:{port}"
        assert state["pid"] == process.pid
        assert state["issuer"] == f"{api}/_local/issuer"
        # It holds the invoke secret: this user's alone, like the signing key.
        assert len(state["invoke_secret"]) >= 32
        assert oct(state_file.stat().st_mode & 0o777) == "0o600"
        assert oct(Path(state["key_path"]).stat().st_mode & 0o777) == "0o600"
        assert httpx2.get(f"{api}/v1/scopes").status_code == 401

        token = subprocess.run(
            [command[0], "token", "--tenant", "acme"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        # Accepted: the request gets past the authorizer (the handler is absent in this copy: 500).
        answered = httpx2.get(f"{api}/v1/scopes", headers={"Authorization": f"Bearer {token}"})
        assert answered.status_code == 500
    finally:
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert state["invoke_secret"] not in out + err
    assert f"API          {api}" in out
    assert f"{api}/v1/docs" in out
    assert "cartconnect-dev token --tenant acme" in out
    assert "curl -H" in out
    assert "ManagementFunction cannot be loaded yet" in out
    assert not state_file.exists()
    with pytest.raises(httpx2.TransportError):
        httpx2.get(f"{api}/v1/scopes", timeout=2)
