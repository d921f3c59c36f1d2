#!/usr/bin/env bash
# The unit under a real systemd (PID 1) in a throwaway Debian bookworm VM (qemu; TCG where there
# is no hardware virtualisation), with the tool in ../shared/tools/systemd-vm (SYSTEMD_VM_DIR).
#
#   scripts/systemd-vm.sh [--no-build] [--only a|b|c]...
#
# Runs, each a fresh boot of the image with systemd/voronoid.service, the static release binary
# at /usr/local/bin/voronoid and config/voronoid.toml at /etc/voronoid/voronoid.toml:
#   a  active (running) as a DynamicUser with the hardening on, READY=1 reached, a producer's
#      vectors accepted, `systemctl reload` (SIGHUP), `systemctl stop` (SIGTERM) exits 0 and leaves
#      a checkpoint in /var/lib/private/voronoid             (scripts/systemd-vm/check-running.sh)
#   b  a drop-in adds --set fault.stall_after_s=3: the watchdog fires (Result=watchdog) and
#      systemd restarts the daemon                            (scripts/systemd-vm/check-watchdog.sh)
#   c  SIGTERM under load: exit 0, final checkpoint = model version at shutdown, restored by the
#      next start                                             (scripts/systemd-vm/check-sigterm-load.sh)
#
# Needs root. Installs qemu-system-x86 and debootstrap if missing; builds the binary
# (swift build -c release --static-swift-stdlib, scratch path VORONOID_VM_SCRATCH, default
# .build-systemd-release; --no-build uses the one there) and the VM image (cached in $VM_OUT, the
# tool's default /tmp/systemd-vm). Measured on 2 cores with TCG (no hardware virtualisation),
# while other builds loaded the machine (load 5): 8-9 min in all (binary 54-114 s, each run
# 100-230 s, mostly booting: 45-115 s to the test runner); run a alone took 59 s on a quieter
# machine. The first image build adds about 2 minutes.
# Exit status: 0 when every run passes, 1 otherwise (the failing runs' reports are printed).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
VM="${SYSTEMD_VM_DIR:-$REPO/../shared/tools/systemd-vm}"
SCRATCH="${VORONOID_VM_SCRATCH:-.build-systemd-release}"
BUILD=1
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0; shift ;;
        --only) ONLY="$ONLY ${2:?--only needs a, b or c}"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0" | cut -c3-; exit 0 ;;
        *) echo "systemd-vm.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
ONLY="${ONLY:- a b c}"
log() { printf '[systemd-vm %s] %s\n' "$(date +%T)" "$*"; }
die() { echo "systemd-vm.sh: $*" >&2; exit 1; }
t_all=$(date +%s)

. scripts/vm-common.sh  # the working directory is the repository root (see above)
vm_require_tools

BIN="$SCRATCH/release/voronoid"
if [ "$BUILD" = 1 ]; then
    log "swift build -c release --static-swift-stdlib --product voronoid (scratch $SCRATCH)"
    t=$(date +%s)
    swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product voronoid
    log "binary built in $(( $(date +%s) - t )) s"
fi
[ -x "$BIN" ] || die "no binary at $BIN (build it, or drop --no-build)"
if ldd "$BIN" | grep -q 'libswift\|libFoundation\|libdispatch'; then
    die "$BIN links the Swift runtime dynamically; the VM image has none: build with --static-swift-stdlib"
fi

t=$(date +%s)
log "VM image ($VM/build.sh, cached)"
"$VM/build.sh" | tail -n 1
log "image ready in $(( $(date +%s) - t )) s"

