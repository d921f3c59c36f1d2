"""The package's decoders against real messages captured from the daemon (Tests/golden).

Each message is decoded twice: by the package, and by a plain ``struct.unpack`` decoding written
straight from Protocol.md (below, with no NumPy), and the two must agree; then the fields read
by hand from the bytes (Tests/golden/README.md) are checked.
"""

import json
import math
import struct

import numpy as np
import pytest
from golden_files import GOLDEN, read_golden

import voronoid
from voronoid import wire

START_EPOCH = 1796037972841


# MARK: An independent decoding from Protocol.md

def unpack_array(fmt_char, raw):
    size = struct.calcsize("<" + fmt_char)
    assert len(raw) % size == 0
    return list(struct.unpack(f"<{len(raw) // size}{fmt_char}", raw))


def spec_centers(frames):
    """Protocol.md, centers.bin: header "<4sIIQQQQd", centers k×d float32, counts k float64."""
    header, centers, counts = frames
    magic, k, d, start_epoch, seq, model_epoch, version, temperature = struct.unpack("<4sIIQQQQd", header)
    values = unpack_array("f", centers)
    return {"magic": magic, "k": k, "d": d, "start_epoch": start_epoch, "seq": seq, "model_epoch": model_epoch,
            "model_version": version, "temperature": temperature,
            "centers": [values[i * d:(i + 1) * d] for i in range(k)], "counts": unpack_array("d", counts)}


def spec_assignments(frames):
    """Protocol.md, assignments.bin: header "<4sIIQQQ", ids?, best, dist, offsets, indices, weights."""
    magic, n, k, start_epoch, seq, version = struct.unpack("<4sIIQQQ", frames[0])
    rest = frames[1:]
    ids = None
    if magic == b"VASI":
        ids, rest = list(struct.unpack(f"<{n}q", rest[0])), rest[1:]
    elif magic == b"VASS":
        ids, rest = [s.decode() for s in rest[0].split(b"\n")], rest[1:]
    elif magic == b"VASM":
        raw, ids, p = rest[0], [], 0
        for _ in range(n):
            tag = raw[p]
            p += 1
            if tag == 0:
                ids.append(None)
            elif tag == 1:
                ids.append(struct.unpack_from("<q", raw, p)[0])
                p += 8
            else:
                length = raw[p]
                ids.append(raw[p + 1:p + 1 + length].decode())
                p += 1 + length
        assert p == len(raw)
        rest = rest[1:]
    return {"magic": magic, "n": n, "k": k, "start_epoch": start_epoch, "seq": seq, "model_version": version,
            "ids": ids, "best": unpack_array("i", rest[0]), "distances": unpack_array("f", rest[1]),
            "offsets": unpack_array("I", rest[2]), "indices": unpack_array("I", rest[3]),
            "weights": unpack_array("f", rest[4])}


def package_centers_as_dict(c):
    return {"k": c.k, "d": c.d, "start_epoch": c.start_epoch, "seq": c.seq, "model_epoch": c.model_epoch,
            "model_version": c.model_version, "temperature": c.temperature, "centers": c.centers.tolist(),
            "counts": c.counts.tolist()}


def package_assignments_as_dict(a):
    ids = a.ids.tolist() if isinstance(a.ids, np.ndarray) else a.ids
    return {"n": a.n, "k": a.k, "start_epoch": a.start_epoch, "seq": a.seq, "model_version": a.model_version,
            "ids": ids, "best": a.best.tolist(), "distances": a.distances.tolist(), "offsets": a.offsets.tolist(),
            "indices": a.indices.tolist(), "weights": a.weights.tolist()}


# MARK: Tests

def test_every_golden_file_is_covered():
    on_disk = {p.name for p in GOLDEN.glob("*.bin")}
    assert on_disk == {
        "centers.bin", "snapshot-reply.bin", "assignments-int.bin", "assignments-string.bin", "assignments-none.bin",
        "assignments-mixed.bin", "heartbeat.bin", "event.bin", "predict-reply.bin", "error-not-ready.bin",
        "stats-reply.bin"}


