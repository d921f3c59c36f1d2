#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets under Tests/Fuzz/Corpus/<target>/.

Every seed is a valid example of one input form (plus a few near misses), laid out as the
target expects (see the comments at the top of each Tests/Fuzz/Fuzz*.swift):

  vectors, query   one options byte, then frames, each a 2-byte little-endian length and
                   that many bytes
  checkpoint       one options byte (bit 0: repair length and checksum), then the file
  configuration    the file's text
  statistics       one options byte, then frames as for vectors: VST1 statistics for a 2 × 3
                   model of epoch 1, and VAK1 acknowledgements

Seeds are named `seed-…`; entries the fuzzer adds (`scripts/fuzz.sh --update-corpus`) are
named by their SHA-1. Running this again rewrites the seeds and leaves other entries alone.

Usage: python3 scripts/fuzz-seeds.py [CORPUS_ROOT]   (default Tests/Fuzz/Corpus)
"""

import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Options byte of the wire targets (WireFuzzSupport.swift).
DIM_ANY, DIM_2, DIM_3, DIM_8 = 0, 1, 2, 3
PREFILL_NONE, PREFILL_ONE, PREFILL_STRING_IDS, PREFILL_INT_ID = 0, 4, 8, 12
TIGHT = 0x10
CROSS_CHECK = 0x20
NUMBER_MODE = 0x40


def frames(options, *parts):
    out = bytearray([options])
    for p in parts:
        assert len(p) < 65536
        out += struct.pack("<H", len(p)) + p
    return bytes(out)


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def header(magic, count, seq):
    return struct.pack("<4sIQ", magic, count, seq)


def js(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def vector_payloads():
    """(name, payload frames) shared by inbound messages and predict requests."""
    rows = [0.5, -1.0, 2.25, 3.0, 1e-3, -7.5]
    yield "batch-vb1n", [header(b"VB1N", 2, 0), f32(*rows)]
    yield "batch-vb1i", [header(b"VB1I", 2, 1), f32(*rows), struct.pack("<2q", 1000, -1)]
    yield "batch-vb1s", [header(b"VB1S", 2, 7), f32(*rows), "img-1\nné-2".encode()]
    yield "batch-vb1s-3x2", [header(b"VB1S", 3, 2**64 - 1), f32(*rows), b"a\nbb\nccc"]
    yield "json-vector", [b"json", js({"vector": [0.5, 1, -2e-3], "id": 7, "seq": 3})]
    yield "json-vectors-string-ids", [b"json", js({"vectors": [[0.5, 1, -2e-3], [1, 2, 3]], "ids": ["a", "b"], "seq": 3})]
    yield "json-vectors-int-ids", [b"json", b'{"vectors":[[1,2,3],[4,5,6]],"ids":[-9223372036854775808,9223372036854775807]}']
    yield "json-nulls-unknown", [b"json", b'{"x":{"y":[true,false,null,"s\\u00e9\\ud83d\\ude00"],"z":{}},"vector":[1.5E+2,-0,0.0],"id":null,"seq":null}']
    yield "json-numbers", [b"json", b' { "vector" : [ 3.4028234663852886e38, 1.4e-45, 123456789012345678901234567890, 0.1000000000000000055511151231257827, 7.038531e-26 ] } ']


def vectors_seeds():
    yield "single-d3", frames(0, b"vectors", f32(0.5, 1.0, -2.0))
    yield "single-expected-d2", frames(DIM_2, b"vectors/producer-7", f32(1.0, 2.0))
    yield "single-prefill", frames(DIM_3 | PREFILL_STRING_IDS, b"vectors", f32(4.0, 5.0, 6.0))
    yield "single-nan", frames(0, b"vectors", f32(1.0, float("nan")))
    yield "single-tight", frames(TIGHT | CROSS_CHECK, b"v", f32(1.0, 2.0, 3.0))
    for name, payload in vector_payloads():
        yield name, frames(0, b"vectors", *payload)
        yield name + "-prefill-cross", frames(DIM_3 | PREFILL_ONE | CROSS_CHECK, "vectors/é".encode(), *payload)
        yield name + "-tight-intid", frames(TIGHT | PREFILL_INT_ID, b"vectors", *payload)
    for text in [b"0.1", b"-1.5e-3", b"3.4028235e38", b"3.4028236e38", b"1e-45", b"7e-46",
                 b"123456789012345678901234", b"16777217", b"0.30000001192092896", b"1E400",
                 b"2.5e-324", b"9007199254740993", b"-0"]:
        yield "number-" + text.decode().replace(".", "_"), bytes([NUMBER_MODE]) + text


def query_seeds():
    yield "snapshot", frames(0, b"snapshot")
    yield "stats", frames(CROSS_CHECK, b"stats")
    yield "unknown", frames(0, b"centers")
    for name, payload in vector_payloads():
        yield "predict-" + name, frames(0, b"predict", *payload)
        yield "predict-" + name + "-prefill-cross", frames(DIM_3 | PREFILL_STRING_IDS | CROSS_CHECK, b"predict", *payload)
        yield "predict-" + name + "-tight", frames(TIGHT, b"predict", *payload)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def checkpoint(k, d, kind, initial, floor, half_life, centers, counts, seeded, words, random_state):
    size = 128 + 4 * k * d + 16 * k + 4
    out = bytearray(b"VORONOID")
    out += struct.pack("<HHQII", 1, 0, size, k, d)
    out += bytes([kind, 0, 0, 0])
    out += struct.pack("<3d", initial, floor, half_life)
    out += struct.pack("<5Q", *words)
    out += struct.pack("<4Q", *random_state)
    out += f32(*centers)
    out += struct.pack("<%dd" % k, *counts)
    out += struct.pack("<%dQ" % k, *seeded)
    out += struct.pack("<I", crc32c(out))
    assert len(out) == size
    return bytes(out)


def checkpoint_seeds():
    rs = (0x9E3779B97F4A7C15, 1, 2, 3)
    a = checkpoint(2, 3, 1, 0.25, 0.001, 20000.0, [0.5, 1.0, -2.0, 3.0, 4.0, 5.0], [120.5, 88.25], [0, 4096],
                   (10000, 40, 1764460000123, 2, 1), rs)
    b = checkpoint(1, 1, 0, 1.0, 1.0, 1.0, [-0.0], [0.0], [0], (0, 0, 1, 0, 0), (0, 0, 0, 1))
    c = checkpoint(3, 2, 2, 5.0, 5e-3, 1e6, [1e-40, -3.4028234663852886e38, 0.0, 1.0, 2.0, 3.0],
                   [1e300, 0.0, 5e-324], [1, 2, 3], (2**64 - 1, 2**63, 7, 0, 0), (1, 0, 0, 0))
    for name, data in [("k2-d3-exponential", a), ("k1-d1-constant", b), ("k3-d2-inverse-time", c)]:
        yield name, bytes([0]) + data
        yield name + "-repair", bytes([1]) + data
    yield "truncated-repair", bytes([1]) + a[:140]
    yield "bad-crc", bytes([0]) + a[:-1] + bytes([a[-1] ^ 1])


def configuration_seeds():
    with open(os.path.join(ROOT, "config", "voronoid.toml"), "rb") as f:
        yield "voronoid-toml", f.read()
    yield "minimal", b"[model]\nk = 4\ndimension = 64\n"
    yield "fixed-schedule", (b'[model]\nmode = "softmax"\nlearning_rate = 0.5\ncount_half_life = inf\n'
                             b'[temperature]\nschedule = "inverse_time"\ninitial = 2.5\nfloor = 0.25\n'
                             b"half_life = 1e4\nfloor_ratio = 1\n")
    yield "pull-connect", (b'[input]\nsocket = "pull"\nconnect = true\nendpoints = ["tcp://10.0.0.1:5555", "ipc:///run/v.sock"]\n'
                           b'topics = []\n[query]\nendpoint = ""\n[metrics]\naddress = "[::1]:9464"\n')
    yield "curve", (b'[security]\ncurve_secret_key_file = "credential:voronoid.key"  # "quoted # not a comment"\n'
                    b'allowed_clients_file = "/etc/voronoid/clients"\ncurve_sockets = ["output", "query"]\n'
                    b'[state]\ndirectory = "/var/lib/voronoid \\"x\\"\\n"\ncheckpoint_interval_s = 0.5\n'
                    b'[log]\nlevel = "debug"\n[fault]\nstall_after_s = 0\n')
    yield "crlf", b"[model]\r\nk = 2\r\n[output]\r\nendpoint = \"tcp://*:*\"\r\n"
    yield "bad-key", b"[model]\nkk = 1\n"
    yield "duplicate", b"[model]\nk = 1\nk = 2\n"


def statistics_frame(worker, sequence, base, rows, epoch=1, incarnation=1):
    """VST1 (Sources/Daemon/Cluster/StatisticsMessage.swift) of `rows` assigned hard to the nearer
    of the fuzz target's centers (0, 0, 0) and (4, 4, 4)."""
    centers = [(0.0, 0.0, 0.0), (4.0, 4.0, 4.0)]
    mass, err, delta, total = [0.0, 0.0], [0.0, 0.0], [[0.0] * 3, [0.0] * 3], 0.0
    squares = 0.0
    for x in rows:
        e = [sum((a - b) ** 2 for a, b in zip(x, c)) for c in centers]
        j = 0 if e[0] <= e[1] else 1
        mass[j] += 1
        err[j] += e[j]
        squares += e[j] ** 2
        total += e[j]
        for t in range(3):
            delta[j][t] += x[t] - centers[j][t]
    n = len(rows)
    out = struct.pack("<4sQQQQQIIQQQddd", b"VST1", worker, incarnation, sequence, epoch, base, 2, 3,
                      n, n, n, float(n), total, squares)
    out += struct.pack("<2d", *mass) + struct.pack("<2d", *err) + struct.pack("<2d", *mass)
    return out + struct.pack("<6f", *(delta[0] + delta[1]))


