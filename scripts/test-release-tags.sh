#!/usr/bin/env bash
# Tests for scripts/release-tags.sh, the release workflow's tag decision. Run
# from anywhere:
#   bash scripts/test-release-tags.sh
# Prints one line per case and a closing "N passed, N failed"; exits non-zero
# when a case fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script="$here/release-tags.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/test-release-tags.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0
failed=0

run_case() { # NAME FUNCTION
    local name=$1 out
    if out=$("$2" 2>&1); then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        echo "FAILED - $name"
        while IFS= read -r line; do printf '    %s\n' "$line"; done <<<"$out"
    fi
}

# The cases run inside `if`, where bash ignores `set -e`: every check that can
# fail ends in `|| return 1`.

# decide VERSION TAGS...: runs the script with the tags on stdin; its output is
# in $work/out. Fails unless it exits 0.
decide() {
    local version=$1 status=0
    shift
    if (($# > 0)); then printf '%s\n' "$@"; fi |
        bash "$script" "$version" >"$work/out" 2>"$work/err" || status=$?
    if [[ $status != 0 ]]; then
        echo "release-tags.sh $version exited $status:"
        cat "$work/out" "$work/err"
        return 1
    fi
}

# want KEY=VALUE...: each line must be in the last output, exactly.
want() {
    local pair
    for pair in "$@"; do
        if ! grep -qxF -- "$pair" "$work/out"; then
            echo "expected '$pair' in:"
            sed 's/^/  /' "$work/out"
            return 1
        fi
    done
}

# refused VERSION TAGS...: the script must exit 1 and leave stdout empty.
refused() {
    local version=$1 status=0
    shift
    if (($# > 0)); then printf '%s\n' "$@"; fi |
        bash "$script" "$version" >"$work/out" 2>"$work/err" || status=$?
    if [[ $status != 1 ]]; then
        echo "expected exit 1 for '$version', got $status"
        cat "$work/out" "$work/err"
        return 1
    fi
    if [[ -s $work/out ]]; then
        echo "printed output despite refusing '$version':"
        cat "$work/out"
        return 1
    fi
}

case_first_release() {
    # The tag that started the workflow is already there, or not yet fetched.
    decide v1.0.0 v1.0.0 || return 1
    want version=1.0.0 major=1 prerelease=false floating-tag=v1 \
        move-floating=true latest=true highest-of-major=1.0.0 || return 1
    decide 1.0.0 || return 1
    want move-floating=true latest=true || return 1
}

case_later_minor() {
    decide 1.1.0 v1.0.0 v1 v1.0.1 v1.1.0 || return 1
    want version=1.1.0 move-floating=true latest=true highest-of-major=1.1.0 || return 1
    # Numbers compare as numbers: 1.10.0 is above 1.9.3.
    decide 1.10.0 v1.9.3 v1.10.0 v1 || return 1
    want move-floating=true latest=true || return 1
    decide 1.9.4 v1.9.3 v1.10.0 v1 || return 1
    want move-floating=false latest=false highest-of-major=1.10.0 || return 1
}

case_backport() {
    # 1.2.5 after 1.3.0: v1, :1 and Latest stay on 1.3.0.
    decide 1.2.5 v1.0.0 v1.2.4 v1.3.0 v1 v1.2.5 || return 1
    want version=1.2.5 prerelease=false move-floating=false latest=false \
        highest-of-major=1.3.0 || return 1
    # A fix for the previous major after 2.0.0: v1 moves, Latest stays on 2.x.
    decide 1.4.1 v1.4.0 v1 v2.0.0 v2 v1.4.1 || return 1
    want major=1 floating-tag=v1 move-floating=true latest=false highest-of-major=1.4.1 || return 1
}

case_new_major() {
    decide 2.0.0 v1.0.0 v1.9.0 v1 v2.0.0 || return 1
    want major=2 floating-tag=v2 move-floating=true latest=true highest-of-major=2.0.0 || return 1
}

case_prerelease() {
    decide 1.4.0-rc.1 v1.3.0 v1 v1.4.0-rc.1 || return 1
    want version=1.4.0-rc.1 prerelease=true move-floating=false latest=false \
        highest-of-major=1.3.0 || return 1
    # The first pre-release of a new major: no v2 yet, and none is made.
    decide 2.0.0-beta.2 v1.3.0 v1 || return 1
    want major=2 prerelease=true floating-tag=v2 move-floating=false latest=false \
        highest-of-major= || return 1
    # Pre-release tags never count as releases: 1.4.0 moves v1 past an rc
    # of a later version.
    decide 1.4.0 v1.3.0 v1.5.0-rc.1 v2.0.0-alpha.1 v1 || return 1
    want prerelease=false move-floating=true latest=true || return 1
}

case_rerun() {
    # A re-run after the tags moved: the same answer as the first run.
    decide 1.3.0 v1.2.0 v1.3.0 v1 || return 1
    want move-floating=true latest=true highest-of-major=1.3.0 || return 1
    # ... and for a backport, still no move.
    decide 1.2.5 v1.2.5 v1.3.0 v1 || return 1
    want move-floating=false latest=false || return 1
    # A re-run of a release after a later one was made in between: it no
    # longer moves anything back.
    decide 1.3.0 v1.3.0 v1.3.1 v1 || return 1
    want move-floating=false latest=false highest-of-major=1.3.1 || return 1
}

case_ignores_other_tags() {
    # Floating tags, malformed and foreign names, leading zeros, CRLF lines.
    decide 1.2.0 v1 v2 latest v9 v9.9 v9.9.9.9 V9.9.9 v09.0.0 $'v1.1.0\r' "" "v3.0.0 " || return 1
    want move-floating=true latest=true highest-of-major=1.2.0 || return 1
    decide 1.0.5 $'v1.1.0\r' || return 1
    want move-floating=false latest=false highest-of-major=1.1.0 || return 1
}

case_refuses_major_zero() {
    refused 0.1.0 || return 1
    grep -q 'major version 0' "$work/err" || { echo "unexpected message:"; cat "$work/err"; return 1; }
    refused v0.9.9 v0.9.8 || return 1
    refused 0.1.0-rc.1 || return 1
}

case_refuses_malformed() {
    local v
    for v in "" 1 1.2 1.2.3.4 01.2.3 1.02.3 1.2.3+build.1 1.2.3- "1.2.3 " vv1.2.3 x1.2.3 \
        1.2.3-rc..1 1.2.3-rc_1 -1.2.3; do
        refused "$v" || { echo "accepted: '$v'"; return 1; }
    done
    grep -q 'is not MAJOR.MINOR.PATCH' "$work/err" || { cat "$work/err"; return 1; }
    # No argument, or two: usage, exit 2.
    local status=0
    bash "$script" </dev/null >/dev/null 2>&1 || status=$?
    [[ $status == 2 ]] || { echo "no argument: exit $status, want 2"; return 1; }
}

run_case "first release (1.0.0)" case_first_release
run_case "a later minor moves v1" case_later_minor
run_case "a backport leaves v1 and Latest alone" case_backport
run_case "a new major gets its own floating tag" case_new_major
run_case "a pre-release moves nothing" case_prerelease
run_case "a re-run decides as the first run did" case_rerun
run_case "ignores tags that are not releases" case_ignores_other_tags
run_case "refuses major version 0" case_refuses_major_zero
run_case "refuses malformed versions" case_refuses_malformed

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