@pytest.mark.parametrize("name, has_topic, seq", [("centers.bin", True, 5), ("snapshot-reply.bin", False, 0)])
def test_centers(name, has_topic, seq):
    frames = read_golden(name)
    assert len(frames) == (4 if has_topic else 3)
    decoded = wire.decode_centers(frames, has_topic=has_topic)
    if has_topic:
        assert frames[0] == b"centers.bin"
        assert decoded.topic == "centers.bin"
        assert wire.decode_message(frames) == decoded
    else:
        assert decoded.topic is None
    spec = spec_centers(frames[1:] if has_topic else frames)
    assert spec.pop("magic") == b"VCT1"
    assert package_centers_as_dict(decoded) == spec
    # Read by hand from the bytes.
    assert (decoded.k, decoded.d, decoded.seq) == (3, 2, seq)
    assert decoded.centers.shape == (3, 2) and decoded.centers.dtype == np.float32
    assert decoded.counts.shape == (3,) and decoded.counts.dtype == np.float64
    assert decoded.start_epoch == START_EPOCH
    assert decoded.model_epoch == 1796037973849
    assert decoded.model_version == decoded.version == 5
    assert decoded.temperature == 45.177918180256775
    assert decoded.centers.ravel().tolist() == pytest.approx([10.134340, 0.033385, 0.178375, 10.016520, 0.071448, 0.028672], abs=1e-6)
    assert decoded.counts.tolist() == pytest.approx([14.963983, 14.015429, 16.980752], abs=1e-6)


def test_snapshot_reply_is_the_centers_message_without_topic_and_seq():
    published = wire.decode_centers(read_golden("centers.bin"))
    reply = wire.decode_centers(read_golden("snapshot-reply.bin"), has_topic=False)
    assert np.array_equal(published.centers, reply.centers)
    assert np.array_equal(published.counts, reply.counts)
    assert (published.seq, reply.seq) == (5, 0)


ASSIGNMENTS = [
    # name, magic, n, seq, ids, best, nnz
    ("assignments-int.bin", b"VASI", 5, 2, [101, 102, 103, 104, 105], [2, 0, 1, 2, 0], 6),
    ("assignments-string.bin", b"VASS", 4, 3, ["a-1", "b-2", "c-3", "d-4"], [2, 0, 1, 2], 4),
    ("assignments-none.bin", b"VASN", 3, 4, None, [2, 0, 1], 3),
    ("assignments-mixed.bin", b"VASM", 4, 5, [201, 202, None, "z-9"], [2, 0, 1, 2], 4),
]


@pytest.mark.parametrize("name, magic, n, seq, ids, best, nnz", ASSIGNMENTS)
def test_assignments(name, magic, n, seq, ids, best, nnz):
    frames = read_golden(name)
    assert frames[0] == b"assignments.bin"
    assert len(frames) == (7 if ids is None else 8)
    decoded = wire.decode_assignments(frames)
    assert wire.decode_message(frames) == decoded
    spec = spec_assignments(frames[1:])
    assert spec.pop("magic") == magic
    assert package_assignments_as_dict(decoded) == spec
    # Read by hand from the bytes.
    assert (decoded.n, decoded.k, decoded.seq, decoded.model_version) == (n, 3, seq, seq)
    assert decoded.start_epoch == START_EPOCH
    assert decoded.best.tolist() == best
    assert decoded.indices.shape == (nnz,)
    if ids is None:
        assert decoded.ids is None
    elif magic == b"VASI":
        assert isinstance(decoded.ids, np.ndarray) and decoded.ids.dtype == np.int64
        assert decoded.ids.tolist() == ids
    else:
        assert decoded.ids == ids
    # Every row's support holds its best center and sums to 1.
    for i in range(n):
        centers, weights = decoded.support(i)
        assert best[i] in centers.tolist()
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-6)


