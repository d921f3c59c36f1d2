"""The real daemon driven by pyzmq: input forms, bad input, subscribers, queries, configuration."""
import json
import math
import signal
import struct
import subprocess
import time
import urllib.request

import numpy as np
import zmq

from conftest import (BINARY, Daemon, ask, batch_message, blobs, connected_pub, connected_push, decode_assignments,
                      decode_centers, free_port, stats, subscriber, wait_for)


def test_bad_messages_are_counted_and_good_ones_keep_flowing(ctx):
    with Daemon("--k", "4", "--dimension", "8") as d:
        pub = connected_pub(ctx, d.input)
        X, _, _ = blobs(4000, d=8)
        bad = [
            [b"vectors", np.zeros(7, dtype="<f4").tobytes()],                        # wrong dimension
            [b"vectors", np.array([1, 2, 3, 4, 5, 6, 7, np.nan], dtype="<f4").tobytes()],  # NaN
            [b"vectors", b"\x00\x00\x80"],                                            # truncated float
            [b"vectors", b"json", b'{"vector": [1, 2'],                               # bad JSON
            [b"vectors", b"XXXX" + b"\x00" * 12, np.zeros(8, dtype="<f4").tobytes()],  # unknown header
            [b"vectors", struct.pack("<4sIQ", b"VB1N", 3, 0), np.zeros(8, dtype="<f4").tobytes()],  # count mismatch
        ]
        for i in range(40):
            pub.send_multipart(batch_message(X[i * 100:(i + 1) * 100]))
            pub.send_multipart(bad[i % len(bad)])
        s = wait_for(lambda: (lambda s: s if s["vectors_accepted"] == 4000 else None)(stats(ctx, d.query)))
        assert s and s["vectors_accepted"] == 4000, stats(ctx, d.query)
        assert s["dropped"] == 40
        for reason in ["dimension_mismatch", "non_finite", "bad_body_length", "bad_json"]:
            assert s.get("dropped_" + reason, 0) >= 6, (reason, s)
        C = decode_centers(ask(ctx, d.query, b"snapshot"))["centers"]
        assert np.isfinite(C).all()
        assert "dropped input" in d.log  # logged, at a bounded rate


def test_string_ids_travel_to_the_assignments_and_late_subscribers_get_centers(ctx):
    with Daemon("--k", "3", "--set", "output.centers_interval_ms=60000") as d:
        sub = subscriber(ctx, d.output, b"assignments.bin")
        pub = connected_pub(ctx, d.input)
        X, _, _ = blobs(3000, d=4, k=3)
        for i in range(30):
            ids = [f"row-{j}" for j in range(i * 100, (i + 1) * 100)]
            pub.send_multipart(batch_message(X[i * 100:(i + 1) * 100], seq=i + 1, ids=ids, topic=b"vectors/p1"))
        seen = set()
        deadline = time.time() + 20
        while len(seen) < 3000 and time.time() < deadline:
            if sub.poll(500):
                a = decode_assignments(sub.recv_multipart())
                seen.update(a["ids"])
                w = a["weights"]
                for i in range(a["n"]):
                    assert abs(w[a["offsets"][i]:a["offsets"][i + 1]].sum() - 1) < 1e-4
        assert seen == {f"row-{j}" for j in range(3000)}
        # Centers go out at most once a minute here, yet a new subscriber gets them at once.
        late = subscriber(ctx, d.output, b"centers.bin")
        assert late.poll(3000), "late subscriber got no centers"
        frames = late.recv_multipart()
        c = decode_centers(frames[1:])
        assert c["k"] == 3 and c["d"] == 4
        assert stats(ctx, d.query)["sequence_gaps"] == 0


def test_sequence_gaps_are_counted(ctx):
    with Daemon("--k", "2") as d:
        pub = connected_pub(ctx, d.input)
        X, _, _ = blobs(1000, d=3, k=2)
        for i, seq in enumerate([1, 2, 3, 7, 8, 20]):     # 3 + 11 missing
            pub.send_multipart(batch_message(X[i * 100:(i + 1) * 100], seq=seq, topic=b"vectors/a"))
        pub.send_multipart(batch_message(X[900:1000], seq=1, topic=b"vectors/b"))
        assert wait_for(lambda: stats(ctx, d.query)["vectors_in"] == 700)
        assert stats(ctx, d.query)["sequence_gaps"] == 14