WORK="$(mktemp -d)"
DAEMON=""
cleanup() {
    if [ -n "$DAEMON" ]; then kill "$DAEMON" 2>/dev/null || true; wait "$DAEMON" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
# Every run uses the same snapshot of the binary, unit, configuration and check scripts, taken
# now: a tree that others edit meanwhile cannot make one run differ from another.
cp "$BIN" "$WORK/voronoid"
cp systemd/voronoid.service config/voronoid.toml "$WORK/"
cp -r scripts/systemd-vm "$WORK/checks"
BIN="$WORK/voronoid"
D="$WORK/checks"

# Preflight on the host (seconds, not a VM boot): the binary must accept the configuration it will
# find in /etc/voronoid. Private ipc endpoints, so nothing on this machine is disturbed.
"$BIN" run --config "$WORK/voronoid.toml" --input "ipc://$WORK/in" --output "ipc://$WORK/out" \
    --query "ipc://$WORK/query" --set 'metrics.address=""' > "$WORK/preflight.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do
    grep -q 'voronoid ready' "$WORK/preflight.log" && break
    kill -0 "$DAEMON" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q 'voronoid ready' "$WORK/preflight.log"; then
    cat "$WORK/preflight.log" >&2
    die "preflight: $BIN does not start with config/voronoid.toml (binary and configuration from different trees?)"
fi
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=""
log "preflight: the binary accepts config/voronoid.toml"

COMMON=("$WORK/voronoid.service" "$BIN"
        "$WORK/voronoid.toml:/etc/voronoid/voronoid.toml"
        "$D/lib.sh:/etc/vmtest/lib.sh")

declare -A RESULT=() SECONDS_TAKEN=()
failed=0
# run NAME MARKER RUN_SH_OPTIONS... -- EXTRA_FILES...
run() {
    local name="$1" marker="$2"; shift 2
    local opts=() extra=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done; shift
    extra=("$@")
    log "run $name: run.sh ${opts[*]}"
    local t0 rc out="$WORK/run-$name.log"
    t0=$(date +%s)
    set +e
    "$VM/run.sh" "${opts[@]}" "${COMMON[@]}" "${extra[@]}" > "$out" 2>&1
    rc=$?
    set -e
    SECONDS_TAKEN[$name]=$(( $(date +%s) - t0 ))
    # Beyond run.sh's verdict: the check's own pass line, verify without findings in the guest,
    # and no warning about shared libraries the image lacks.
    local why=""
    [ "$rc" = 0 ] || why="run.sh exit $rc"
    grep -q "^$marker" "$out" || why="${why:+$why; }no '$marker' line from the check"
    grep -q 'which the image lacks' "$out" && why="${why:+$why; }binary needs libraries the image lacks"
    if grep -q '^===== systemd-analyze verify' "$out" && ! sed -n '/^===== systemd-analyze verify/,/^=====/p' "$out" | grep -q '(no findings)'; then
        why="${why:+$why; }systemd-analyze verify in the guest had findings"
    fi
    if [ -z "$why" ]; then
        RESULT[$name]=PASS
        log "run $name: PASS in ${SECONDS_TAKEN[$name]} s"
        sed -n '/^===== check script/,/^check exit/p' "$out" | sed 's/^/    /'
        grep -E '^run\.sh: prepare' "$out" | sed 's/^/    /'
    else
        RESULT[$name]="FAIL ($why)"
        failed=1
        log "run $name: FAIL in ${SECONDS_TAKEN[$name]} s: $why; its report:"
        sed 's/^/    | /' "$out"
    fi
}

for r in $ONLY; do
    case "$r" in
        a) run a RUN-A --wait 2 --timeout 400 --check "$D/check-running.sh" -- ;;
        b) run b RUN-B --wait 1 --timeout 400 --check "$D/check-watchdog.sh" -- \
               "$D/stall.conf:/etc/systemd/system/voronoid.service.d/stall.conf" ;;
        c) run c RUN-C --wait 2 --timeout 400 --check "$D/check-sigterm-load.sh" -- ;;
        *) die "--only takes a, b or c, not $r" ;;
    esac
done

echo
log "summary (total $(( $(date +%s) - t_all )) s):"
for r in $ONLY; do printf '    %s  %-5s %s s\n' "$r" "${RESULT[$r]%% *}" "${SECONDS_TAKEN[$r]}"; [ "${RESULT[$r]}" = PASS ] || echo "       ${RESULT[$r]}"; done
exit "$failed"
