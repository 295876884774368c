#!/usr/bin/env bash
# Installs Debian's Chromium for the UI tests (tests/ui) when it is missing.
# Never runs `playwright install`: browser downloads are blocked here; the Python
# playwright package only drives /usr/bin/chromium.
set -euo pipefail

CHROMIUM=${APS_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: $CHROMIUM missing and no apt-get; install Chromium by hand" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser: not root and no sudo; UI tests will skip (or fail in CI)" >&2
        exit 0
    fi
fi
echo "install_browser: installing Debian's chromium" >&2
# another package manager (unattended upgrades, a parallel build) may hold the dpkg and
# lists locks: wait up to five minutes for them instead of failing at once
LOCK_WAIT=(-o DPkg::Lock::Timeout=300)
$SUDO apt-get "${LOCK_WAIT[@]}" update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${LOCK_WAIT[@]}" install -y -qq \
    --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$CHROMIUM" --version
