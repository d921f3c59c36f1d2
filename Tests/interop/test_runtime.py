"""The runtime under hostile input and failure: bounded inputs, loops that fail loudly, a query
socket that recovers, checkpoints off the training path, reloads that reach every loop, and
durability sequences that never lose the newest checkpointed model."""
import json
import math
import os
import random
import signal
import struct
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import zmq

from conftest import (Daemon, ask, batch_message, blobs, connected_pub, decode_assignments, decode_centers,
                      free_port, stats, subscriber, wait_for)
from test_durability import checkpoints, read_checkpoint, stream


def metrics_text(port):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def healthz(port):
    try:
        r = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def all_finite_json(value):
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(all_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(all_finite_json(v) for v in value)
    return True


def adversarial_messages(rng, d):
    """Random and hostile messages: huge finite values, mixes of huge and tiny, one bad vector
    inside a good batch, NaN bit patterns, garbage frames."""
    big = [1e30, -1e30, 3.4e38, -3.4e38, 2.0 ** 40, 1.5e12]
    kind = rng.integers(0, 8)
    if kind == 0:
        return [b"vectors", np.full(d, rng.choice(big), dtype="<f4").tobytes()]
    if kind == 1:
        X = rng.normal(size=(8, d)).astype("<f4")
        X[rng.integers(0, 8), rng.integers(0, d)] = rng.choice(big)
        return batch_message(X, seq=0)
    if kind == 2:
        X = np.where(rng.random((4, d)) < 0.5, 1e-38, rng.choice(big)).astype("<f4")
        return batch_message(X)
    if kind == 3:
        # Any length but one vector's (4 d bytes): random bytes of that length could be valid.
        n = int(rng.integers(0, 64))
        return [b"vectors", rng.bytes(n if n != 4 * d else n + 1)]
    if kind == 4:
        return [b"vectors", b"json", json.dumps({"vector": [1e300] * d}).encode()]
    if kind == 5:
        return [b"vectors", b"json", json.dumps({"vector": [float(rng.choice(big))] * d}).encode()]
    if kind == 6:
        return [rng.bytes(int(rng.integers(1, 16))) for _ in range(int(rng.integers(1, 6)))]
    bits = np.frombuffer(rng.bytes(4 * d), dtype="<u4").copy()
    bits[rng.integers(0, d)] = 0x7FC00001  # at least one NaN, so the message is never valid
    return [b"vectors", bits.tobytes()]


def test_poison_and_20000_hostile_messages_leave_every_statistic_and_message_finite(ctx):
    port = free_port()
    d = 8
    with Daemon("--pull", "--k", "4", "--dimension", str(d), "--set", f"metrics.address=\"127.0.0.1:{port}\"",
                "--set", "output.centers_interval_ms=50", "--set", "output.assignments_json=true") as daemon:
        sub = subscriber(ctx, daemon.output, b"")
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 5000)
        push.connect(daemon.input)
        X, _, _ = blobs(4000, d=d, k=4)
        push.send_multipart(batch_message(X))
        # The message of the report: eight values 1e30, then its relatives.
        push.send_multipart([b"vectors", np.full(d, 1e30, dtype="<f4").tobytes()])
        push.send_multipart([b"vectors", np.full(d, -3.4e38, dtype="<f4").tobytes()])
        rng = np.random.default_rng(11)
        sent_hostile = 0
        for _ in range(20_000):
            push.send_multipart(adversarial_messages(rng, d))
            sent_hostile += 1
        # The same hostility on the query socket (REQ, one at a time) and the XPUB socket.
        for _ in range(200):
            reply = ask(ctx, daemon.query, *adversarial_messages(rng, d))
            assert reply[0] in (b"error",) or len(reply) > 0
        xsub = ctx.socket(zmq.XSUB)
        xsub.setsockopt(zmq.LINGER, 0)
        xsub.connect(daemon.output)
        for _ in range(500):
            xsub.send(bytes([rng.integers(0, 3)]) + rng.bytes(int(rng.integers(0, 20))))
        push.send_multipart(batch_message(X[:1000]))
        assert wait_for(lambda: stats(ctx, daemon.query)["vectors_accepted"] >= 5000, timeout=30)
        s = stats(ctx, daemon.query)
        assert s["dropped_out_of_range"] >= 2, s
        assert all_finite_json(s), s
        assert s["vectors_accepted"] == 5000, "a vector of a refused message reached the model"
        text = metrics_text(port)
        for line in text.splitlines():
            if line.startswith("#") or 'le="+Inf"' in line:
                continue
            value = line.rsplit(" ", 1)[1]
            assert value not in ("NaN", "+Inf", "-Inf"), line
        # Everything published stayed finite.
        seen = 0
        deadline = time.time() + 3
        while time.time() < deadline:
            if not sub.poll(100):
                continue
            frames = sub.recv_multipart()
            seen += 1
            if frames[0] == b"centers.bin":
                c = decode_centers(frames[1:])
                assert np.isfinite(c["centers"]).all() and np.isfinite(c["counts"]).all() and math.isfinite(c["temperature"])
            elif frames[0] == b"assignments.bin":
                a = decode_assignments(frames)
                assert np.isfinite(a["dist"]).all() and np.isfinite(a["weights"]).all()
            elif frames[0] in (b"heartbeat", b"events", b"centers.json", b"assignments.json"):
                assert all_finite_json(json.loads(frames[-1]))
        assert seen > 0
        snap = decode_centers(ask(ctx, daemon.query, b"snapshot"))
        assert np.abs(snap["centers"]).max() < 100, "centers left the data's range"
        reply = ask(ctx, daemon.query, b"predict", struct.pack("<4sIQ", b"VB1N", 2, 0), X[:2].tobytes())
        assert reply[0] != b"error"
        assert decode_assignments([b"predict"] + reply)["n"] == 2
        push.close()
        xsub.close()


