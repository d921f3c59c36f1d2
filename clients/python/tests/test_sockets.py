"""Producer, Subscriber, Client and RemoteKMeans over loopback sockets, with stand-in peers
written here (no daemon): what goes on the wire, timeouts, error replies, gap counting."""

import threading
import time

import numpy as np
import pytest
import zmq

import voronoid
from voronoid import wire


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def bound(ctx, kind, **options):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    for name, value in options.items():
        setattr(s, name, value)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    return s, f"tcp://127.0.0.1:{port}"


def receive(sock, timeout_ms=3000):
    assert sock.poll(timeout_ms), "nothing arrived"
    return sock.recv_multipart()


# MARK: Producer

def test_push_producer_sequences_topics_and_ids(ctx):
    pull, endpoint = bound(ctx, zmq.PULL)
    X = np.random.default_rng(0).normal(size=(5, 3))
    with voronoid.Producer(endpoint, socket="push", context=ctx) as producer:
        assert producer.topic.startswith("vectors/")
        assert producer.send(X, ids=np.arange(10, 15)) == [1]
        assert producer.send(X[0], ids="one") == [2]
        assert producer.send(X[:2]) == [3]
        assert producer.next_sequence == 4
    batches = [wire.decode_vectors(receive(pull)) for _ in range(3)]
    assert [b.seq for b in batches] == [1, 2, 3]
    assert {b.topic for b in batches} == {producer.topic}
    assert np.array_equal(batches[0].vectors, X.astype(np.float32))
    assert batches[0].ids.tolist() == [10, 11, 12, 13, 14]
    assert batches[1].ids == ["one"] and batches[1].vectors.shape == (1, 3)
    assert batches[2].ids is None
    assert (producer.messages_sent, producer.vectors_sent) == (3, 8)


def test_large_batches_are_split_each_with_its_own_number(ctx):
    pull, endpoint = bound(ctx, zmq.PULL)
    X = np.arange(14, dtype=np.float32).reshape(7, 2)
    ids = [f"row-{i}" for i in range(7)]
    with voronoid.Producer(endpoint, topic="vectors/split", socket="push", context=ctx,
                           max_vectors_per_message=3) as producer:
        assert producer.send(X, ids=ids) == [1, 2, 3]
    batches = [wire.decode_vectors(receive(pull)) for _ in range(3)]
    assert [b.vectors.shape[0] for b in batches] == [3, 3, 1]
    assert np.array_equal(np.concatenate([b.vectors for b in batches]), X)
    assert sum((b.ids for b in batches), []) == ids
    # The frame limit splits too: 2 floats × 4 bytes per vector, 16 bytes per frame.
    with voronoid.Producer(endpoint, topic="vectors/split", socket="push", context=ctx, max_frame_bytes=16) as producer:
        assert producer.send(X) == [1, 2, 3, 4]


def test_unsequenced_producer_sends_zero(ctx):
    pull, endpoint = bound(ctx, zmq.PULL)
    with voronoid.Producer(endpoint, topic="vectors", socket="push", context=ctx, sequence=False) as producer:
        assert producer.send(np.ones((2, 2))) == [0]
    assert wire.decode_vectors(receive(pull)).seq == 0


def test_pub_producer_sends_once_the_subscription_arrives(ctx):
    sub, endpoint = bound(ctx, zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"vectors")
    started = time.monotonic()
    with voronoid.Producer(endpoint, context=ctx, connect_wait=5) as producer:
        # A bound SUB passes its subscriptions to a new peer only while it processes commands
        # (a poll); the daemon polls all the time, this test has to do it by hand.
        while time.monotonic() - started < 0.3:
            sub.poll(20)
        producer.send(np.ones(4))
        # The subscription came: the send did not wait out connect_wait.
        assert time.monotonic() - started < 4
        batch = wire.decode_vectors(receive(sub))
    assert batch.seq == 1 and batch.vectors.tolist() == [[1, 1, 1, 1]]


def test_pub_producer_without_a_matching_subscription_waits_connect_wait(ctx):
    sub, endpoint = bound(ctx, zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"other")
    started = time.monotonic()
    with voronoid.Producer(endpoint, topic="vectors/p", context=ctx, connect_wait=0.6) as producer:
        while time.monotonic() - started < 0.2:
            sub.poll(20)
        producer.send(np.ones(4))
        # A subscription to another topic is not this producer's: it waited the whole time.
        assert time.monotonic() - started >= 0.6
    assert sub.poll(200) == 0


