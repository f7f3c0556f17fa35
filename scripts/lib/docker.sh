# shellcheck shell=bash
# Shared by scripts/container-run.sh and scripts/act-e2e.sh: a Docker daemon,
# a static `redeliver`, the action's FROM scratch image, and waiting for a
# server's first line. Source it from bash with `set -euo pipefail`; run from
# the repository's root.
#
# Globals it sets: DOCKERD_PID (when it started dockerd), STATIC_BIN.

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

DOCKERD_PID=

# ensure_docker LOG_DIR [--install]
# Finds a Docker daemon. As root, with none reachable, starts Debian's dockerd
# (log in LOG_DIR/dockerd.log); with --install it first installs Debian's
# docker.io when dockerd is missing. Prints "skipped: no Docker daemon (...)"
# and exits 0 only where no daemon can be had: no docker command, or not root.
# A dockerd that is there but does not come up is an error, not a skip.
# Stop the daemon it started with stop_dockerd (from an EXIT trap).
ensure_docker() {
    local log_dir=$1 install=${2:-}
    if [[ $install == --install && $EUID -eq 0 ]] &&
        { ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; } &&
        ! docker info >/dev/null 2>&1; then
        log "installing Debian's docker.io (dockerd)"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io; } >/dev/null ||
            die "failed to install docker.io with apt-get"
    fi
    if ! command -v docker >/dev/null 2>&1; then
        echo "skipped: no Docker daemon (no docker command; apt-get install docker.io)"
        exit 0
    fi
    if docker info >/dev/null 2>&1; then
        return
    fi
    if [[ $EUID -ne 0 ]] || ! command -v dockerd >/dev/null 2>&1; then
        echo "skipped: no Docker daemon (none reachable, and one is started only as root with dockerd installed)"
        exit 0
    fi
    log "no Docker daemon reachable: starting dockerd (log: $log_dir/dockerd.log)"
    # No iptables and no default bridge: containers use the host network.
    dockerd --iptables=false --bridge=none >"$log_dir/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    local i
    for ((i = 0; i < 30; i++)); do
        if docker info >/dev/null 2>&1; then
            return
        fi
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            break
        fi
        sleep 1
    done
    tail -n 20 "$log_dir/dockerd.log" >&2 || true
    die "dockerd did not come up within 30 s"
}

# Stops the dockerd that ensure_docker started, if any (by its PID).
stop_dockerd() {
    if [[ -n $DOCKERD_PID ]]; then
        log "stopping the dockerd this script started (pid $DOCKERD_PID)"
        kill "$DOCKERD_PID" 2>/dev/null || true
        wait "$DOCKERD_PID" 2>/dev/null || true
        DOCKERD_PID=
    fi
}

# Without the buildx plugin (Debian's daemon, the machine's newer CLI), use
# the legacy builder explicitly: the action's image needs nothing more.
use_legacy_builder_without_buildx() {
    if ! docker buildx version >/dev/null 2>&1; then
        export DOCKER_BUILDKIT=0
    fi
}

is_static() {
    local desc
    if command -v file >/dev/null 2>&1; then
        desc=$(file -L "$1")
        [[ $desc == *"statically linked"* || $desc == *"static-pie linked"* ]]
    else
        desc=$(ldd "$1" 2>&1 || true)
        [[ $desc == *"not a dynamic executable"* || $desc == *"statically linked"* ]]
    fi
}

# build_static_redeliver: sets STATIC_BIN to a statically linked release
# `redeliver` (REDELIVER_BIN if set; else musl if that target is installed,
# else glibc with +crt-static). Cargo's target dir is reused between runs.
build_static_redeliver() {
    local arch target
    if [[ -n ${REDELIVER_BIN:-} ]]; then
        STATIC_BIN=$REDELIVER_BIN
        [[ -x $STATIC_BIN ]] || die "REDELIVER_BIN=$STATIC_BIN is not an executable file"
    else
        arch=$(uname -m)
        case $arch in
            x86_64 | aarch64) ;;
            arm64) arch=aarch64 ;;
            *) die "unsupported architecture: $arch" ;;
        esac
        if rustup target list --installed 2>/dev/null | grep -qx "$arch-unknown-linux-musl"; then
            target=$arch-unknown-linux-musl
            log "building a static binary for $target"
            cargo build --release --locked --target "$target" --bin redeliver
        else
            # The musl target is not installed: glibc, linked statically.
            # RUSTFLAGS apply to the target only (--target), not to build
            # scripts or proc-macros.
            target=$arch-unknown-linux-gnu
            log "building a static binary for $target (+crt-static; the musl target is not installed)"
            RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
                cargo build --release --locked --target "$target" --bin redeliver
        fi
        STATIC_BIN=${CARGO_TARGET_DIR:-target}/$target/release/redeliver
    fi
    is_static "$STATIC_BIN" || die "$STATIC_BIN is not statically linked: it cannot run in a FROM scratch image"
}

# Prints the path of this machine's CA bundle (PEM).
find_ca_bundle() {
    local f
    for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
        if [[ -s $f ]]; then
            echo "$f"
            return
        fi
    done
    die "no CA bundle found on this machine (apt-get install ca-certificates)"
}

# build_action_image IMAGE BIN CONTEXT_DIR
# The Dockerfile's last stage around BIN: FROM scratch, the CA bundle, the
# binary, ENTRYPOINT ["/redeliver"] (the Dockerfile itself needs the
# rust:alpine image from Docker Hub).
build_action_image() {
    local image=$1 bin=$2 ctx=$3
    mkdir -p "$ctx/etc/ssl/certs"
    cp "$bin" "$ctx/redeliver"
    cp "$(find_ca_bundle)" "$ctx/etc/ssl/certs/ca-certificates.crt"
    cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
LABEL org.opencontainers.image.title="redeliver-action" \
      org.opencontainers.image.source="https://github.com/redeliver-action/redeliver-action" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.0.0-local"
COPY etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY redeliver /redeliver
ENTRYPOINT ["/redeliver"]
EOF
    log "building image $image"
    docker build -q -t "$image" "$ctx" >/dev/null
}

# wait_for_line FILE PID PREFIX [LOG ...]: prints the rest of FILE's first
# line that starts with "PREFIX " once it appears; fails, showing FILE and the
# LOG files, if PID exits first or after 60 s.
wait_for_line() {
    local file=$1 pid=$2 prefix=$3 value i
    shift 3
    for ((i = 0; i < 600; i++)); do
        value=$(sed -n "s/^$prefix \\(.*\\)\$/\\1/p" "$file" 2>/dev/null | head -n 1)
        if [[ -n $value ]]; then
            echo "$value"
            return
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$file" "$@" >&2 || true
    die "pid $pid printed no '$prefix <...>' (exited, or not within 60 s)"
}

# release_run_resources: the EXIT trap's common part: stops the fake GitHub ($fake_pid, if
# started) and the dockerd this script started, and removes $tmp (kept with KEEP_TMP=1).
# shellcheck disable=SC2154 # $tmp and $fake_pid are the calling script's
release_run_resources() {
    if [[ -n ${fake_pid:-} ]]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
    stop_dockerd
    if [[ ${KEEP_TMP:-} == 1 ]]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