LOOPS_WITHOUT_SETUP = ["ingest", "clustering", "publish", "query", "metrics", "checkpoint"]


@pytest.mark.parametrize("loop", LOOPS_WITHOUT_SETUP)
def test_a_failing_loop_is_logged_and_stops_the_daemon_with_status_1(ctx, tmp_path, loop):
    port = free_port()
    daemon = Daemon("--k", "2", "--state", str(tmp_path / "state"), "--set", f"metrics.address=\"127.0.0.1:{port}\"",
                    "--set", f"fault.fail_loop=\"{loop}\"", "--set", "fault.fail_after_s=1")
    try:
        daemon.proc.wait(20)
    finally:
        status = daemon.stop()
    assert status == 1, daemon.log
    assert f"{loop} loop failed: poll: injected fault" in daemon.log
    assert f"stopping: the {loop} loop failed" in daemon.log


def test_a_failing_zap_handler_is_logged_and_stops_the_daemon_with_status_1(tmp_path):
    import subprocess
    from conftest import BINARY
    r = subprocess.run([str(BINARY), "keygen", "--out", str(tmp_path / "server")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    client_public, _ = zmq.curve_keypair()
    (tmp_path / "allowed").write_text(client_public.decode() + " someone\n")
    daemon = Daemon("--k", "2", "--set", f'security.curve_secret_key_file="{tmp_path / "server.key"}"',
                    "--set", f'security.allowed_clients_file="{tmp_path / "allowed"}"',
                    "--set", 'fault.fail_loop="zap"', "--set", "fault.fail_after_s=1")
    try:
        daemon.proc.wait(20)
    finally:
        status = daemon.stop()
    assert status == 1, daemon.log
    assert "zap loop failed: poll: injected fault" in daemon.log and "stopping: the zap loop failed" in daemon.log


def test_healthz_names_a_stalled_loop(ctx):
    port = free_port()
    with Daemon("--k", "2", "--set", f"metrics.address=\"127.0.0.1:{port}\"", "--set", "fault.stall_after_s=1") as d:
        status, body = healthz(port)
        assert status == 200 and "clustering: ok" in body and "ingest: ok" in body, body
        assert wait_for(lambda: healthz(port)[0] == 503, timeout=15)
        status, body = healthz(port)
        assert "clustering: stalled" in body and "ingest: ok" in body, body
        d.proc.kill()


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_daemon_burns_no_cpu(ctx):
    # OpenBLAS's own pool of threads, which the daemon never uses, spun on sched_yield for about
    # a tenth of a second after it was loaded (110 ms of CPU in the first idle second).
    with Daemon("--k", "64", "--set", "model.threads=2") as d:
        before = cpu_seconds(d.proc.pid)
        time.sleep(1.0)
        used = cpu_seconds(d.proc.pid) - before
        assert used < 0.05, f"{used:.3f} s of CPU in one idle second"


def test_failed_query_replies_are_counted_and_the_socket_recovers(ctx):
    with Daemon("--k", "2", "--set", "fault.query_send_failures=3") as d:
        for _ in range(3):
            with pytest.raises(zmq.Again):
                ask(ctx, d.query, b"stats", timeout_ms=700)
        s = wait_for(lambda: _try_stats(ctx, d.query), timeout=10)
        assert s and s["query_send_failures"] == 3, d.log
        assert "query reply not sent" in d.log
        assert d.proc.poll() is None


def _try_stats(ctx, endpoint):
    try:
        return stats(ctx, endpoint)
    except zmq.Again:
        return None


def test_a_reloaded_mode_reaches_predict(ctx, tmp_path):
    config = tmp_path / "voronoid.toml"
    soft = "[model]\nk = 4\nmode = \"softmax\"\n[temperature]\nschedule = \"constant\"\ninitial = 1000.0\n"
    config.write_text(soft)
    X, _, _ = blobs(3000, d=4, k=4)
    with Daemon("--pull", "--config", str(config)) as d:
        stream(ctx, d.input, X)
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 3000)
        header = struct.pack("<4sIQ", b"VB1N", 50, 0)

        def supports():
            a = decode_assignments([b"predict"] + ask(ctx, d.query, b"predict", header, X[:50].tobytes()))
            return np.diff(a["offsets"])

        assert supports().min() > 1, "softmax at a high temperature: every center in the support"
        config.write_text(soft.replace("softmax", "hard"))
        d.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: stats(ctx, d.query)["mode"] == "hard", timeout=10)
        assert (supports() == 1).all()


