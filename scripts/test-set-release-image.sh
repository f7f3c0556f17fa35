#!/usr/bin/env bash
# Tests for scripts/set-release-image.sh. Run from anywhere:
#   bash scripts/test-set-release-image.sh
# Prints one line per case and a closing "N passed, N failed"; exits non-zero
# when a case fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script="$here/set-release-image.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/test-set-release-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

digest_a=$(printf 'a%.0s' {1..64})
digest_b=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ref_a="ghcr.io/redeliver-action/redeliver-action@sha256:$digest_a"
ref_b="ghcr.io/redeliver-action/redeliver-action@sha256:$digest_b"

passed=0
failed=0

# A representative action.yml: `image:` also appears in places that must not
# change (a description, an input named image, runs.env).
write_action() { # FILE IMAGE_VALUE
    cat >"$1" <<EOF
name: Redeliver failed webhook deliveries
description: Redelivers failed webhook deliveries. The image: line is not this one.
inputs:
  image:
    description: >-
      Not the runs image.
      image: Dockerfile
    default: "image: nope"
outputs:
  redelivered-count:
    description: Number of events redelivered.

# The image the runner uses:
runs:
  using: 'docker'
  env:
    image: not-this-one
  # image: commented-out
  image: $2
  args: []
branding:
  icon: refresh-cw
  color: green
EOF
}

# expected_from FILE IMAGE_VALUE: the same file with runs.image replaced.
expected_from() {
    write_action "$1" "$2"
}

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

# Runs the script; the case fails unless it exits with the expected status.
expect_status() { # WANT ARGS...
    local want=$1 got=0
    shift
    bash "$script" "$@" >"$work/stdout" 2>"$work/stderr" || got=$?
    if [[ $want == 0 && $got != 0 ]] || [[ $want != 0 && $got == 0 ]]; then
        echo "expected exit status ${want/#1/non-zero}, got $got"
        cat "$work/stdout" "$work/stderr"
        return 1
    fi
}

same_bytes() { # GOT WANT
    if ! cmp -s "$1" "$2"; then
        echo "files differ:"
        diff -u "$2" "$1" || true
        return 1
    fi
}

case_rewrite_from_dockerfile() {
    write_action "$work/action.yml" Dockerfile || return 1
    expected_from "$work/want.yml" "docker://$ref_a" || return 1
    expect_status 0 "$ref_a" "$work/action.yml" || return 1
    same_bytes "$work/action.yml" "$work/want.yml" || return 1
}

case_rewrite_already_pinned() {
    write_action "$work/action.yml" "docker://$ref_a" || return 1
    expected_from "$work/want.yml" "docker://$ref_b" || return 1
    # docker:// on the argument is accepted too.
    expect_status 0 "docker://$ref_b" "$work/action.yml" || return 1
    same_bytes "$work/action.yml" "$work/want.yml" || return 1
    # Idempotent: the same reference again changes nothing.
    expect_status 0 "$ref_b" "$work/action.yml" || return 1
    same_bytes "$work/action.yml" "$work/want.yml" || return 1
    grep -q 'already' "$work/stdout" || { echo "second run did not say 'already'"; return 1; }
}

case_reject_tag_only_ref() {
    write_action "$work/action.yml" Dockerfile || return 1
    cp "$work/action.yml" "$work/before.yml" || return 1
    local ref
    for ref in \
        ghcr.io/redeliver-action/redeliver-action:v1.2.3 \
        ghcr.io/redeliver-action/redeliver-action \
        "ghcr.io/redeliver-action/redeliver-action:v1@sha256" \
        redeliver-action@sha256:"$digest_a"; do
        expect_status 1 "$ref" "$work/action.yml" || { echo "accepted: $ref"; return 1; }
    done
    same_bytes "$work/action.yml" "$work/before.yml" || return 1
}

