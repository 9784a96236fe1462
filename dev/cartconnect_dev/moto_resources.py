"""moto's server, in-process, with the AWS resources that template.yaml declares.

Every resource is created from its template definition (key schema, indexes, TTL, SSE, key
policy, redrive policy, ...), so the local schema cannot drift from the deployed one.

moto never expires TTL items and never fires schedules: nothing in the local stack relies on
either. moto's state lives in this process only and is gone when the stack stops.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from cartconnect_dev.loopback import ListenError, ServingThread, from_browser, host_allowed, loopback_hosts
from cartconnect_dev.template import ACCOUNT_ID, PARTITION, REGION, STACK_NAME, Physical, Resolver, Template

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

# Credentials moto accepts; never real ones.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

# Resource types created locally, in creation order (keys before the table that uses them,
# dead-letter queues before the queues that redrive into them).
SUPPORTED_TYPES = (
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::DynamoDB::Table",
)


class MotoServer:
    """moto's server on 127.0.0.1 (port 0 picks a free port), bound here so a taken port fails now,
    serving only non-browser requests addressed to its loopback names (`LocalCallersOnly`)."""

    def __init__(self, port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # moto's werkzeug server logs every request; the local stack has its own access log.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = _AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._guard = LocalCallersOnly(app, frozenset())
        try:
            self._server = make_server(
                "127.0.0.1", port, self._guard, threaded=True, request_handler=MotoRequestHandler
            )
        except OSError as exc:
            raise ListenError("local AWS (moto)", port, exc) from exc
        self._guard.allowed_hosts = loopback_hosts(self.port)
        self._serving = ServingThread(self._server, "moto")

    def start(self) -> None:
        self._serving.start()

    def stop(self) -> None:
        self._serving.stop()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class LocalCallersOnly:
    """WSGI middleware in front of moto: moto's server answers any Origin with CORS headers, so any
    page the developer opens could scan the table and decrypt tokens through the local KMS. Only
    requests addressed to moto's loopback names (DNS rebinding) and sent by no browser (boto3, the
    AWS CLI, sam local's containers) reach moto; the rest get a 421 or 403 without CORS headers,
    which also fails every CORS preflight."""

    def __init__(self, app: Any, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not host_allowed(environ.get("HTTP_HOST"), self.allowed_hosts):
            return _refuse(start_response, "421 Misdirected Request", "not a name of this local AWS endpoint")
        headers = [key[5:].replace("_", "-") for key in environ if key.startswith("HTTP_")]
        preflight = (
            environ.get("REQUEST_METHOD") == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        )
        if from_browser(headers) or preflight:
            return _refuse(start_response, "403 Forbidden", "browsers may not call the local AWS endpoint")
        return self.app(environ, start_response)


def _refuse(start_response: Any, status: str, message: str) -> list[bytes]:
    body = json.dumps({"message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class _AtomicDynamoDB:
    """WSGI middleware: moto's server handles requests in threads without locking its DynamoDB
    backend, so two conditional writes (or transactions) can interleave between the condition
    check and the write. DynamoDB guarantees atomic conditional writes and serializable
    transactions, so DynamoDB requests are processed one at a time (each takes well under a
    millisecond); other services stay concurrent (SQS long polls must not block the table)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self.app(environ, start_response))  # the whole response inside the lock
        return self.app(environ, start_response)


def client(service: str, endpoint: str) -> Any:
    """A boto3 client for moto at `endpoint`, with dummy credentials (never reaches AWS)."""
    return boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client(service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}))  # type: ignore[call-overload]


@dataclass
class CreatedResources:
    physical: dict[str, Physical] = field(default_factory=dict)
    # logical id -> type of every resource not created (other types, or its Condition is false)
    skipped: dict[str, str] = field(default_factory=dict)


def create_resources(
    template: Template, endpoint: str, parameter_overrides: dict[str, str] | None = None
) -> CreatedResources:
    """Create every supported resource of the template in moto; return logical id -> Physical."""
    created = CreatedResources()
    creator = _Creator(template, endpoint, created.physical, parameter_overrides or {})
    resources = template.resources
    for resource_type in SUPPORTED_TYPES:
        batch = {lid: res for lid, res in resources.items() if res.get("Type") == resource_type}
        if resource_type == "AWS::SQS::Queue":
            # Queues without a redrive policy (the dead-letter queues) first.
            batch = dict(sorted(batch.items(), key=lambda item: "RedrivePolicy" in _props(item[1])))
        for logical_id, resource in batch.items():
            condition = resource.get("Condition")
            if condition and not creator.resolver.condition(str(condition)):
                continue
            creator.create(logical_id, resource)
    for logical_id, resource in resources.items():
        if logical_id not in created.physical:
            created.skipped[logical_id] = str(resource.get("Type"))
    return created


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    return dict(resource.get("Properties") or {})


def _tags(tags: Any) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in (tags or [])]


