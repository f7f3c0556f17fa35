#!/usr/bin/env bash
# Checks the action's step outputs, as a workflow's next step sees them under
# nektos/act (see scripts/act-e2e.sh). Runs in act's job container: bash and jq.
#
# The workflow passes each output as OUT_<ID> (ID upper case, `-` as `_`) and
# what the fake GitHub's data make of this run as:
#   EXPECT_REDELIVERED  redelivered-count
#   EXPECT_GIVEN_UP     given-up-count
# Every output must be set; it prints them all, then a line per failed check,
# and exits 1 if any check failed.
set -uo pipefail

failures=0
fail() {
    echo "::error::check failed: $*"
    failures=$((failures + 1))
}

ids=(redelivered-count redelivered-guids failed-count scanned-count given-up-count
    given-up-guids filtered-count deferred-count since checkpoint report)
declare -A out=()
for id in "${ids[@]}"; do
    var=OUT_${id^^}
    var=${var//-/_}
    out[$id]=${!var-}
    if [[ $id == report ]]; then
        echo "seen: $id=${out[$id]:0:120}..."
    else
        echo "seen: $id=${out[$id]}"
    fi
    [[ -n ${out[$id]} ]] || fail "output $id is missing or empty"
done

for id in redelivered-count failed-count scanned-count given-up-count filtered-count deferred-count; do
    [[ ${out[$id]} =~ ^[0-9]+$ ]] || fail "$id is '${out[$id]}', not a count"
done
[[ ${out[redelivered-count]} == "${EXPECT_REDELIVERED:?}" ]] ||
    fail "redelivered-count is ${out[redelivered-count]}, the fake expects $EXPECT_REDELIVERED"
[[ ${out[given-up-count]} == "${EXPECT_GIVEN_UP:?}" ]] ||
    fail "given-up-count is ${out[given-up-count]}, the fake expects $EXPECT_GIVEN_UP"
[[ ${out[deferred-count]} == 0 ]] || fail "deferred-count is ${out[deferred-count]}, want 0"
[[ ${out[scanned-count]} =~ ^[1-9] ]] || fail "scanned-count is ${out[scanned-count]}: nothing was scanned"

rfc3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'
for id in since checkpoint; do
    [[ ${out[$id]} =~ $rfc3339 ]] || fail "$id is '${out[$id]}', not an RFC 3339 time"
done

# The GUID lists: JSON arrays of distinct strings, as many as their counts.
for pair in redelivered-guids:redelivered-count given-up-guids:given-up-count; do
    list=${pair%%:*} count=${pair#*:}
    jq -e --argjson n "${out[$count]:-0}" \
        'type == "array" and length == $n and (map(type == "string") | all) and (unique | length) == $n' \
        <<<"${out[$list]}" >/dev/null 2>&1 ||
        fail "$list is '${out[$list]}': not a JSON array of ${out[$count]} distinct GUIDs"
done

# The report: valid JSON that agrees with the other outputs.
if ! jq -e 'type == "object"' <<<"${out[report]}" >/dev/null 2>&1; then
    fail "report is not a JSON object"
else
    jq -e --argjson guids "${out[redelivered-guids]:-null}" '
        ([.hooks[].redelivered[].guid] | sort) == ($guids | sort)
        and .checkpoint_saved == true
        and .errors == []
        and all(.hooks[]; .error == null)' <<<"${out[report]}" >/dev/null 2>&1 ||
        fail "report disagrees with redelivered-guids, or records an error or an unsaved checkpoint"
fi

if ((failures > 0)); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all ${#ids[@]} outputs set and as expected"
