#!/usr/bin/env bash
# `sam local` against the local AWS stand-in, on a machine with no container registry in reach.
#
#   scripts/sam-local.sh start-api   # make sam-local: sam build, local AWS + sandbox store, sam local start-api
#   scripts/sam-local.sh test        # make sam-test:  the same pieces, then pytest tests/sam (sam local invoke
#                                    #                 of every events/ file, and start-api's public routes)
#   scripts/sam-local.sh invoke FUNCTION EVENT   # sam local invoke on a running start-api's local AWS
#   scripts/sam-local.sh prepare     # install, start, build, cache everything, then stop again
#   scripts/sam-local.sh run -- CMD  # CMD with dockerd up and the sam environment set
#
# Everything it needs it installs and starts itself, and stops again when it ends (also on failure or
# Ctrl-C: a trap), by PID, never by name:
#   - Docker (Debian's docker.io, containerd, runc) and debootstrap, with apt, as root. A policy-rc.d that
#     refuses service starts is put in place first where there is none, so apt never starts a daemon.
#   - dockerd, run by this script with its own data root, exec root and socket under .cache/docker (the
#     system's Docker, if any, is never used), no bridge network (containers use the host network, so
#     everything stays on loopback) and HTTP(S)_PROXY at a closed loopback port: an accidental image pull
#     fails at once instead of reaching out.
#   - The Lambda base image public.ecr.aws/lambda/python:3.13-<arch>. No registry can be reached here,
#     so a stand-in is built locally (as moto stands in for AWS): a Debian 13 (Python 3.13) rootfs from
#     debootstrap with awslambdaric as the runtime client, imported under the image's exact name. Kept as
#     a tarball in .cache/lambda-base, and as an image in dockerd's data root, so only the first run pays
#     for it. Where a registry is reachable (a developer's own Docker), plain `sam local` pulls AWS's
#     real image instead; nothing here is needed there.
#   - The SAM CLI in .tools (scripts/tools-env.sh), plus scripts/sam_host_network.py linked into its
#     site-packages as a start-up hook (host networking for the containers, and --env-vars names that the
#     template does not declare); python3.13 on PATH for `sam build` (pyenv's 3.13.0 where present).
#
# The functions and the layer are built for this machine's architecture (Architecture=x86_64 on x86
# machines, arm64 on arm machines), overriding the template's deployed default (arm64).
#
# Environment: SAM_API_PORT (start-api, default 3001), PORT (the local stack's own gateway, default 3000),
# SANDBOX_PORT (the sandbox store, default 8765), CARTCONNECT_SAM_KEEP_CACHE=0 (start from an empty
# .cache), and any pytest arguments after `test --`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache"
docker_home="$cache/docker"
socket="$docker_home/docker.sock"
base_cache="$cache/lambda-base"
sam_cache="$cache/sam"
build_dir="$sam_cache/build"
closed_proxy="http://127.0.0.1:9"   # the discard port: nothing listens there
AWSLAMBDARIC_VERSION="4.2.2"
# Bump when the base image recipe below changes: a new tarball and image are made.
BASE_RECIPE_VERSION="1"

case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "sam-local: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
base_image="public.ecr.aws/lambda/python:3.13-$arch"
rapid_image="public.ecr.aws/lambda/python:3.13-rapid-$arch"
base_tarball="$base_cache/python3.13-$arch-v$BASE_RECIPE_VERSION.tar"

log() { echo "sam-local: $*" >&2; }
elapsed() { echo "$((SECONDS - ${1:-0})) s"; }
if [[ "$(id -u)" == 0 ]]; then as_root=(); else as_root=(sudo); fi

