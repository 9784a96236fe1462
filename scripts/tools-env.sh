#!/usr/bin/env bash
# The deployment tools (AWS SAM CLI, cfn-lint) in their own virtualenv, .tools/ in the checkout.
#
# They pin boto3/pydantic versions that clash with the project's own, so they never go into .venv.
# Run it (scripts/tools-env.sh) to create or refresh .tools; source it (. scripts/tools-env.sh) to also
# put .tools/bin first on PATH, e.g. before `sam build` / `sam deploy`.
#
# Idempotent and quiet: the first run installs (about a minute), later runs only compare a stamp (the
# hash of this file and of the Python that made the venv). Changing a pin below changes the hash, so
# the next run rebuilds .tools from scratch. pip's output goes to .tools/install.log, shown on failure.
#
# TOOLS_PYTHON picks the interpreter for the venv (default: python3; the tools need Python >= 3.9).

# Pins, verified together (pip check clean; sam validate --lint and cfn-lint run with them).
CARTCONNECT_SAM_CLI_VERSION="1.170.0"
CARTCONNECT_CFN_LINT_VERSION="1.58.0"
# checkov (scripts/checkov.sh) installs into a virtualenv of its own, .tools/checkov: its boto3 pin and
# aws-sam-cli's have no common solution, so it never shares .tools' packages. Verified: pip check clean.
CARTCONNECT_CHECKOV_VERSION="3.3.30"

_cartconnect_tools_env() (
    set -euo pipefail
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    tools="$root/.tools"
    python="${TOOLS_PYTHON:-python3}"

    if ! command -v "$python" >/dev/null 2>&1; then
        echo "tools-env: $python not found (set TOOLS_PYTHON to a Python >= 3.9)" >&2
        return 1
    fi
    if command -v sha256sum >/dev/null 2>&1; then hash=(sha256sum); else hash=(shasum -a 256); fi
    key="$( { cat "${BASH_SOURCE[0]}"; "$python" -c 'import sys; print(sys.version, sys.executable)'; } \
        | "${hash[@]}" | cut -d' ' -f1)"
    if [[ -f "$tools/.stamp" && "$(cat "$tools/.stamp")" == "$key" && -x "$tools/bin/sam" && -x "$tools/bin/cfn-lint" ]]; then
        return 0
    fi

    mkdir -p "$tools"
    # One installer at a time (parallel make targets, two terminals): the others wait, then find the stamp.
    exec 9>"$tools/.lock"
    if command -v flock >/dev/null 2>&1; then
        flock 9
        if [[ -f "$tools/.stamp" && "$(cat "$tools/.stamp")" == "$key" && -x "$tools/bin/sam" ]]; then
            return 0
        fi
    fi

    echo "tools-env: installing aws-sam-cli $CARTCONNECT_SAM_CLI_VERSION and cfn-lint $CARTCONNECT_CFN_LINT_VERSION into .tools ..." >&2
    # Start clean: a half-finished or outdated venv is never patched in place.
    find "$tools" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
    log="$tools/install.log"
    if ! { "$python" -m venv "$tools" \
        && "$tools/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
            "aws-sam-cli==$CARTCONNECT_SAM_CLI_VERSION" "cfn-lint==$CARTCONNECT_CFN_LINT_VERSION"; } >"$log" 2>&1; then
        echo "tools-env: installation failed; the end of $log:" >&2
        tail -n 30 "$log" >&2
        return 1
    fi

    # SAM CLI's own settings live in .tools/sam-home (used through __SAM_CLI_APP_DIR by the lint script
    # and when this file is sourced): telemetry off, and a last version check in the far future so that
    # SAM never asks PyPI whether it is up to date.
    mkdir -p "$tools/sam-home"
    printf '{"telemetryEnabled": false, "lastVersionCheck": 4102444800}\n' >"$tools/sam-home/metadata.json"

    echo "$key" >"$tools/.stamp"
    echo "tools-env: ready ($("$tools/bin/sam" --version), $("$tools/bin/cfn-lint" --version))" >&2
)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: install if needed, then put the tools on PATH in the caller's shell.
    if _cartconnect_tools_env; then
        _cartconnect_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
        case ":$PATH:" in
            *":$_cartconnect_root/.tools/bin:"*) ;;
            *) export PATH="$_cartconnect_root/.tools/bin:$PATH" ;;
        esac
        export SAM_CLI_TELEMETRY=0
        export __SAM_CLI_APP_DIR="$_cartconnect_root/.tools/sam-home"
        unset _cartconnect_root
    else
        return 1
    fi
else
    _cartconnect_tools_env
fi
