"""A local stand-in for API Gateway HTTP API (payload format 2.0) and the Lambda Invoke API.

Serves the HttpApi routes of template.yaml on 127.0.0.1 and invokes the handlers in-process:

* events are built like API Gateway builds payload v2.0 events (`events.build_event`);
* routes with a JWT authorizer verify `Authorization: Bearer <jwt>` like API Gateway's JWT
  authorizer (RS256 signature against the issuer's JWKS, iss, aud or client_id, exp, nbf) and
  answer 401 `{"message":"Unauthorized"}` without invoking the handler when it fails (`authorizer`);
* the handler's result is turned into the HTTP reply by API Gateway's v2 rules
  (`responses.to_http_response`);
* `POST /2015-03-31/functions/{FunctionName}/invocations` is Lambda's Invoke API, for the stack's
  own tools only: it needs the stack's secret (`invoke_secret.HEADER`; `invoke_secret.lambda_client`
  is boto3's lambda client sending it) and refuses browsers (403 AccessDeniedException) (`app`);
* every request's `Host` must be a loopback name with the gateway's port (421 otherwise: DNS
  rebinding); the routes themselves serve browsers, as API Gateway does (`server`);
* `GET /_local/issuer/.well-known/openid-configuration` and `.../jwks.json` publish the local issuer.

Each function runs like Lambda runs it: one invocation at a time per execution environment. An
environment is a separate import of the handler module (a unique module name, since every handler
is called app.py); concurrent requests get more environments (cold starts), and an edited handler
file is re-imported on the next invocation. The core package is imported once per process.
Lambda timeouts are not enforced (a thread cannot be killed); overruns are logged (`functions`).

The modules, each importing only those before it:

* `messages`: plain HTTP request and response values (no sockets);
* `routes`: route matching (API Gateway's precedence: the most specific route wins);
* `events`: payload format 2.0 events;
* `responses`: handler results -> HTTP;
* `authorizer`: the JWT authorizer;
* `isolation`: each concurrent request its own event in Powertools' resolver (one process, many
  environments);
* `functions`: Lambda functions run in-process (execution environments, the context object);
* `app`: the gateway application (pure request -> response), the Invoke API among it;
* `server`: the HTTP server.

Import names from the module that defines them (`from cartconnect_dev.gateway.app import GatewayApp`).
"""
