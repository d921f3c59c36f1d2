"""Encoding and decoding without sockets: round trips, Protocol.md's examples, malformed bytes."""

import json
import struct
import sys

import numpy as np
import pytest

import voronoid
from voronoid import wire
from voronoid.errors import ProtocolError


def make_assignments(ids, seed=0, k=5):
    rng = np.random.default_rng(seed)
    n = len(ids) if ids is not None else 4
    best, dist, offsets, indices, weights = [], [], [0], [], []
    for _ in range(n):
        support = rng.choice(k, size=rng.integers(1, 4), replace=False)
        w = rng.uniform(0.1, 1, size=len(support))
        best.append(int(support[0]))
        dist.append(float(rng.uniform(0, 50)))
        indices += support.tolist()
        weights += (w / w.sum()).tolist()
        offsets.append(len(indices))
    if isinstance(ids, list) and ids and all(isinstance(v, int) for v in ids):
        ids = np.asarray(ids, dtype=np.int64)
    return voronoid.Assignments(
        k=k, start_epoch=1_700_000_000_123, seq=42, model_version=2**64 - 1, ids=ids,
        best=np.asarray(best, np.int32), distances=np.asarray(dist, np.float32), offsets=np.asarray(offsets, np.uint32),
        indices=np.asarray(indices, np.uint32), weights=np.asarray(weights, np.float32), topic="assignments.bin")


def make_centers(k=3, d=4, seed=1):
    rng = np.random.default_rng(seed)
    return voronoid.CentersSnapshot(
        k=k, d=d, start_epoch=1_700_000_000_123, seq=17, model_epoch=3, model_version=4032, temperature=0.25,
        centers=rng.normal(size=(k, d)).astype(np.float32), counts=rng.uniform(0, 100, size=k), topic="centers.bin")


# MARK: Round trips

@pytest.mark.parametrize("ids", [None, [1, -2, 2**63 - 1], ["a", "ü\"\\", "z" * 64], [None, 5, "s", None], [7, None]])
def test_assignments_round_trip(ids):
    a = make_assignments(ids)
    frames = wire.encode_assignments(a)
    expected_magic = {type(None): b"VASN"}.get(type(ids))
    assert frames[1][:4] == (expected_magic or frames[1][:4])
    assert wire.decode_assignments(frames) == a
    assert wire.decode_message(frames) == a
    reply = wire.encode_assignments(a, topic=None)
    assert wire.decode_assignments(reply, has_topic=False) == voronoid.Assignments(**{**a.__dict__, "topic": None})


def test_assignments_magic_follows_the_ids():
    assert wire.encode_assignments(make_assignments(None))[1][:4] == b"VASN"
    assert wire.encode_assignments(make_assignments([1, 2]))[1][:4] == b"VASI"
    assert wire.encode_assignments(make_assignments(["a", "b"]))[1][:4] == b"VASS"
    assert wire.encode_assignments(make_assignments([1, "b"]))[1][:4] == b"VASM"


@pytest.mark.parametrize("k, d", [(0, 0), (1, 1), (3, 5), (16, 64)])
def test_centers_round_trip(k, d):
    c = make_centers(k, d)
    assert wire.decode_centers(wire.encode_centers(c)) == c
    reply = wire.decode_centers(wire.encode_centers(c, topic=None), has_topic=False)
    assert reply == voronoid.CentersSnapshot(**{**c.__dict__, "topic": None})


def test_centers_header_layout_is_the_spec_struct():
    c = voronoid.CentersSnapshot(k=2, d=1, start_epoch=5, seq=6, model_epoch=7, model_version=8, temperature=0.5,
                                 centers=np.array([[1], [2]], np.float32), counts=np.array([3.0, 4.0]))
    assert wire.encode_centers(c, topic=None) == [
        struct.pack("<4sIIQQQQd", b"VCT1", 2, 1, 5, 6, 7, 8, 0.5), struct.pack("<2f", 1, 2), struct.pack("<2d", 3, 4)]


