# Run (b): with a drop-in adding `--set fault.stall_after_s=3`, the clustering loop stalls 3 s
# after each start; the daemon stops its WATCHDOG=1 pings, systemd kills it (Result=watchdog,
# SIGABRT) and restarts it (Restart=on-failure). Exit 0 = pass.
. /etc/vmtest/lib.sh

grep -q 'fault.stall_after_s=3' "/proc/$(prop MainPID)/cmdline" 2>/dev/null \
    || fail "the drop-in is not in effect: $(tr '\0' ' ' < "/proc/$(prop MainPID)/cmdline" 2>&1)"
first=$(prop MainPID)
t=$(uptime_s)
# WatchdogSec=10s: the last ping can come up to 10 s after the stall, the kill 10 s after that,
# the restart 2 s later (RestartSec=2s). Give it 60 s.
end=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
while [ "$(prop NRestarts)" -lt 1 ]; do
    [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] || fail "no restart within 60 s (state $(prop ActiveState)/$(prop SubState), result $(prop Result))"
    sleep 0.5
done
ok "restarted after $(since "$t") s of waiting (NRestarts=$(prop NRestarts))"
wait_state active running 30
[ "$(prop MainPID)" != "$first" ] || fail "MainPID did not change"
jnl | grep -q 'stalls now, on purpose' || fail "the daemon never logged the stall"
jnl | grep -q 'Watchdog timeout' || fail "no 'Watchdog timeout' in the journal"
jnl | grep -q "Failed with result 'watchdog'" || fail "no \"Failed with result 'watchdog'\" in the journal"
[ "$(jnl | grep -c 'voronoid ready')" -ge 2 ] || fail "the restarted daemon did not become ready"
echo "timeline (monotonic seconds):"
jnl_t | grep -E 'voronoid ready|stalls now|Watchdog timeout|Killing process|Failed with result|Scheduled restart' | head -n 8
ok "watchdog fired (Result=watchdog), systemd restarted the daemon as pid $(prop MainPID), which became ready"
echo "RUN-B PASS"
