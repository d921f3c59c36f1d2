#!/usr/bin/env bash
# The whole test suite: Swift unit and integration tests over real sockets, then the Python
# interoperability tests that drive the built binary with pyzmq.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build
swift test
python3 -m pytest -q Tests/interop