case_reject_bad_digest() {
    write_action "$work/action.yml" Dockerfile || return 1
    cp "$work/action.yml" "$work/before.yml" || return 1
    local ref
    for ref in \
        "ghcr.io/o/r@sha256:${digest_a:1}" \
        "ghcr.io/o/r@sha256:${digest_a}0" \
        "ghcr.io/o/r@sha256:${digest_a^^}" \
        "ghcr.io/o/r@sha512:$digest_a" \
        "ghcr.io/o/r@sha256:${digest_a:1}g" \
        "GHCR.io/o/r@sha256:$digest_a" \
        "ghcr.io/o/r@sha256:$digest_a extra"; do
        expect_status 1 "$ref" "$work/action.yml" || { echo "accepted: $ref"; return 1; }
    done
    same_bytes "$work/action.yml" "$work/before.yml" || return 1
    # ... while a registry with a port and a nested path is fine.
    expect_status 0 "localhost:5000/a/b/redeliver-action@sha256:$digest_b" "$work/action.yml" || return 1
}

case_other_lines_untouched() {
    # CRLF line ends, a missing final newline and a comment after the value:
    # only the image line changes, and keeps its CRLF.
    write_action "$work/lf.yml" Dockerfile || return 1
    sed 's/$/\r/' "$work/lf.yml" | head -c -2 >"$work/action.yml" || return 1
    sed -i 's/^  image: Dockerfile\r$/  image: "Dockerfile" # built by the runner\r/' "$work/action.yml" || return 1
    cp "$work/action.yml" "$work/before.yml" || return 1
    expect_status 0 "$ref_a" "$work/action.yml" || return 1
    local changed
    changed=$(diff "$work/before.yml" "$work/action.yml" | grep -c '^>' || true)
    [[ $changed == 1 ]] || { echo "expected exactly 1 changed line, got $changed"; diff "$work/before.yml" "$work/action.yml" || true; return 1; }
    grep -q $'^  image: docker://'"$ref_a"$'\r$' "$work/action.yml" || { echo "image line not rewritten with CRLF"; return 1; }
    [[ $(tail -c1 "$work/action.yml" | wc -l) == 0 ]] || { echo "a final newline was added"; return 1; }
    # Every other line, byte for byte.
    same_bytes <(grep -v '^  image: ' "$work/action.yml") <(grep -v '^  image: ' "$work/before.yml") || return 1
    # The decoys are intact.
    grep -q '^    image: not-this-one' "$work/action.yml" || return 1
    grep -q '^  # image: commented-out' "$work/action.yml" || return 1
    grep -q '^      image: Dockerfile' "$work/action.yml" || return 1
}

case_fail_without_runs_image() {
    cat >"$work/action.yml" <<'EOF'
name: composite
description: no image here
inputs:
  image:
    default: Dockerfile
runs:
  using: composite
  steps:
    - run: echo image: Dockerfile
      shell: bash
EOF
    cp "$work/action.yml" "$work/before.yml" || return 1
    expect_status 1 "$ref_a" "$work/action.yml" || return 1
    grep -q "no 'image:' line" "$work/stderr" || { echo "unexpected message:"; cat "$work/stderr"; return 1; }
    same_bytes "$work/action.yml" "$work/before.yml" || return 1
    # runs.image present but not a Docker action: refused too.
    printf 'name: x\nruns:\n  using: node20\n  image: Dockerfile\n' >"$work/action.yml" || return 1
    expect_status 1 "$ref_a" "$work/action.yml" || return 1
    # And a missing file.
    expect_status 1 "$ref_a" "$work/does-not-exist.yml" || return 1
}

run_case "rewrites runs.image from Dockerfile" case_rewrite_from_dockerfile
run_case "rewrites an already pinned image, idempotently" case_rewrite_already_pinned
run_case "rejects a tag-only reference" case_reject_tag_only_ref
run_case "rejects a bad digest" case_reject_bad_digest
run_case "leaves every other line untouched" case_other_lines_untouched
run_case "fails on a file without runs.image" case_fail_without_runs_image

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
