#!/usr/bin/env bash
# Run the action's container the way the GitHub Actions runner does, against the
# fake GitHub (examples/fake_github.rs), on this machine.
#
# Usage: scripts/container-run.sh [INPUT=VALUE ...]
#   e.g. scripts/container-run.sh dry-run=true
#        scripts/container-run.sh hooks=repo/octo/demo/1 max-attempts=1
#
# What it does:
#   1. finds a Docker daemon; as root, starts Debian's dockerd if none runs
#      (`apt-get install docker.io`); without one it prints
#      "skipped: no Docker daemon" and exits 0;
#   2. builds a static `redeliver` (musl if that target is installed, else
#      glibc with +crt-static) and wraps it in a FROM scratch image with the
#      CA bundle, as the Dockerfile's last stage does (the Dockerfile itself
#      needs the rust:alpine image from Docker Hub);
#   3. starts the fake GitHub on 127.0.0.1 and waits for its `ready <url>`;
#   4. runs the image with the runner's mounts and environment: every input of
#      action.yml as INPUT_<ID> (its default unless given), GITHUB_OUTPUT and
#      GITHUB_STEP_SUMMARY under /github/file_commands, --network host;
#   5. prints the image size, the outputs file and the step summary, and exits
#      with the container's exit status.
#
# Environment:
#   KEEP_TMP=1         keep the temporary directory (printed at the end)
#   FAKE_PORT=N        port for the fake GitHub (default: a free one)
#   REDELIVER_BIN=P    use this static binary instead of building one
#   FAKE_GITHUB_BIN=P  use this fake server instead of building the example
#                      (called as `P --serve 127.0.0.1:PORT`, prints `ready <url>`)
#   IMAGE=NAME         image tag to build (default redeliver-action:local)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib/docker.sh
source scripts/lib/docker.sh

image=${IMAGE:-redeliver-action:local}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/container-run.XXXXXX")
fake_pid=

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local status=$?
    release_run_resources
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. a Docker daemon ------------------------------------------------------

ensure_docker "$tmp"
use_legacy_builder_without_buildx
log "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"

# --- 2. a static binary and a FROM scratch image ------------------------------

build_static_redeliver
bin=$STATIC_BIN
build_action_image "$image" "$bin" "$tmp/image"

# --- 3. the fake GitHub ---------------------------------------------------------

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo 18080
}
port=${FAKE_PORT:-$(free_port)}

if [[ -n ${FAKE_GITHUB_BIN:-} ]]; then
    fake=$FAKE_GITHUB_BIN
else
    [[ -f examples/fake_github.rs || -f examples/fake_github/main.rs ]] ||
        die "examples/fake_github.rs not found: the fake GitHub is needed to run the container against"
    log "building the fake GitHub (cargo build --release --example fake_github)"
    cargo build --release --locked --example fake_github
    fake=${CARGO_TARGET_DIR:-target}/release/examples/fake_github
fi

log "starting the fake GitHub on 127.0.0.1:$port"
"$fake" --serve "127.0.0.1:$port" >"$tmp/fake.out" 2>"$tmp/fake.err" &
fake_pid=$!
url=$(wait_for_line "$tmp/fake.out" "$fake_pid" ready "$tmp/fake.err")
log "fake GitHub ready at $url"

# --- 4. run the container as the runner would ----------------------------------

# Every input that action.yml declares, with its default: the runner sets all
# of them, as "" when there is neither a value nor a default.
declare -A inputs=()
declare -a input_order=()
while IFS=$'\t' read -r id value; do
    [[ -n $id ]] || continue
    inputs[$id]=$value
    input_order+=("$id")
