#!/usr/bin/env bash
# Renders the job summary's chart of a day with a 3-hour outage to
# docs/health-chart-outage.png with mermaid-cli, as GitHub would draw it:
#   bash scripts/render-health-chart.sh
#
# The chart's text is the reviewed snapshot of tests/health_chart.rs
# (`the_outage_day_chart`), which that test also writes to target/tmp. mermaid-cli
# drives a browser through puppeteer; puppeteer cannot download its own here, so
# Debian's chromium is used (installed with apt-get when missing, as root), headless
# and without its sandbox (root has none), with its background networking off.
# Not part of .ci/run: the PNG is committed, and a browser is heavy for CI.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# MERMAID_CLI_NPM_VERSION, PUPPETEER_NPM_VERSION.
# shellcheck disable=SC1091 # a file of KEY=VALUE lines
source .ci/tool-versions
tools=${REDELIVER_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/redeliver-action-ci}
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

chromium=/usr/bin/chromium
if [[ ! -x $chromium ]]; then
    [[ $EUID -eq 0 ]] || die "chromium is not installed, and not root to apt-get install it"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
        die "failed to install chromium with apt-get"
fi

mmdc=$tools/mermaid-cli/node_modules/.bin/mmdc
if [[ ! -x $mmdc ]]; then
    PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$tools/mermaid-cli" --no-audit --no-fund \
        --loglevel=error "@mermaid-js/mermaid-cli@$MERMAID_CLI_NPM_VERSION" \
        "puppeteer@$PUPPETEER_NPM_VERSION" >/dev/null ||
        die "failed to install @mermaid-js/mermaid-cli@$MERMAID_CLI_NPM_VERSION from npm"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The chart: the snapshot's text, after insta's header.
snapshot=tests/snapshots/tests__health_chart__the_outage_day_chart.snap
awk 'seen >= 2 { print } /^---$/ { seen++ }' "$snapshot" >"$work/outage-day.mmd"
grep -q '^xychart-beta' "$work/outage-day.mmd" || die "no chart in $snapshot"
cat >"$work/puppeteer.json" <<EOF
{
  "executablePath": "$chromium",
  "headless": "shell",
  "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"]
}
EOF
mkdir -p docs
"$mmdc" --quiet --puppeteerConfigFile "$work/puppeteer.json" --input "$work/outage-day.mmd" \
    --output docs/health-chart-outage.png --width 1200 --backgroundColor white
echo "docs/health-chart-outage.png: $(wc -c <docs/health-chart-outage.png) bytes"
