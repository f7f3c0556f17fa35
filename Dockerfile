# The action's image: a static musl binary in an otherwise empty image.
#
# Released versions of the action do not build this file: the release workflow
# publishes the image to ghcr.io and pins it by digest in action.yml
# (`image: docker://ghcr.io/...@sha256:...`). CI and `uses: ./` build it.
#
# Build locally (needs registry access for the builder image):
#   docker buildx build --platform linux/amd64 -t redeliver-action:dev .

# The builder: the official Rust image on Alpine. It ships gcc, musl-dev and
# ca-certificates, which is all aws-lc-sys needs (no cmake, nasm or clang).
#
# digest: the `@sha256:` below is the multi-platform index of
# rust:1.95.0-alpine3.23 (amd64 and arm64), as pinned in public Dockerfiles
# that build with it. Docker resolves the digest and ignores the tag; the tag
# is for people and for Dependabot, which bumps tag and digest together
# (.github/dependabot.yml, ecosystem "docker"). To re-pin by hand:
#   docker buildx imagetools inspect rust:1.95.0-alpine3.23 --format '{{json .Manifest.Digest}}'
FROM rust:1.95.0-alpine3.23@sha256:606fd313a0f49743ee2a7bd49a0914bab7deedb12791f3a846a34a4711db7ed2 AS builder

# Set by BuildKit/buildx for the platform being built (amd64, arm64). The
# builder runs on that platform (natively or under QEMU), so the musl target is
# the toolchain's own host target. The legacy builder leaves it empty: fall
# back to the builder's architecture.
ARG TARGETARCH

SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
WORKDIR /src

RUN arch="${TARGETARCH:-$(apk --print-arch)}"; \
    case "$arch" in \
        amd64|x86_64) target=x86_64-unknown-linux-musl ;; \
        arm64|aarch64) target=aarch64-unknown-linux-musl ;; \
        *) echo "unsupported architecture: $arch" >&2; exit 1 ;; \
    esac; \
    echo "$target" > /rust-target

# Dependency layer: build every dependency against stub sources, so that a
# change under src/ rebuilds only this crate. Cargo reads every target that
# Cargo.toml declares ([[bin]], [[test]], [[bench]], [[example]]), so each
# gets a stub file too; `cargo build --release` compiles only the lib and bin.
COPY Cargo.toml Cargo.lock ./
# .cargo/config.toml sets build-time env for aws-lc (see that file).
COPY .cargo ./.cargo
RUN mkdir -p src; \
    printf 'fn main() {}\n' > src/main.rs; \
    : > src/lib.rs; \
    awk -F'"' ' \
        function flush() { if (kind != "") print kind, name, path; kind = "" } \
        /^\[\[(bin|test|bench|example)\]\]/ { flush(); kind = $0; gsub(/[][ \t]/, "", kind); name = ""; path = ""; next } \
        /^\[/ { flush(); next } \
        kind != "" && /^name[ \t]*=/ { name = $2 } \
        kind != "" && /^path[ \t]*=/ { path = $2 } \
        END { flush() }' Cargo.toml \
    | while read -r kind name path; do \
        case "$kind" in \
            bin) dir=src/bin ;; test) dir=tests ;; bench) dir=benches ;; *) dir=examples ;; \
        esac; \
        file="${path:-$dir/$name.rs}"; \
        mkdir -p "$(dirname "$file")"; \
        [ -e "$file" ] || printf 'fn main() {}\n' > "$file"; \
    done; \
    cargo build --release --locked --target "$(cat /rust-target)"

# The real sources. COPY keeps the files' own (older) mtimes, which cargo
# would take for "unchanged since the stub build": touch them.
COPY src ./src
RUN find src -name '*.rs' -exec touch {} +; \
    target="$(cat /rust-target)"; \
    cargo build --release --locked --target "$target"; \
    cp "target/$target/release/redeliver" /redeliver

# The image: the binary and the CA bundle (rustls-native-certs reads
# /etc/ssl/certs/ca-certificates.crt; SSL_CERT_FILE can point elsewhere, e.g.
# at a GHES private CA mounted into the workspace).
#
# No USER: the runner's GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files belong to
# the runner's user, and GitHub runs Docker actions as the image's user. Only
# root can write them (see GitHub's Dockerfile support for Actions).
FROM scratch

ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="redeliver-action" \
      org.opencontainers.image.description="GitHub Action that redelivers failed webhook deliveries (GitHub App, org and repo hooks), once per event, with bounded retries." \
      org.opencontainers.image.source="https://github.com/redeliver-action/redeliver-action" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /redeliver /redeliver

ENTRYPOINT ["/redeliver"]
