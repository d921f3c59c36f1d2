"""The model survives crashes: kill -9 under load, damaged checkpoints, mismatched configuration."""
import os
import signal
import struct
import subprocess
import time

import numpy as np
import zmq

from conftest import BINARY, ROOT, Daemon, ask, batch_message, blobs, decode_centers, stats, wait_for


def read_checkpoint(path):
    """Protocol-independent reader of the model-state format (see ModelState+Codec.swift)."""
    data = path.read_bytes()
    assert data[:8] == b"VORONOID"
    k, d = struct.unpack_from("<II", data, 20)
    vectors, batches, epoch = struct.unpack_from("<QQQ", data, 56)
    centers = data[128:128 + 4 * k * d]
    counts = data[128 + 4 * k * d:128 + 4 * k * d + 8 * k]
    return {"k": k, "d": d, "batches": batches, "vectors": vectors, "centers": centers, "counts": counts}


def checkpoints(directory):
    return sorted(p for p in directory.iterdir() if p.name.startswith("checkpoint-"))


def stream(ctx, endpoint, X, chunk=200, stop_after=None):
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 5000)   # close() waits for queued messages to leave
    push.setsockopt(zmq.SNDTIMEO, 2000)
    push.connect(endpoint)
    for i in range(0, len(X), chunk):
        try:
            push.send_multipart(batch_message(X[i:i + chunk]))
        except zmq.Again:
            break
        if stop_after and stop_after():
            break
    push.close()


def test_kill_9_under_load_restores_the_last_checkpoint_bit_for_bit(ctx, tmp_path):
    state = tmp_path / "state"
    args = ["--pull", "--k", "5", "--state", str(state), "--set", "state.checkpoint_batches=3",
            "--set", "state.checkpoint_interval_s=0", "--set", "input.batch_size=256"]
    X, _, _ = blobs(400_000, d=6, k=5)
    d = Daemon(*args)
    # Kill it while vectors are still flowing, after some checkpoints exist.
    stream(ctx, d.input, X, stop_after=lambda: len(checkpoints(state)) >= 2 and
           os.kill(d.proc.pid, signal.SIGKILL) is None)
    d.proc.wait(10)
    assert d.proc.returncode == -signal.SIGKILL
    d.reader.join(5)
    files = checkpoints(state)
    assert len(files) >= 1  # a kill between rename and pruning can leave three; the next write prunes
    newest = read_checkpoint(files[-1])
    with Daemon(*args) as again:
        assert "restored model from" in again.log
        snap = decode_centers(ask(ctx, again.query, b"snapshot"))
        assert snap["version"] == newest["batches"]
        assert snap["centers"].tobytes() == newest["centers"]
        assert snap["counts"].tobytes() == newest["counts"]
        # Clustering resumes from there.
        stream(ctx, again.input, X[:20_000])
        assert wait_for(lambda: stats(ctx, again.query)["vectors_accepted"] == 20_000)
        assert decode_centers(ask(ctx, again.query, b"snapshot"))["version"] > newest["batches"]


def test_sigterm_checkpoints_and_a_damaged_newest_falls_back_to_the_previous(ctx, tmp_path):
    state = tmp_path / "state"
    args = ["--pull", "--k", "3", "--state", str(state), "--set", "state.checkpoint_interval_s=0"]
    X, _, _ = blobs(6000, d=3, k=3)
    with Daemon(*args) as d:
        stream(ctx, d.input, X[:3000])
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 3000)
    assert d.proc.returncode == 0
    first = checkpoints(state)
    assert len(first) == 1, "SIGTERM wrote the final checkpoint"
    with Daemon(*args) as d:
        stream(ctx, d.input, X[3000:])
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 3000)
    files = checkpoints(state)
    assert len(files) == 2
    previous = read_checkpoint(files[0])
    data = bytearray(files[1].read_bytes())
    data[200] ^= 0x40
    files[1].write_bytes(bytes(data))
    with Daemon(*args) as d:
        assert "skipping damaged or foreign checkpoint" in d.log and "checksum" in d.log
        snap = decode_centers(ask(ctx, d.query, b"snapshot"))
        assert snap["version"] == previous["batches"]
        assert snap["centers"].tobytes() == previous["centers"]


def test_a_checkpoint_for_another_k_is_refused_unless_fresh(ctx, tmp_path):
    state = tmp_path / "state"
    X, _, _ = blobs(3000, d=3, k=3)
    with Daemon("--pull", "--k", "3", "--state", str(state)) as d:
        stream(ctx, d.input, X)
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 3000)
    r = subprocess.run([str(BINARY), "run", "--k", "4", "--state", str(state), "--set", 'metrics.address=""'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 78
    assert "k = 3" in r.stderr and "model.k = 4" in r.stderr and "fresh" in r.stderr
    with Daemon("--pull", "--k", "4", "--state", str(state), "--fresh") as d:
        assert "starting fresh" in d.log
        reply = ask(ctx, d.query, b"snapshot")
        assert reply[0] == b"error" and reply[1] == b"not_ready"


def test_an_unwritable_state_directory_is_logged_counted_and_clustering_goes_on(ctx, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with Daemon("--pull", "--k", "3", "--state", str(state), "--set", "state.checkpoint_batches=2",
                "--set", "state.checkpoint_interval_s=0") as d:
        os.chmod(state, 0o500)
        try:
            if os.geteuid() == 0:
                # root ignores permission bits: take the directory away instead.
                os.rename(state, tmp_path / "gone")
            X, _, _ = blobs(4000, d=3, k=3)
            stream(ctx, d.input, X)
            assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 4000)
            assert wait_for(lambda: "checkpoint failed" in d.log)
        finally:
            os.chmod(tmp_path / "gone" if (tmp_path / "gone").exists() else state, 0o700)
        assert d.proc.poll() is None


def test_the_reference_configuration_checkpoints_into_systemds_state_directory(ctx, tmp_path):
    state = tmp_path / "lib"
    state.mkdir()
    with Daemon("--pull", "--config", str(ROOT / "config" / "voronoid.toml"), "--k", "3",
                env={"STATE_DIRECTORY": str(state)}) as d:
        X, _, _ = blobs(2000, d=3, k=3)
        stream(ctx, d.input, X)
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 2000)
    assert d.proc.returncode == 0
    assert len(checkpoints(state)) >= 1
    # "none" turns checkpoints off even under systemd.
    other = tmp_path / "lib2"
    other.mkdir()
    with Daemon("--pull", "--k", "3", "--state", "none", env={"STATE_DIRECTORY": str(other)}) as d:
        stream(ctx, d.input, X)
        assert wait_for(lambda: stats(ctx, d.query)["vectors_accepted"] == 2000)
    assert checkpoints(other) == []