@pytest.mark.parametrize("ids, magic", [(None, b"VB1N"), (np.arange(1000, 1003), b"VB1I"), ([1, 2, 3], b"VB1I"),
                                        (["img-0", "img-1", "ü"], b"VB1S"), ([b"a", b"b", b"c"], b"VB1S")])
def test_vectors_round_trip(ids, magic):
    X = np.random.default_rng(3).normal(size=(3, 8))
    frames = wire.encode_batch(X, ids, seq=9, topic="vectors/producer-7")
    assert frames[1] == struct.pack("<4sIQ", magic, 3, 9)
    assert frames[2] == X.astype("<f4").tobytes()
    batch = wire.decode_vectors(frames)
    assert batch.topic == "vectors/producer-7" and batch.seq == 9
    assert np.array_equal(batch.vectors, X.astype(np.float32))
    if ids is None:
        assert batch.ids is None
    elif magic == b"VB1I":
        assert batch.ids.tolist() == list(ids)
    else:
        assert batch.ids == [v.decode() if isinstance(v, bytes) else v for v in ids]


def test_batch_frames_match_protocol_examples():
    X = np.random.rand(256, 64).astype("<f4")
    ids = np.arange(1000, 1256, dtype="<i8")
    assert wire.encode_batch(X, ids, 1, topic="vectors/producer-7") == [
        b"vectors/producer-7", struct.pack("<4sIQ", b"VB1I", len(X), 1), X.tobytes(), ids.tobytes()]
    names = [b"img-%d" % i for i in range(len(X))]
    assert wire.encode_batch(X, names, 2, topic=b"vectors/producer-7") == [
        b"vectors/producer-7", struct.pack("<4sIQ", b"VB1S", len(X), 2), X.tobytes(), b"\n".join(names)]
    assert wire.encode_predict_request(X[:4]) == [b"predict", struct.pack("<4sIQ", b"VB1N", 4, 0), X[:4].tobytes()]


def test_one_vector_is_a_batch_of_one():
    frames = wire.encode_batch([1.0, 2.0, 3.0], ids="only")
    assert frames == [struct.pack("<4sIQ", b"VB1S", 1, 0), struct.pack("<3f", 1, 2, 3), b"only"]
    assert wire.decode_vectors([b"vectors", struct.pack("<3f", 1, 2, 3)]).vectors.shape == (1, 3)


# MARK: JSON topics (the examples of Protocol.md)

def test_centers_json_example():
    text = ('{"k":2,"d":3,"start_epoch":1764460000123,"seq":17,"model_epoch":1,"model_version":4032,'
            '"temperature":0.25,"centers":[[0.5,1.0,-2.0],[3.0,4.0,5.0]],"counts":[120.5,88.25]}')
    c = wire.decode_message([b"centers.json", text.encode()])
    assert isinstance(c, voronoid.CentersSnapshot)
    assert (c.k, c.d, c.seq, c.model_version, c.temperature) == (2, 3, 17, 4032, 0.25)
    assert c.centers.dtype == np.float32 and c.centers.tolist() == [[0.5, 1, -2], [3, 4, 5]]
    assert c.counts.tolist() == [120.5, 88.25]


def test_assignments_json_example():
    text = ('{"k":3,"start_epoch":1,"seq":2,"model_version":3,"rows":['
            '{"id":70,"best":2,"dist":0.5,"support":[[2,0.75],[0,0.25]]},'
            '{"id":"abc","best":1,"dist":1.5,"support":[[1,1.0]]}]}')
    a = wire.decode_message([b"assignments.json", text.encode()])
    assert isinstance(a, voronoid.Assignments)
    assert (a.n, a.k, a.seq, a.model_version, a.ids) == (2, 3, 2, 3, [70, "abc"])
    assert a.best.tolist() == [2, 1] and a.offsets.tolist() == [0, 2, 3]
    assert a.indices.tolist() == [2, 0, 1] and a.weights.tolist() == [0.75, 0.25, 1.0]
    assert a.to_dense().tolist() == [[0.25, 0, 0.75], [0, 1, 0]]


