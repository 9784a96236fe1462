#!/usr/bin/env bash
# Lint template.yaml (and samconfig.toml's environments) offline, without AWS credentials.
#
#   scripts/lint-template.sh [TEMPLATE]
#
# Runs, from .tools (scripts/tools-env.sh installs it):
#   1. sam validate              the SAM translator (also for --config-env prod: samconfig.toml parses)
#   2. sam validate --lint       cfn-lint as SAM runs it
#   3. cfn-lint --include-checks I   every error, warning and informational rule
#   4. the same cfn-lint on the SAM-translated template (plain CloudFormation): on a template with the
#      Serverless transform cfn-lint skips some rules, e.g. W3037 (IAM actions exist) and W2001 (unused
#      parameters); on the translated one it applies them. Findings there name the translated file, but
#      the logical ids are the template's (plus SAM's generated ones: <Function>Role, HttpApi stage, ...).
# and fails on any finding. Deliberate exceptions are suppressed on the resource in the template
# (Metadata: cfn-lint: config: ignore_checks) and listed in docs/decisions/0003-template-lint-exceptions.md.
#
# Nothing here needs or reaches AWS: the region and credentials are dummies, the shared AWS config is
# hidden, instance metadata is off, SAM's telemetry and version check are off, HTTP(S) proxies point at a
# closed local port, and where the kernel allows it the tools run in a network namespace of their own
# with no network at all. (sam validate without --lint would call IAM only to resolve a managed policy
# *name* that is not in SAM's bundled list; the template names none, and offline it would fail loudly.)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="${1:-$root/template.yaml}"
"$root/scripts/tools-env.sh"
bin="$root/.tools/bin"

export SAM_CLI_TELEMETRY=0
export __SAM_CLI_APP_DIR="$root/.tools/sam-home"
# shellcheck source=scripts/offline-env.sh
source "$root/scripts/offline-env.sh"

failed=0
run() {
    echo "+ $*"
    if ! ${offline[@]+"${offline[@]}"} "$@"; then
        failed=1
    fi
}

cd "$root"
run "$bin/sam" validate --template-file "$template" --region us-east-1
run "$bin/sam" validate --template-file "$template" --config-env prod
run "$bin/sam" validate --lint --template-file "$template" --region us-east-1
run "$bin/cfn-lint" --include-checks I --regions us-east-1 -- "$template"

# 4. Translate offline with SAM's own translator (local CodeUri/ContentUri become placeholder S3 URIs, as
# `sam validate` does), then lint the plain CloudFormation result.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
translated="$work/translated-template.json"
echo "+ sam translate (offline) > $translated"
if ${offline[@]+"${offline[@]}"} "$bin/python" "$(dirname "$0")/sam_translate_offline.py" "$template" >"$translated"; then
    run "$bin/cfn-lint" --include-checks I --regions us-east-1 -- "$translated"
else
    failed=1
fi

if [[ $failed -ne 0 ]]; then
    echo "lint-template: FAILED (see the findings above)" >&2
    exit 1
fi
echo "lint-template: ok (no errors, warnings or informational findings)"
