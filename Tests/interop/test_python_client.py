"""The Python client package (clients/python) against the real daemon.

The package is imported from the source tree, not installed. Everything it decodes is checked
against the raw-bytes decoding of the same frames (conftest's ``decode_centers`` and
``decode_assignments``, written from Protocol.md with ``struct`` and ``numpy.frombuffer``).
"""
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import urllib.request

import numpy as np
import pytest
import zmq

from conftest import (BINARY, ROOT, Daemon, blobs, connected_pub, decode_assignments, decode_centers, free_port,
                      wait_for)

PACKAGE = ROOT / "clients" / "python"
if str(PACKAGE) not in sys.path:
    sys.path.insert(0, str(PACKAGE))

import voronoid  # noqa: E402

try:
    import scipy.sparse  # noqa: F401
    HAVE_SCIPY = True
except ImportError:
    HAVE_SCIPY = False


def raw_mixed_ids(frame, n):
    """Protocol.md's VASM ids: per row a tag 0 (no id), 1 + int64, or 2 + length byte + UTF-8."""
    ids, p = [], 0
    for _ in range(n):
        tag, p = frame[p], p + 1
        if tag == 0:
            ids.append(None)
        elif tag == 1:
            ids.append(struct.unpack_from("<q", frame, p)[0])
            p += 8
        else:
            ids.append(frame[p + 1:p + 1 + frame[p]].decode())
            p += 1 + frame[p]
    assert p == len(frame)
    return ids


def same_as_raw_assignments(a, raw, frames):
    """The package's Assignments equals conftest's raw decoding of the same frames (topic first)."""
    ids = a.ids.tolist() if isinstance(a.ids, np.ndarray) else a.ids
    if frames[1][:4] == b"VASM":  # checked against a second, independent reading of mixed ids
        assert raw["ids"] == raw_mixed_ids(frames[2], raw["n"])
    assert (a.n, a.k, a.seq, a.start_epoch, a.model_version, ids) == (
        raw["n"], raw["k"], raw["seq"], raw["start_epoch"], raw["version"], raw["ids"])
    for name, raw_name in [("best", "best"), ("distances", "dist"), ("offsets", "offsets"), ("indices", "indices"),
                           ("weights", "weights")]:
        assert np.array_equal(getattr(a, name), raw[raw_name]), name
        assert getattr(a, name).dtype == raw[raw_name].dtype.newbyteorder("="), name


def same_as_raw_centers(c, raw):
    assert (c.k, c.d, c.seq, c.start_epoch, c.model_version, c.temperature) == (
        raw["k"], raw["d"], raw["seq"], raw["start_epoch"], raw["version"], raw["temperature"])
    assert np.array_equal(c.centers, raw["centers"]) and c.centers.dtype == np.float32
    assert np.array_equal(c.counts, raw["counts"]) and c.counts.dtype == np.float64


