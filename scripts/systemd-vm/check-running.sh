# Run (a), inside the guest after the unit started: the hardened unit runs as a dynamic user, took
# vectors from a producer, reloads on SIGHUP, and `systemctl stop` (SIGTERM) ends it with exit 0
# and a checkpoint in its StateDirectory. Exit 0 = pass.
. /etc/vmtest/lib.sh

wait_state active running 30
[ "$(prop NRestarts)" = 0 ] || fail "NRestarts=$(prop NRestarts)"
case "$(prop StatusText)" in ready*|*vectors/s*) ;; *) fail "StatusText='$(prop StatusText)' (no READY=1 status)" ;; esac
jnl | grep -q 'voronoid ready' || fail "no 'voronoid ready' in the journal"
ok "active/running after READY=1: $(prop StatusText)"

pid=$(prop MainPID)
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || fail "main process runs as uid $uid, not a DynamicUser uid"
user=$(getent passwd "$uid" | cut -d: -f1)
[ "$user" = voronoid ] || fail "uid $uid is '$user', expected the dynamic user voronoid"
ok "dynamic user $user (uid $uid)"

field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
[ "$(field Seccomp)" = 2 ] || fail "no seccomp filter (Seccomp: $(field Seccomp))"
[ "$(field NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(field NoNewPrivs)"
[ "$(field CapBnd)" = 0000000000000000 ] || fail "capability bounding set $(field CapBnd), expected empty"
[ "$(field CapEff)" = 0000000000000000 ] || fail "effective capabilities $(field CapEff)"
mnt() { awk -v m="$1" '$5 == m {print $6}' "/proc/$pid/mountinfo" | tail -n 1; }
case "$(mnt /)" in ro*) ;; *) fail "/ is not read-only for the service ($(mnt /))" ;; esac
case "$(mnt $STATE)" in rw*) ;; *) fail "$STATE is not writable for the service ($(mnt $STATE))" ;; esac
[ -L /var/lib/voronoid ] || fail "/var/lib/voronoid is not the DynamicUser symlink to $STATE"
[ -d /run/voronoid ] || fail "RuntimeDirectory /run/voronoid missing"
ok "seccomp on, no new privileges, no capabilities, / read-only, $STATE writable"

# A producer: the daemon binary itself (the guest has no python). 6000 vectors, k = 4, d = 8.
t=$(uptime_s)
timeout 60 "$BIN" produce --endpoint tcp://127.0.0.1:5555 --count 6000 --rate 3000 --k 4 --dim 8 \
    || fail "voronoid produce failed"
# The SUB input is best effort: under TCG the clustering thread can fall behind and whole batches
# are dropped, counted. Every vector must arrive and be either accepted or counted as dropped.
i=0
while [ "$i" -lt 50 ]; do
    n=$(counter vectors_accepted) dropped=$(counter dropped)
    [ "$((n + dropped))" -ge 6000 ] && break
    sleep 0.2; i=$((i + 1))
done
[ "$(counter vectors_in)" = 6000 ] && [ "$((n + dropped))" = 6000 ] \
    || fail "of 6000 vectors: $n accepted, $dropped dropped (stats: $("$BIN" query stats --json 2>&1))"
version=$(counter model_version)
[ "$n" -ge 1024 ] && [ "$version" -gt 0 ] || fail "$n vectors accepted, model_version $version: no model"
ok "6000 vectors in $(since "$t") s: $n accepted, $dropped dropped (clustering behind), model version $version"

# ExecReload: SIGHUP under the sandbox; the daemon stays up with the same pid.
systemctl reload "$UNIT" || fail "systemctl reload failed"
sleep 1
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] && [ "$(prop MainPID)" = "$pid" ] \
    || fail "after reload: $(prop ActiveState)/$(prop SubState), MainPID $(prop MainPID) (was $pid)"
jnl | grep -q "Reloaded" || fail "systemd did not report the reload as done (ExecReload failed?)"
ok "systemctl reload: SIGHUP delivered, still running as pid $pid"

t=$(uptime_s)
systemctl stop "$UNIT" || fail "systemctl stop failed"
assert_clean_exit
ok "systemctl stop: exit 0 after $(since "$t") s"

v=$(newest_checkpoint)
[ -n "$v" ] || fail "no checkpoint-<version>.vrnd in $STATE: $(ls -la $STATE 2>&1)"
file="$STATE/checkpoint-$v.vrnd"
[ "$(stat -c %u "$file")" = "$uid" ] || fail "$file is owned by uid $(stat -c %u "$file"), not $uid"
[ "$(stat -c %a "$file")" = 600 ] || fail "$file has mode $(stat -c %a "$file") (UMask=0077 gives 600)"
jnl | grep -q 'stopped:' || fail "no 'stopped:' line in the journal"
ok "checkpoint $file ($(stat -c %s "$file") bytes, mode 600, uid $uid)"
echo "RUN-A PASS"
