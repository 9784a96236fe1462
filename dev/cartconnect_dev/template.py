"""Read template.yaml (the SAM template) and resolve what the local stack needs from it.

The template is the single source of truth for the local stack: the HttpApi routes, each
function's handler and environment, the JWT authorizer and the AWS resources all come from here,
so the local stack cannot drift from what `sam deploy` creates.

CloudFormation short-form tags are loaded as their long-form equivalents (`!Ref X` becomes
`{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` becomes
`{"Fn::Sub": s}`, ...), so both spellings resolve the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STACK_NAME = "cartconnect-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::StackName": STACK_NAME,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": URL_SUFFIX,
    "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
}

# Marker for AWS::NoValue: a property or list item resolved to it is dropped.
NO_VALUE: Any = object()


class TemplateError(Exception):
    """template.yaml cannot be read, or declares something the local stack cannot stand in for."""


class UnresolvedReferenceError(TemplateError):
    """One or more references have no local value. `names` lists every one, `where` says where."""

    def __init__(self, names: list[str], where: str = "") -> None:
        self.names = sorted(set(names))
        self.where = where
        suffix = f" in {where}" if where else ""
        super().__init__(
            f"template.yaml: no local value for {', '.join(self.names)}{suffix}. The local stack only "
            "creates DynamoDB tables, KMS keys and aliases, SQS queues and EventBridge buses; give "
            "parameters a Default or a parameter override."
        )


# ---------------------------------------------------------------------------------------------
# Loading


# A SafeLoader that understands CloudFormation's short-form intrinsic function tags.
_CfnLoader: Any = type("_CfnLoader", (yaml.SafeLoader,), {})


def _construct_intrinsic(loader: Any, tag_suffix: str, node: Any) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def project_root() -> Path:
    """The directory holding template.yaml: $CARTCONNECT_ROOT, this checkout, or the nearest parent of cwd."""
    explicit = os.environ.get("CARTCONNECT_ROOT")
    if explicit:
        return Path(explicit).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "template.yaml").is_file():
        return checkout
    for candidate in [Path.cwd(), *Path.cwd().parents]:
        if (candidate / "template.yaml").is_file():
            return candidate
    raise TemplateError("cannot find template.yaml: run from the project or set CARTCONNECT_ROOT")


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a CloudFormation template (expected a mapping)")
    return data


# ---------------------------------------------------------------------------------------------
# What the local stack needs from the template


@dataclass(frozen=True)
class Route:
    """One HttpApi route. `method` is upper case or "ANY"; `path` is the template path or "$default"."""

    method: str
    path: str
    function_id: str
    event_id: str = ""
    # None: the route has no authorizer (Auth.Authorizer NONE); else the authorizer's name.
    authorizer: str | None = None
    authorization_scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    code_uri: str
    handler: str
    # Raw (unresolved) variables: Globals.Function.Environment.Variables overlaid by the function's own.
    environment: dict[str, Any]
    routes: tuple[Route, ...]
    function_name: Any = None  # the FunctionName property, if any (unresolved)
    timeout: int = 3
    memory_size: int = 128

    @property
    def short_name(self) -> str:
        """The CodeUri directory name, e.g. `management` for functions/management."""
        return Path(self.code_uri.rstrip("/")).name

    @property
    def handler_module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]

    def module_path(self, root: Path) -> Path:
        """functions/<dir>/app.py for Handler app.lambda_handler (dotted modules map to sub-directories)."""
        return root / self.code_uri / (self.handler_module.replace(".", "/") + ".py")


@dataclass(frozen=True)
class JwtAuthorizerDef:
    name: str
    issuer: Any  # unresolved
    audience: Any  # unresolved
    identity_source: str = "$request.header.Authorization"


@dataclass
class Template:
    path: Path
    data: dict[str, Any]
    functions: dict[str, FunctionDef] = field(default_factory=dict)
    authorizers: dict[str, JwtAuthorizerDef] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Parameters") or {})

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Resources") or {})

    @property
    def routes(self) -> list[Route]:
        return [route for function in self.functions.values() for route in function.routes]

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") == resource_type}

    def parameter_defaults(self) -> dict[str, str]:
        """Parameters that have a Default, as the strings CloudFormation would pass."""
        return {
            name: _to_string(spec["Default"])
            for name, spec in self.parameters.items()
            if isinstance(spec, dict) and "Default" in spec
        }

    def function(self, name: str) -> FunctionDef:
        """Find a function by logical id (ManagementFunction) or CodeUri directory name (management)."""
        if name in self.functions:
            return self.functions[name]
        for function in self.functions.values():
            if name in (function.short_name, function.short_name.replace("_", "-")):
                return function
        known = ", ".join(f"{f.logical_id} ({f.short_name})" for f in self.functions.values())
        raise KeyError(f"no function {name!r} in template.yaml; known: {known}")


def load_template(path: Path | None = None) -> Template:
    path = path or project_root() / "template.yaml"
    data = load_yaml(path)
    template = Template(path=path, data=data)
    globals_fn = (data.get("Globals") or {}).get("Function") or {}
    global_env = ((globals_fn.get("Environment") or {}).get("Variables")) or {}
    resources = data.get("Resources") or {}
    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            template.authorizers.update(_authorizers(resource))
    implicit_auth = (((data.get("Globals") or {}).get("HttpApi") or {}).get("Auth")) or {}
    template.authorizers.update(_authorizers({"Properties": {"Auth": implicit_auth}}))
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        if "CodeUri" not in props or "Handler" not in props:
            raise TemplateError(f"{logical_id}: the local stack needs CodeUri and Handler (no inline code)")
        env = dict(global_env)
        env.update(((props.get("Environment") or {}).get("Variables")) or {})
        template.functions[logical_id] = FunctionDef(
            logical_id=logical_id,
            code_uri=str(props["CodeUri"]),
            handler=str(props["Handler"]),
            environment=env,
            routes=tuple(_routes(logical_id, props, resources, implicit_auth)),
            function_name=props.get("FunctionName"),
            timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
            memory_size=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
        )
    return template


def _authorizers(resource: dict[str, Any]) -> dict[str, JwtAuthorizerDef]:
    auth = (resource.get("Properties") or {}).get("Auth") or {}
    found = {}
    for name, spec in (auth.get("Authorizers") or {}).items():
        config = spec.get("JwtConfiguration")
        if config is None:
            continue  # Lambda authorizers are not emulated; routes using one answer 500 locally
        found[name] = JwtAuthorizerDef(
            name=name,
            issuer=config.get("issuer"),
            audience=config.get("audience"),
            identity_source=str(spec.get("IdentitySource", "$request.header.Authorization")),
        )
    return found


def _routes(
    logical_id: str, props: dict[str, Any], resources: dict[str, Any], implicit_auth: dict[str, Any]
) -> list[Route]:
    routes = []
    for event_id, event in (props.get("Events") or {}).items():
        if event.get("Type") != "HttpApi":
            continue
        eprops = event.get("Properties") or {}
        api_auth = implicit_auth
        api_ref = eprops.get("ApiId")
        if isinstance(api_ref, dict) and "Ref" in api_ref:
            api = resources.get(api_ref["Ref"]) or {}
            api_auth = (api.get("Properties") or {}).get("Auth") or {}
        auth = eprops.get("Auth") or {}
        authorizer = auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
        if authorizer == "NONE":
            authorizer = None
        method = str(eprops.get("Method", "ANY")).upper()
        path = str(eprops.get("Path", "$default"))
        if "Method" not in eprops and "Path" not in eprops:
            method, path = "ANY", "$default"
        routes.append(
            Route(
                method=method,
                path=path,
                function_id=logical_id,
                event_id=event_id,
                authorizer=authorizer,
                authorization_scopes=tuple(auth.get("AuthorizationScopes") or ()),
            )
        )
    return routes


# ---------------------------------------------------------------------------------------------
# Resolving intrinsic functions to local values


@dataclass(frozen=True)
class Physical:
    """A resource created locally: what `!Ref` returns and the `!GetAtt` attributes."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


