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
# One coordinator and two workers in network namespaces (about 15 s; needs root, as CI runs it):
# the synchronous comparison and both kills must pass; the speed-up is printed, not asserted.
# Without root it cannot run: that fails the suite unless VORONOID_SKIP_CLUSTER_CHECK=1 says so.
if [ "$(id -u)" = 0 ]; then
    VORONOID_BIN="$PWD/.build/release/voronoid" scripts/cluster-check.sh 2
elif [ "${VORONOID_SKIP_CLUSTER_CHECK:-0}" = 1 ]; then
    echo "test.sh: scripts/cluster-check.sh NOT RUN (VORONOID_SKIP_CLUSTER_CHECK=1)" >&2
else
    echo "test.sh: scripts/cluster-check.sh needs root (network namespaces); run as root or set VORONOID_SKIP_CLUSTER_CHECK=1" >&2
    exit 1
fi
