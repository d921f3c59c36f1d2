"""Producers, subscribers and the daemon itself restart; the stream resumes and counters make sense."""
import json
import signal
import time

import numpy as np
import zmq

from conftest import Daemon, batch_message, blobs, connected_pub, free_port, stats, subscriber, wait_for


def test_a_restarted_producer_is_not_counted_as_a_gap(ctx):
    with Daemon("--k", "3") as d:
        X, _, _ = blobs(6000, d=3, k=3)
        for run in range(2):
            pub = connected_pub(ctx, d.input)
            for seq in range(1, 31):      # each run starts its sequence at 1 again
                pub.send_multipart(batch_message(X[(seq - 1) * 100:seq * 100], seq=seq, topic=b"vectors/p"))
            time.sleep(0.3)
            pub.close(linger=1000)
        assert wait_for(lambda: stats(ctx, d.query)["vectors_in"] == 6000)
        assert stats(ctx, d.query)["sequence_gaps"] == 0


def test_a_restarted_subscriber_gets_centers_at_once_and_assignments_again(ctx):
    with Daemon("--k", "3", "--set", "output.centers_interval_ms=60000") as d:
        pub = connected_pub(ctx, d.input)
        X, _, _ = blobs(20_000, d=3, k=3)
        for attempt in range(2):
            sub = subscriber(ctx, d.output, b"centers.bin", b"assignments.bin")
            got = set()
            deadline = time.time() + 10
            i = 0
            while got != {b"centers.bin", b"assignments.bin"} and time.time() < deadline:
                pub.send_multipart(batch_message(X[i:i + 200]))
                i = (i + 200) % 19_800
                if sub.poll(100):
                    got.add(sub.recv_multipart()[0])
            assert got == {b"centers.bin", b"assignments.bin"}, (attempt, got)
            sub.close()


def test_a_killed_and_restarted_daemon_is_seen_by_connected_clients(ctx, tmp_path):
    ports = {"input": free_port(), "output": free_port(), "query": free_port()}
    args = ["--k", "3", "--state", str(tmp_path), "--set", "output.heartbeat_interval_ms=200",
            "--set", "state.checkpoint_batches=2"]
    X, _, _ = blobs(20_000, d=3, k=3)
    d = Daemon(*args, ports=ports)
    # Clients connect once and stay connected across the daemon's death: ZeroMQ reconnects.
    sub = subscriber(ctx, d.output, b"heartbeat")
    pub = connected_pub(ctx, d.input)
    epochs = []

    def pump(until):
        deadline = time.time() + 15
        i = 0
        while time.time() < deadline and not until():
            pub.send_multipart(batch_message(X[i:i + 200]))
            i = (i + 200) % 19_800
            if sub.poll(50):
                hb = json.loads(sub.recv_multipart()[1])
                if not epochs or epochs[-1][0] != hb["start_epoch"]:
                    epochs.append((hb["start_epoch"], hb["vectors_accepted"]))

    pump(lambda: len(epochs) >= 1 and stats(ctx, d.query)["vectors_accepted"] > 2000)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    d2 = Daemon(*args, ports=ports)
    try:
        assert "restored model from" in d2.log
        pump(lambda: len(epochs) >= 2)
        assert len(epochs) >= 2, epochs
        assert epochs[1][0] > epochs[0][0], "a new start epoch tells consumers the daemon restarted"
        assert wait_for(lambda: stats(ctx, d2.query)["vectors_accepted"] > 0)
        assert stats(ctx, d2.query)["model_version"] > 0
    finally:
        d2.stop()
