"""Publish feature vectors to voronoid in the three forms of protocol v1."""
import json
import struct
import time

import numpy as np
import zmq

ctx = zmq.Context()
sock = ctx.socket(zmq.PUB)
sock.connect("tcp://127.0.0.1:5555")
time.sleep(0.5)  # a PUB that sends at once after connect loses its first messages

rng = np.random.default_rng(7)
means = rng.uniform(-20, 20, size=(4, 8))

# Form 2: batches of 256 vectors with int64 ids and a sequence number per message.
for seq in range(1, 81):
    X = (means[rng.integers(0, 4, 256)] + rng.normal(size=(256, 8))).astype("<f4")
    ids = np.arange((seq - 1) * 256, seq * 256, dtype="<i8")
    header = struct.pack("<4sIQ", b"VB1I", len(X), seq)
    sock.send_multipart([b"vectors/example", header, X.tobytes(), ids.tobytes()])
    time.sleep(0.005)

# Form 1: one vector, nothing else.
sock.send_multipart([b"vectors", np.asarray(means[0], dtype="<f4").tobytes()])

# Form 3: JSON, for debugging and low rates.
text = json.dumps({"vector": means[1].tolist(), "id": "from-json"})
sock.send_multipart([b"vectors", b"json", text.encode()])

print("sent", 80 * 256 + 2, "vectors")
time.sleep(0.5)  # let the queued messages leave before the socket closes