def test_push_send_timeout(ctx):
    # Nobody listens there: the PUSH queue (one message) fills and the next send times out.
    with voronoid.Producer("tcp://127.0.0.1:1", socket="push", context=ctx, send_timeout=0.1,
                           high_water_mark=1, linger=0) as producer:
        with pytest.raises(voronoid.VoronoidTimeout):
            for _ in range(10):
                producer.send(np.ones(2))
        assert isinstance(voronoid.VoronoidTimeout(), TimeoutError)
        # The message that did not leave did not use up a number.
        assert producer.next_sequence == producer.messages_sent + 1


def test_producer_rejects_bad_input_before_sending(ctx):
    pull, endpoint = bound(ctx, zmq.PULL)
    with voronoid.Producer(endpoint, socket="push", context=ctx) as producer:
        with pytest.raises(ValueError):
            producer.send([[1.0, float("inf")]])
        with pytest.raises(ValueError):
            producer.send(np.ones((2, 2)), ids=[1])
        assert producer.next_sequence == 1
    with pytest.raises(ValueError):
        voronoid.Producer(endpoint, socket="dealer", context=ctx)


# MARK: Subscriber

def synchronised(ctx):
    """A bound PUB and a Subscriber that is known to receive (past the slow-joiner window)."""
    pub, endpoint = bound(ctx, zmq.PUB)
    sub = voronoid.Subscriber(endpoint, topics=["centers.bin", "assignments.bin", "heartbeat", "events", "sync"],
                              timeout=2.0, context=ctx)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pub.send_multipart([b"sync"])
        try:
            sub.recv_frames(timeout=0.05)
            break
        except voronoid.VoronoidTimeout:
            pass
    while True:  # drain the extra probes
        try:
            sub.recv_frames(timeout=0.1)
        except voronoid.VoronoidTimeout:
            break
    return pub, sub


def centers_frames(epoch, seq):
    c = voronoid.CentersSnapshot(k=2, d=2, start_epoch=epoch, seq=seq, model_epoch=1, model_version=seq, temperature=1.0,
                                 centers=np.eye(2, dtype=np.float32), counts=np.ones(2))
    return wire.encode_centers(c)


def test_subscriber_decodes_and_counts_gaps_restarts_and_repeats(ctx):
    pub, sub = synchronised(ctx)
    with sub:
        sent = [centers_frames(7, 1), centers_frames(7, 2), centers_frames(7, 4), centers_frames(7, 4),
                centers_frames(9, 1),
                [b"heartbeat", b'{"start_epoch":9,"seq":1,"time_unix_ms":5,"vectors_in":1,"vectors_accepted":1,'
                               b'"dropped":0,"model_version":1,"temperature":0.5}'],
                [b"events", b'{"start_epoch":9,"seq":3,"time_unix_ms":5,"event":"reseed","fields":{"center":1}}']]
        for frames in sent:
            pub.send_multipart(frames)
        received = [sub.recv() for _ in sent]
        assert sub.last_frames == sent[-1]
    assert [type(m).__name__ for m in received] == ["CentersSnapshot"] * 5 + ["Heartbeat", "Event"]
    assert [m.seq for m in received] == [1, 2, 4, 4, 1, 1, 3]
    assert received[6].name == "reseed" and received[6].fields == {"center": 1}
    assert sub.missed == {"centers.bin": 1, "heartbeat": 0, "events": 0}
    assert sub.restarts == {"centers.bin": 1}
    assert sub.repeats == {"centers.bin": 1}
    assert sub.latest_centers is received[4]


def test_subscriber_iteration_timeout_and_wait_for(ctx):
    pub, sub = synchronised(ctx)
    with sub:
        pub.send_multipart([b"heartbeat", b'{"start_epoch":1,"seq":1,"time_unix_ms":5,"vectors_in":1,'
                                          b'"vectors_accepted":1,"dropped":0,"model_version":1,"temperature":0.5}'])
        pub.send_multipart(centers_frames(1, 1))
        assert sub.wait_for(voronoid.CentersSnapshot, timeout=2).seq == 1
        started = time.monotonic()
        with pytest.raises(voronoid.VoronoidTimeout):
            next(iter(sub))
        assert 1.5 < time.monotonic() - started < 5
        with pytest.raises(TimeoutError):
            sub.wait_for(voronoid.Assignments, timeout=0.2)


