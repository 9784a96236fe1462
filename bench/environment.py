"""The benchmark's environment: the local stack (moto, gateway, JWT issuer) and a sandbox store on
loopback, plus the setup every figure shares (an iClient, authorized connections, due connections,
sample events). Never real AWS: every AWS call goes to moto (AWS_ENDPOINT_URL).

    with BenchEnvironment() as env:
        connection = env.authorized_connection()
        env.make_due(connection["id"])
        env.stack.invoke("RefreshWorkerFunction", env.worker_event([connection]))
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx2

from cartconnect_dev.sandbox_store import SandboxStore
from cartconnect_dev.stack import LocalStack, shared_tls
from cartconnect_dev.template import Template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
APP_ID = "880001"
APP_SECRET = "bench-app-secret-6c1d"
# Every bench connection points at the one sandbox host. The deployed default (50 calls / 10 s per
# store) would make unrelated figures wait for each other's budget; the counter write (one
# UpdateItem per store call) happens whatever the limit is, so the counts do not change. The cap,
# and the host's budget as if learned (BenchEnvironment._lift_store_budget).
BENCH_STORE_CALL_LIMIT = "100000"
# What a bench connection is granted; the store proxy's figures read the catalog (the sandbox's
# products are its one seeded, paged resource).
SCOPES = ("read_orders", "system")
PROXY_SCOPES = (*SCOPES, "read_catalog")

# The functions the figures cover, by code directory (functions/<name>), in the report's order.
FUNCTIONS = ("management", "authorize", "callback", "refresh_scheduler", "refresh_worker", "store_proxy")


def existing_functions(template: Template) -> dict[str, str]:
    """short name -> logical id, for the functions/<name>/app.py that exist and that the template
    declares (found by their CodeUri, whatever their logical id)."""
    declared = {definition.short_name: lid for lid, definition in template.functions.items()}
    return {
        name: declared[name]
        for name in FUNCTIONS
        if name in declared and (ROOT / "functions" / name / "app.py").exists()
    }


def access_log_format(template: Template) -> str:
    """The HTTP API's access log line format (its AccessLogSettings.Format); "" without one."""
    for resource in template.resources_of_type("AWS::Serverless::HttpApi").values():
        settings = (resource.get("Properties") or {}).get("AccessLogSettings") or {}
        return str(settings.get("Format", ""))
    return ""


def machine() -> dict[str, str]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count() or "?"),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
    }


