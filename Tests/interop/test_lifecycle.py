"""Lifecycle events from the real daemon on streams built to cause them, and none on a stream built
not to: `drift` on a jump, no `drift` on a stationary stream, `death`/`birth` when a cluster
disappears. All defaults but k, the dimension and the batch size."""
import json

import numpy as np
import zmq

from conftest import Daemon, batch_message, stats, subscriber, wait_for

BATCH = 500


class Stream:
    """k blobs in d dimensions, std 1, means uniform in [-20, 20]^d."""

    def __init__(self, seed, k=8, d=4):
        self.rng = np.random.default_rng(seed)
        self.k, self.d = k, d
        self.means = self.rng.uniform(-20, 20, size=(k, d))

    def rows(self, n, clusters=None):
        y = self.rng.choice(clusters if clusters is not None else self.k, n)
        return (self.means[y] + self.rng.normal(size=(n, self.d))).astype("<f4")


def run(ctx, k, d, parts):
    """Streams each array of `parts` (lossless, PUSH/PULL) and returns the events published, in
    order, with the vectors accepted before each part."""
    with Daemon("--pull", "--k", str(k), "--dimension", str(d), "--set", f"input.batch_size={BATCH}") as daemon:
        # The heartbeat subscription follows the events' on the same connection: once a heartbeat
        # arrives, the daemon holds both, and no event can be published before it.
        sub = subscriber(ctx, daemon.output, b"events", b"heartbeat")
        sub.setsockopt(zmq.RCVTIMEO, 1000)
        assert wait_for(lambda: sub.poll(100) and sub.recv_multipart()[0] == b"heartbeat", timeout=20)
        sub.setsockopt(zmq.UNSUBSCRIBE, b"heartbeat")
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 2000)
        push.connect(daemon.input)
        sent, seq = 0, 0
        for X in parts:
            for s in range(0, len(X), BATCH):
                seq += 1
                push.send_multipart(batch_message(X[s:s + BATCH], seq=seq))
            sent += len(X)
            done = wait_for(lambda: stats(ctx, daemon.query)["vectors_accepted"] >= sent, timeout=60)
            assert done, stats(ctx, daemon.query)
        events = []
        while True:
            try:
                frames = sub.recv_multipart()
            except zmq.Again:
                break
            if frames[0] == b"events":
                events.append(json.loads(frames[-1]))
        final = stats(ctx, daemon.query)
        push.close()
        sub.close()
    return events, final


def of(events, kind):
    return [e for e in events if e["event"] == kind]


def test_a_jump_is_announced_as_drift_within_5000_vectors(ctx):
    s = Stream(seed=7)
    before = s.rows(40_000)
    s.means = s.rng.uniform(-20, 20, size=(s.k, s.d))
    after = s.rows(10_000)
    events, _ = run(ctx, 8, 4, [before, after])
    drifts = [e["fields"]["model_version"] * BATCH for e in of(events, "drift")]
    assert drifts, [e["event"] for e in events]
    assert all(v > 40_000 for v in drifts), f"drift before the jump: {drifts}"
    assert drifts[0] <= 45_000, f"drift announced at vector {drifts[0]}, the jump was at 40 000"
    first = of(events, "drift")[0]["fields"]
    assert first["statistic"] == "page_hinkley_log_error" and first["value"] > first["threshold"] > 0


def test_a_stationary_stream_raises_no_drift(ctx):
    s = Stream(seed=8)
    events, final = run(ctx, 8, 4, [s.rows(200_000)])
    assert final["vectors_accepted"] == 200_000
    assert not of(events, "drift"), of(events, "drift")
    assert not of(events, "change"), of(events, "change")
    assert any(e["event"] == "seeded" for e in events), "events were being received"


def test_a_cluster_that_disappears_loses_its_center_which_is_born_elsewhere(ctx):
    s = Stream(seed=9, k=4, d=4)
    # All four clusters while the model is seeded and settles, then only three: the fourth's
    # center wins nothing and dies within a few windows of 100 vectors per center.
    events, _ = run(ctx, 4, 4, [s.rows(4_000), s.rows(10_000, clusters=[0, 1, 2])])
    deaths = of(events, "death")
    births = of(events, "birth")
    assert deaths, [e["event"] for e in events]
    death = deaths[0]["fields"]
    assert death["statistic"] == "received_mass" and death["threshold"] == 0.5
    assert any(b["fields"]["center"] == death["center"] for b in births), (deaths, births)
    assert not of(events, "drift"), "a cluster leaving does not raise the error"


def test_a_cluster_that_grows_is_told_as_a_size_change(ctx):
    s = Stream(seed=10, k=4, d=4)
    # Equal shares, then cluster 0 takes seven tenths of the stream: its share more than doubles
    # and the others' more than halve.
    steady = s.rows(30_000)
    y = s.rng.choice(4, 30_000, p=[0.7, 0.1, 0.1, 0.1])
    grown = (s.means[y] + s.rng.normal(size=(30_000, 4))).astype("<f4")
    events, _ = run(ctx, 4, 4, [steady, grown])
    changes = [e["fields"] for e in of(events, "change")]
    sizes = [c for c in changes if c["kind"] == "size"]
    assert any(c["value"] >= 2 * c["before"] for c in sizes), changes
    assert sum(1 for c in sizes if c["value"] * 2 <= c["before"]) >= 3, changes
    assert all(c["model_version"] * BATCH > 30_000 for c in changes), f"a change told before the stream changed: {changes}"