# --- processes this run started (stopped in reverse order by the trap) -------------------------------
started_pids=()
dockerd_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local index
    for ((index = ${#started_pids[@]} - 1; index >= 0; index--)); do
        stop_pid "${started_pids[index]}"
    done
    [[ -n "$dockerd_pid" ]] && stop_dockerd
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for WHAT PID LOG COMMAND...: until COMMAND succeeds (at most 60 s), while process PID lives.
wait_for() {
    local what=$1 pid=$2 log_file=$3 waited=0
    shift 3
    until "$@"; do
        if ! kill -0 "$pid" 2>/dev/null || ((waited > 600)); then
            log "$what did not start; the end of $log_file:"
            tail -n 20 "$log_file" >&2
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

stop_pid() {
    local pid=$1 waited=0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((waited < 100)); do sleep 0.1; waited=$((waited + 1)); done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
}

# --- packages ------------------------------------------------------------------------------------------
install_packages() {
    if command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v runc >/dev/null \
        && command -v debootstrap >/dev/null; then
        return 0
    fi
    local started=$SECONDS
    log "installing docker.io, containerd, runc and debootstrap (apt) ..."
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # invoke-rc.d asks this before starting a service: 101 = "not allowed". No daemon starts on install.
        printf '#!/bin/sh\n# Written by cartconnect scripts/sam-local.sh: apt starts no services.\nexit 101\n' \
            | "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${as_root[@]}" chmod 755 /usr/sbin/policy-rc.d
    fi
    "${as_root[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
        docker.io containerd runc debootstrap >/dev/null
    log "packages installed ($(elapsed "$started"))"
}

# --- dockerd -------------------------------------------------------------------------------------------
docker() { DOCKER_HOST="unix://$socket" /usr/bin/docker "$@"; }
docker_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
    mkdir -p "$docker_home/data" "$docker_home/exec"
    if [[ -S "$socket" ]] && docker_up; then
        log "another run's dockerd (PID $(cat "$docker_home/dockerd.pid" 2>/dev/null || echo '?')) is using" \
            "$socket: stop that run first"
        exit 1
    fi
    rm -f "$socket"
    unmount_exec_root  # what a run that was killed outright left behind
    local started=$SECONDS
    # The daemon's own proxy settings point at a closed port: a pull (or any other request it would send
    # out) fails at once. The socket, data and exec roots are this checkout's own.
    # setsid: a session of its own, so Ctrl-C reaches only this script, whose trap stops the containers
    # and then the daemon, in that order.
    HTTP_PROXY="$closed_proxy" HTTPS_PROXY="$closed_proxy" NO_PROXY="" \
        "${as_root[@]}" setsid dockerd \
        --host "unix://$socket" \
        --data-root "$docker_home/data" \
        --exec-root "$docker_home/exec" \
        --pidfile "$docker_home/dockerd.pid" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false \
        --log-level=warn \
        >"$docker_home/dockerd.log" 2>&1 &
    dockerd_pid=$!
    wait_for dockerd "$dockerd_pid" "$docker_home/dockerd.log" docker_up
    log "dockerd ready ($(elapsed "$started"), storage $(docker info --format '{{.Driver}}'))"
}

stop_dockerd() {
    # Containers left by sam (start-api's, or an interrupted invoke's) first, then the daemon (it stops
    # the containerd it started itself), then the network namespace mount it leaves under its exec root.
    local containers
    containers="$(docker ps -aq 2>/dev/null || true)"
    if [[ -n "$containers" ]]; then
        # shellcheck disable=SC2086
        docker rm -f $containers >/dev/null 2>&1 || true
    fi
    local containerd_pid=""
    [[ -f "$docker_home/exec/containerd/containerd.pid" ]] \
        && containerd_pid="$(cat "$docker_home/exec/containerd/containerd.pid" 2>/dev/null || true)"
    stop_pid "$dockerd_pid"
    [[ -n "$containerd_pid" ]] && stop_pid "$containerd_pid"
    dockerd_pid=""
    unmount_exec_root
    rm -f "$socket"
}

# The nsfs mount dockerd leaves at <exec-root>/netns/default (and anything else mounted below it).
unmount_exec_root() {
    local mount
    while read -r mount; do
        "${as_root[@]}" umount "$mount" 2>/dev/null || "${as_root[@]}" umount -l "$mount" 2>/dev/null || true
    done < <(awk -v prefix="$docker_home/exec/" 'index($5, prefix) == 1 {print $5}' /proc/self/mountinfo | sort -r)
}

# --- the Lambda base image (stand-in) --------------------------------------------------------------------
build_base_tarball() {
    local started=$SECONDS rootfs="$base_cache/rootfs.tmp"
    log "building the Lambda base image stand-in (debootstrap Debian 13 + awslambdaric $AWSLAMBDARIC_VERSION) ..."
    "${as_root[@]}" rm -rf "$rootfs"
    mkdir -p "$base_cache"
    "${as_root[@]}" debootstrap --variant=minbase --include=python3,ca-certificates \
        trixie "$rootfs" http://deb.debian.org/debian >"$base_cache/debootstrap.log" 2>&1 || {
        log "debootstrap failed; the end of $base_cache/debootstrap.log:"
        tail -n 20 "$base_cache/debootstrap.log" >&2
        exit 1
    }
    # The runtime interface client, as wheels for Python 3.13 on this architecture.
    local machine; machine="$(uname -m)"
    "$python313" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --target "$rootfs/var/runtime" --only-binary=:all: --implementation cp --python-version 3.13 \
        --platform "manylinux2014_$machine" --platform "manylinux_2_28_$machine" \
        "awslambdaric==$AWSLAMBDARIC_VERSION" >"$base_cache/pip.log" 2>&1 || {
        log "installing awslambdaric failed; the end of $base_cache/pip.log:"
        tail -n 20 "$base_cache/pip.log" >&2
        exit 1
    }
    mkdir -p "$rootfs/var/lang/bin" "$rootfs/var/task" "$rootfs/opt"
    ln -sf /usr/bin/python3.13 "$rootfs/var/lang/bin/python3.13"
    # The emulator starts the first bootstrap it finds (/var/task, /opt, /var/runtime): this one runs the
    # handler named by _HANDLER with awslambdaric, with the layer's /opt/python on the path as Lambda has.
    cat >"$rootfs/var/runtime/bootstrap" <<'BOOTSTRAP'
#!/bin/sh
# cartconnect's local stand-in for the python3.13 runtime's bootstrap.
export PYTHONPATH="/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
cd "${LAMBDA_TASK_ROOT:-/var/task}"
exec /var/lang/bin/python3.13 -m awslambdaric "$_HANDLER"
BOOTSTRAP
    chmod 755 "$rootfs/var/runtime/bootstrap"
    "${as_root[@]}" rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/*
    "${as_root[@]}" tar -C "$rootfs" --numeric-owner -cf "$base_tarball.tmp" .
    mv "$base_tarball.tmp" "$base_tarball"
    "${as_root[@]}" rm -rf "$rootfs"
    log "base rootfs ready: $(du -h "$base_tarball" | cut -f1) ($(elapsed "$started"))"
}

ensure_base_image() {
    local label
    label="$(docker image inspect --format '{{index .Config.Labels "cartconnect.base"}}' "$base_image" 2>/dev/null || true)"
    if [[ "$label" == "v$BASE_RECIPE_VERSION" ]]; then
        return 0
    fi
    [[ -f "$base_tarball" ]] || build_base_tarball
    local started=$SECONDS
    docker import \
        --change "ENV LAMBDA_TASK_ROOT=/var/task" \
        --change "ENV LAMBDA_RUNTIME_DIR=/var/runtime" \
        --change "ENV LANG=C.UTF-8" \
        --change "ENV TZ=:/etc/localtime" \
        --change "ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin" \
        --change "ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib" \
        --change "WORKDIR /var/task" \
        --change "ENTRYPOINT [\"/var/runtime/bootstrap\"]" \
        --change "LABEL cartconnect.base=v$BASE_RECIPE_VERSION" \
        "$base_tarball" "$base_image" >/dev/null
    # SAM reuses a rapid image (the base plus its emulator) and its images with the layers as they are:
    # make it build them again on the new base.
    docker image rm -f "$rapid_image" >/dev/null 2>&1 || true
    local stale
    stale="$(docker images --quiet --filter 'reference=samcli/lambda-*' 2>/dev/null || true)"
    # shellcheck disable=SC2086
    [[ -z "$stale" ]] || docker image rm -f $stale >/dev/null 2>&1 || true
    log "base image $base_image imported ($(elapsed "$started"))"
}

# --- SAM CLI ---------------------------------------------------------------------------------------------
setup_tools() {
    "$root/scripts/tools-env.sh"
    local site
    site="$("$root/.tools/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    ln -sf "$root/scripts/sam_host_network.py" "$site/cartconnect_sam_host_network.py"
    echo "import cartconnect_sam_host_network" >"$site/cartconnect_sam_host_network.pth"
    export PATH="$root/.tools/bin:$PATH" SAM_CLI_TELEMETRY=0 __SAM_CLI_APP_DIR="$root/.tools/sam-home"
    # sam build needs python3.13 on PATH (bytecode for the python3.13 runtime); pyenv's shim alone fails
    # unless 3.13 is selected, so its 3.13.0 goes on PATH explicitly.
    if command -v pyenv >/dev/null 2>&1 && [[ -x "$(pyenv root)/versions/3.13.0/bin/python3.13" ]]; then
        export PATH="$(pyenv root)/versions/3.13.0/bin:$PATH"
    fi
    python313="$(command -v python3.13 || true)"
    if [[ -z "$python313" ]] || ! "$python313" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then
        log "python3.13 is needed on PATH for sam build (pyenv install 3.13.0, or your distribution's)"
        exit 1
    fi
    make -s -C "$root" venv
}

sam_build() {
    local started=$SECONDS
    mkdir -p "$sam_cache"
    (
        cd "$root"
        CARTCONNECT_ARCHITECTURE="$arch" sam build --parameter-overrides "Architecture=$arch" \
            --build-dir "$build_dir" --cache-dir "$sam_cache/build-cache" --cached --parallel \
            >"$sam_cache/build.log" 2>&1
    ) || {
        log "sam build failed; the end of $sam_cache/build.log:"
        tail -n 30 "$sam_cache/build.log" >&2
        exit 1
    }
    log "sam build done for $arch ($(elapsed "$started"))"
}

# Everything `sam local` runs with: this dockerd, no proxy for loopback, a closed one for the rest, no
# AWS account (dummy credentials, no shared config, no instance metadata).
sam_environment() {
    export DOCKER_HOST="unix://$socket"
    export HTTP_PROXY="$closed_proxy" HTTPS_PROXY="$closed_proxy" http_proxy="$closed_proxy" \
        https_proxy="$closed_proxy" NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
        AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
        AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
    unset AWS_PROFILE AWS_DEFAULT_PROFILE
    # What tests/sam reads: the built template, the parameter values and where SAM keeps layer images.
    sam_parameters="Architecture=$arch JwtIssuer=https://issuer.example.com JwtAudience=cartconnect"
    export CARTCONNECT_SAM_TEMPLATE="$build_dir/template.yaml" CARTCONNECT_SAM_PARAMETERS="$sam_parameters" \
        CARTCONNECT_SAM_LAYER_CACHE="$sam_cache/layers" CARTCONNECT_SAM_LOGS="$sam_cache/logs"
}

prepare() {
    local started=$SECONDS
    if [[ "${CARTCONNECT_SAM_KEEP_CACHE:-1}" == 0 ]]; then
        log "starting from an empty .cache"
        "${as_root[@]}" rm -rf "$cache"
    fi
    install_packages
    setup_tools
    start_dockerd
    ensure_base_image
    sam_build
    sam_environment
    log "ready for sam local ($(elapsed "$started"))"
}

# --- commands --------------------------------------------------------------------------------------------
command_test() {
    local started=$SECONDS
    prepare
    local status=0
    rm -rf "$CARTCONNECT_SAM_LOGS"
    (cd "$root" && "$root/.venv/bin/pytest" -p no:cacheprovider -m sam tests/sam "$@") || status=$?
    log "sam tests $([[ $status == 0 ]] && echo passed || echo FAILED) ($(elapsed "$started") in all)"
    return "$status"
}

command_start_api() {
    prepare
    local api_port="${SAM_API_PORT:-3001}" dev="$root/.venv/bin/cartconnect-dev"
    # The local AWS (moto, with the template's resources) and the sandbox store: `cartconnect-dev up`
    # without its refresh schedule (its state file in .cartconnect-dev, as `make dev` writes it, so
    # `cartconnect-dev token`, `seed` and `invoke` in another terminal find it).
    "$dev" up --no-schedule >"$sam_cache/dev-stack.log" 2>&1 &
    started_pids+=("$!")
    wait_for "the local AWS stand-in" "${started_pids[-1]}" "$sam_cache/dev-stack.log" \
        grep -q "Ctrl-C stops the stack" "$sam_cache/dev-stack.log"
    local env_file="$sam_cache/env.json"
    "$dev" seed >&2
    "$dev" sam-env --public-base-url "http://127.0.0.1:$api_port" --output "$env_file"
    log "local AWS and sandbox store up (log: $sam_cache/dev-stack.log); the functions' env vars: $env_file"
    log "sam local start-api on http://127.0.0.1:$api_port. sam local runs no JWT authorizer: call the /v1"
    log "  routes with sam local invoke and a sample, which carries the claims, in another terminal:"
    log "  scripts/sam-local.sh invoke ManagementFunction events/management-get-connection.json"
    log "Ctrl-C stops everything."
    (
        cd "$root"
        exec sam local start-api --template "$CARTCONNECT_SAM_TEMPLATE" --env-vars "$env_file" \
            --parameter-overrides "$sam_parameters" --docker-network host --skip-pull-image \
            --host 127.0.0.1 --port "$api_port" --layer-cache-basedir "$CARTCONNECT_SAM_LAYER_CACHE"
    ) &
    started_pids+=("$!")
    wait "${started_pids[-1]}"
}

# One function of a running `make sam-local`, with a sample event, e.g.
#   scripts/sam-local.sh invoke ManagementFunction events/management-get-connection.json
command_invoke() {
    local function=${1:?usage: $0 invoke FUNCTION EVENT_FILE} event=${2:?usage: $0 invoke FUNCTION EVENT_FILE}
    if [[ ! -f "$sam_cache/env.json" ]] || ! docker_up; then
        log "no running make sam-local (its dockerd and $sam_cache/env.json): start it in another terminal"
        exit 1
    fi
    "$root/scripts/tools-env.sh"
    export PATH="$root/.tools/bin:$PATH" SAM_CLI_TELEMETRY=0 __SAM_CLI_APP_DIR="$root/.tools/sam-home"
    sam_environment
    cd "$root"
    sam local invoke "$function" --event "$event" --template "$CARTCONNECT_SAM_TEMPLATE" \
        --env-vars "$sam_cache/env.json" --parameter-overrides "$sam_parameters" --docker-network host \
        --skip-pull-image --layer-cache-basedir "$CARTCONNECT_SAM_LAYER_CACHE"
}

command_prepare() {
    prepare
    log "everything is cached; stopping again"
}

# Any command in that environment (dockerd up, DOCKER_HOST set), e.g.
#   scripts/sam-local.sh run -- sam local invoke -t .cache/sam/build/template.yaml ...
command_run() {
    prepare
    "$@"
}

case "${1:-}" in
    test) shift; [[ "${1:-}" == "--" ]] && shift; command_test "$@" ;;
    start-api) command_start_api ;;
    prepare) command_prepare ;;
    invoke) shift; command_invoke "$@" ;;
    run) shift; [[ "${1:-}" == "--" ]] && shift; command_run "$@" ;;
    *) echo "usage: $0 test [-- PYTEST_ARGS] | start-api | invoke FUNCTION EVENT | prepare | run -- COMMAND..." >&2; exit 2 ;;
esac
