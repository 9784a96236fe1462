"""docs/deploy.md names what template.yaml declares: resources, parameters, outputs, names built from
the stack name, and the stack name's length limit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "deploy.md").read_text()
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
# AWS API names the guide cites that are not the template's (Cognito's).
NOT_TEMPLATE_NAMES = {"UpdateUserAttributes"}
LAMBDA_FUNCTION_NAME_MAX = 64


def _template() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load(TEMPLATE_TEXT, Loader=Loader)


def test_every_template_name_the_guide_cites_exists():
    template = _template()
    declared = set(template["Parameters"]) | set(template["Resources"]) | set(template["Outputs"])
    cited = set(re.findall(r"`([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)`", GUIDE)) - NOT_TEMPLATE_NAMES
    assert cited - declared == set()


def test_the_outputs_table_lists_every_output():
    section = GUIDE.split("### Outputs", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(\w+)`", "".join(re.findall(r"^\| (`.*?) \|", section, flags=re.M))))
    assert listed == set(_template()["Outputs"])


def test_names_built_from_the_stack_name_exist():
    cited = set(re.findall(r"<stack>(-[a-z0-9-]+)", GUIDE))
    built = set(re.findall(r"\$\{AWS::StackName\}(-[a-z0-9-]+)", TEMPLATE_TEXT))
    assert cited and cited <= built


def test_the_stack_name_limit_is_what_the_longest_function_name_allows():
    suffixes = re.findall(r'FunctionName: !Sub "\$\{AWS::StackName\}([^"]*)"', TEMPLATE_TEXT)
    longest = max(suffixes, key=len)
    limit = int(re.search(r"keep it at most (\d+) characters", GUIDE).group(1))
    assert limit == LAMBDA_FUNCTION_NAME_MAX - len(longest)
    assert f"`<stack>{longest}`" in GUIDE