def test_assignments_json_equals_binary_form():
    a = make_assignments(["x", "y", "z"])
    rows = []
    for i in range(a.n):
        idx, w = a.support(i)
        rows.append({"id": a.ids[i], "best": int(a.best[i]), "dist": float(a.distances[i]),
                     "support": [[int(c), float(v)] for c, v in zip(idx, w)]})
    text = json.dumps({"k": a.k, "start_epoch": a.start_epoch, "seq": a.seq, "model_version": a.model_version, "rows": rows})
    decoded = wire.decode_assignments_json([b"assignments.json", text.encode()])
    assert decoded == voronoid.Assignments(**{**a.__dict__, "topic": "assignments.json"})


def test_heartbeat_and_event_examples():
    hb = wire.decode_message([b"heartbeat", b'{"start_epoch":1,"seq":2,"time_unix_ms":1764460000000,"vectors_in":100,'
                                            b'"vectors_accepted":98,"dropped":2,"model_version":7,"temperature":0.25}'])
    assert hb == voronoid.Heartbeat(1, 2, 1764460000000, 100, 98, 2, 7, 0.25)
    ev = wire.decode_message([b"events", b'{"start_epoch":1,"seq":3,"time_unix_ms":1764460000000,"event":"reseed",'
                                         b'"fields":{"center":3,"count":0.5,"model_version":40}}'])
    assert ev == voronoid.Event(1, 3, 1764460000000, "reseed", {"center": 3, "count": 0.5, "model_version": 40})


def test_large_integers_stay_exact():
    hb = wire.decode_heartbeat([b"heartbeat", json.dumps({
        "start_epoch": 2**64 - 1, "seq": 2**53 + 1, "time_unix_ms": 0, "vectors_in": 0, "vectors_accepted": 0,
        "dropped": 0, "model_version": 0, "temperature": 1.0}).encode()])
    assert hb.start_epoch == 2**64 - 1 and hb.seq == 2**53 + 1


def test_other_topics():
    rejected = wire.decode_message([b"rejected", b"non_finite", b"component 3 is NaN", b"vectors", b"\x00" * 8])
    assert rejected == voronoid.Rejected("non_finite", "component 3 is NaN", [b"vectors", b"\x00" * 8])
    assert wire.decode_message([b"future.topic", b"x"]) == voronoid.RawMessage("future.topic", [b"x"])


def test_error_replies():
    with pytest.raises(voronoid.VoronoidError) as caught:
        wire.raise_for_error([b"error", b"dimension_mismatch", b"vectors of dimension 3, the model has 2"])
    assert type(caught.value) is voronoid.VoronoidError
    assert (caught.value.reason, caught.value.detail) == ("dimension_mismatch", "vectors of dimension 3, the model has 2")
    with pytest.raises(voronoid.NotReady):
        wire.raise_for_error([b"error", b"not_ready", b"warming up"])
    wire.raise_for_error([b"{}"])  # not an error reply


# MARK: Sparse views

def test_to_scipy_and_responsibilities():
    pytest.importorskip("scipy")
    a = make_assignments([1, 2, 3, 4], seed=5)
    m = a.to_scipy()
    assert m.shape == (4, 5) and m.format == "csr"
    assert np.array_equal(m.toarray(), a.to_dense())
    assert np.allclose(np.asarray(a.responsibilities.sum(axis=1)).ravel(), 1, atol=1e-6)


def test_to_scipy_without_scipy_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    a = make_assignments(None)
    with pytest.raises(ImportError, match="need scipy.*pip install scipy"):
        a.to_scipy()
    with pytest.raises(ImportError, match="to_dense"):
        _ = a.responsibilities
    assert a.to_dense().shape == (4, 5)


def test_decoded_arrays_are_read_only_views():
    a = wire.decode_assignments(wire.encode_assignments(make_assignments(None)))
    with pytest.raises(ValueError):
        a.best[0] = 1


# MARK: Malformed bytes

def good_assignments_frames():
    return wire.encode_assignments(make_assignments([10, 20, 30, 40], seed=2))


def replace(frames, index, value):
    out = list(frames)
    out[index] = value
    return out


def assignments_header(magic=b"VASI", n=4, k=5):
    return struct.pack("<4sIIQQQ", magic, n, k, 1, 2, 3)