def statistics_seeds():
    a = statistics_frame(1, 1, 0, [(0.5, 0.1, -0.2), (3.5, 4.2, 4.1), (4.4, 3.9, 4.0)])
    b = statistics_frame(2, 1, 0, [(0.1, 0.3, 0.2), (-0.4, 0.2, 0.1)])
    a2 = statistics_frame(1, 2, 1, [(4.2, 4.2, 3.8)])
    ack = b"VAK1" + struct.pack("<I", 2) + struct.pack("<3Q", 1, 1, 2) + struct.pack("<3Q", 2, 1, 1)
    yield "two-workers", frames(0, a, b)
    yield "step-each", frames(1, a, b, a2)
    yield "duplicate", frames(2, a, a, b)
    yield "stale", frames(1, a, b, statistics_frame(2, 2, 0, [(0.0, 0.0, 0.0)]))
    yield "foreign-epoch", frames(0, statistics_frame(1, 1, 0, [(1.0, 1.0, 1.0)], epoch=2))
    yield "older-incarnation", frames(0, statistics_frame(1, 1, 0, [(1.0, 0.0, 0.0)], incarnation=5), a)
    yield "truncated", frames(0, a[:-3])
    yield "acknowledgements", frames(0, ack, a)


TARGETS = {
    "vectors": vectors_seeds,
    "query": query_seeds,
    "checkpoint": checkpoint_seeds,
    "configuration": configuration_seeds,
    "statistics": statistics_seeds,
}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests", "Fuzz", "Corpus")
    for target, seeds in TARGETS.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        n = 0
        for name, data in seeds():
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)
            n += 1
        print("%s: %d seeds in %s" % (target, n, os.path.relpath(d, ROOT)))


if __name__ == "__main__":
    main()