def test_pull_input_loses_nothing(ctx):
    with Daemon("--pull", "--k", "8", "--set", "input.queue_batches=2") as d:
        push = connected_push(ctx, d.input)
        X, _, _ = blobs(100_000, d=16, k=8)
        for i in range(0, 100_000, 500):
            push.send_multipart(batch_message(X[i:i + 500]))
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 100_000, timeout=60)
        assert stats(ctx, d.query)["dropped"] == 0


def test_connect_mode_reaches_a_bound_producer(ctx):
    port = free_port()
    pub = ctx.socket(zmq.PUB)
    pub.bind(f"tcp://127.0.0.1:{port}")
    with Daemon("--connect", "--set", f'input.endpoints=["tcp://127.0.0.1:{port}"]', "--k", "2") as d:
        X, _, _ = blobs(2000, d=3, k=2)
        def sent_and_seen():
            pub.send_multipart(batch_message(X[:100]))
            return stats(ctx, d.query)["vectors_in"] > 0
        assert wait_for(sent_and_seen, timeout=10, interval=0.2)


def test_predict_snapshot_and_not_ready(ctx):
    with Daemon("--k", "3", "--dimension", "2") as d:
        reply = ask(ctx, d.query, b"snapshot")
        assert reply[0] == b"error" and reply[1] == b"not_ready"
        pub = connected_pub(ctx, d.input)
        X, labels, means = blobs(5000, d=2, k=3, spread=0.5)
        for i in range(0, 5000, 250):
            pub.send_multipart(batch_message(X[i:i + 250]))
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 5000)
        reply = ask(ctx, d.query, b"predict", struct.pack("<4sIQ", b"VB1N", 3, 0), means.astype("<f4").tobytes())
        a = decode_assignments([b"topic"] + reply)
        assert sorted(a["best"].tolist()) == [0, 1, 2]
        reply = ask(ctx, d.query, b"predict", b"json", b'{"vectors": [[1, 2, 3]]}')
        assert reply[0] == b"error" and reply[1] == b"dimension_mismatch"
        reply = ask(ctx, d.query, b"frobnicate")
        assert reply[0] == b"error"


