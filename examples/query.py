"""Ask voronoid for its centers, its counters, and the clusters of new vectors."""
import json
import struct

import numpy as np
import zmq

ctx = zmq.Context()
req = ctx.socket(zmq.REQ)
req.connect("tcp://127.0.0.1:5557")
req.setsockopt(zmq.RCVTIMEO, 5000)


def ask(*frames):
    req.send_multipart(list(frames))
    reply = req.recv_multipart()
    if reply[0] == b"error":
        raise RuntimeError(reply[1].decode() + ": " + reply[2].decode())
    return reply


header, centers, counts = ask(b"snapshot")
magic, k, d, start_epoch, seq, model_epoch, version, temperature = struct.unpack("<4sIIQQQQd", header)
C = np.frombuffer(centers, dtype="<f4").reshape(k, d)
print(f"snapshot: k={k} d={d} version={version}")

stats = json.loads(ask(b"stats")[0])
print(f"stats: vectors_accepted={stats['vectors_accepted']} dropped={stats['dropped']}")

# Predict without training: each center itself must be assigned to its own cluster.
reply = ask(b"predict", struct.pack("<4sIQ", b"VB1N", k, 0), C.tobytes())
magic, n, k, start_epoch, seq, version = struct.unpack("<4sIIQQQ", reply[0])
best = np.frombuffer(reply[1], dtype="<i4")
print(f"predict: n={n} best={best.tolist()}")
