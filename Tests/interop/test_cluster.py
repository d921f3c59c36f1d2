"""One coordinator and two workers (`voronoid run --role …`) on loopback, driven by pyzmq.

A producer PUSHes each worker its own share of a stream; the coordinator merges the workers'
sufficient statistics and publishes every model version back to them (README, "Several
machines").
"""
import os
import signal
import struct
import time
import urllib.request

import numpy as np
import pytest
import zmq

from conftest import Daemon, ask, batch_message, blobs, decode_centers, free_ports, stats, wait_for

K, D, B = 4, 8, 256


def cluster_endpoints():
    statistics, model = free_ports(2)
    return f"tcp://127.0.0.1:{statistics}", f"tcp://127.0.0.1:{model}"


def coordinator(endpoints, *settings):
    statistics, model = endpoints
    return Daemon("--role", "coordinator", "--k", str(K), "--dimension", str(D),
                  "--set", f'cluster.statistics_endpoint="{statistics}"',
                  "--set", f'cluster.model_endpoint="{model}"', *settings)


def worker(endpoints, worker_id, *settings):
    statistics, model = endpoints
    return Daemon("--role", "worker", "--pull", "--k", str(K), "--dimension", str(D),
                  "--set", f"cluster.worker_id={worker_id}",
                  "--set", f'cluster.statistics_endpoint="{statistics}"',
                  "--set", f'cluster.model_endpoint="{model}"',
                  "--set", f"input.batch_size={B}", "--set", f"model.warmup={B}", *settings)


def pusher(ctx, endpoint):
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(endpoint)
    return push


def centers(ctx, daemon):
    return decode_centers(ask(ctx, daemon.query, b"snapshot"))


def inertia(X, C):
    d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return float(d2.min(axis=1).mean())


