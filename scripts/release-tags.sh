#!/usr/bin/env bash
# Decide what a release moves: given the version being released and the tags
# that exist, print whether the floating major tag (`vMAJOR` in git, `:MAJOR`
# on the image) moves to this release, and whether the GitHub release is
# marked Latest.
#
# Usage: git tag --list 'v*' | scripts/release-tags.sh VERSION
#
#   VERSION  MAJOR.MINOR.PATCH[-PRERELEASE] (a leading `v` is accepted), the
#            release being made.
#   stdin    the repository's tags, one per line (anything that is not
#            vMAJOR.MINOR.PATCH is ignored: floating tags, pre-releases,
#            other names). The release's own tag may or may not be among them.
#
# Prints key=value lines, ready for $GITHUB_OUTPUT:
#
#   version=1.2.5          the version, without `v`
#   major=1
#   prerelease=false       true when VERSION has a -PRERELEASE part
#   floating-tag=v1        the floating tag of this major
#   move-floating=true     move vMAJOR and the image's :MAJOR here: true only for
#                          a release that is not a pre-release and is the
#                          highest release of its major (or equal to it, as on
#                          a re-run); a backport (1.2.5 after 1.3.0) leaves
#                          them where they are
#   latest=true            mark the GitHub release Latest: true only for a
#                          release that is not a pre-release and is the
#                          highest release of all majors
#   highest-of-major=1.3.0 the highest release of this major, this one included
#                          (empty for a pre-release of a new major)
#
# Exits 1 with a message on a malformed version and on major version 0: the
# floating tag is named after the major version, and README.md, SECURITY.md
# and the example workflow promise `@v1`, so releases start at 1.0.0.
#
# The release workflow (.github/workflows/release.yml) runs it twice: to check
# the tag before anything is built, and again just before the tags move, with
# freshly fetched tags. scripts/test-release-tags.sh tests it.
set -euo pipefail

usage() {
    echo "usage: git tag --list 'v*' | $0 VERSION" >&2
    exit 2
}

[[ $# -eq 1 ]] || usage
version=${1#v}

# SemVer 2.0.0 without build metadata: no leading zeros in the numbers.
num='(0|[1-9][0-9]*)'
semver_re="^$num\.$num\.$num(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
if [[ ! $version =~ $semver_re ]]; then
    echo "error: '$1' is not MAJOR.MINOR.PATCH[-PRERELEASE]" >&2
    exit 1
fi
major=${BASH_REMATCH[1]}
minor=${BASH_REMATCH[2]}
patch=${BASH_REMATCH[3]}
prerelease=false
[[ -n ${BASH_REMATCH[4]} ]] && prerelease=true

if [[ $major == 0 ]]; then
    echo "error: version $version has major version 0; releases start at 1.0.0" >&2
    echo "  (the floating tag is v<major>, and the documentation promises @v1)" >&2
    exit 1
fi

# Stable releases only: vMAJOR.MINOR.PATCH, exactly.
stable_re="^v$num\.$num\.$num$"

# greater A B: is version A (three numbers) greater than version B?
greater() {
    local -a a b
    read -r -a a <<<"$1"
    read -r -a b <<<"$2"
    local i
    for i in 0 1 2; do
        if ((a[i] != b[i])); then
            ((a[i] > b[i]))
            return
        fi
    done
    return 1
}

# The highest stable release of this major, and of all majors, counting this
# release when it is not a pre-release.
highest_major=""
highest_all=""
if [[ $prerelease == false ]]; then
    highest_major="$major $minor $patch"
    highest_all="$major $minor $patch"
fi
while IFS= read -r tag || [[ -n $tag ]]; do
    tag=${tag%$'\r'}
    [[ $tag =~ $stable_re ]] || continue
    candidate="${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
    if [[ -z $highest_all ]] || greater "$candidate" "$highest_all"; then
        highest_all=$candidate
    fi
    if [[ ${BASH_REMATCH[1]} == "$major" ]]; then
        if [[ -z $highest_major ]] || greater "$candidate" "$highest_major"; then
            highest_major=$candidate
        fi
    fi
done

move=false
latest=false
if [[ $prerelease == false ]]; then
    # Equal counts as highest: a re-run of the newest release moves the tags
    # to where they already are.
    greater "$highest_major" "$major $minor $patch" || move=true
    greater "$highest_all" "$major $minor $patch" || latest=true
fi

echo "version=$version"
echo "major=$major"
echo "prerelease=$prerelease"
echo "floating-tag=v$major"
echo "move-floating=$move"
echo "latest=$latest"
echo "highest-of-major=${highest_major// /.}"