@pytest.mark.parametrize("mutate, reason", [
    (lambda f: f[:-1], "frame_count"),
    (lambda f: f + [b""], "frame_count"),
    (lambda f: replace(f, 1, f[1][:-1]), "bad_header"),
    (lambda f: replace(f, 1, b"XXXX" + f[1][4:]), "unknown_format"),
    (lambda f: replace(f, 1, assignments_header(b"VASN")), "frame_count"),
    (lambda f: replace(f, 1, assignments_header(n=5)), "bad_ids"),
    (lambda f: replace(f, 2, f[2][:-8]), "bad_ids"),
    (lambda f: replace(f, 3, f[3] + b"\0\0\0\0"), "count_mismatch"),
    (lambda f: replace(f, 4, f[4][:-4]), "count_mismatch"),
    (lambda f: replace(f, 5, f[5][:-4]), "count_mismatch"),
    (lambda f: replace(f, 7, f[7][:-4]), "bad_support"),
    (lambda f: replace(replace(f, 6, f[6][:-2]), 7, f[7][:-2]), "bad_support"),
    (lambda f: replace(f, 1, assignments_header(k=1)), "bad_support"),
    (lambda f: replace(f, 3, struct.pack("<4i", 0, 1, -1, 2)), "bad_support"),
    (lambda f: replace(f, 4, struct.pack("<4f", 1, float("nan"), 1, 1)), "non_finite"),
])
def test_malformed_assignments_raise_protocol_error(mutate, reason):
    with pytest.raises(ProtocolError) as caught:
        wire.decode_assignments(mutate(good_assignments_frames()))
    assert caught.value.reason == reason, caught.value


def test_offsets_must_start_at_zero_be_monotone_and_end_at_nnz():
    frames = good_assignments_frames()
    nnz = len(frames[6]) // 4
    for offsets, what in [([1, 1, 2, 3, nnz], r"offsets\[0\]"), ([0, 3, 2, 3, nnz], "decrease"),
                          ([0, 1, 2, 3, nnz - 1], "end")]:
        with pytest.raises(ProtocolError, match=what) as caught:
            wire.decode_assignments(replace(frames, 5, struct.pack("<5I", *offsets)))
        assert caught.value.reason == "bad_support"


def test_support_index_not_below_k():
    frames = good_assignments_frames()
    indices = list(struct.unpack(f"<{len(frames[6]) // 4}I", frames[6]))
    indices[-1] = 5  # k = 5
    with pytest.raises(ProtocolError, match="not below k=5") as caught:
        wire.decode_assignments(replace(frames, 6, struct.pack(f"<{len(indices)}I", *indices)))
    assert caught.value.reason == "bad_support"


@pytest.mark.parametrize("ids, reason", [
    (b"a\nb\nc", "bad_ids"),              # 3 ids for 4 rows
    (b"a\n\nc\nd", "bad_ids"),            # an empty id
    (b"a\nb\nc\n" + b"x" * 65, "id_too_long"),
    (b"a\nb\nc\n\xff", "invalid_utf8"),
])
def test_malformed_string_ids(ids, reason):
    a = make_assignments(["a", "b", "c", "d"])
    frames = replace(wire.encode_assignments(a), 2, ids)
    with pytest.raises(ProtocolError) as caught:
        wire.decode_assignments(frames)
    assert caught.value.reason == reason


@pytest.mark.parametrize("ids, reason", [
    (b"\x00\x00\x00", "bad_ids"),                                  # 3 records for 4 rows
    (b"\x00\x00\x00\x00\x00", "bad_ids"),                          # a trailing byte
    (b"\x00\x00\x00\x03", "bad_ids"),                              # unknown tag
    (b"\x00\x00\x00\x01\x01", "bad_ids"),                          # truncated int
    (b"\x00\x00\x00\x02\x05ab", "bad_ids"),                        # truncated string
    (b"\x00\x00\x00\x02\x41" + b"x" * 65, "id_too_long"),
    (b"\x00\x00\x00\x02\x02a\n", "bad_ids"),
])
def test_malformed_mixed_ids(ids, reason):
    frames = replace(wire.encode_assignments(make_assignments([None, 1, "a", None])), 2, ids)
    with pytest.raises(ProtocolError) as caught:
        wire.decode_assignments(frames)
    assert caught.value.reason == reason