def test_subscriber_raises_protocol_error_and_keeps_the_frames(ctx):
    pub, sub = synchronised(ctx)
    with sub:
        bad = [b"centers.bin", b"VCT1" + b"\0" * 10, b"", b""]
        pub.send_multipart(bad)
        with pytest.raises(voronoid.ProtocolError) as caught:
            sub.recv()
        assert caught.value.reason == "bad_header"
        assert sub.last_frames == bad


# MARK: Client

class FakeDaemon:
    """A ROUTER answering REQ clients through ``handler(frames) -> reply or None`` (None: no reply)."""

    def __init__(self, ctx, handler, **options):
        self.sock, self.endpoint = bound(ctx, zmq.ROUTER, **options)
        self.handler = handler
        self.requests = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            if not self.sock.poll(50):
                continue
            identity, empty, *frames = self.sock.recv_multipart()
            self.requests.append(frames)
            reply = self.handler(frames)
            if reply is not None:
                self.sock.send_multipart([identity, empty, *reply])

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close(0)


CENTERS = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float32)


def model_handler(frames):
    """Answers like a daemon with the three CENTERS."""
    if frames[0] == b"snapshot":
        c = voronoid.CentersSnapshot(k=3, d=2, start_epoch=1, seq=0, model_epoch=1, model_version=9, temperature=0.1,
                                     centers=CENTERS, counts=np.ones(3))
        return wire.encode_centers(c, topic=None)
    if frames[0] == b"stats":
        return [b'{"k":3,"vectors_accepted":12,"mode":"entmax15"}']
    if frames[0] == b"predict":
        batch = wire.decode_vectors([b"predict", *frames[1:]])
        X = batch.vectors.astype(np.float64)
        if X.shape[1] != 2:
            return [b"error", b"dimension_mismatch", b"vectors of dimension %d, the model has 2" % X.shape[1]]
        d2 = ((X[:, None, :] - CENTERS[None]) ** 2).sum(axis=2)
        best = d2.argmin(axis=1)
        n = len(X)
        a = voronoid.Assignments(k=3, start_epoch=1, seq=0, model_version=9, ids=batch.ids, best=best.astype(np.int32),
                                 distances=d2[np.arange(n), best].astype(np.float32),
                                 offsets=np.arange(n + 1, dtype=np.uint32), indices=best.astype(np.uint32),
                                 weights=np.ones(n, np.float32))
        return wire.encode_assignments(a, topic=None)
    return [b"error", b"unknown_request", b"no such request"]


def test_client_queries(ctx):
    daemon = FakeDaemon(ctx, model_handler)
    try:
        with voronoid.Client(daemon.endpoint, timeout=2, context=ctx) as client:
            snap = client.snapshot()
            assert (snap.k, snap.d, snap.model_version) == (3, 2, 9)
            assert client.stats() == {"k": 3, "vectors_accepted": 12, "mode": "entmax15"}
            a = client.predict([[9, 1], [1, 9], [0.5, 0]], ids=["p", "q", "r"])
            assert a.best.tolist() == [1, 2, 0] and a.ids == ["p", "q", "r"]
            with pytest.raises(voronoid.VoronoidError) as caught:
                client.predict(np.ones((1, 3)))
            assert caught.value.reason == "dimension_mismatch"
            assert "the model has 2" in caught.value.detail
            assert client.request(b"bogus") == [b"error", b"unknown_request", b"no such request"]
    finally:
        daemon.close()


def test_client_not_ready_and_wait_ready(ctx):
    calls = []

    def warming_up(frames):
        calls.append(frames)
        if len(calls) < 3:
            return [b"error", b"not_ready", b"no model yet: warming up, 0 of 30 vectors"]
        return model_handler(frames)

    daemon = FakeDaemon(ctx, warming_up)
    try:
        with voronoid.Client(daemon.endpoint, timeout=2, context=ctx) as client:
            with pytest.raises(voronoid.NotReady) as caught:
                client.snapshot()
            assert caught.value.reason == "not_ready" and "warming up" in caught.value.detail
            assert client.wait_ready(timeout=5, interval=0.01).k == 3
    finally:
        daemon.close()


