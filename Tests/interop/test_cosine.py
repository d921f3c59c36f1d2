"""model.metric = cosine through the real daemon: unit-length inputs, 2 − 2·cos distances, zero
vectors refused, and a checkpoint that remembers its metric."""
import struct
import subprocess

import numpy as np

from conftest import BINARY, Daemon, ask, batch_message, decode_assignments, decode_centers, stats, wait_for
from test_durability import stream


def test_cosine_model_scales_inputs_refuses_zero_vectors_and_publishes_cosine_distances(ctx, tmp_path):
    rng = np.random.default_rng(4)
    directions = rng.normal(size=(4, 16))
    # The same directions at wildly different lengths: cosine must not care.
    X = (directions[rng.integers(0, 4, 6000)] + 0.1 * rng.normal(size=(6000, 16))) * rng.uniform(0.01, 1000, (6000, 1))
    X = X.astype("<f4")
    state = tmp_path / "state"
    args = ["--pull", "--k", "4", "--set", 'model.metric="cosine"', "--state", str(state)]
    with Daemon(*args) as d:
        push_zero = [b"vectors", struct.pack("<4sIQ", b"VB1N", 2, 0), np.array([[1] * 16, [0] * 16], dtype="<f4").tobytes()]
        stream(ctx, d.input, X)
        import zmq
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 2000)
        push.connect(d.input)
        push.send_multipart(push_zero)
        push.close()
        assert wait_for(lambda: stats(ctx, d.query).get("dropped_zero_norm") == 1 and stats(ctx, d.query)["vectors_accepted"] == 6000)
        snap = decode_centers(ask(ctx, d.query, b"snapshot"))
        assert np.allclose(np.linalg.norm(snap["centers"], axis=1), 1, atol=1e-5), "centers stay on the unit sphere"
        queries = (X[:50].astype(np.float64) * 7.5).astype("<f4")  # scaling a vector changes nothing
        reply = ask(ctx, d.query, b"predict", struct.pack("<4sIQ", b"VB1N", 50, 0), queries.tobytes())
        a = decode_assignments([b"predict"] + reply)
        unit = queries.astype(np.float64) / np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
        cosines = unit @ snap["centers"].astype(np.float64).T
        assert (a["best"] == np.argmax(cosines, axis=1)).all()
        assert np.allclose(a["dist"], 2 - 2 * cosines[np.arange(50), a["best"]], atol=1e-4)
        # Each direction owns a center.
        assert len(set(np.argmax(directions @ snap["centers"].T.astype(np.float64), axis=1))) == 4
    assert d.proc.returncode == 0
    r = subprocess.run([str(BINARY), "run", "--pull", "--k", "4", "--state", str(state), "--set", 'metrics.address=""'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and "metric = cosine" in r.stderr and "model.metric = euclidean" in r.stderr, r.stderr