@pytest.mark.parametrize("mutate, reason", [
    (lambda f: f[:-1], "frame_count"),
    (lambda f: replace(f, 1, f[1] + b"\0"), "bad_header"),
    (lambda f: replace(f, 1, b"VCT2" + f[1][4:]), "unknown_format"),
    (lambda f: replace(f, 2, f[2][:-4]), "count_mismatch"),
    (lambda f: replace(f, 3, f[3] + b"\0" * 8), "count_mismatch"),
    (lambda f: replace(f, 2, struct.pack("<f", float("inf")) + f[2][4:]), "non_finite"),
    (lambda f: replace(f, 1, f[1][:44] + struct.pack("<d", float("nan"))), "non_finite"),
    (lambda f: replace(f, 0, b"\xff"), "invalid_utf8"),
])
def test_malformed_centers_raise_protocol_error(mutate, reason):
    with pytest.raises(ProtocolError) as caught:
        wire.decode_centers(mutate(wire.encode_centers(make_centers())))
    assert caught.value.reason == reason


@pytest.mark.parametrize("text", [
    b"not json", b"[1, 2]", b'{"start_epoch":1}', b'{"start_epoch":1,"start_epoch":2}',
    b'{"start_epoch":-1,"seq":2,"time_unix_ms":0,"vectors_in":0,"vectors_accepted":0,"dropped":0,"model_version":0,"temperature":0}',
    b'{"start_epoch":1,"seq":2,"time_unix_ms":0,"vectors_in":0,"vectors_accepted":0,"dropped":0,"model_version":0,"temperature":NaN}',
    b'{"start_epoch":1,"seq":true,"time_unix_ms":0,"vectors_in":0,"vectors_accepted":0,"dropped":0,"model_version":0,"temperature":0}',
])
def test_malformed_heartbeat_json(text):
    with pytest.raises(ProtocolError) as caught:
        wire.decode_heartbeat([b"heartbeat", text])
    assert caught.value.reason == "bad_json"


def test_malformed_event_and_json_assignments():
    with pytest.raises(ProtocolError):
        wire.decode_event([b"events", b'{"start_epoch":1,"seq":3,"time_unix_ms":0,"event":7}'])
    with pytest.raises(ProtocolError):
        wire.decode_event([b"events", b'{"start_epoch":1,"seq":3,"time_unix_ms":0,"event":"x","fields":{"a":[1]}}'])
    bad_index = b'{"k":2,"start_epoch":1,"seq":2,"model_version":3,"rows":[{"best":0,"dist":0.5,"support":[[2,1.0]]}]}'
    with pytest.raises(ProtocolError) as caught:
        wire.decode_assignments_json([b"assignments.json", bad_index])
    assert caught.value.reason == "bad_support"
    with pytest.raises(ProtocolError) as caught:
        wire.decode_centers_json([b"centers.json", b'{"k":2,"d":1,"start_epoch":1,"seq":1,"model_epoch":1,'
                                                   b'"model_version":1,"temperature":1,"centers":[[1]],"counts":[1,2]}'])
    assert caught.value.reason == "count_mismatch"


@pytest.mark.parametrize("frames, reason", [
    ([b"vectors"], "frame_count"),
    ([b"", b"\0" * 4], "bad_topic"),
    ([b"vectors", b"\0" * 6], "bad_body_length"),
    ([b"vectors", struct.pack("<4sIQ", b"VB1N", 0, 0), b"\0" * 8], "bad_header"),
    ([b"vectors", struct.pack("<4sIQ", b"VB1N", 3, 0), b"\0" * 8], "count_mismatch"),
    ([b"vectors", struct.pack("<4sIQ", b"VB2N", 1, 0), b"\0" * 8], "unknown_format"),
    ([b"vectors", struct.pack("<4sIQ", b"VB1I", 1, 0), b"\0" * 8], "frame_count"),
    ([b"vectors", struct.pack("<4sIQ", b"VB1I", 2, 0), b"\0" * 8, b"\0" * 8], "bad_ids"),
    ([b"vectors", struct.pack("<f", float("nan"))], "non_finite"),
])
def test_malformed_vectors(frames, reason):
    with pytest.raises(ProtocolError) as caught:
        wire.decode_vectors(frames)
    assert caught.value.reason == reason


