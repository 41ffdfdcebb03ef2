#!/usr/bin/env bash
# ensure-packages.sh installs Debian packages when what they provide is missing, so that make test and
# make dev work on a fresh machine. Each argument is PACKAGE:PROVIDES, where PROVIDES is a command on PATH
# or an absolute path; the package is installed when it is not there.
#
#   hack/ensure-packages.sh chromium:chromium containerd:containerd containernetworking-plugins:/usr/lib/cni/bridge
set -euo pipefail
missing=()
for arg in "$@"; do
  pkg="${arg%%:*}" provides="${arg#*:}"
  if [[ "$provides" == /* ]]; then
    [ -e "$provides" ] || missing+=("$pkg")
  else
    command -v "$provides" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-packages: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
  exit 1
fi
echo "ensure-packages: installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
