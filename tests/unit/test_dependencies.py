"""The declared runtime dependencies are what ships in the layer, and what the shipped code imports
(docs/decisions/0010-dependencies.md)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "layers" / "core" / "requirements.txt"

# The top-level module the shipped code imports for each runtime dependency. boto3 is declared for
# the botocore it pins, and only botocore is imported (boto3 would also import s3transfer at cold start).
IMPORTED_AS = {
    "aws-lambda-powertools": "aws_lambda_powertools",
    "boto3": "botocore",
    "pydantic": "pydantic",
    "httpx2": "httpx2",
    "cryptography": "cryptography",
}


def _spec(line: str) -> tuple[str, str]:
    """(normalized name with extras, specifiers sorted): `Foo_Bar[x] >=1, <2` == `foo-bar[x]<2,>=1`."""
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)", line.strip())
    assert match, f"not a plain requirement: {line!r}"
    name, extras, specifiers = match.groups()
    name = re.sub(r"[-_.]+", "-", name).lower() + (extras or "").replace(" ", "").lower()
    return name, ",".join(sorted(part.replace(" ", "") for part in specifiers.split(",") if part.strip()))


def _layer() -> set[tuple[str, str]]:
    lines = LAYER_REQUIREMENTS.read_text().splitlines()
    return {_spec(line) for line in lines if line.strip() and not line.lstrip().startswith("#")}


def _pyproject() -> set[tuple[str, str]]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return {_spec(line) for line in tomllib.load(handle)["project"]["dependencies"]}


def _shipped_imports() -> set[str]:
    sources = [
        *(ROOT / "layers" / "core" / "cartconnect").rglob("*.py"),
        *(ROOT / "functions").glob("*/app.py"),
    ]
    modules = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    return modules


def test_pyproject_runtime_dependencies_are_exactly_the_layer_requirements():
    assert _pyproject() == _layer()


def test_the_spec_comparison_ignores_spelling_only():
    assert _spec("Foo_Bar[X] >=1, <2") == _spec("foo-bar[x]<2,>=1")
    assert _spec("foo>=1") != _spec("foo>=2")


def test_every_runtime_dependency_is_imported_by_the_shipped_code():
    declared = {name.split("[")[0] for name, _ in _layer()}
    assert declared == set(IMPORTED_AS), "name the module a new dependency is imported as in IMPORTED_AS"
    unused = {name for name in declared if IMPORTED_AS[name] not in _shipped_imports()}
    assert not unused, f"declared and shipped in the layer, imported nowhere: {sorted(unused)}"


def test_the_shipped_code_never_imports_boto3():
    assert "boto3" not in _shipped_imports(), "import botocore instead (docs/decisions/0010-dependencies.md)"