class _Creator:
    def __init__(
        self,
        template: Template,
        endpoint: str,
        physical: dict[str, Physical],
        parameter_overrides: dict[str, str],
    ) -> None:
        self.template = template
        self.physical = physical
        self.resolver = Resolver(template, physical, parameter_overrides)
        self.kms: KMSClient = client("kms", endpoint)
        self.sqs: SQSClient = client("sqs", endpoint)
        self.events: EventBridgeClient = client("events", endpoint)
        self.dynamodb: DynamoDBClient = client("dynamodb", endpoint)

    def create(self, logical_id: str, resource: dict[str, Any]) -> None:
        props = self.resolver.resolve(_props(resource), f"{logical_id}'s Properties")
        creator = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SQS::Queue": self._queue,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::DynamoDB::Table": self._table,
        }[str(resource["Type"])]
        self.physical[logical_id] = creator(logical_id, props)
        log.debug("created %s %s -> %s", resource["Type"], logical_id, self.physical[logical_id].ref)

    def _kms_key(self, logical_id: str, props: dict[str, Any]) -> Physical:
        args: dict[str, Any] = {
            "Description": str(props.get("Description", logical_id)),
            "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(props.get("Tags"))],
        }
        if props.get("KeyPolicy"):
            policy = props["KeyPolicy"]
            args["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        metadata = self.kms.create_key(**args)["KeyMetadata"]
        key_id = metadata["KeyId"]
        if str(props.get("EnableKeyRotation", "false")).lower() == "true":
            self.kms.enable_key_rotation(KeyId=key_id)
        if str(props.get("Enabled", "true")).lower() == "false":
            self.kms.disable_key(KeyId=key_id)
        return Physical(ref=key_id, attributes={"Arn": metadata["Arn"], "KeyId": key_id})

    def _kms_alias(self, logical_id: str, props: dict[str, Any]) -> Physical:
        alias = str(props["AliasName"])
        self.kms.create_alias(AliasName=alias, TargetKeyId=str(props["TargetKeyId"]))
        return Physical(ref=alias, attributes={"AliasName": alias})

    def _queue(self, logical_id: str, props: dict[str, Any]) -> Physical:
        fifo = str(props.get("FifoQueue", "false")).lower() == "true"
        name = str(props.get("QueueName") or f"{STACK_NAME}-{logical_id}" + (".fifo" if fifo else ""))
        attributes: dict[str, str] = {
            key: _attr(props[key])
            for key in (
                "DelaySeconds",
                "MaximumMessageSize",
                "MessageRetentionPeriod",
                "ReceiveMessageWaitTimeSeconds",
                "VisibilityTimeout",
                "FifoQueue",
                "ContentBasedDeduplication",
                "DeduplicationScope",
                "FifoThroughputLimit",
                "KmsMasterKeyId",
                "KmsDataKeyReusePeriodSeconds",
                "SqsManagedSseEnabled",
            )
            if key in props
        }
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in props:
                value = props[key]
                attributes[key] = value if isinstance(value, str) else json.dumps(value)
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
        if props.get("Tags"):
            self.sqs.tag_queue(QueueUrl=url, Tags={t["Key"]: t["Value"] for t in _tags(props["Tags"])})
        arn = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        return Physical(ref=url, attributes={"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _event_bus(self, logical_id: str, props: dict[str, Any]) -> Physical:
        name = str(props.get("Name") or f"{STACK_NAME}-{logical_id}")
        arn = self.events.create_event_bus(Name=name)["EventBusArn"]
        return Physical(ref=name, attributes={"Arn": arn, "Name": name})

    def _table(self, logical_id: str, props: dict[str, Any]) -> Physical:  # noqa: PLR0912
        name = str(props.get("TableName") or f"{STACK_NAME}-{logical_id}")
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in props:
            args["ProvisionedThroughput"] = _throughput(props["ProvisionedThroughput"])
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                args[key] = [_index(index) for index in props[key]]
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        sse = props.get("SSESpecification")
        if sse:
            spec: dict[str, Any] = {"Enabled": str(sse.get("SSEEnabled", "false")).lower() == "true"}
            if "SSEType" in sse:
                spec["SSEType"] = sse["SSEType"]
            if "KMSMasterKeyId" in sse:
                spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
            args["SSESpecification"] = spec
        if "DeletionProtectionEnabled" in props:
            args["DeletionProtectionEnabled"] = str(props["DeletionProtectionEnabled"]).lower() == "true"
        if props.get("TableClass"):
            args["TableClass"] = props["TableClass"]
        if props.get("Tags"):
            args["Tags"] = _tags(props["Tags"])
        description = self.dynamodb.create_table(**args)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled", "false")).lower() == "true":
            self.dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": str(ttl["AttributeName"]), "Enabled": True},
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr and str(pitr.get("PointInTimeRecoveryEnabled", "false")).lower() == "true":
            self.dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        attributes = {"Arn": description["TableArn"]}
        if "LatestStreamArn" in description:
            attributes["StreamArn"] = description["LatestStreamArn"]
        return Physical(ref=name, attributes=attributes)


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _throughput(value: dict[str, Any]) -> dict[str, int]:
    return {
        "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
    }


def _index(index: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation index definition as the CreateTable API takes it (CFN-only keys dropped)."""
    converted: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index["Projection"],
    }
    if "ProvisionedThroughput" in index:
        converted["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    if "OnDemandThroughput" in index:
        converted["OnDemandThroughput"] = {k: int(v) for k, v in index["OnDemandThroughput"].items()}
    return converted
