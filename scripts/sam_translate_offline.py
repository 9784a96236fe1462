"""Translate a SAM template to plain CloudFormation with SAM's own translator, offline.

Local CodeUri/ContentUri become placeholder S3 URIs, as `sam validate` does. Used by
scripts/lint-template.sh (cfn-lint on the translation) and scripts/checkov.sh. Runs in the .tools
venv, where aws-sam-cli brings samtranslator. Usage: python sam_translate_offline.py TEMPLATE > OUT
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicyLookup:
    """SAM asks IAM only for a managed policy name missing from its bundled list: refuse, offline."""

    def load(self):
        raise SystemExit("sam translate: a managed policy name SAM does not know; use its ARN instead")


with open(sys.argv[1], encoding="utf-8") as handle:
    template = yaml_parse(handle.read())
for resource in (template.get("Resources") or {}).values():
    properties = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = "s3://offline-lint/" + properties[key]
json.dump(transform(template, {}, NoManagedPolicyLookup()), sys.stdout, indent=1)
