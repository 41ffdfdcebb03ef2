#!/usr/bin/env bash
# ensure-chromium.sh installs Debian's Chromium for the UI's browser tests when it is missing. It is the
# only browser that can be had here: test tools' own browser downloads cannot be fetched.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: Chromium is missing; install it (apt-get install -y chromium) or run as root" >&2
  exit 1
fi
echo "ensure-chromium: installing chromium from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null || { echo "ensure-chromium: chromium did not install" >&2; exit 1; }