def sample_event(name: str) -> dict[str, Any]:
    """A copy of events/<name>.json (the sample events `sam local invoke -e` uses)."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return copy.deepcopy(data)


class BenchEnvironment:
    """Local stack + sandbox store, one tenant, one iClient on the sandbox app."""

    def __init__(self, *, tenant: str | None = None) -> None:
        self.tenant = tenant or f"bench-{uuid.uuid4().hex[:8]}"
        self._state_dir = Path(tempfile.mkdtemp(prefix="cartconnect-bench-"))
        self.stack = LocalStack(port=0, moto_port=0, state_dir=self._state_dir)
        self.store = SandboxStore(port=0)
        self.iclient_id = ""
        self.logs = LogSink()
        self._api: httpx2.Client | None = None
        self._browser: httpx2.Client | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> BenchEnvironment:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> BenchEnvironment:
        try:
            self.stack.start()
            self.logs = capture_handler_logs()
            self.store.start()
            self.stack.update_env(
                {
                    "CARTCONNECT_INSECURE_STORE_HOSTS": self.store.host,
                    "STORE_CALL_LIMIT": BENCH_STORE_CALL_LIMIT,
                }
            )
            self._lift_store_budget()
            self.store.register_app(APP_ID, APP_SECRET)
            self.store.configure(auto_approve=True)
            self._api = self.stack.client(self.tenant)
            self._browser = httpx2.Client(follow_redirects=False, timeout=30, verify=shared_tls())
            self.iclient_id = self.create_iclient("Bench app", APP_ID, APP_SECRET)
        except BaseException:
            self.stop()
            raise
        return self

    def _lift_store_budget(self) -> None:
        """Every bench connection is on the one sandbox host, whose call budget (half its learned
        limit, 25 calls per 10 s) would make figures wait for each other and defer refreshes. The
        host's budget item is written as if its limit were already learned (so answers change
        nothing) with a budget no figure reaches: every store call still spends it with one
        conditional UpdateItem, so the counts are those of a deployed store call."""
        from cartconnect.adapters import store_rate_limiter, table

        item = {
            **store_rate_limiter._key(self.store.host),
            "allowed": {"N": str(self.store.faults.api_call_limit)},
            "budget": {"N": BENCH_STORE_CALL_LIMIT},
        }
        table.client().put_item(TableName=table.table_name(), Item=item)

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        self.store.stop()
        self.stack.stop()
        shutil.rmtree(self._state_dir, ignore_errors=True)

    @property
    def api(self) -> httpx2.Client:
        if self._api is None:
            raise RuntimeError("the bench environment is not started")
        return self._api

    @property
    def browser(self) -> httpx2.Client:
        if self._browser is None:
            raise RuntimeError("the bench environment is not started")
        return self._browser

    # -- the environment a function's process gets -------------------------------------------

    def function_env(self, logical_id: str) -> dict[str, str]:
        """What Lambda would give this function: its own template variables (resolved by the local
        stack) plus the local settings (moto endpoint, dummy credentials, sandbox host); of this
        process's environment only PATH, HOME, LANG, TMPDIR and PYTHONPATH."""
        template_names: set[str] = set()
        for definition in self.stack.template.functions.values():
            template_names.update(definition.environment)
        own = set(self.stack.template.functions[logical_id].environment)
        env = {
            name: value for name, value in self.stack.env.items() if name in own or name not in template_names
        }
        for name in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH"):
            if name in os.environ:
                env[name] = os.environ[name]
        # Lambda's code and layers are read-only: nothing compiled at run time is kept. The layer
        # ships bytecode (layers/core/Makefile; the cold start figure compiles it the same way), the
        # function's own app.py is compiled by every cold start, here as there.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def code_dir(self, short_name: str) -> Path:
        return ROOT / "functions" / short_name

    # -- connections -------------------------------------------------------------------------

    def create_iclient(self, name: str, client_id: str, client_secret: str) -> str:
        """POST /v1/iclients (its secret goes to Secrets Manager): the new iClient's id."""
        created = self.api.post(
            "/v1/iclients", json={"name": name, "client_id": client_id, "client_secret": client_secret}
        )
        created.raise_for_status()
        return str(created.json()["id"])

    def create_connection(
        self, name: str | None = None, *, iclient_id: str | None = None, scopes: tuple[str, ...] = SCOPES
    ) -> dict[str, Any]:
        """POST /v1/connections on the sandbox store: pending, with a one-time authorize_url."""
        response = self.api.post(
            "/v1/connections",
            json={
                "name": name or f"bench store {uuid.uuid4().hex[:10]}",
                "subdomain": self.store.host,
                "iclient_id": iclient_id or self.iclient_id,
                "scopes": list(scopes),
            },
        )
        response.raise_for_status()
        created: dict[str, Any] = response.json()
        return created

    def new_ticket(self, connection_id: str) -> str:
        """A fresh one-time ticket (POST .../authorize-link)."""
        response = self.api.post(f"/v1/connections/{connection_id}/authorize-link")
        response.raise_for_status()
        return str(response.json()["authorize_url"]).rsplit("/", 1)[1]

    def show_authorize_link(self, authorize_url: str) -> httpx2.Response:
        """The browser opens the link: the page that shows what is granted (nothing spent)."""
        response = self.browser.get(authorize_url)
        if response.status_code != 200:
            raise RuntimeError(f"the link's page answered {response.status_code}: {response.text[:200]}")
        return response

    def submit_authorize_link(self, authorize_url: str) -> tuple[str, list[str]]:
        """The admin clicks the page's button (authorize Lambda through the gateway): the store's
        consent URL and the cookies the answer set."""
        response = self.browser.post(
            authorize_url,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"},
        )
        if response.status_code != 303:
            raise RuntimeError(f"authorize answered {response.status_code}: {response.text[:200]}")
        cookies = []
        for raw in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            cookies += [f"{name}={morsel.value}" for name, morsel in jar.items()]
        return response.headers["location"], cookies

    def open_authorize_link(self, authorize_url: str) -> tuple[str, list[str]]:
        """The link's page, then its button: the store's consent URL and the cookies set."""
        self.show_authorize_link(authorize_url)
        return self.submit_authorize_link(authorize_url)

    def consent(self, store_url: str) -> str:
        """The store admin approves (sandbox auto-approve): the callback URL the store sends back."""
        response = self.browser.get(store_url)
        if response.status_code != 302:
            raise RuntimeError(f"the sandbox store answered {response.status_code}")
        return str(response.headers["location"])

    def prepared_callback(self, connection_id: str) -> tuple[str, list[str]]:
        """Everything a valid callback carries (query with state, auth_id, code; the state cookie),
        prepared by a real authorize + consent; the callback itself is left to the caller."""
        store_url, cookies = self.open_authorize_link(
            f"{self.stack.api_url}/connect/{self.new_ticket(connection_id)}"
        )
        callback_url = self.consent(store_url)
        return urlsplit(callback_url).query, cookies

    def complete_callback(self, query: str, cookies: list[str]) -> httpx2.Response:
        return self.browser.get(
            f"{self.stack.api_url}/oauth2/callback?{query}", headers={"Cookie": "; ".join(cookies)}
        )

    def authorized_connection(
        self, name: str | None = None, *, iclient_id: str | None = None, scopes: tuple[str, ...] = SCOPES
    ) -> dict[str, Any]:
        """A connection through the whole flow (API, authorize, sandbox consent, callback): active."""
        connection = self.create_connection(name, iclient_id=iclient_id, scopes=scopes)
        store_url, cookies = self.open_authorize_link(connection["authorize_url"])
        page = self.complete_callback(urlsplit(self.consent(store_url)).query, cookies)
        if page.status_code != 200:
            raise RuntimeError(f"callback answered {page.status_code}: {page.text[:200]}")
        return self.get_connection(connection["id"])

    def delete_connections(self, *connection_ids: str) -> None:
        """DELETE each (a figure's leftovers must not be due in the next figure's ticks)."""
        for connection_id in connection_ids:
            self.api.delete(f"/v1/connections/{connection_id}").raise_for_status()

    def get_connection(self, connection_id: str) -> dict[str, Any]:
        response = self.api.get(f"/v1/connections/{connection_id}")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def make_due(self, connection_id: str, *, seconds_ago: float = 60) -> int:
        """Move the connection's refresh due time into the past (its index entry too), as if its
        token were about to expire; returns its token version (what the scheduler would enqueue)."""
        from cartconnect.adapters import table
        from cartconnect.adapters.connection_repository import item_key
        from cartconnect.clock import to_iso
        from cartconnect.refresh_schedule import due_keys

        due = datetime.now(UTC) - timedelta(seconds=seconds_ago)
        keys = due_keys(connection_id, due)
        response = table.client().update_item(
            TableName=table.table_name(),
            Key=item_key(self.tenant, connection_id),
            UpdateExpression="SET refresh_due_at = :due, due_pk = :pk, due_sk = :sk",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=table.marshal(
                {":due": to_iso(due), ":pk": keys["due_pk"], ":sk": keys["due_sk"]}
            ),
            ReturnValues="ALL_NEW",
        )
        return int(response["Attributes"]["token_version"]["N"])

    def raw_item(self, connection_id: str) -> dict[str, Any]:
        """The connection item exactly as DynamoDB returns it (attribute-value JSON)."""
        return self.raw_item_by_key(f"T#{self.tenant}", f"CONN#{connection_id}")

    def raw_item_by_key(self, pk: str, sk: str) -> dict[str, Any]:
        dynamodb = self.stack.aws_client("dynamodb")
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        answer = dynamodb.get_item(TableName=self.stack.env["TABLE_NAME"], Key=key, ConsistentRead=True)
        item: dict[str, Any] = answer.get("Item", {})
        return item

    # -- events ------------------------------------------------------------------------------

    def http_event(self, sample: str, *, path: str, path_parameters: dict[str, str]) -> dict[str, Any]:
        """A payload v2 event from a sample, for this deployment's domain and this tenant's claims."""
        event = sample_event(sample)
        host = urlsplit(self.stack.api_url).netloc
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
        event["requestContext"]["domainName"] = host
        event["headers"]["host"] = host
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        event["requestContext"]["timeEpoch"] = int(time.time() * 1000)
        event["pathParameters"] = path_parameters
        jwt = event["requestContext"].get("authorizer", {}).get("jwt")
        if jwt is not None:
            jwt["claims"]["tenant_id"] = self.tenant
            jwt["claims"]["iss"] = self.stack.issuer
            jwt["claims"]["aud"] = self.stack.audience
        return event

    def get_connection_event(self, connection_id: str) -> dict[str, Any]:
        return self.http_event(
            "management-get-connection",
            path=f"/v1/connections/{connection_id}",
            path_parameters={"connection_id": connection_id},
        )

    def proxy_event(self, connection_id: str, store_path: str, query: str = "") -> dict[str, Any]:
        """GET /v1/connections/{id}/proxy/{store_path}?{query}, as the HTTP API hands it to the store
        proxy (its sample, for this connection and query)."""
        from urllib.parse import parse_qsl

        event = self.http_event(
            "store_proxy-get-products",
            path=f"/v1/connections/{connection_id}/proxy/{store_path}",
            path_parameters={"connection_id": connection_id, "path": store_path},
        )
        event["rawQueryString"] = query
        event.pop("queryStringParameters", None)
        if query:
            event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
        return event

    def authorize_event(self, ticket: str) -> dict[str, Any]:
        """The admin's POST on the link (the request that spends the ticket)."""
        return self.http_event(
            "authorize-connect-post", path=f"/connect/{ticket}", path_parameters={"ticket": ticket}
        )

    def callback_event(self, query: str, cookies: list[str]) -> dict[str, Any]:
        from urllib.parse import parse_qsl

        event = self.http_event("callback-store-denied", path="/oauth2/callback", path_parameters={})
        event.pop("pathParameters")
        event["rawQueryString"] = query
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
        event["cookies"] = list(cookies)
        return event

    def enqueue_and_receive(self, messages: list[tuple[str, int]]) -> list[dict[str, Any]]:
        """Send refresh messages for (connection id, token version) and receive them back as the SQS
        event source would: records for a worker event (real receipt handles)."""
        from cartconnect.adapters import refresh_queue
        from cartconnect_dev.scheduler import take_refresh_messages

        refresh_queue.send([refresh_queue.RefreshMessage(self.tenant, cid, v) for cid, v in messages])
        # Anyone else's message is a scheduler tick's leftover: not ours to handle.
        ours = take_refresh_messages(self.stack, [cid for cid, _ in messages], others="delete", patience=200)
        if len(ours) < len(messages):
            raise RuntimeError("refresh messages did not come back from the queue")
        sqs, url = self.stack.aws_client("sqs"), self.stack.resources["RefreshQueue"].ref
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return [sqs_record(ours[cid], arn) for cid, _ in messages]

    def write_due_items(self, count: int, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """`count` due connection items written directly (BatchWriteItem, 25 per request): the keys
        (pk, sk, due_pk, due_sk: spread over the shards by the connection id's hash, as the code
        does) plus what the scheduler reads of a due item (tenant, id, token_version, status,
        refresh_due_at). Returns their primary keys."""
        from cartconnect.clock import to_iso
        from cartconnect.refresh_schedule import due_keys

        tenant = tenant or f"{self.tenant}-due"
        dynamodb = self.stack.aws_client("dynamodb")
        name = self.stack.env["TABLE_NAME"]
        due = datetime.now(UTC) - timedelta(minutes=1)
        keys: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        for index in range(count):
            connection_id = f"con_bench{index:07d}{uuid.uuid4().hex[:8]}"
            key = {"pk": {"S": f"T#{tenant}"}, "sk": {"S": f"CONN#{connection_id}"}}
            shard = due_keys(connection_id, due)
            item = {
                **key,
                "due_pk": {"S": shard["due_pk"]},
                "due_sk": {"S": shard["due_sk"]},
                "tenant": {"S": tenant},
                "id": {"S": connection_id},
                "token_version": {"N": "1"},
                "status": {"S": "active"},
                "refresh_due_at": {"S": to_iso(due)},
            }
            keys.append(key)
            requests.append({"PutRequest": {"Item": item}})
        self._batch_write(dynamodb, name, requests)
        return keys

    def delete_items(self, keys: list[dict[str, Any]]) -> None:
        dynamodb = self.stack.aws_client("dynamodb")
        self._batch_write(
            dynamodb, self.stack.env["TABLE_NAME"], [{"DeleteRequest": {"Key": key}} for key in keys]
        )

    @staticmethod
    def _batch_write(dynamodb: Any, table_name: str, requests: list[dict[str, Any]]) -> None:
        for offset in range(0, len(requests), 25):
            pending: dict[str, Any] = {table_name: requests[offset : offset + 25]}
            while pending:
                answer = dynamodb.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}

    def drain_queue(self) -> int:
        """Delete every visible message of the refresh queue (PurgeQueue works once a minute)."""
        sqs = self.stack.aws_client("sqs")
        url = self.stack.resources["RefreshQueue"].ref
        drained = 0
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not messages:
                return drained
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            drained += len(messages)


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS record as Lambda's event source delivers it."""
    from cartconnect_dev.scheduler import _record

    record: dict[str, Any] = _record(message, queue_arn)
    return record


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class LogSink:
    """Where the handlers' log lines go during the bench: counted (CloudWatch Logs bills ingested
    bytes), never printed; kept too with `keep` (to read the metrics a handler published)."""

    def __init__(self, *, keep: bool = False) -> None:
        self.bytes = 0
        self.lines = 0
        self._kept: list[str] | None = [] if keep else None

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.bytes += len(data)
        self.lines += text.count("\n")
        if self._kept is not None:
            self._kept.append(text)
        return len(text)

    @property
    def text(self) -> str:
        """What was written (with `keep`; else nothing)."""
        return "".join(self._kept or ())

    def flush(self) -> None:
        pass


def capture_handler_logs() -> LogSink:
    """Send the core package's Powertools logger (every handler's log lines) to a counting sink."""
    import warnings

    from cartconnect.observability import logger

    # Metrics are off locally (POWERTOOLS_METRICS_DISABLED): Powertools warns on every flush.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    sink = LogSink()
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sink)
    return sink
