#!/usr/bin/env bash
# Renders whole job summaries the way GitHub shows them, into PNGs in docs/:
#   bash scripts/render-health-chart.sh
#
# - docs/summary-day.png: one hook's day, the receiver down for 3 hours, all redelivered;
# - docs/summary-fleet-outage.png: 150 hooks on one receiver, still down (run 1);
# - docs/summary-fleet-back.png: the same fleet once the receiver is back (run 2).
#
# The pages are the reviewed snapshots of tests/summary_pages.rs. GitHub-flavoured Markdown
# becomes HTML with Debian's cmark-gfm (GitHub's fork of cmark, with its table, autolink,
# strikethrough and tag filter extensions); scripts/render-summary.mjs adds what github.com
# does on top (alerts, Mermaid 11 charts, GitHub's Markdown CSS, a 1000 px pane) and takes
# the screenshot with Debian's chromium, headless and without its sandbox (root has none).
# Puppeteer cannot download its own browser here. Not part of .ci/run: the PNGs are
# committed, and a browser is heavy for CI. Look at them after any change to the summary.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# MERMAID_NPM_VERSION, PUPPETEER_NPM_VERSION, GITHUB_MARKDOWN_CSS_NPM_VERSION.
# shellcheck disable=SC1091 # a file of KEY=VALUE lines
source .ci/tool-versions
tools=${REDELIVER_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/redeliver-action-ci}
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v cmark-gfm >/dev/null || missing+=(cmark-gfm)
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || die "${missing[*]} not installed, and not root to apt-get install them"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" fonts-dejavu-core >/dev/null || die "failed to install ${missing[*]} with apt-get"
fi

modules=$tools/summary-render/node_modules
version() { node -p "require('$modules/$1/package.json').version" 2>/dev/null || true; }
if [[ $(version mermaid) != "$MERMAID_NPM_VERSION" || $(version puppeteer) != "$PUPPETEER_NPM_VERSION" ||
    $(version github-markdown-css) != "$GITHUB_MARKDOWN_CSS_NPM_VERSION" ]]; then
    PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$tools/summary-render" --no-audit --no-fund \
        --loglevel=error "mermaid@$MERMAID_NPM_VERSION" "puppeteer@$PUPPETEER_NPM_VERSION" \
        "github-markdown-css@$GITHUB_MARKDOWN_CSS_NPM_VERSION" >/dev/null ||
        die "failed to install mermaid, puppeteer and github-markdown-css from npm"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pairs=()
for page in day fleet_outage fleet_back; do
    snapshot=tests/snapshots/tests__summary_pages__$page.snap
    [[ -f $snapshot ]] || die "no $snapshot: run cargo test summary_pages and review its snapshots"
    # The summary: the snapshot's text after insta's header.
    awk 'seen >= 2 { print } /^---$/ { seen++ }' "$snapshot" >"$work/$page.md"
    grep -q '^## Webhook redelivery' "$work/$page.md" || die "no summary in $snapshot"
    cmark-gfm --unsafe --github-pre-lang -e table -e strikethrough -e autolink -e tagfilter \
        "$work/$page.md" >"$work/$page.html"
    pairs+=("docs/summary-${page//_/-}.png" "$work/$page.html")
done
mkdir -p docs
REDELIVER_RENDER_MODULES=$modules CHROMIUM=/usr/bin/chromium node scripts/render-summary.mjs "${pairs[@]}"
