#!/usr/bin/env bash
# Static checks of the systemd units, for CI (no systemd as PID 1 needed):
#   1. `systemd-analyze verify` prints nothing. It exits 0 on unknown keys and bad values and only
#      prints a warning, so any output at all is a failure here.
#   2. `systemd-analyze security --offline=true` scores at most VORONOID_SECURITY_THRESHOLD
#      (tenths: 20 means an exposure of 2.0; both units score 1.2).
#   3. The directives the daemon depends on are present (a "hardening" that drops AF_NETLINK makes
#      libzmq abort when it binds tcp://127.0.0.1:...; see the unit's comments).
#   4. A template (NAME@.service) gives each instance its own /etc/voronoid/%i.toml, its own
#      state and runtime directories and its own dynamic user.
#
#   scripts/systemd-check.sh [UNIT_FILE...]
#       default: systemd/voronoid.service systemd/voronoid@.service
#
# Exit status 0 when every check of every unit passes, 1 when one fails (with the reason), 2 when
# a unit file or systemd-analyze is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -gt 0 ] || set -- systemd/voronoid.service systemd/voronoid@.service
threshold="${VORONOID_SECURITY_THRESHOLD:-20}"
for unit in "$@"; do
    [ -f "$unit" ] || { echo "systemd-check: no such unit file: $unit" >&2; exit 2; }
done
command -v systemd-analyze >/dev/null || {
    echo "systemd-check: systemd-analyze not found (Debian: apt-get install systemd)" >&2; exit 2; }

failed=0
unit_failed=0
fail() { echo "systemd-check: FAIL: $*"; failed=1; unit_failed=1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# check_unit FILE: every check on one unit file; failures are printed and remembered in $failed.
check_unit() {
    local unit="$1" exec_path verify_unit out rc summary
    unit_failed=0

    # --- 1. verify -----------------------------------------------------------------------------------
    # verify insists that ExecStart='s program exists and is executable. On a machine where the
    # daemon is not installed, check a copy of the unit whose ExecStart= points at a stand-in program
    # instead; nothing else in the unit changes, and the copy keeps the unit's name.
    exec_path="$(sed -n 's/^[[:space:]]*ExecStart=[-@:+!]*\([^[:space:]]*\).*/\1/p' "$unit" | head -n 1)"
    verify_unit="$unit"
    if [ -z "$exec_path" ]; then
        fail "$unit has no ExecStart="
    elif [ ! -x "$exec_path" ]; then
        mkdir -p "$tmp/bin"
        printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/voronoid"
        chmod 755 "$tmp/bin/voronoid"
        verify_unit="$tmp/$(basename "$unit")"
        sed "s#^\([[:space:]]*ExecStart=[-@:+!]*\)$exec_path#\1$tmp/bin/voronoid#" "$unit" > "$verify_unit"
        echo "systemd-check: $exec_path is not installed here; verifying a copy whose ExecStart= uses a stand-in"
    fi
    if [ -n "$exec_path" ]; then
        set +e
        out="$(systemd-analyze verify --man=no "$verify_unit" 2>&1)"
        rc=$?
        set -e
        if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
            fail "systemd-analyze verify (exit $rc) printed:"
            printf '%s\n' "$out" | sed "s#$tmp/#<copy>/#g; s/^/    /"
        else
            echo "systemd-check: verify: no findings"
        fi
    fi

    # --- 2. security score ---------------------------------------------------------------------------
    set +e
    out="$(systemd-analyze security --offline=true --threshold="$threshold" --no-pager "$unit" 2>&1)"
    rc=$?
    set -e
    summary="$(printf '%s\n' "$out" | grep 'Overall exposure level' || true)"
    if [ "$rc" -ne 0 ]; then
        fail "systemd-analyze security --offline=true --threshold=$threshold (exit $rc): ${summary:-no score}"
        echo "    what costs exposure:"
        printf '%s\n' "$out" | grep '✗' | sed 's/^/    /' || printf '%s\n' "$out" | sed 's/^/    /'
    else
        echo "systemd-check: security: ${summary#→ } (threshold $threshold/10)"
    fi

    # --- 3. what the daemon relies on ------------------------------------------------------------------
    has() { grep -Eq "^[[:space:]]*$1" "$unit"; }
    has 'Type=notify[[:space:]]*$' || fail "Type=notify missing: the daemon reports READY=1 when its sockets are bound"
    has 'WatchdogSec=[1-9]' || fail "WatchdogSec= missing: the daemon pings only while its pipeline makes progress"
    has 'Restart=(on-failure|on-abnormal|on-watchdog|always)' || fail "Restart= does not cover a watchdog timeout"
    has 'RestrictAddressFamilies=.*AF_NETLINK' || fail "RestrictAddressFamilies= lacks AF_NETLINK: libzmq 4.3.4 aborts binding tcp://127.0.0.1:..."
    has 'RestrictAddressFamilies=.*AF_UNIX' || fail "RestrictAddressFamilies= lacks AF_UNIX: sd_notify cannot reach systemd"
    if has 'SystemCallFilter=~.*@resources' && ! has 'SystemCallFilter=([^~].*[[:space:]])?sched_setscheduler([[:space:]]|$)'; then
        fail "SystemCallFilter= denies @resources without allowing sched_setscheduler: libzmq aborts at start (src/thread.cpp:345)"
    fi
    has 'StateDirectory=voronoid' || fail "StateDirectory=voronoid missing: checkpoints need a writable directory"
    has 'RestartPreventExitStatus=.*78' || fail "RestartPreventExitStatus=78 missing: a bad configuration would restart in a loop"

    # --- 4. templates ----------------------------------------------------------------------------------
    case "$(basename "$unit")" in
        *@.service)
            has 'ExecStart=.*--config[[:space:]=]/etc/voronoid/%i\.toml([[:space:]]|$)' \
                || fail "ExecStart= does not read /etc/voronoid/%i.toml: every instance would run the same model"
            has 'StateDirectory=[^[:space:]]*%i' \
                || fail "StateDirectory= lacks %i: instances would share, and overwrite, one checkpoint directory"
            has 'RuntimeDirectory=[^[:space:]]*%i' \
                || fail "RuntimeDirectory= lacks %i: stopping one instance would remove the others' runtime directory"
        has 'User=[^[:space:]]*%i' \
            || fail "User= lacks %i: every instance would run as the same dynamic user and could read the others' checkpoints"
            ;;
    esac

    if [ "$unit_failed" -ne 0 ]; then
        echo "systemd-check: FAILED ($unit)"
    else
        echo "systemd-check: OK ($unit)"
    fi
}

for unit in "$@"; do check_unit "$unit"; done
exit "$failed"