done < <(awk '
    function emit() { if (id != "") print id "\t" def; id = "" }
    /^inputs:[ \t]*(#.*)?$/ { within = 1; next }
    /^[^ \t#]/ { emit(); within = 0 }
    !within { next }
    /^  [A-Za-z0-9_-]+:[ \t]*(#.*)?$/ {
        emit(); id = $0; sub(/^  /, "", id); sub(/:.*$/, "", id); def = ""; next
    }
    /^    default:/ {
        v = $0; sub(/^    default:[ \t]*/, "", v); sub(/[ \t]+#.*$/, "", v)
        if (v ~ /^".*"$/ || v ~ /^\047.*\047$/) v = substr(v, 2, length(v) - 2)
        else if (v ~ /^[|>]/ || v ~ /\$\{\{/) {
            printf "warning: input %s: default %s is not evaluated here; using \"\"\n", id, v > "/dev/stderr"
            v = ""
        }
        def = v
    }
    END { emit() }
' action.yml)
((${#input_order[@]} > 0)) || die "found no inputs in action.yml"

set_input() { # ID VALUE
    if [[ ! -v inputs[$1] ]]; then
        echo "warning: input '$1' is not declared in action.yml (the runner would warn too)" >&2
        input_order+=("$1")
    fi
    inputs[$1]=$2
}

key_file=tests/resources/app-key.pem
[[ -s $key_file ]] || die "$key_file not found: the fake GitHub's test App key"
set_input app-id 4242
set_input private-key "$(cat "$key_file")"
set_input token test-token
set_input redelivery-interval 0s
for arg in "$@"; do
    [[ $arg == *=* ]] || die "expected INPUT=VALUE, got '$arg'"
    set_input "${arg%%=*}" "${arg#*=}"
done

mkdir -p "$tmp/workspace" "$tmp/file_commands" "$tmp/home"
for f in set_output set_env add_path save_state step_summary; do
    : >"$tmp/file_commands/${f}_x"
done

docker_env=(
    -e HOME=/github/home
    -e CI=true
    -e GITHUB_ACTIONS=true
    -e GITHUB_WORKSPACE=/github/workspace
    -e GITHUB_OUTPUT=/github/file_commands/set_output_x
    -e GITHUB_ENV=/github/file_commands/set_env_x
    -e GITHUB_PATH=/github/file_commands/add_path_x
    -e GITHUB_STATE=/github/file_commands/save_state_x
    -e GITHUB_STEP_SUMMARY=/github/file_commands/step_summary_x
    -e GITHUB_REPOSITORY=octo/demo
    -e GITHUB_REPOSITORY_OWNER=octo
    -e GITHUB_API_URL="$url"
    -e GITHUB_SERVER_URL=https://github.com
    -e GITHUB_EVENT_NAME=workflow_dispatch
    -e GITHUB_WORKFLOW=container-run
    -e GITHUB_RUN_ID=1
    -e GITHUB_RUN_ATTEMPT=1
    -e RUNNER_OS=Linux
)
if [[ -n ${RUNNER_DEBUG:-} ]]; then
    docker_env+=(-e RUNNER_DEBUG="$RUNNER_DEBUG")
fi
for id in "${input_order[@]}"; do
    # INPUT_ + the id in upper case, spaces as _, hyphens kept.
    name=${id^^}
    docker_env+=(-e "INPUT_${name// /_}=${inputs[$id]}")
done

log "running $image (inputs: $(printf '%s ' "${input_order[@]}"))"
status=0
docker run --rm --network host \
    --workdir /github/workspace \
    -v "$tmp/workspace:/github/workspace" \
    -v "$tmp/file_commands:/github/file_commands" \
    -v "$tmp/home:/github/home" \
    "${docker_env[@]}" \
    "$image" || status=$?

# --- 5. report -----------------------------------------------------------------

size=$(docker image inspect -f '{{.Size}}' "$image")
echo
echo "container exit status: $status"
echo "image $image: $size bytes ($(numfmt --to=iec-i --suffix=B "$size" 2>/dev/null || echo "$size B"))"
echo "binary: $(stat -c %s "$bin") bytes ($bin)"
echo
echo "--- GITHUB_OUTPUT"
cat "$tmp/file_commands/set_output_x"
echo "--- GITHUB_STEP_SUMMARY"
cat "$tmp/file_commands/step_summary_x"
echo "---"
exit "$status"
