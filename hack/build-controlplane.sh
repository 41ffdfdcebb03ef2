#!/usr/bin/env bash
# build-controlplane.sh builds the control plane LongTask's tests and local cluster run on, from Go modules,
# because no prebuilt envtest binaries can be downloaded here: etcd (go.etcd.io/etcd/server/v3) and
# kube-apiserver, kube-controller-manager and kube-scheduler (k8s.io/kubernetes, staging modules pinned).
#
# The binaries live in a per-user cache keyed by version, like setup-envtest's, so a fresh clone on the same
# machine reuses them; a second run does nothing. The directory given as the first argument (default
# bin/k8s) gets links to them and is what KUBEBUILDER_ASSETS points at.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.8}"
# The k8s.io/kubernetes module pins its staging modules as v0.0.0 with local replaces; they are published as
# v0.<minor>.<patch>.
STAGING_VERSION="v0.${K8S_VERSION#*.}"
CACHE_ROOT="${LONGTASK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/longtask}"
K8S_DIR="$CACHE_ROOT/k8s/$K8S_VERSION"
ETCD_DIR="$CACHE_ROOT/etcd/$ETCD_VERSION"
LINK_DIR="${1:-bin/k8s}"
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

WORK_DIRS=()
trap 'rm -rf "${WORK_DIRS[@]}"' EXIT

log() { printf 'build-controlplane: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null || die "go is not on PATH; install Go 1.26 or newer"

# build_etcd builds etcd in a throwaway module so its dependencies never meet the project's.
build_etcd() {
  if [ -x "$ETCD_DIR/etcd" ]; then
    log "etcd $ETCD_VERSION is cached in $ETCD_DIR"
    return
  fi
  log "building etcd $ETCD_VERSION into $ETCD_DIR (about a minute)"
  local src
  src="$(mktemp -d)"
  WORK_DIRS+=("$src")
  cat >"$src/main.go" <<'GO'
// Command etcd runs etcd's own main, built from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$src"
    go mod init longtask.dev/hack/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1 || die "cannot fetch go.etcd.io/etcd/server/v3@v$ETCD_VERSION from the module proxy"
    go mod tidy >/dev/null 2>&1 || die "go mod tidy failed for etcd"
    mkdir -p "$ETCD_DIR"
    CGO_ENABLED=0 go build -trimpath -o "$ETCD_DIR/etcd.tmp" . || die "building etcd failed"
    mv "$ETCD_DIR/etcd.tmp" "$ETCD_DIR/etcd"
  )
}

# build_kubernetes builds the Kubernetes components in a throwaway module that requires k8s.io/kubernetes
# with every staging module it replaces locally pointed at the published version instead.
build_kubernetes() {
  local missing=()
  for b in "${K8S_BINARIES[@]}"; do
    [ -x "$K8S_DIR/$b" ] || missing+=("$b")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Kubernetes $K8S_VERSION components are cached in $K8S_DIR"
    return
  fi
  log "building ${missing[*]} $K8S_VERSION into $K8S_DIR (about 10 minutes on 2 cores, once per version)"
  local src gomod
  src="$(mktemp -d)"
  WORK_DIRS+=("$src")
  gomod="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -n "$gomod" ] || die "cannot fetch k8s.io/kubernetes@v$K8S_VERSION from the module proxy"
  {
    echo "module longtask.dev/hack/kubernetes"
    echo
    echo "go 1.26"
    echo
    echo "replace ("
    sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$STAGING_VERSION"'#p' "$gomod"
    echo ")"
  } >"$src/go.mod"
  grep -q 'k8s.io/api =>' "$src/go.mod" || die "found no staging replaces in $gomod"
  local pkgs=()
  for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (
    cd "$src"
    go get "${pkgs[@]/%/@v$K8S_VERSION}" >/dev/null 2>&1 || die "go get k8s.io/kubernetes@v$K8S_VERSION failed (run it in $src to see why)"
    local ldflags="-s -w"
    ldflags+=" -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*}"
    local minor="${K8S_VERSION#*.}"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    mkdir -p "$K8S_DIR/tmp"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$K8S_DIR/tmp/" "${pkgs[@]}" || die "building Kubernetes components failed"
    for b in "${missing[@]}"; do mv "$K8S_DIR/tmp/$b" "$K8S_DIR/$b"; done
    rmdir "$K8S_DIR/tmp"
  )
}

build_etcd
build_kubernetes

mkdir -p "$LINK_DIR"
ln -sfn "$ETCD_DIR/etcd" "$LINK_DIR/etcd"
for b in "${K8S_BINARIES[@]}"; do ln -sfn "$K8S_DIR/$b" "$LINK_DIR/$b"; done
log "control plane ready in $LINK_DIR"