def test_client_recovers_after_a_timeout(ctx):
    answered = []

    def drop_first(frames):
        answered.append(frames)
        return None if len(answered) == 1 else [b'{"vectors_accepted":1}']

    daemon = FakeDaemon(ctx, drop_first)
    try:
        with voronoid.Client(daemon.endpoint, timeout=0.3, context=ctx) as client:
            started = time.monotonic()
            with pytest.raises(voronoid.VoronoidTimeout) as caught:
                client.stats()
            assert isinstance(caught.value, TimeoutError)
            assert time.monotonic() - started < 2
            # A REQ socket would now refuse to send; the client replaced it.
            assert client.reconnects == 1
            assert client.stats() == {"vectors_accepted": 1}
            assert client.stats(timeout=1) == {"vectors_accepted": 1}
    finally:
        daemon.close()


def test_client_malformed_reply_is_a_protocol_error(ctx):
    daemon = FakeDaemon(ctx, lambda frames: [b"VCT1short", b"", b""])
    try:
        with voronoid.Client(daemon.endpoint, timeout=2, context=ctx) as client:
            with pytest.raises(voronoid.ProtocolError):
                client.snapshot()
    finally:
        daemon.close()


def test_client_over_curve(ctx):
    server_public, server_secret = zmq.curve_keypair()
    daemon = FakeDaemon(ctx, model_handler, curve_server=True, curve_secretkey=server_secret)
    try:
        keys = voronoid.CurveKeys.generate(server_public.decode())
        with voronoid.Client(daemon.endpoint, timeout=2, context=ctx, curve=keys) as client:
            assert client.snapshot().k == 3
        # Without keys the handshake never completes: no reply.
        with voronoid.Client(daemon.endpoint, timeout=0.3, context=ctx) as plain:
            with pytest.raises(voronoid.VoronoidTimeout):
                plain.snapshot()
    finally:
        daemon.close()


def test_curve_keys_validation(tmp_path):
    public, secret = zmq.curve_keypair()
    (tmp_path / "client.key").write_text(secret.decode() + "\n")
    (tmp_path / "server.pub").write_text(public.decode() + "\n")
    keys = voronoid.CurveKeys.load(tmp_path / "server.pub", str(tmp_path / "client.key"))
    assert keys.public_key == public.decode() and keys.server_key == public.decode()
    assert "hidden" in repr(keys) and secret.decode() not in repr(keys)
    with pytest.raises(ValueError):
        voronoid.CurveKeys(server_key="short", public_key=public.decode(), secret_key=secret.decode())
    other_public, _ = zmq.curve_keypair()
    with pytest.raises(ValueError, match="does not belong"):
        voronoid.CurveKeys(server_key=public.decode(), public_key=other_public.decode(), secret_key=secret.decode())


# MARK: RemoteKMeans

def test_remote_kmeans(ctx):
    daemon = FakeDaemon(ctx, model_handler)
    try:
        km = voronoid.RemoteKMeans(voronoid.Client(daemon.endpoint, timeout=2, context=ctx), max_predict_vectors=2)
        X = np.array([[9, 1], [1, 9], [0.5, 0], [3, 4], [10, 10]], dtype=np.float64)
        assert km.n_clusters == 3 and km.n_features_in_ == 2
        assert np.array_equal(km.cluster_centers_, CENTERS)
        labels = km.predict(X)
        assert labels.dtype == np.int32 and labels.tolist() == [1, 2, 0, 0, 1]
        assert sum(1 for r in daemon.requests if r[0] == b"predict") == 3  # 5 rows in requests of 2
        D = km.transform(X)
        assert D.shape == (5, 3)
        expected = np.linalg.norm(X[:, None, :] - CENTERS[None].astype(np.float64), axis=2)
        assert np.allclose(D, expected, rtol=1e-12)
        assert np.array_equal(D.argmin(axis=1), labels)
        assert km.transform([0, 0])[0].tolist() == [0, 10, 10]
        assert km.score(X) == pytest.approx(-float((expected.min(axis=1) ** 2).sum()))
        with pytest.raises(ValueError, match="dimension"):
            km.transform(np.ones((2, 3)))
        km.client.close()
    finally:
        daemon.close()