def test_a_slow_disk_does_not_stall_training(ctx, tmp_path):
    state = tmp_path / "state"
    with Daemon("--k", "4", "--state", str(state), "--set", "state.checkpoint_batches=2",
                "--set", "state.checkpoint_interval_s=0", "--set", "fault.checkpoint_delay_ms=3000",
                "--set", "input.batch_size=256", "--set", "input.queue_batches=4") as d:
        pub = connected_pub(ctx, d.input)
        X, _, _ = blobs(60_000, d=8, k=4)
        started = time.time()
        for i in range(0, len(X), 256):
            pub.send_multipart(batch_message(X[i:i + 256], seq=i // 256 + 1, topic=b"vectors/p"))
            time.sleep(0.002)
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 60_000, timeout=30), stats(ctx, d.query)
        elapsed = time.time() - started
        s = stats(ctx, d.query)
        assert s["dropped"] == 0 and s["sequence_gaps"] == 0, s
        # Training went on while checkpoints took 3 s each: many model versions, few checkpoints.
        assert s["model_version"] >= 200 and s["checkpoints_written"] <= elapsed / 3 + 2, s
        assert s["checkpoints_skipped"] > 0, s
        pub.close()
    assert d.proc.returncode == 0
    # The final checkpoint is the final model.
    newest = read_checkpoint(checkpoints(state)[-1])
    assert newest["batches"] == s["model_version"]


def model_epoch(ctx, endpoint):
    return stats(ctx, endpoint)["model_epoch"]


def test_durability_sequences_never_lose_the_newest_checkpointed_model(ctx, tmp_path):
    state = tmp_path / "state"
    base = ["--pull", "--k", "3", "--state", str(state), "--set", "state.checkpoint_interval_s=0",
            "--set", "state.checkpoint_batches=2", "--set", "input.batch_size=200"]
    X, _, _ = blobs(200_000, d=4, k=3)
    rnd = random.Random(5)

    def valid_files():
        return checkpoints(state)

    def newest_on_disk():
        return read_checkpoint(valid_files()[-1])

    # A first model, stopped cleanly.
    with Daemon(*base) as d:
        stream(ctx, d.input, X[:20_000])
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 20_000)
    old = newest_on_disk()
    # --fresh with another k: the new model's checkpoints, the shutdown one included, survive.
    fresh = ["--pull", "--k", "4", "--state", str(state), "--set", "state.checkpoint_interval_s=0",
             "--set", "state.checkpoint_batches=2", "--set", "input.batch_size=200"]
    with Daemon(*fresh, "--fresh") as d:
        stream(ctx, d.input, X[:2_000])
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 2_000)
        fresh_version = stats(ctx, d.query)["model_version"]
    assert fresh_version < old["batches"], "the test needs the new model behind the old one's versions"
    assert newest_on_disk()["k"] == 4 and newest_on_disk()["batches"] == fresh_version
    assert len(valid_files()) == 2
    with Daemon(*fresh) as d:
        assert "restored model from" in d.log and stats(ctx, d.query)["model_version"] == fresh_version

    # kill -9 at random points: each restart restores exactly the newest checkpoint on disk,
    # under a new model epoch, and two valid checkpoints stay.
    offset = 2_000
    for round_ in range(3):
        d = Daemon(*fresh)
        epoch_before = model_epoch(ctx, d.query)
        chunk = X[offset:offset + 30_000]
        offset += 30_000
        deadline_batches = rnd.randint(5, 60)
        stream(ctx, d.input, chunk, stop_after=lambda: stats(ctx, d.query)["model_version"] >= fresh_version + deadline_batches)
        time.sleep(rnd.random() * 0.3)
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(10)
        d.reader.join(5)
        newest = newest_on_disk()
        with Daemon(*fresh) as again:
            snap = decode_centers(ask(ctx, again.query, b"snapshot"))
            assert snap["version"] == newest["batches"] and snap["centers"].tobytes() == newest["centers"]
            assert model_epoch(ctx, again.query) != epoch_before, "versions after a crash must not reuse the epoch"
            assert "did not stop cleanly" in again.log
            fresh_version = snap["version"]
        assert len(valid_files()) == 2, [p.name for p in state.iterdir()]

    # A damaged newest checkpoint: fall back to the previous, move the damaged file aside,
    # and keep two valid checkpoints once training goes on.
    files = valid_files()
    previous = read_checkpoint(files[0])
    data = bytearray(files[1].read_bytes())
    data[150] ^= 0x20
    files[1].write_bytes(bytes(data))
    with Daemon(*fresh) as d:
        snap = decode_centers(ask(ctx, d.query, b"snapshot"))
        assert snap["version"] == previous["batches"]
        assert "moved aside" in d.log
        stream(ctx, d.input, X[offset:offset + 4_000])
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 4_000)
        final_version = stats(ctx, d.query)["model_version"]
    assert any(p.name.startswith("damaged-checkpoint-") for p in state.iterdir())
    files = valid_files()
    assert len(files) == 2
    assert all(read_checkpoint(f)["k"] == 4 for f in files)
    assert newest_on_disk()["batches"] == final_version