# MARK: What the encoders refuse

@pytest.mark.parametrize("X, ids, match", [
    ([[1.0, float("nan")]], None, "NaN"),
    ([[1e39, 0.0]], None, "too large for float32"),
    (np.zeros((0, 3)), None, "empty"),
    (np.zeros((2, 2, 2)), None, "3-D"),
    (np.zeros((2, 2)), [1], "1 ids for 2 vectors"),
    (np.zeros((2, 2)), [1, "a"], "all integers or all strings"),
    (np.zeros((2, 2)), ["", "a"], "empty"),
    (np.zeros((2, 2)), ["a\nb", "a"], "line feed"),
    (np.zeros((2, 2)), ["x" * 65, "a"], "at most 64"),
    (np.zeros((2, 2)), [2**63, 1], "int64"),
    (np.zeros((1, 2)), [True], "all integers or all strings"),
])
def test_encoder_refuses_what_the_daemon_would_drop(X, ids, match):
    with pytest.raises(ValueError, match=match):
        wire.encode_batch(X, ids)


def test_encoder_converts_to_little_endian_float32():
    X = np.arange(6, dtype=">f8").reshape(2, 3)
    frames = wire.encode_batch(X)
    assert frames == [struct.pack("<4sIQ", b"VB1N", 2, 0), struct.pack("<6f", 0, 1, 2, 3, 4, 5)]


def test_values_the_daemon_calls_out_of_range_are_refused_before_sending():
    with pytest.raises(ValueError, match="out_of_range"):
        wire.as_vectors(np.full((1, 8), 1e30, dtype=np.float32))
    with pytest.raises(ValueError, match="out_of_range"):
        wire.as_vectors([[1.0, 2.0 ** 40]])
    assert wire.as_vectors([[1.0, np.nextafter(np.float32(2.0 ** 40), np.float32(0))]]).shape == (1, 2)


@pytest.mark.parametrize("ids, magic", [(None, b"VW1N"), ([5, 6, 7], b"VW1I"), (["a", "b", "c"], b"VW1S")])
def test_weighted_batches_round_trip(ids, magic):
    X = np.arange(6, dtype="<f4").reshape(3, 2)
    frames = wire.encode_batch(X, ids, 4, topic="vectors", weights=[0.5, 2, 3])
    assert frames[1][:4] == magic and len(frames) == (4 if ids is None else 5)
    assert frames[-1] == np.asarray([0.5, 2, 3], dtype="<f4").tobytes()
    batch = wire.decode_vectors(frames)
    assert np.array_equal(batch.vectors, X) and batch.seq == 4
    assert batch.weights.tolist() == [0.5, 2, 3]
    assert wire.decode_vectors(wire.encode_batch(X, ids, topic="vectors")).weights is None


@pytest.mark.parametrize("weights", [[1, 0, 1], [1, -2, 1], [1, float("nan"), 1], [1, float("inf"), 1], [1, 1e39, 1], [1, 2]])
def test_bad_weights_are_refused_before_sending(weights):
    with pytest.raises(ValueError):
        wire.encode_batch(np.zeros((3, 2)), weights=weights)


def test_bad_weights_frame_is_a_protocol_error():
    frames = wire.encode_batch(np.zeros((2, 2)), topic="vectors", weights=[1, 1])
    with pytest.raises(ProtocolError) as e:
        wire.decode_vectors(frames[:-1] + [np.asarray([1, 0], dtype="<f4").tobytes()])
    assert e.value.reason == "bad_weights"
    with pytest.raises(ProtocolError) as e:
        wire.decode_vectors(frames[:-1])
    assert e.value.reason == "frame_count"
