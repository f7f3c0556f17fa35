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
FROM rust:1.95.0-alpine3.23@sha256:606fd313a0f49743ee2a7bd49a0914bab7deedb12791f3a846a34a4711db7ed2 AS chef

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

# Build tools, from crates.io, in a layer of their own (built once per
# platform and cached):
# - cargo-chef computes what the dependency layer needs from the manifests
#   (every workspace member and target, whatever the layout), so that layer is
#   rebuilt only when Cargo.toml, Cargo.lock or .cargo/ change;
# - cargo-auditable embeds the list of crates linked into the binary, from
#   which the release workflow's SBOM is read (syft), and which `cargo audit
#   bin` and other scanners read too.
# Keep these versions current by hand (RELEASING.md, "Tool versions").
ARG CARGO_CHEF_VERSION=0.1.78
ARG CARGO_AUDITABLE_VERSION=0.7.7
RUN cargo install --locked "cargo-chef@${CARGO_CHEF_VERSION}" "cargo-auditable@${CARGO_AUDITABLE_VERSION}"; \
    rm -rf "$CARGO_HOME/registry"

# The recipe: the manifests, Cargo.lock and .cargo/config.toml, reduced to
# what the dependencies need. It reads the whole build context (see
# .dockerignore), so a workspace member added later (say a dev-only crate
# under crates/) is part of it without a change here.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# Dependency layer: the recipe rebuilds a skeleton of the workspace with
# empty sources and compiles the dependencies of the `redeliver` binary only
# (`--bin`: no dev-dependencies, tests, benches or examples).
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --target "$(cat /rust-target)" -p redeliver-action --bin redeliver --recipe-path recipe.json

# The real sources. COPY keeps the files' own (older) mtimes, which cargo
# could take for "unchanged since the skeleton build": touch them.
COPY . .
RUN find . -path ./target -prune -o -name '*.rs' -exec touch {} +; \
    target="$(cat /rust-target)"; \
    cargo auditable build --release --locked --target "$target" -p redeliver-action --bin redeliver; \
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
