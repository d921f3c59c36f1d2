#!/usr/bin/env bash
# The whole test suite: Swift unit and integration tests over real sockets, then the Python
# interoperability tests, which drive the release binary with pyzmq (the overload tests need a
# daemon built the way operators run it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/systemd-check.sh
swift build --build-tests
swift test
# Every decoder of untrusted bytes under libFuzzer for 20 s each, after replaying past crashes.
scripts/fuzz.sh all 20
# The Python client package: its codec against golden messages the Swift tests also decode.
python3 -m pytest -q -p no:cacheprovider clients/python/tests
swift build -c release --product voronoid
VORONOID_BIN="$PWD/.build/release/voronoid" python3 -m pytest -q Tests/interop
