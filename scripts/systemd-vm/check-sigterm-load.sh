# Run (c): SIGTERM while a producer sends as fast as it can. The daemon must exit 0 well within
# TimeoutStopSec, its final checkpoint must hold the model version it shut down with, and a new
# start must restore exactly that checkpoint. Exit 0 = pass.
. /etc/vmtest/lib.sh

wait_state active running 30
timeout 120 "$BIN" produce --endpoint tcp://127.0.0.1:5555 --seconds 90 --rate 0 --k 8 --dim 32 \
    > /tmp/produce.log 2>&1 &
producer=$!
stop_producer() { kill "$producer" 2>/dev/null; wait "$producer" 2>/dev/null; }
sleep 6
kill -0 "$producer" 2>/dev/null || { cat /tmp/produce.log; fail "the producer ended early"; }
n1=$(counter vectors_accepted); sleep 1; n2=$(counter vectors_accepted)
[ "$n2" -gt "$n1" ] && [ "$(counter model_version)" -gt 0 ] || { stop_producer; fail "no load: vectors_accepted $n1 -> $n2, model_version $(counter model_version)"; }
ok "under load: $((n2 - n1)) vectors/s accepted, $n2 so far, model version $(counter model_version), dropped $(counter dropped)"

t=$(uptime_s)
systemctl stop "$UNIT" || { stop_producer; fail "systemctl stop failed"; }
took=$(since "$t")
stop_producer
assert_clean_exit
awk -v s="$took" 'BEGIN { exit !(s < 20) }' || fail "stopping took $took s (TimeoutStopSec=30s)"
ok "SIGTERM under load: exit 0 after $took s"

shutdown_version=$(jnl | sed -n 's/.*event shutdown model_version=\([0-9]*\).*/\1/p' | tail -n 1)
[ -n "$shutdown_version" ] || fail "no 'event shutdown model_version=' in the journal"
v=$(newest_checkpoint)
[ -n "$v" ] || fail "no checkpoint in $STATE"
version=$(echo "$v" | sed 's/^0*//'); version=${version:-0}
[ "$version" = "$shutdown_version" ] || fail "newest checkpoint is version $version, the daemon shut down at $shutdown_version"
accepted=$(jnl | sed -n 's/.*stopped: \([0-9]*\) vectors accepted.*/\1/p' | tail -n 1)
ok "final checkpoint checkpoint-$v.vrnd = model version at shutdown; $accepted vectors accepted"

systemctl start "$UNIT" || fail "restart failed"
wait_state active running 30
jnl | grep "restored model from" | tail -n 1 | grep -q "version $shutdown_version," \
    || fail "the restart did not restore version $shutdown_version: $(jnl | grep -i 'restor' | tail -n 2)"
ok "restart restored model version $shutdown_version from the checkpoint"
systemctl stop "$UNIT"
assert_clean_exit
echo "RUN-C PASS"