def test_bad_configuration_names_key_and_value_and_exits_78(tmp_path):
    cases = [
        (["--set", "input.batch_size=0"], "input.batch_size", "got 0"),
        (["--k", "0"], "model.k", "got 0"),
        (["--set", "model.mode=fuzzy"], "model.mode", "fuzzy"),
        (["--set", "model.pacing=adaptive"], "model.pacing", "adaptive"),
        (["--set", "changes.size_factor=1"], "changes.size_factor", "got 1"),
        (["--set", "no.such_key=1"], "no.such_key", "unknown key"),
    ]
    for args, key, fragment in cases:
        r = subprocess.run([str(BINARY), "run", *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 78, (args, r.stderr)
        assert key in r.stderr and fragment in r.stderr, r.stderr
    bad = tmp_path / "voronoid.toml"
    bad.write_text("[input]\nbatch_size = -5\n")
    r = subprocess.run([str(BINARY), "run", "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and "input.batch_size" in r.stderr and "-5" in r.stderr


def test_metrics_health_and_readiness(ctx):
    port = free_port()
    with Daemon("--k", "3", "--set", f"metrics.address=127.0.0.1:{port}") as d:
        pub = connected_pub(ctx, d.input)
        X, _, _ = blobs(3000, d=4, k=3)
        for i in range(0, 3000, 100):
            pub.send_multipart(batch_message(X[i:i + 100]))
        pub.send_multipart([b"vectors", b"\x01"])
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 3000)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        assert samples["voronoid_vectors_accepted_total"] == 3000
        assert samples['voronoid_dropped_total{reason="bad_body_length"}'] == 1
        assert samples["voronoid_batch_duration_seconds_count"] == samples["voronoid_batches_total"] > 0
        assert abs(sum(v for k, v in samples.items() if k.startswith("voronoid_cluster_soft_count")) - 0) > 0
        for name in ["voronoid_temperature", "voronoid_mean_support_size", "voronoid_one_hot_fraction",
                     "voronoid_inertia_per_vector", "voronoid_checkpoint_age_seconds", "voronoid_subscriptions"]:
            assert name in samples, name
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).read() == b"ready\n"


def test_sighup_reloads_what_can_change_and_refuses_k(ctx, tmp_path):
    config = tmp_path / "voronoid.toml"
    config.write_text("[model]\nk = 3\n[temperature]\nschedule = \"constant\"\ninitial = 5.0\n")
    with Daemon("--config", str(config)) as d:
        pub = connected_pub(ctx, d.input)
        X, _, _ = blobs(2000, d=2, k=3)
        for i in range(0, 2000, 200):
            pub.send_multipart(batch_message(X[i:i + 200]))
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 2000)
        assert stats(ctx, d.query)["temperature"] == 5.0
        config.write_text("[model]\nk = 7\n[temperature]\nschedule = \"constant\"\ninitial = 0.25\n")
        d.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: stats(ctx, d.query)["temperature"] == 0.25, timeout=10)
        assert stats(ctx, d.query)["k"] == 3
        assert wait_for(lambda: "cannot change model.k" in d.log, timeout=5), d.log
        assert d.proc.poll() is None
    assert d.proc.returncode == 0


def test_rejected_messages_are_dead_lettered_at_a_bounded_rate(ctx):
    with Daemon("--k", "2", "--dimension", "3", "--set", "output.dead_letter=true", "--set", "output.dead_letter_rate=5") as d:
        sub = subscriber(ctx, d.output, b"rejected")
        pub = connected_pub(ctx, d.input)
        for i in range(50):
            pub.send_multipart([b"vectors/bad-producer", np.zeros(4, dtype="<f4").tobytes()])
        got = []
        deadline = time.time() + 3
        while time.time() < deadline:
            if sub.poll(200):
                got.append(sub.recv_multipart())
        assert 1 <= len(got) <= 5 + 5, len(got)          # burst of 5, then 5 per second
        topic, reason, detail, *original = got[0]
        assert topic == b"rejected" and reason == b"dimension_mismatch"
        assert original[0] == b"vectors/bad-producer" and original[1] == np.zeros(4, dtype="<f4").tobytes()
        assert stats(ctx, d.query)["dropped_dimension_mismatch"] == 50


def test_a_slow_subscriber_loses_only_its_own_messages(ctx):
    # More messages than the slow subscriber's queues hold (the daemon's 10 000 per subscriber,
    # its own 5, the kernel's buffers); the fast one keeps up.
    n_batches, per = 16_000, 16
    with Daemon("--pull", "--k", "4", "--set", f"input.batch_size={per}") as d:
        slow = subscriber(ctx, d.output, b"assignments.bin")
        slow.setsockopt(zmq.RCVHWM, 5)
        slow.setsockopt(zmq.RCVBUF, 4096)
        fast = subscriber(ctx, d.output, b"assignments.bin")
        fast.setsockopt(zmq.RCVHWM, 0)
        time.sleep(0.5)
        push = connected_push(ctx, d.input)
        X, _, _ = blobs(per * 64, d=4, k=4)
        rows = 0
        for b in range(n_batches):
            i = (b % 64) * per
            push.send_multipart(batch_message(X[i:i + per], ids=list(range(b * per, (b + 1) * per))))
            while fast.poll(0):
                rows += decode_assignments(fast.recv_multipart())["n"]
        while rows < n_batches * per and fast.poll(3000):
            rows += decode_assignments(fast.recv_multipart())["n"]
        assert rows == n_batches * per, rows           # the fast subscriber got every row
        seqs = []
        while slow.poll(500):
            seqs.append(decode_assignments(slow.recv_multipart())["seq"])
        assert 0 < len(seqs) < n_batches, len(seqs)    # the slow one lost messages …
        # … and, once it keeps up again, sees the gap in the topic's sequence numbers.
        push.send_multipart(batch_message(X[:per], ids=list(range(per))))
        assert slow.poll(5000)
        latest = decode_assignments(slow.recv_multipart())["seq"]
        assert latest > seqs[-1] + 1, (seqs[-1], latest)
        assert d.proc.poll() is None


