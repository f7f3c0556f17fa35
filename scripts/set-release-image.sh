#!/usr/bin/env bash
# Pin the action to a published image: rewrite the `image:` line under `runs:`
# in action.yml to `image: docker://IMAGE_REF`.
#
# Usage: scripts/set-release-image.sh IMAGE_REF [ACTION_YML]
#
#   IMAGE_REF   registry/path@sha256:<64 hex>, e.g.
#               ghcr.io/redeliver-action/redeliver-action@sha256:0123...
#               (a leading docker:// is accepted and dropped). Tags are
#               refused: a released action must name its image by digest.
#   ACTION_YML  defaults to action.yml in the current directory.
#
# Only that one line changes; every other byte of the file stays as it was
# (indentation, comments, CRLF line ends, a missing final newline). Running it
# again with the same reference changes nothing. It fails, and leaves the file
# alone, when the reference is not digest-pinned, when `runs.using` is not
# `docker`, or when there is no `image:` directly under `runs:`.
#
# The release workflow (.github/workflows/release.yml) runs it;
# scripts/test-set-release-image.sh tests it.
set -euo pipefail

usage() {
    echo "usage: $0 IMAGE_REF [ACTION_YML]" >&2
    echo "  IMAGE_REF: registry/path@sha256:<64 lowercase hex digits>" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
ref=${1#docker://}
file=${2:-action.yml}

# registry[:port]/path[/path...]@sha256:<64 hex>, lowercase as OCI requires.
ref_re='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?/[a-z0-9]([a-z0-9._/-]*[a-z0-9])?@sha256:[0-9a-f]{64}$'
if [[ ! $ref =~ $ref_re ]]; then
    echo "error: '$1' is not a digest-pinned image reference" >&2
    echo "  expected registry/path@sha256:<64 lowercase hex digits>, e.g." >&2
    echo "  ghcr.io/owner/redeliver-action@sha256:$(printf '0%.0s' {1..64})" >&2
    exit 1
fi
if [[ ! -f $file ]]; then
    echo "error: $file: no such file" >&2
    exit 1
fi

tmp=$(mktemp "${TMPDIR:-/tmp}/set-release-image.XXXXXX")
trap 'rm -f "$tmp" "$tmp.err"' EXIT

# awk sees each line without its "\n"; a CRLF file keeps its "\r", which is put
# back after the rewritten value. Every line is printed with "\n"; a missing
# final newline is restored below.
#
# Exit codes: 0 rewritten, 3 no runs.image, 4 runs.using is not docker.
status=0
awk -v ref="docker://$ref" '
    function indent_of(s) { match(s, /^[ \t]*/); return RLENGTH }
    function is_content(s) { return s !~ /^[ \t]*(#.*)?\r?$/ }
    {
        line = $0
        if (line ~ /^[^ \t#\r]/) {
            # A top-level key: enter or leave the runs: block.
            in_runs = (line ~ /^runs:[ \t]*(#.*)?\r?$/)
            child = -1
        } else if (in_runs && is_content(line)) {
            n = indent_of(line)
            if (child < 0) child = n
            if (n == child) {
                if (line ~ /^[ \t]*using:/) {
                    using = line
                    sub(/^[ \t]*using:[ \t]*/, "", using)
                    sub(/[ \t]*(#.*)?\r?$/, "", using)
                    gsub(/["\047]/, "", using)
                }
                if (!done && line ~ /^[ \t]*image:/) {
                    cr = (line ~ /\r$/) ? "\r" : ""
                    line = substr(line, 1, n) "image: " ref cr
                    done = 1
                }
            }
        }
        print line
    }
    END {
        if (!done) exit 3
        if (using != "docker") { print using > "/dev/stderr"; exit 4 }
    }
' "$file" >"$tmp" 2>"$tmp.err" || status=$?
using=$(cat "$tmp.err")

case $status in
    0) ;;
    3)
        echo "error: $file: no 'image:' line directly under 'runs:'" >&2
        exit 1
        ;;
    4)
        echo "error: $file: runs.using is '${using}', not 'docker'" >&2
        exit 1
        ;;
    *)
        echo "error: failed to rewrite $file (awk exited $status)" >&2
        exit 1
        ;;
esac

# Keep a missing final newline missing.
if [[ -s $file && $(tail -c1 "$file" | wc -l) -eq 0 ]]; then
    truncate -s -1 "$tmp"
fi

if cmp -s "$tmp" "$file"; then
    echo "$file: runs.image is already docker://$ref"
else
    # Write in place, so the file keeps its mode and owner.
    cat "$tmp" >"$file"
    echo "$file: runs.image set to docker://$ref"
fi