def test_subscribe_produce_and_predict_match_the_raw_bytes(ctx):
    with Daemon("--k", "3", "--set", "output.centers_interval_ms=200", "--set", "output.heartbeat_interval_ms=200") as d:
        X, labels, means = blobs(3000, d=4, k=3)
        with voronoid.Subscriber(d.output, timeout=5, context=ctx) as sub, \
                voronoid.Producer(d.input, context=ctx) as ints, \
                voronoid.Producer(d.input, topic="vectors/python-strings", context=ctx) as strings:
            # A heartbeat means the subscription has reached the daemon's XPUB (the producers wait
            # for the daemon's own subscription before their first send).
            heartbeat = sub.wait_for(voronoid.Heartbeat)
            assert json.loads(sub.last_frames[1])["seq"] == heartbeat.seq
            for i in range(0, 2000, 100):
                ints.send(X[i:i + 100], ids=np.arange(i, i + 100))
            for i in range(2000, 3000, 100):
                strings.send(X[i:i + 100], ids=[f"row-{j}" for j in range(i, i + 100)])
            int_ids, string_ids, kinds = set(), set(), {type(heartbeat).__name__}
            centers_checked = 0
            deadline = time.time() + 30
            while (len(int_ids) < 2000 or len(string_ids) < 1000 or centers_checked < 1) and time.time() < deadline:
                message = sub.recv()
                kinds.add(type(message).__name__)
                frames = sub.last_frames
                if isinstance(message, voronoid.Assignments):
                    same_as_raw_assignments(message, decode_assignments(frames), frames)
                    assert message.topic == "assignments.bin"
                    # A training batch can combine both producers' messages (mixed ids, VASM).
                    for v in (message.ids.tolist() if isinstance(message.ids, np.ndarray) else message.ids or []):
                        (string_ids if isinstance(v, str) else int_ids).add(v)
                    assert np.allclose(message.to_dense().sum(axis=1), 1, atol=1e-4)
                    if HAVE_SCIPY:
                        assert np.array_equal(message.to_scipy().toarray(), message.to_dense())
                elif isinstance(message, voronoid.CentersSnapshot):
                    same_as_raw_centers(message, decode_centers(frames[1:]))
                    centers_checked += 1
                elif isinstance(message, voronoid.Heartbeat):
                    assert json.loads(frames[1])["seq"] == message.seq
            assert int_ids == set(range(2000))
            assert string_ids == {f"row-{j}" for j in range(2000, 3000)}
            assert {"Assignments", "CentersSnapshot", "Heartbeat"} <= kinds
            assert sum(sub.missed.values()) == 0, sub.missed
            assert sub.restarts == {}

        with voronoid.Client(d.query, timeout=5, context=ctx) as client:
            assert wait_for(lambda: client.stats()["vectors_accepted"] == 3000)
            stats = client.stats()
            assert stats["sequence_gaps"] == 0 and stats["dropped"] == 0

            snapshot = client.snapshot()
            same_as_raw_centers(snapshot, decode_centers(client.request(b"snapshot")))
            assert snapshot.seq == 0 and snapshot.topic is None and snapshot.centers.shape == (3, 4)

            predicted = client.predict(X[:50], ids=[f"q{i}" for i in range(50)])
            raw_reply = client.request(*voronoid.wire.encode_predict_request(X[:50], [f"q{i}" for i in range(50)]))
            same_as_raw_assignments(predicted, decode_assignments([b"predict"] + raw_reply), [b"predict"] + raw_reply)
            assert predicted.ids == [f"q{i}" for i in range(50)]
            # The model has learnt the three blobs: one cluster per blob.
            assert len(set(zip(labels[:50].tolist(), predicted.best.tolist()))) == 3

            km = voronoid.RemoteKMeans(client)
            assert km.n_clusters == 3 and km.n_features_in_ == 4
            assert np.array_equal(km.predict(X[:50]), predicted.best)
            D = km.transform(X[:50])
            assert D.shape == (50, 3)
            assert np.array_equal(D.argmin(axis=1), predicted.best)
            assert np.allclose(D[np.arange(50), predicted.best] ** 2, predicted.distances, rtol=1e-4, atol=1e-4)
            assert np.allclose(km.cluster_centers_, snapshot.centers)

            with pytest.raises(voronoid.VoronoidError) as caught:
                client.predict(np.ones((2, 5)))
            assert caught.value.reason == "dimension_mismatch" and caught.value.detail


def test_json_topics_decode_to_the_binary_values(ctx):
    with Daemon("--k", "3", "--set", "output.assignments_json=true") as d:
        X, _, _ = blobs(3000, d=4, k=3)
        topics = ["centers.bin", "centers.json", "assignments.bin", "assignments.json"]
        # Heartbeats too: the first one means the other subscriptions have reached the daemon.
        with voronoid.Subscriber(d.output, topics + ["heartbeat"], timeout=5, context=ctx) as sub, \
                voronoid.Producer(d.input, context=ctx) as producer:
            sub.wait_for(voronoid.Heartbeat)
            for i in range(0, 3000, 100):
                ids = np.arange(i, i + 100) if i % 200 else [f"s{j}" for j in range(i, i + 100)]
                producer.send(X[i:i + 100], ids=ids)
            by_topic = {t: {} for t in topics}
            deadline = time.time() + 20
            while time.time() < deadline and not (
                    by_topic["centers.json"] and set(by_topic["assignments.bin"]) >= {1, 2, 3}
                    and set(by_topic["assignments.bin"]) <= set(by_topic["assignments.json"])):
                message = sub.recv()
                if message.topic in by_topic:
                    by_topic[message.topic][message.model_version] = message
        pairs = [("centers.bin", "centers.json"), ("assignments.bin", "assignments.json")]
        for binary, text in pairs:
            common = set(by_topic[binary]) & set(by_topic[text])
            assert common, (binary, text)
            for version in common:
                a, b = by_topic[binary][version], by_topic[text][version]
                # Each topic numbers its own messages; everything else must agree exactly, except
                # the cluster spreads that only the JSON form carries.
                same = {"topic": None, "seq": 0}
                if binary == "centers.bin":
                    assert a.spreads is None and b.spreads is not None and len(b.spreads) == b.k
                    assert np.isfinite(b.spreads).all() and (b.spreads >= 0).all()
                    same["spreads"] = None
                assert type(a)(**{**a.__dict__, **same}) == type(b)(**{**b.__dict__, **same})

