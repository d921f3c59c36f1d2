#!/usr/bin/env bash
# The multi-host check of README "Several machines", on one machine: a coordinator and N workers,
# each in a network namespace of its own, joined by veth links to a bridge in one more namespace,
# driven from a last one (scripts/cluster_check.py). Needs root (ip netns). Only addresses of
# 198.18.13.0/24 (RFC 2544's benchmarking range) are used, and only inside the namespaces this
# script creates; they are removed on exit, whatever happens.
#
#   scripts/cluster-check.sh [WORKERS]
#       WORKERS                 workers (default 2)
#       VORONOID_BIN            the binary (default .build/release/voronoid)
#       CLUSTER_CHECK_SHAPE     d,k of the speed-up measurement (default 768,1024)
#       CLUSTER_CHECK_VECTORS   vectors timed per measurement (default 524288)
#       CLUSTER_CHECK_ROUNDS    alternating rounds of the one- and N-worker measurements, the
#                               best of each kept (default 2)
#
# The last line is one JSON object:
#   {"workers": N, "speedup": …, "speedup_to_last_merge": …, "speedup_end_to_end": …,
#    "coordinator_ms_per_epoch": …, "error_ratio": …,
#    "max_center_diff": …, "worker_kill": "pass"|"fail", "coordinator_kill": "pass"|"fail",
#    "lost_vectors": …}
# Exit status 0 when both kills and a partition of worker 1 (reported on stderr) pass and the
# synchronous comparison ran, 1 otherwise, 2 when the set-up is impossible (not root, no ip, no
# binary).
set -euo pipefail
cd "$(dirname "$0")/.."

workers="${1:-2}"
binary="${VORONOID_BIN:-$PWD/.build/release/voronoid}"
[ "$(id -u)" = 0 ] || { echo "cluster-check: needs root (network namespaces)" >&2; exit 2; }
command -v ip >/dev/null || { echo "cluster-check: ip not found (Debian: apt-get install iproute2)" >&2; exit 2; }
[ -x "$binary" ] || { echo "cluster-check: no binary at $binary (swift build -c release)" >&2; exit 2; }

# Short names: interface names have at most 15 characters.
prefix="vcc$$"
names=(drv co)
for i in $(seq 1 "$workers"); do names+=("w$i"); done

cleanup() {
    for n in "${names[@]}" hub; do ip netns del "$prefix$n" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

ip netns add "${prefix}hub"
ip -n "${prefix}hub" link add br0 type bridge
ip -n "${prefix}hub" link set br0 up
args=()
for index in "${!names[@]}"; do
    n="${names[$index]}"
    ns="$prefix$n"
    address="198.18.13.$((index + 10))"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Created inside the daemon's namespace, so no interface ever appears in the host's.
    ip -n "$ns" link add eth0 type veth peer name "p$index" netns "${prefix}hub"
    ip -n "$ns" addr add "$address/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "${prefix}hub" link set "p$index" master br0
    ip -n "${prefix}hub" link set "p$index" up
    args+=(--address "$n=$address")
done

ip netns exec "${prefix}drv" python3 scripts/cluster_check.py --binary "$binary" --prefix "$prefix" \
    --workers "$workers" "${args[@]}"
