"""Subscribe to voronoid's centers and assignments."""
import struct

import numpy as np
import zmq

ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.connect("tcp://127.0.0.1:5556")
sub.setsockopt(zmq.SUBSCRIBE, b"centers.bin")
sub.setsockopt(zmq.SUBSCRIBE, b"assignments.bin")
sub.setsockopt(zmq.RCVTIMEO, 20000)

seen_centers = seen_assignments = False
while not (seen_centers and seen_assignments):
    frames = sub.recv_multipart()
    if frames[0] == b"centers.bin" and not seen_centers:
        magic, k, d, start_epoch, seq, model_epoch, version, temperature = struct.unpack("<4sIIQQQQd", frames[1])
        C = np.frombuffer(frames[2], dtype="<f4").reshape(k, d)
        counts = np.frombuffer(frames[3], dtype="<f8")
        print(f"centers: k={k} d={d} version={version} temperature={temperature:.4g}")
        print(np.round(C, 2))
        seen_centers = True
    elif frames[0] == b"assignments.bin" and not seen_assignments:
        magic, n, k, start_epoch, seq, version = struct.unpack("<4sIIQQQ", frames[1])
        rest = frames[2:]
        ids = None
        if magic == b"VASI":
            ids, rest = np.frombuffer(rest[0], dtype="<i8"), rest[1:]
        elif magic in (b"VASS", b"VASM"):
            rest = rest[1:]
        best = np.frombuffer(rest[0], dtype="<i4")
        dist = np.frombuffer(rest[1], dtype="<f4")
        offsets = np.frombuffer(rest[2], dtype="<u4")
        indices = np.frombuffer(rest[3], dtype="<u4")
        weights = np.frombuffer(rest[4], dtype="<f4")
        row = slice(offsets[0], offsets[1])
        first = "-" if ids is None else int(ids[0])
        support = ", ".join(f"{c}: {w:.3f}" for c, w in zip(indices[row], weights[row]))
        print(f"assignments: n={n} first id={first} best={best[0]} dist={dist[0]:.3f} support={{{support}}}")
        seen_assignments = True