def test_late_subscriber_gets_centers_at_once_and_others_see_a_repeat(ctx):
    with Daemon("--k", "3", "--set", "output.centers_interval_ms=60000") as d:
        X, _, _ = blobs(3000, d=4, k=3)
        with voronoid.Producer(d.input, context=ctx) as producer:
            for i in range(0, 3000, 100):
                producer.send(X[i:i + 100])
        with voronoid.Client(d.query, context=ctx) as client:
            client.wait_ready(timeout=20)
        # Centers go out once a minute here, yet each new subscriber gets them at once.
        with voronoid.Subscriber(d.output, ["centers.bin"], timeout=5, context=ctx) as first:
            a = first.recv()
            with voronoid.Subscriber(d.output, ["centers.bin"], timeout=5, context=ctx) as second:
                b = second.recv()
                assert isinstance(b, voronoid.CentersSnapshot) and b.k == 3 and b.d == 4
                assert second.latest_centers is b
            # The re-sent copy reaches every subscriber of the topic: a repeat, not a gap.
            again = first.recv()
            assert (again.start_epoch, again.seq) == (a.start_epoch, a.seq)
            assert first.repeats == {"centers.bin": 1} and first.missed == {"centers.bin": 0}


def test_daemon_restart_is_counted_as_a_restart_not_a_gap(ctx):
    ports = {"input": free_port(), "output": free_port(), "query": free_port()}
    flags = ("--k", "2", "--set", "output.heartbeat_interval_ms=100")
    with voronoid.Subscriber(f"tcp://127.0.0.1:{ports['output']}", ["heartbeat"], timeout=10, context=ctx) as sub:
        with Daemon(*flags, ports=ports):
            first = [sub.wait_for(voronoid.Heartbeat) for _ in range(3)]
        with Daemon(*flags, ports=ports):
            second = sub.wait_for(voronoid.Heartbeat)
            while second.start_epoch == first[0].start_epoch:  # heartbeats queued before the stop
                second = sub.wait_for(voronoid.Heartbeat)
            sub.wait_for(voronoid.Heartbeat)
    assert second.start_epoch != first[0].start_epoch
    assert sub.restarts == {"heartbeat": 1}
    assert sub.missed == {"heartbeat": 0}


def test_not_ready_and_recovery_after_a_timeout(ctx):
    ports = {"input": free_port(), "output": free_port(), "query": free_port()}
    client = voronoid.Client(f"tcp://127.0.0.1:{ports['query']}", timeout=0.3, context=ctx)
    try:
        started = time.monotonic()
        with pytest.raises(voronoid.VoronoidTimeout):
            client.stats()
        assert time.monotonic() - started < 2
        with Daemon("--k", "3", ports=ports):
            client.timeout = 5
            # The same client object works once the daemon is up: its wedged REQ was replaced.
            assert client.stats()["vectors_accepted"] == 0
            with pytest.raises(voronoid.NotReady) as caught:
                client.snapshot()
            assert caught.value.reason == "not_ready" and "warming up" in caught.value.detail
            with pytest.raises(voronoid.NotReady):
                client.predict(np.ones((1, 3)))
    finally:
        client.close()