class Feed:
    """Pushes batches of X to each worker in turn (cycling over X's first 100 batches), counting."""

    def __init__(self, ctx, X, *workers):
        self.X = X
        self.pushers = [pusher(ctx, w.input) for w in workers]
        self.sent = 0

    def __call__(self, rounds):
        for _ in range(rounds):
            for p in self.pushers:
                j = (self.sent // B) % 100
                p.send_multipart(batch_message(self.X[j * B:(j + 1) * B], seq=self.sent // B + 1))
                self.sent += B


def restarted_coordinator(endpoints, ports, *settings):
    """A coordinator started again on the same endpoints and ports."""
    statistics, model = endpoints
    return Daemon("--role", "coordinator", "--k", str(K), "--dimension", str(D),
                  "--set", f'cluster.statistics_endpoint="{statistics}"',
                  "--set", f'cluster.model_endpoint="{model}"', *settings, ports=ports)


def test_synchronous_workers_learn_the_model_one_daemon_learns_from_the_merged_batches(ctx, tmp_path):
    """staleness = 0: each step merges worker 1's batch i and worker 2's batch i, as one daemon
    applies the batch [worker 1's rows i; worker 2's rows i]. Seeding (given centers), the
    schedule (a fixed temperature) and the step are then the same; what differs is float32
    rounding: the merged per-center sums add two partial sums where the single daemon adds the
    rows in one pass. Re-seeding and the drift response draw rows the coordinator does not
    have, so both are off here (the coordinator applies the rest of the step as one daemon)."""
    X, _, means = blobs(2 * 40 * B, d=D, k=K, seed=3, spread=1.5, side=30)
    start = means + np.random.default_rng(4).normal(scale=2.0, size=means.shape)
    path = tmp_path / "start.csv"
    path.write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in start) + "\n")
    same = ["--set", f'model.initial_centers="{path}"', "--set", "temperature.initial=4.0",
            "--set", "model.dead_center_fraction=0", "--set", "drift.enabled=false",
            "--set", "model.threads=1", "--set", "input.max_wait_ms=600000"]
    endpoints = cluster_endpoints()
    steps = 40
    metrics_port, worker_metrics_port = free_ports(2)
    with coordinator(endpoints, "--set", "cluster.staleness=0", "--set", "cluster.workers=2",
                     "--set", f'metrics.address="127.0.0.1:{metrics_port}"', *same) as c, \
            worker(endpoints, 1, "--set", "cluster.staleness=0",
                   "--set", f'metrics.address="127.0.0.1:{worker_metrics_port}"', *same) as w1, \
            worker(endpoints, 2, "--set", "cluster.staleness=0", *same) as w2, \
            Daemon("--pull", "--k", str(K), "--dimension", str(D), "--set", f"input.batch_size={2 * B}",
                   "--set", f"model.warmup={2 * B}", *same) as single:
        to_w1, to_w2, to_single = pusher(ctx, w1.input), pusher(ctx, w2.input), pusher(ctx, single.input)
        for i in range(steps):
            a = X[(2 * i) * B:(2 * i + 1) * B]
            b = X[(2 * i + 1) * B:(2 * i + 2) * B]
            to_w1.send_multipart(batch_message(a, seq=i + 1))
            to_w2.send_multipart(batch_message(b, seq=i + 1))
            to_single.send_multipart(batch_message(a, seq=2 * i + 1))
            to_single.send_multipart(batch_message(b, seq=2 * i + 2))
        done = wait_for(lambda: stats(ctx, c.query).get("model_version") == steps
                        and stats(ctx, single.query).get("model_version") == steps, timeout=60)
        sc, s1, s2, ss = (stats(ctx, x.query) for x in (c, w1, w2, single))
        assert done, (sc, s1, s2, ss, c.log[-3000:])
        merged, alone = centers(ctx, c), centers(ctx, single)
        assert merged["version"] == alone["version"] == steps
        # The model learned something, so agreeing is not agreeing on the start.
        assert np.abs(alone["centers"] - start).max() > 0.5
        diff = np.abs(merged["centers"] - alone["centers"]).max()
        # Float32 rounding: measured 9.5e-7 (one unit in the last place at coordinates of 8-16)
        # after 40 steps; allowed 8 units in the last place of the largest coordinate.
        ulp = np.spacing(np.float32(np.abs(alone["centers"]).max()))
        assert diff <= 8 * ulp, (diff, ulp, merged["centers"], alone["centers"])
        assert np.allclose(merged["counts"], alone["counts"], rtol=1e-5), (merged["counts"], alone["counts"])
        # Every epoch sent was merged once: 40 per worker, no duplicates, nothing stale or lost.
        assert s1["cluster_epochs_sent"] == s2["cluster_epochs_sent"] == steps
        assert sc["cluster_epochs_merged"] == 2 * steps and sc["cluster_steps"] == steps
        assert sc["cluster_duplicates_dropped"] == 0 and sc["cluster_stale_dropped"] == 0
        assert sc["cluster_epochs_missed"] == 0 and sc["cluster_invalid_dropped"] == 0
        assert sc["cluster_worker_1_vectors_merged"] == sc["cluster_worker_2_vectors_merged"] == steps * B
        assert sc["vectors_accepted"] == ss["vectors_accepted"] == 2 * steps * B
        assert s1["cluster_epochs_dropped"] == s2["cluster_epochs_dropped"] == 0
        # Each worker adopted every version it computed against (the synchronous barrier).
        assert s1["model_version"] == s2["model_version"] == steps
        # The same counters in /metrics, per worker where they are about one.
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert 'voronoid_cluster_role{role="coordinator"} 1' in text
        assert f"voronoid_cluster_epochs_merged_total {2 * steps}" in text
        assert "voronoid_cluster_duplicates_dropped_total 0" in text
        assert f'voronoid_cluster_worker_vectors_merged_total{{worker="2"}} {steps * B}' in text
        assert 'voronoid_cluster_worker_staleness_versions{worker="1"} 0' in text
        text = urllib.request.urlopen(f"http://127.0.0.1:{worker_metrics_port}/metrics", timeout=5).read().decode()
        assert 'voronoid_cluster_role{role="worker"} 1' in text
        assert f"voronoid_cluster_epochs_sent_total {steps}" in text
        assert "voronoid_cluster_epochs_dropped_total 0" in text


def statistics_frame(worker, sequence, model_epoch, base, rows, C):
    """A VST1 frame (Sources/Daemon/Cluster/StatisticsMessage.swift) for hard assignments of `rows`."""
    d2 = ((rows[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    best = d2.argmin(axis=1)
    e = d2[np.arange(len(rows)), best]
    mass = np.bincount(best, minlength=K).astype("<f8")
    delta = np.zeros((K, D), dtype=np.float64)
    for j in range(K):
        delta[j] = (rows[best == j] - C[j]).sum(axis=0)
    near_err = np.bincount(best, weights=e, minlength=K).astype("<f8")
    n = len(rows)
    header = struct.pack("<4sQQQQQIIQQQddd", b"VST1", worker, 1, sequence, model_epoch, base, K, D,
                         n, n, n, float(n), float(e.sum()), float((e * e).sum()))
    return header + mass.tobytes() + near_err.tobytes() + mass.tobytes() + delta.astype("<f4").tobytes()


def test_statistics_frames_are_checked_dropped_and_counted(ctx):
    """Malformed, foreign and repeated frames on the coordinator's statistics socket are
    dropped and counted by reason; a valid one from a new worker is merged once."""
    endpoints = cluster_endpoints()
    X, _, _ = blobs(4 * B, d=D, k=K, seed=5)
    with coordinator(endpoints, "--set", "cluster.staleness=4") as c, worker(endpoints, 1) as w1:
        feed = pusher(ctx, w1.input)
        for i in range(4):
            feed.send_multipart(batch_message(X[i * B:(i + 1) * B], seq=i + 1))
        assert wait_for(lambda: stats(ctx, c.query).get("cluster_worker_1_vectors_merged", 0) == 4 * B, timeout=30), c.log
        before = stats(ctx, c.query)
        C = centers(ctx, c)["centers"].astype(np.float64)
        epoch, version = before["model_epoch"], before["model_version"]
        good = statistics_frame(77, 1, epoch, version, X[:64].astype(np.float64), C)
        nan = bytearray(good)
        nan[-4:] = struct.pack("<f", float("nan"))
        bad = [
            b"hello",                                      # not a statistics frame
            good[:-8],                                     # truncated
            good.replace(struct.pack("<II", K, D), struct.pack("<II", K + 1, D), 1),  # another shape
            bytes(nan),                                    # a non-finite delta
        ]
        push = pusher(ctx, endpoints[0])
        for frame in bad:
            push.send(frame)
        push.send_multipart([good, b"extra"])              # two frames: malformed
        push.send(statistics_frame(78, 1, epoch ^ 1, version, X[:64].astype(np.float64), C))  # another model
        push.send(good)
        push.send(good)                                    # the same epoch again
        after = wait_for(lambda: (lambda s: s if s.get("cluster_duplicates_dropped", 0) >= 1 else None)(
            stats(ctx, c.query)), timeout=20)
        assert after, stats(ctx, c.query)
        assert after["cluster_invalid_dropped"] == before["cluster_invalid_dropped"] + 4, after
        assert after.get("dropped_statistics_malformed", 0) == 1, after
        assert after["cluster_foreign_epoch_dropped"] == before["cluster_foreign_epoch_dropped"] + 1
        assert after["cluster_duplicates_dropped"] == 1
        assert after["cluster_worker_77_vectors_merged"] == 64
        # The model is still whole, and the worker still contributes.
        assert np.isfinite(centers(ctx, c)["centers"]).all()
        feed.send_multipart(batch_message(X[:B], seq=5))
        assert wait_for(lambda: stats(ctx, c.query)["cluster_worker_1_vectors_merged"] == 5 * B, timeout=20)


def test_a_killed_worker_loses_only_its_own_vectors_and_the_others_go_on(ctx):
    """kill -9 of one worker while both are fed: the coordinator and the other worker carry on,
    the model keeps its quality, every vector the survivor received is merged, and what the dead
    worker received but never sent is the producer's count minus the coordinator's."""
    endpoints = cluster_endpoints()
    X, _, means = blobs(200 * B, d=D, k=K, seed=7, spread=1.0, side=30)
    held_out, _, _ = blobs(4000, d=D, k=K, seed=7, spread=1.0, side=30)
    timeout = ["--set", "cluster.worker_timeout_s=1"]
    with coordinator(endpoints, *timeout) as c, worker(endpoints, 1) as w1, worker(endpoints, 2) as w2:
        to_w1, to_w2 = pusher(ctx, w1.input), pusher(ctx, w2.input)
        sent = {1: 0, 2: 0}
        i = 0

        def feed(n, targets):
            nonlocal i
            for _ in range(n):
                for target in targets:
                    rows = X[(i % 200) * B:(i % 200 + 1) * B]
                    (to_w1 if target == 1 else to_w2).send_multipart(batch_message(rows, seq=i + 1))
                    sent[target] += B
                    i += 1

        feed(40, [1, 2])
        assert wait_for(lambda: stats(ctx, c.query).get("cluster_workers", 0) == 2, timeout=30), c.log
        # Under load: the last batches are still on their way when the worker dies.
        feed(20, [1, 2])
        os.kill(w2.proc.pid, signal.SIGKILL)
        w2.proc.wait(10)
        at_kill = stats(ctx, c.query)
        quality_at_kill = inertia(held_out, centers(ctx, c)["centers"])
        feed(60, [1])
        s = wait_for(lambda: (lambda s: s if s.get("cluster_worker_1_vectors_merged") == sent[1]
                              and s.get("cluster_worker_2_lag_seconds", 0) >= 2 else None)(stats(ctx, c.query)), timeout=30)
        assert s, (stats(ctx, c.query), sent)
        # The dead worker is reported silent (cluster.worker_timeout_s = 1) and lags the survivor.
        assert s["cluster_workers_silent"] >= 1
        assert s["cluster_worker_2_lag_seconds"] > s["cluster_worker_1_lag_seconds"]
        assert s["model_version"] > at_kill["model_version"]
        assert stats(ctx, w1.query)["cluster_epochs_dropped"] == 0
        # What the dead worker received but whose statistics never arrived: nothing merged
        # before the kill is lost, and the loss is at most what was in flight at the kill.
        merged_2 = s["cluster_worker_2_vectors_merged"]
        lost = sent[2] - merged_2
        assert merged_2 >= at_kill["cluster_worker_2_vectors_merged"]
        assert 0 <= lost <= sent[2] - at_kill["cluster_worker_2_vectors_merged"], (lost, sent, s)
        assert s["cluster_stale_dropped"] == 0 and s["cluster_duplicates_dropped"] == 0
        # The model kept its quality on the stream (within 5 %) and is near the true means'.
        final = inertia(held_out, centers(ctx, c)["centers"])
        truth = inertia(held_out, means)
        assert final <= 1.05 * quality_at_kill, (final, quality_at_kill)
        assert final <= 1.2 * truth, (final, truth)
        assert c.proc.poll() is None and w1.proc.poll() is None


def test_an_epoch_gathers_its_vectors_before_it_is_sent(ctx):
    """cluster.epoch_vectors = 4 batches: a worker fed batch by batch sends no message summing
    fewer than four batches (more when the window was shut and it held them longer) until
    cluster.epoch_ms has passed; then it sends what it holds."""
    endpoints = cluster_endpoints()
    X, _, _ = blobs(121 * B, d=D, k=K, seed=9, spread=1.0, side=30)
    with coordinator(endpoints) as c, \
            worker(endpoints, 1, "--set", f"cluster.epoch_vectors={4 * B}", "--set", "cluster.epoch_ms=5000") as w:
        feed = pusher(ctx, w.input)
        for i in range(121):
            feed.send_multipart(batch_message(X[i * B:(i + 1) * B], seq=i + 1))
            assert wait_for(lambda: stats(ctx, w.query).get("batches", 0) >= i + 1, timeout=30), w.log
        ws, cs = stats(ctx, w.query), stats(ctx, c.query)
        assert 1 <= ws["cluster_epochs_sent"] <= 30, ws
        merged = cs["cluster_worker_1_vectors_merged"]
        assert merged >= 4 * B * cs["cluster_epochs_merged"], cs
        assert merged + ws["cluster_held_vectors"] + 2 * 4 * B >= 121 * B, (cs, ws)  # at most the window's two on their way
        # What is held leaves once it is cluster.epoch_ms old, however little it sums.
        assert wait_for(lambda: stats(ctx, c.query).get("cluster_worker_1_vectors_merged") == 121 * B, timeout=15), \
            stats(ctx, w.query)


def test_a_backlog_is_learned_against_the_model_versions_published_meanwhile(ctx):
    """A backlog of batches sent at once (a worker that fell behind, or restarted under load) is
    learned against each version the coordinator publishes while the worker works through it:
    the worker takes versions between batches, so its epochs keep flowing, rather than learning
    all of it against one model and sending it as one late message."""
    # Enough work per batch that the backlog outlasts several of the coordinator's round trips:
    # at k 64 a worker with the bfloat16 product went through it while the coordinator answered
    # 4-7 times; at k 256, 8-12.
    k, d, b = 256, 512, 1024
    endpoints = cluster_endpoints()
    X, _, _ = blobs(64 * b, d=d, k=k, seed=10, spread=1.0, side=30)
    statistics_endpoint, model_endpoint = endpoints
    common = ["--k", str(k), "--dimension", str(d), "--set", f'cluster.statistics_endpoint="{statistics_endpoint}"',
              "--set", f'cluster.model_endpoint="{model_endpoint}"', "--set", "model.threads=1"]
    with Daemon("--role", "coordinator", *common) as c, \
            Daemon("--role", "worker", "--pull", *common, "--set", "cluster.worker_id=1", "--set", f"input.batch_size={b}",
                   "--set", f"model.warmup={4 * k}", "--set", f"cluster.epoch_vectors={b}",
                   "--set", "input.queue_batches=128", "--set", "input.high_water_mark=128") as w:
        feed = pusher(ctx, w.input)
        for i in range(64):
            feed.send_multipart(batch_message(X[i * b:(i + 1) * b], seq=i + 1))
        assert wait_for(lambda: stats(ctx, c.query).get("vectors_seen") == 64 * b, timeout=120), \
            (stats(ctx, c.query), stats(ctx, w.query))
        s, ws = stats(ctx, c.query), stats(ctx, w.query)
        # Learned against the first model alone, the backlog would reach the coordinator in two
        # or three messages (the window's two, then everything held), after one adoption.
        assert ws["cluster_epochs_sent"] >= 5 and s["model_version"] >= 5, (s, ws)
        assert ws["cluster_models_adopted"] >= 5, ws


def test_a_stopped_coordinator_costs_the_workers_nothing(ctx):
    """SIGSTOP of the coordinator (a pause, or a partition of every worker from it): the workers
    go on ingesting and publishing assignments, hold what they learn in one message each instead
    of queueing or dropping, and after SIGCONT every vector reaches the model."""
    endpoints = cluster_endpoints()
    X, _, _ = blobs(60 * B, d=D, k=K, seed=13)
    # A long acknowledgement timeout: the pause may outlast the default 5 s on a loaded machine,
    # and the assertions below are about holding, not about timeouts.
    slow = ("--set", "cluster.ack_timeout_s=120")
    with coordinator(endpoints) as c, worker(endpoints, 1, *slow) as w1, worker(endpoints, 2, *slow) as w2:
        feeds = {1: pusher(ctx, w1.input), 2: pusher(ctx, w2.input)}
        for i in range(60):
            if i == 20:
                assert wait_for(lambda: stats(ctx, c.query).get("vectors_seen", 0) == 20 * B, timeout=30)
                os.kill(c.proc.pid, signal.SIGSTOP)
            feeds[1 + i % 2].send_multipart(batch_message(X[i * B:(i + 1) * B], seq=i + 1))
        try:
            assert wait_for(lambda: all(stats(ctx, w.query)["vectors_accepted"] == 30 * B for w in (w1, w2)), timeout=30)
            held = [stats(ctx, w.query) for w in (w1, w2)]
            # Each worker has at most cluster.window (2) messages out and holds the rest.
            for h in held:
                assert h["cluster_unacknowledged_epochs"] <= 2 and h["cluster_held_vectors"] > 0, h
                assert h["cluster_epochs_dropped"] == 0
        finally:
            os.kill(c.proc.pid, signal.SIGCONT)
        s = wait_for(lambda: (lambda s: s if s["vectors_seen"] == 60 * B else None)(stats(ctx, c.query)), timeout=30)
        assert s, stats(ctx, c.query)
        assert s["cluster_stale_dropped"] == 0 and s["cluster_duplicates_dropped"] == 0
        assert s["cluster_epochs_missed"] == 0
        for w in (w1, w2):
            t = stats(ctx, w.query)
            assert t["cluster_epochs_dropped"] == 0 and t["cluster_acknowledgements_timed_out"] == 0


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "stop"])
def test_a_coordinator_restarted_from_its_checkpoint_loses_no_epoch(ctx, tmp_path, how):
    """kill -9 (or a clean stop) of the coordinator under load, then a restart on the same
    endpoints: it restores the newest checkpoint under a new model epoch, the workers adopt that
    model as soon as it is published, and what they learned while it was away reaches it. The
    epochs the checkpoint lacks (the last steps, and the messages on their way, which the
    restarted coordinator drops as another model epoch's) are sent again from the workers'
    copies: every vector sent reaches the model exactly once."""
    endpoints = cluster_endpoints()
    X, _, means = blobs(100 * B, d=D, k=K, seed=11, spread=1.0, side=30)
    held_out, _, _ = blobs(4000, d=D, k=K, seed=11, spread=1.0, side=30)
    # Checkpoints by time only: the restart loses every step since the last one, and the
    # workers' copies must make up for all of them.
    state = ["--state", str(tmp_path / "coordinator"), "--set", "state.checkpoint_interval_s=1"]
    c = coordinator(endpoints, *state)
    try:
        with worker(endpoints, 1) as w1, worker(endpoints, 2) as w2:
            feed = Feed(ctx, X, w1, w2)

            feed(20)
            assert wait_for(lambda: stats(ctx, c.query).get("vectors_seen", 0) == feed.sent, timeout=30), c.log
            time.sleep(1.5)  # a checkpoint by time
            feed(10)  # under load: steps after that checkpoint, and messages on their way
            before = stats(ctx, c.query)
            os.kill(c.proc.pid, how)
            c.proc.wait(10)
            c.stop()
            # The workers keep ingesting and publishing assignments while the coordinator is away.
            feed(20)
            assert wait_for(lambda: all(stats(ctx, w.query)["vectors_accepted"] == feed.sent // 2 for w in (w1, w2)), timeout=30)
            restarted_at = time.time()
            c = restarted_coordinator(endpoints, c.ports, *state)
            restored = stats(ctx, c.query)
            # A coordinator starts each run under a new model epoch, cleanly stopped or not.
            assert restored["model_epoch"] != before["model_epoch"]
            # Both workers adopt the restarted coordinator's model.
            assert wait_for(lambda: all(stats(ctx, w.query).get("model_epoch") == restored["model_epoch"]
                                        for w in (w1, w2)), timeout=20), (w1.log[-2000:], c.log[-2000:])
            republished = time.time() - restarted_at
            assert republished < 15, republished
            feed(20)
            # Settled: each worker learned all it was sent, holds nothing and has nothing on its
            # way, and the coordinator has merged as many vectors as were sent (if any were lost
            # or merged twice, that never comes and the assertions below say which).
            settled = wait_for(lambda: all((lambda t: t["vectors_accepted"] == feed.sent // 2 and t["cluster_held_vectors"] == 0
                                            and t["cluster_unacknowledged_epochs"] == 0)(stats(ctx, w.query))
                                           for w in (w1, w2)) and stats(ctx, c.query)["vectors_seen"] >= feed.sent, timeout=30)
            s = stats(ctx, c.query)
            ws = [stats(ctx, w.query) for w in (w1, w2)]
            assert settled, (s, ws)
            # Nothing lost and nothing merged twice: the model counts every vector sent once.
            assert s["vectors_seen"] == feed.sent, (feed.sent, restored, s, ws)
            assert s["cluster_duplicates_dropped"] == 0
            resent = sum(t["cluster_vectors_resent"] for t in ws)
            # What the workers sent again is what the restored checkpoint lacked: the steps after
            # it (at least those before `before` was read) and the epochs that were on their way.
            assert resent >= before["vectors_seen"] - restored["vectors_seen"], (resent, before, restored)
            assert all(t["cluster_epochs_unretained"] == 0 for t in ws)
            final = inertia(held_out, centers(ctx, c)["centers"])
            assert final <= 1.2 * inertia(held_out, means)
    finally:
        c.stop()


def test_without_copies_a_restarted_coordinator_loses_what_its_checkpoint_lacks(ctx, tmp_path):
    """`cluster.retain_epochs = 0`: the workers keep no copies, so what the checkpoint lacks (the
    steps after it and the messages on their way at the kill) never reaches the model, and what
    they learn afterwards does."""
    endpoints = cluster_endpoints()
    X, _, _ = blobs(100 * B, d=D, k=K, seed=12, spread=1.0, side=30)
    state = ["--state", str(tmp_path / "coordinator"), "--set", "state.checkpoint_interval_s=1"]
    c = coordinator(endpoints, *state)
    try:
        settings = ("--set", "cluster.retain_epochs=0")
        with worker(endpoints, 1, *settings) as w1, worker(endpoints, 2, *settings) as w2:
            feed = Feed(ctx, X, w1, w2)

            feed(20)
            assert wait_for(lambda: stats(ctx, c.query).get("vectors_seen", 0) == feed.sent, timeout=30), c.log
            time.sleep(1.5)
            feed(10)
            os.kill(c.proc.pid, signal.SIGKILL)
            c.proc.wait(10)
            c.stop()
            feed(10)
            assert wait_for(lambda: all(stats(ctx, w.query)["vectors_accepted"] == feed.sent // 2 for w in (w1, w2)), timeout=30)
            c = restarted_coordinator(endpoints, c.ports, *state)
            restored = stats(ctx, c.query)
            assert wait_for(lambda: all(stats(ctx, w.query).get("model_epoch") == restored["model_epoch"]
                                        for w in (w1, w2)), timeout=20)
            # Held while the coordinator was away: sent once it is back (not copies, the
            # statistics never sent).
            settled = wait_for(lambda: all((lambda t: t["cluster_held_vectors"] == 0
                                            and t["cluster_unacknowledged_epochs"] == 0)(stats(ctx, w.query))
                                           for w in (w1, w2)), timeout=30)
            before_feed = stats(ctx, c.query)["vectors_seen"]
            feed(10)
            expected = before_feed + 10 * 2 * B
            settled = settled and wait_for(lambda: stats(ctx, c.query)["vectors_seen"] >= expected, timeout=30)
            time.sleep(0.3)
            s = stats(ctx, c.query)
            ws = [stats(ctx, w.query) for w in (w1, w2)]
            assert settled, (s, ws)
            assert all(t["cluster_epochs_resent"] == 0 and t["cluster_retained_epochs"] == 0 for t in ws), ws
            assert s["vectors_seen"] == expected, (expected, s)
            assert s["vectors_seen"] <= feed.sent
    finally:
        c.stop()


def test_a_coordinator_restarted_without_checkpoints_carries_on_from_a_workers_copy(ctx):
    """A coordinator that keeps no checkpoints, killed and restarted: it has no model, so when the
    workers' statistics arrive it asks for one, a worker offers its copy of the last model it
    adopted, and the cluster carries on from it (its version, its vectors, the epochs it holds)
    instead of waiting for a new worker's seed."""
    endpoints = cluster_endpoints()
    X, _, means = blobs(100 * B, d=D, k=K, seed=13, spread=1.0, side=30)
    held_out, _, _ = blobs(4000, d=D, k=K, seed=13, spread=1.0, side=30)
    c = coordinator(endpoints)
    try:
        with worker(endpoints, 1) as w1, worker(endpoints, 2) as w2:
            feed = Feed(ctx, X, w1, w2)
            feed(20)
            assert wait_for(lambda: stats(ctx, c.query).get("vectors_seen", 0) == feed.sent, timeout=30), c.log
            before = stats(ctx, c.query)
            os.kill(c.proc.pid, signal.SIGKILL)
            c.proc.wait(10)
            c.stop()
            c = restarted_coordinator(endpoints, c.ports)
            feed(5)  # statistics that find no model, and make the coordinator ask for one
            assert wait_for(lambda: stats(ctx, c.query).get("model_version", 0) > 0, timeout=20), c.log[-3000:]
            taken = stats(ctx, c.query)
            # It continues the last version a worker adopted (the coordinator's own, or one
            # before), perhaps already a step further with the statistics that were waiting; a
            # new seed would have started again from version 0 and no vectors.
            assert taken["model_version"] >= before["model_version"] - 2, (before, taken)
            assert taken["vectors_seen"] >= before["vectors_seen"] - 4 * B, (before, taken)
            assert taken["model_epoch"] != before["model_epoch"]
            assert wait_for(lambda: all(stats(ctx, w.query).get("model_epoch") == taken["model_epoch"]
                                        for w in (w1, w2)), timeout=20)
            at = stats(ctx, c.query)["vectors_seen"]
            feed(10)
            assert wait_for(lambda: stats(ctx, c.query)["vectors_seen"] >= at + 10 * 2 * B, timeout=30), \
                (stats(ctx, c.query), stats(ctx, w1.query), stats(ctx, w2.query))
            s = stats(ctx, c.query)
            assert s["cluster_duplicates_dropped"] == 0
            assert s["vectors_seen"] <= feed.sent
            assert inertia(held_out, centers(ctx, c)["centers"]) <= 1.2 * inertia(held_out, means)
    finally:
        c.stop()


def test_a_bad_role_names_the_key_and_exits_78():
    import subprocess
    from conftest import BINARY
    done = subprocess.run([str(BINARY), "run", "--role", "leader"], capture_output=True, timeout=30)
    assert done.returncode == 78
    assert b"cluster.role" in done.stderr and b"leader" in done.stderr