class Resolver:
    """Evaluate intrinsic functions against local physical resources and parameter values.

    Unknown references are collected and raised together as one UnresolvedReferenceError.
    """

    def __init__(
        self,
        template: Template,
        physical: Mapping[str, Physical],
        parameter_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.physical = physical
        self.parameters = template.parameter_defaults()
        self.parameters.update({k: _to_string(v) for k, v in (parameter_overrides or {}).items()})
        self._missing: list[str] = []

    # -- public API --------------------------------------------------------------------------

    def resolve(self, value: Any, where: str = "") -> Any:
        self._missing = []
        result = self._eval(value)
        if self._missing:
            raise UnresolvedReferenceError(self._missing, where)
        return result

    def function_env(self, function: FunctionDef) -> dict[str, str]:
        """The function's environment with every value resolved to a string (as Lambda sees it)."""
        self._missing = []
        env = {}
        for name, raw in function.environment.items():
            value = self._eval(raw)
            if value is not NO_VALUE:
                env[name] = _to_string(value)
        if self._missing:
            raise UnresolvedReferenceError(self._missing, f"{function.logical_id}'s environment")
        return env

    def condition(self, name: str) -> bool:
        """Evaluate a template condition (raises UnresolvedReferenceError if it cannot be)."""
        return bool(self.resolve({"Condition": name}, f"condition {name}"))

    def _condition(self, name: str) -> bool:
        conditions = self.template.data.get("Conditions") or {}
        if name not in conditions:
            self._missing.append(f"Condition {name}")
            return False
        return bool(self._eval(conditions[name]))

    # -- evaluation ----------------------------------------------------------------------------

    def _eval(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._eval(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key == "Condition" and isinstance(arg, str):
                return self._condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self._eval(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:  # noqa: PLR0911, PLR0912
        if name == "GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            return self._get_att(str(parts[0]), str(self._eval(parts[1])))
        if name == "Sub":
            return self._sub(arg)
        if name == "Join":
            delimiter, items = arg
            return str(delimiter).join(_to_string(i) for i in self._as_list(self._eval(items)))
        if name == "Select":
            index, items = arg
            return self._as_list(self._eval(items))[int(self._eval(index))]
        if name == "Split":
            delimiter, source = arg
            return _to_string(self._eval(source)).split(str(delimiter))
        if name == "If":
            condition, if_true, if_false = arg
            return self._eval(if_true if self._condition(str(condition)) else if_false)
        if name == "Equals":
            left, right = (self._eval(item) for item in arg)
            return _to_string(left) == _to_string(right)
        if name == "Not":
            return not self._eval(arg[0])
        if name == "And":
            return all(self._eval(item) for item in arg)
        if name == "Or":
            return any(self._eval(item) for item in arg)
        if name == "FindInMap":
            mapping, top, second = (self._eval(item) for item in arg)
            try:
                return self.template.data["Mappings"][mapping][top][second]
            except KeyError:
                self._missing.append(f"!FindInMap [{mapping}, {top}, {second}]")
                return ""
        if name == "Base64":
            import base64

            return base64.b64encode(_to_string(self._eval(arg)).encode()).decode()
        if name == "GetAZs":
            return [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
        self._missing.append(f"!{name}")
        return ""

    def _as_list(self, value: Any) -> list[Any]:
        return value if isinstance(value, list) else _to_string(value).split(",")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            spec = self.template.parameters.get(name) or {}
            value = self.parameters[name]
            if str(spec.get("Type", "")).startswith(("CommaDelimitedList", "List<")):
                return [item.strip() for item in value.split(",")] if value else []
            return value
        if name in self.physical:
            return self.physical[name].ref
        self._missing.append(self._describe(f"!Ref {name}", name))
        return ""

    def _get_att(self, resource: str, attribute: str) -> Any:
        physical = self.physical.get(resource)
        if physical is not None and attribute in physical.attributes:
            return physical.attributes[attribute]
        self._missing.append(self._describe(f"!GetAtt {resource}.{attribute}", resource))
        return ""

    def _describe(self, text: str, logical_id: str) -> str:
        if logical_id in self.template.parameters:
            return f"{text} (parameter without Default or override)"
        resource = self.template.resources.get(logical_id)
        if resource is None:
            return f"{text} (not declared in template.yaml)"
        return f"{text} ({resource.get('Type')} has no local stand-in)"

    _SUB_VAR = re.compile(r"\$\{([^}]+)\}")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), {k: self._eval(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is written as ${Literal}
            if name in variables:
                return _to_string(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _to_string(self._get_att(resource, attribute))
            return _to_string(self._ref(name))

        return self._SUB_VAR.sub(replace, text)


def _to_string(value: Any) -> str:
    """How CloudFormation renders a scalar (booleans lower-case, lists comma-joined)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_to_string(item) for item in value)
    if value is None:
        return ""
    return str(value)
