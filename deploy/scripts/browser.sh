#!/usr/bin/env bash
# The browser the console's tests and screenshots drive: Debian's Chromium, its driver, and
# the Noto CJK fonts so Chinese renders. Installed once; later runs only check.
set -euo pipefail
LOG_TAG=browser
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

wanted=(chromium chromium-driver fonts-noto-cjk)
missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null \
  || die "chromium or chromedriver is still missing after installing ${wanted[*]}"
log "ready: $(chromium --version 2>/dev/null | head -1)"
