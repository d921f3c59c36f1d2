#!/usr/bin/env bash
# Installs what voronoid needs on a fresh Debian bookworm machine: libzmq and OpenBLAS (the
# daemon links them), Chromium (the live view's test loads the page headless), iproute2
# (scripts/cluster-check.sh's network namespaces) and the Python packages the interoperability
# tests and examples use.
set -euo pipefail
if ! dpkg -s libzmq3-dev libopenblas-dev chromium iproute2 >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzmq3-dev libopenblas-dev chromium iproute2 >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check pyzmq numpy pytest
