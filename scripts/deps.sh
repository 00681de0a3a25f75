#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: the real peers (not mocks) the
# interop tests drive, and gcc + libc6-dev for the race detector (cgo). Runs apt-get as root, or through
# sudo when that is available. The interop tests target Debian bookworm's python3-msal 1.21 and
# python3-azure (azure-identity 1.13.0b2, whose keyword is instance_discovery=).
set -euo pipefail
packages=(gcc libc6-dev python3 python3-msal python3-msal-extensions python3-azure redis-server chromium azure-cli ca-certificates tzdata)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
