# Helpers for the check scripts; run.sh puts this file at /etc/vmtest/lib.sh in the guest.
# POSIX sh (the guest is a minimal bookworm: dash, coreutils, procps, systemd; no python).
UNIT="${UNIT:-voronoid.service}"
BIN=/usr/local/bin/voronoid
STATE=/var/lib/private/voronoid

fail() { echo "CHECK FAILED: $*"; journalctl --sync 2>/dev/null; exit 1; }
ok() { echo "ok: $*"; }
prop() { systemctl show -p "$1" --value "$UNIT"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_state ACTIVE SUB SECONDS: poll until the unit is in that state; fail after SECONDS.
wait_state() {
    _end=$(( $(cut -d. -f1 /proc/uptime) + $3 ))
    while [ "$(prop ActiveState)/$(prop SubState)" != "$1/$2" ]; do
        [ "$(cut -d. -f1 /proc/uptime)" -lt "$_end" ] || fail "not $1/$2 within $3 s (now $(prop ActiveState)/$(prop SubState), result $(prop Result))"
        sleep 0.2
    done
}

# The unit's journal (this boot), messages only.
jnl() { journalctl --sync 2>/dev/null; journalctl -b -u "$UNIT" --no-pager -o cat; }
# The unit's journal with monotonic time stamps.
jnl_t() { journalctl --sync 2>/dev/null; journalctl -b -u "$UNIT" --no-pager -o short-monotonic; }

# A counter from `voronoid query stats --json` (0 when the daemon does not answer).
counter() {
    "$BIN" query stats --json --timeout 5 2>/dev/null | tr ',{}' '\n\n\n' \
        | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p" | head -n 1 | grep . || echo 0
}

# The newest checkpoint's version (from its file name), or nothing.
newest_checkpoint() {
    ls "$STATE" 2>/dev/null | sed -n 's/^checkpoint-\([0-9]\{20\}\)\.vrnd$/\1/p' | sort | tail -n 1
}

# Checks how the main process ended after `systemctl stop`: exited with status 0, result success.
assert_clean_exit() {
    code=$(prop ExecMainCode) status=$(prop ExecMainStatus)
    [ "$(prop ActiveState)" = inactive ] || fail "after stop: $(prop ActiveState)/$(prop SubState)"
    [ "$code" = 1 ] && [ "$status" = 0 ] || fail "main process did not exit 0 (ExecMainCode=$code ExecMainStatus=$status; 1/0 is exit 0, 2 killed by a signal)"
    [ "$(prop Result)" = success ] || fail "Result=$(prop Result) (timeout: it did not stop within TimeoutStopSec)"
}
