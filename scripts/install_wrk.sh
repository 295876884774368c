#!/usr/bin/env bash
# Installs Debian's wrk (the HTTP load generator of `make bench-service`) when missing.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_wrk: wrk missing and no apt-get; install wrk by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_wrk: not root and no sudo; install wrk by hand" >&2
        exit 1
    fi
fi
echo "install_wrk: installing Debian's wrk" >&2
LOCK_WAIT=(-o DPkg::Lock::Timeout=300)
$SUDO apt-get "${LOCK_WAIT[@]}" update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${LOCK_WAIT[@]}" install -y -qq \
    --no-install-recommends wrk >/dev/null
command -v wrk
