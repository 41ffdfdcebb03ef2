#!/usr/bin/env bash
# install-tool.sh builds a Go tool once per machine and user, as build-controlplane.sh builds the control
# plane: into a per-user cache keyed by version, which every clone on the machine shares, and links LINK to
# it. A fresh clone then links instead of building (golangci-lint took some 8 minutes on 2 cores, helm 5).
#
#   hack/install-tool.sh NAME VERSION PACKAGE LINK
#   hack/install-tool.sh golangci-lint v2.15.0 github.com/golangci/golangci-lint/v2/cmd/golangci-lint bin/golangci-lint
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 NAME VERSION PACKAGE LINK" >&2; exit 2; }
name=$1 version=$2 package=$3 link=$4
CACHE_ROOT="${LONGTASK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/longtask}"
dir="$CACHE_ROOT/tools"
tool="$dir/$name-$version"

if [ ! -x "$tool" ]; then
  mkdir -p "$dir"
  # A clone from before the cache kept its tools in bin/NAME-VERSION: take that one instead of building.
  old="$(dirname "$link")/$name-$version"
  if [ -f "$old" ] && [ -x "$old" ]; then
    echo "install-tool: keeping $old in $tool" >&2
    cp "$old" "$tool.tmp.$$"
  else
    echo "install-tool: building $name $version into $tool (once per version)" >&2
    build="$(mktemp -d "$dir/.build.XXXXXX")"
    trap 'rm -rf "$build"' EXIT
    GOBIN="$build" go install "$package@$version"
    # go install names the binary after the package path; it is the one file there.
    mv "$build"/* "$tool.tmp.$$"
  fi
  # Two clones building at once each rename a whole binary into place.
  mv "$tool.tmp.$$" "$tool"
fi

mkdir -p "$(dirname "$link")"
ln -sfn "$tool" "$link"