def test_initial_centers_from_a_file(ctx, tmp_path):
    path = tmp_path / "centers.csv"
    path.write_text("# two starting points\n0, 0\n30, 30\n")
    with Daemon("--k", "2", "--set", f'model.initial_centers="{path}"', "--set", "temperature.schedule=constant",
                "--set", "temperature.initial=1") as d:
        pub = connected_pub(ctx, d.input)
        X = np.concatenate([np.random.default_rng(0).normal(size=(1024, 2)),
                            30 + np.random.default_rng(1).normal(size=(1024, 2))]).astype("<f4")
        pub.send_multipart(batch_message(X))
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 2048)
        assert "model started from" in d.log
        C = decode_centers(ask(ctx, d.query, b"snapshot"))["centers"]
        assert np.abs(C[0]).max() < 1 and np.abs(C[1] - 30).max() < 1, C   # order kept: no k-means++
    path.write_text("1, 2\n3\n")
    r = subprocess.run([str(BINARY), "run", "--k", "2", "--set", f'model.initial_centers="{path}"',
                        "--set", 'metrics.address=""'], capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and "model.initial_centers" in r.stderr and ":2:" in r.stderr


def test_assignments_are_encoded_only_while_someone_subscribes(ctx):
    with Daemon("--pull", "--k", "3", "--set", "input.batch_size=100") as d:
        push = connected_push(ctx, d.input)
        X, _, _ = blobs(9000, d=4, k=3)

        def send(rows, first_seq):
            for i in range(0, len(rows), 100):
                push.send_multipart(batch_message(rows[i:i + 100], seq=first_seq + i // 100))

        def accepted(n):
            return wait_for(lambda: (lambda s: s if s["vectors_accepted"] == n else None)(stats(ctx, d.query)))

        # Nobody listens: every learned batch's assignments are skipped, and counted.
        send(X[:3000], 1)
        s = accepted(3000)
        assert s and s["batches"] > 0 and s["assignments_unwatched"] == s["batches"], s
        unwatched = s["assignments_unwatched"]

        # A subscriber gets every row from then on, numbered from 1: nothing was sent before.
        # Its heartbeat subscription comes after the assignments' on the same connection, so
        # once a heartbeat arrives the daemon holds both, however loaded the machine.
        sub = subscriber(ctx, d.output, b"assignments.bin", b"heartbeat")
        assert wait_for(lambda: sub.poll(100) and sub.recv_multipart()[0] == b"heartbeat", timeout=20)
        send(X[3000:6000], 31)
        rows, seqs = 0, []
        deadline = time.time() + 20
        while rows < 3000 and time.time() < deadline:
            if sub.poll(500):
                frames = sub.recv_multipart()
                if frames[0] != b"assignments.bin":
                    continue
                a = decode_assignments(frames)
                rows += a["n"]
                seqs.append(a["seq"])
        assert rows == 3000
        assert seqs == list(range(1, len(seqs) + 1)), seqs
        s = accepted(6000)
        assert s["assignments_unwatched"] == unwatched, s

        # Once it leaves, the daemon stops encoding them again: batches sent until one is skipped.
        sub.close()
        sent = 6000
        while sent < len(X) and stats(ctx, d.query)["assignments_unwatched"] == unwatched:
            send(X[sent:sent + 100], 61 + (sent - 6000) // 100)
            sent += 100
            assert accepted(sent)
            time.sleep(0.05)
        assert stats(ctx, d.query)["assignments_unwatched"] > unwatched