def keygen(tmp_path, name):
    r = subprocess.run([str(BINARY), "keygen", "--out", str(tmp_path / name)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return tmp_path / f"{name}.pub", tmp_path / f"{name}.key"


def test_curve_push_and_queries(ctx, tmp_path):
    server_pub, server_key = keygen(tmp_path, "server")
    client_pub, client_key = keygen(tmp_path, "client")
    (tmp_path / "allowed").write_text(f"{client_pub.read_text().strip()} python-client\n")
    keys = voronoid.CurveKeys.load(server_pub, client_key)
    assert keys.public_key == client_pub.read_text().strip()
    with Daemon("--pull", "--k", "3",
                "--set", f'security.curve_secret_key_file="{server_key}"',
                "--set", f'security.allowed_clients_file="{tmp_path / "allowed"}"') as d:
        X, _, _ = blobs(2000, d=4, k=3)
        with voronoid.Producer(d.input, socket="push", curve=keys, context=ctx, send_timeout=10) as producer:
            for i in range(0, 2000, 250):
                producer.send(X[i:i + 250], ids=np.arange(i, i + 250))
        with voronoid.Client(d.query, curve=keys, timeout=5, context=ctx) as client:
            assert wait_for(lambda: client.stats()["vectors_accepted"] == 2000)
            assert client.stats()["producer_vectors_python-client"] == 2000
            snapshot = client.wait_ready(timeout=10)
        with voronoid.Subscriber(d.output, ["centers.bin"], curve=keys, timeout=5, context=ctx) as sub:
            published = sub.wait_for(voronoid.CentersSnapshot)
        assert published.k == snapshot.k == 3 and published.d == 4
        # A client without keys gets nothing from the CURVE socket.
        with voronoid.Client(d.query, timeout=0.5, context=ctx) as plain:
            with pytest.raises(voronoid.VoronoidTimeout):
                plain.stats()


def test_a_ten_line_program(ctx, tmp_path):
    program = textwrap.dedent("""\
        import sys, numpy as np, voronoid
        rng = np.random.default_rng(1)
        X = (rng.uniform(-20, 20, (4, 8))[rng.integers(0, 4, 4000)] + rng.normal(size=(4000, 8))).astype(np.float32)
        with voronoid.Producer(sys.argv[1]) as producer:
            producer.send(X, ids=np.arange(len(X)))
        with voronoid.Client(sys.argv[2], timeout=5) as client:
            client.wait_ready(timeout=20)
            print("k =", voronoid.RemoteKMeans(client).n_clusters)
            print("labels =", client.predict(X[:6]).best.tolist())
            print("accepted =", client.stats()["vectors_accepted"])
        """)
    assert len(program.splitlines()) == 10
    (tmp_path / "ten_lines.py").write_text(program)
    with Daemon("--k", "4") as d:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE), os.environ.get("PYTHONPATH")]))}
        r = subprocess.run([sys.executable, str(tmp_path / "ten_lines.py"), d.input, d.query],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, r.stderr + d.log
        lines = r.stdout.splitlines()
        assert lines[0] == "k = 4"
        labels = json.loads(lines[1].split("=", 1)[1])
        assert len(labels) == 6 and all(0 <= v < 4 for v in labels)
        assert lines[2].startswith("accepted = ")
        with voronoid.Client(d.query, context=ctx) as client:
            assert wait_for(lambda: client.stats()["vectors_accepted"] == 4000)



def test_sample_weights_reach_the_model_and_bad_weights_are_counted(ctx):
    port = free_port()
    with Daemon("--k", "3", "--set", f"metrics.address=127.0.0.1:{port}") as d:
        X, labels, means = blobs(6000, d=4, k=3)
        weights = np.where(labels == 0, 5.0, 1.0)
        with voronoid.Producer(d.input, context=ctx) as producer:
            for i in range(0, 6000, 200):
                producer.send(X[i:i + 200], weights=weights[i:i + 200])
            with pytest.raises(ValueError):
                producer.send(X[:2], weights=[1.0, 0.0])
        raw = connected_pub(ctx, d.input)
        for w in (0.0, -1.0, float("nan"), float("inf")):
            raw.send_multipart([b"vectors", struct.pack("<4sIQ", b"VW1N", 1, 0), X[0].tobytes(),
                                np.asarray([w], dtype="<f4").tobytes()])
        raw.close(linger=1000)
        with voronoid.Client(d.query, context=ctx) as client:
            assert wait_for(lambda: client.stats().get("dropped_bad_weights") == 4 and
                            client.stats()["vectors_accepted"] == 6000)
            snapshot = client.snapshot()
        heavy = int(np.argmin(((snapshot.centers - means[0]) ** 2).sum(axis=1)))
        others = [j for j in range(3) if j != heavy]
        # Equal numbers of vectors per blob; blob 0's weigh 5, so its center holds ~5× the mass.
        ratio = snapshot.counts[heavy] / np.mean(snapshot.counts[others])
        assert 3.5 < ratio < 7, (ratio, snapshot.counts)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'voronoid_dropped_total{reason="bad_weights"} 4' in text
