#!/usr/bin/env bash
# Install Debian packages the tests or the service need, when missing.
#   scripts/ensure-packages.sh CHECK:PACKAGE [CHECK:PACKAGE ...]
# CHECK is a command or a path that must exist; PACKAGE the Debian package providing it.
set -euo pipefail
missing=()
for spec in "$@"; do
  check=${spec%%:*}
  package=${spec#*:}
  if [[ $check == /* ]]; then
    compgen -G "$check" >/dev/null && continue
  else
    command -v "$check" >/dev/null 2>&1 && continue
  fi
  missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