def test_int_assignments_sparse_row():
    decoded = wire.decode_assignments(read_golden("assignments-int.bin"))
    assert decoded.offsets.tolist() == [0, 1, 2, 3, 4, 6]
    assert decoded.indices.tolist() == [2, 0, 1, 2, 0, 2]
    assert decoded.weights.tolist() == pytest.approx([1, 1, 1, 1, 0.9996089, 0.00039108], abs=1e-7)
    dense = decoded.to_dense()
    assert dense.shape == (5, 3)
    assert dense[4].tolist() == pytest.approx([0.9996089, 0, 0.00039108], abs=1e-7)
    pytest.importorskip("scipy")
    assert np.array_equal(decoded.to_scipy().toarray(), dense)


def test_predict_reply():
    frames = read_golden("predict-reply.bin")
    assert len(frames) == 6
    decoded = wire.decode_assignments(frames, has_topic=False)
    spec = spec_assignments(frames)
    assert spec.pop("magic") == b"VASN"
    assert package_assignments_as_dict(decoded) == spec
    assert (decoded.n, decoded.k, decoded.seq, decoded.model_version, decoded.ids) == (3, 3, 0, 5, None)
    assert decoded.best.tolist() == [2, 0, 1]
    # The request was the three group means; the reply's distances are theirs to the snapshot's
    # centers (same model version).
    centers = wire.decode_centers(read_golden("snapshot-reply.bin"), has_topic=False).centers.astype(np.float64)
    means = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float64)
    expected = ((means - centers[[2, 0, 1]]) ** 2).sum(axis=1)
    assert decoded.distances.tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_heartbeat():
    frames = read_golden("heartbeat.bin")
    assert frames[0] == b"heartbeat" and len(frames) == 2
    decoded = wire.decode_heartbeat(frames)
    assert wire.decode_message(frames) == decoded
    raw = json.loads(frames[1])
    assert decoded == voronoid.Heartbeat(
        start_epoch=raw["start_epoch"], seq=raw["seq"], time_unix_ms=raw["time_unix_ms"], vectors_in=raw["vectors_in"],
        vectors_accepted=raw["vectors_accepted"], dropped=raw["dropped"], model_version=raw["model_version"],
        temperature=raw["temperature"], topic="heartbeat")
    assert decoded == voronoid.Heartbeat(START_EPOCH, 7, 1796037974044, 30, 30, 0, 1, 45.20297708470642)


def test_event():
    frames = read_golden("event.bin")
    assert frames[0] == b"events" and len(frames) == 2
    decoded = wire.decode_event(frames)
    assert wire.decode_message(frames) == decoded
    raw = json.loads(frames[1])
    assert (decoded.start_epoch, decoded.seq, decoded.time_unix_ms, decoded.name, decoded.fields) == (
        raw["start_epoch"], raw["seq"], raw["time_unix_ms"], raw["event"], raw["fields"])
    assert decoded == voronoid.Event(START_EPOCH, 2, 1796037973850, "seeded",
                                     {"temperature": 45.25, "temperature_floor": 0.04525, "vectors": 30})


def test_not_ready_error_reply():
    frames = read_golden("error-not-ready.bin")
    assert frames == [b"error", b"not_ready", b"no model yet: warming up, 0 of 30 vectors"]
    with pytest.raises(voronoid.NotReady) as caught:
        wire.raise_for_error(frames)
    assert caught.value.reason == "not_ready"
    assert caught.value.detail == "no model yet: warming up, 0 of 30 vectors"
    assert isinstance(caught.value, voronoid.VoronoidError)


def test_stats_reply():
    frames = read_golden("stats-reply.bin")
    stats = wire.decode_stats(frames)
    assert stats == json.loads(frames[0])
    assert (stats["k"], stats["dimension"], stats["vectors_accepted"], stats["model_version"]) == (3, 2, 46, 5)
    assert stats["mode"] == "entmax15" and stats["sequence_gaps"] == 0
    assert all(isinstance(v, (int, float, str)) and not math.isnan(v if isinstance(v, float) else 0) for v in stats.values())
