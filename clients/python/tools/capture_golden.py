#!/usr/bin/env python3
"""Captures real messages from a running voronoid binary into Tests/golden/.

Starts ``voronoid run`` on free loopback ports with k = 3, dimension 2, feeds it known vectors
and saves one message of each kind as a golden file: frames stored back to back, each as a
u32 little-endian length followed by the frame's bytes (the container format described in
Tests/golden/README.md). The Python and Swift decoders are tested against these files.

This script deliberately speaks the protocol with raw pyzmq and ``struct`` (not the voronoid
package), so the files record what the daemon sends and not what the package expects.

Usage::

    VORONOID_BIN=/path/to/voronoid python3 clients/python/tools/capture_golden.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import zmq

ROOT = Path(__file__).resolve().parents[3]

# Three well-separated groups in the plane, spelled out so every golden vector is known.
MEANS = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]
OFFSETS = [(0.5, 0.0), (-0.5, 0.0), (0.0, 0.5), (0.0, -0.5), (0.25, 0.25)]
WARMUP = 30
INT_IDS = [101, 102, 103, 104, 105]
STRING_IDS = ["a-1", "b-2", "c-3", "d-4"]
MIXED_INT_IDS = [201, 202]
MIXED_STRING_ID = "z-9"


def write_frames(path: Path, frames: List[bytes]) -> None:
    """Writes frames as u32-LE length + bytes, back to back."""
    path.write_bytes(b"".join(struct.pack("<I", len(f)) + f for f in frames))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vectors(n: int, start: int) -> bytes:
    """``n`` float32 vectors cycling over the groups and offsets, from index ``start``."""
    values = []
    for i in range(start, start + n):
        mx, my = MEANS[i % 3]
        ox, oy = OFFSETS[(i // 3) % len(OFFSETS)]
        values += [mx + ox, my + oy]
    return struct.pack(f"<{len(values)}f", *values)


def batch(magic: bytes, n: int, seq: int, start: int, ids: Optional[bytes] = None) -> List[bytes]:
    frames = [b"vectors/golden", struct.pack("<4sIQ", magic, n, seq), vectors(n, start)]
    return frames + ([ids] if ids is not None else [])


class Daemon:
    def __init__(self, binary: str) -> None:
        self.ports = {name: free_port() for name in ("input", "output", "query")}
        args = [binary, "run", "--k", "3", "--dimension", "2",
                "--input", f"tcp://127.0.0.1:{self.ports['input']}",
                "--output", f"tcp://127.0.0.1:{self.ports['output']}",
                "--query", f"tcp://127.0.0.1:{self.ports['query']}",
                "--set", 'metrics.address=""', "--set", f"model.warmup={WARMUP}",
                "--set", "output.heartbeat_interval_ms=200", "--set", "output.centers_interval_ms=200",
                # A batch closes 50 ms after its first vector: messages sent back to back share
                # one batch (the mixed-ids capture), messages 300 ms apart do not.
                "--set", "input.max_wait_ms=50"]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.ready = threading.Event()
        self.lines: List[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            self.stop()
            raise SystemExit("voronoid did not become ready:\n" + "\n".join(self.lines))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if "voronoid ready" in line:
                self.ready.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ask(ctx: zmq.Context, endpoint: str, *frames: bytes) -> List[bytes]:  # type: ignore[type-arg]
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, 5000)
    req.connect(endpoint)
    try:
        req.send_multipart(list(frames))
        return req.recv_multipart()
    finally:
        req.close()


def capture(binary: str, out: Path) -> Dict[str, List[bytes]]:
    daemon = Daemon(binary)
    ctx = zmq.Context()
    got: Dict[str, List[bytes]] = {}
    try:
        query = f"tcp://127.0.0.1:{daemon.ports['query']}"
        got["error-not-ready.bin"] = ask(ctx, query, b"snapshot")

        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(f"tcp://127.0.0.1:{daemon.ports['output']}")
        for topic in (b"centers.bin", b"assignments.bin", b"heartbeat", b"events"):
            sub.setsockopt(zmq.SUBSCRIBE, topic)
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 2000)
        pub.connect(f"tcp://127.0.0.1:{daemon.ports['input']}")
        time.sleep(0.5)  # a PUB that sends at once after connect loses its first messages

        seq = 0
        for start in range(0, WARMUP, 3):
            seq += 1
            pub.send_multipart(batch(b"VB1N", 3, seq, start))
            time.sleep(0.05)
        time.sleep(0.5)
        # One message per kind of ids, each in its own training batch (the daemon closes a
        # batch 1 ms after its first vector), so each gives one assignments message.
        seq += 1
        pub.send_multipart(batch(b"VB1I", 5, seq, 0, struct.pack("<5q", *INT_IDS)))
        time.sleep(0.3)
        seq += 1
        pub.send_multipart(batch(b"VB1S", 4, seq, 0, "\n".join(STRING_IDS).encode()))
        time.sleep(0.3)
        seq += 1
        pub.send_multipart(batch(b"VB1N", 3, seq, 0))
        time.sleep(0.3)
        # Three messages in one batch: rows with int ids, without id, with a string id (VASM).
        seq += 1
        pub.send_multipart(batch(b"VB1I", 2, seq, 0, struct.pack("<2q", *MIXED_INT_IDS)))
        seq += 1
        pub.send_multipart(batch(b"VB1N", 1, seq, 2))
        seq += 1
        pub.send_multipart(batch(b"VB1S", 1, seq, 3, MIXED_STRING_ID.encode()))

        deadline = time.time() + 20
        wanted = {"centers.bin", "assignments-int.bin", "assignments-string.bin", "assignments-none.bin",
                  "assignments-mixed.bin", "heartbeat.bin", "event.bin"}
        while not wanted <= got.keys() and time.time() < deadline:
            if not sub.poll(500):
                continue
            frames = sub.recv_multipart()
            topic = frames[0]
            if topic == b"assignments.bin":
                magic, n = struct.unpack_from("<4sI", frames[1])
                name = {(b"VASI", 5): "assignments-int.bin", (b"VASS", 4): "assignments-string.bin",
                        (b"VASN", 3): "assignments-none.bin", (b"VASM", 4): "assignments-mixed.bin"}.get((magic, n))
            elif topic == b"centers.bin":
                # After the captured batches, so the model has trained on them.
                name = "centers.bin" if "assignments-mixed.bin" in got else None
            elif topic == b"heartbeat":
                name = "heartbeat.bin" if json.loads(frames[1])["model_version"] > 0 else None
            else:
                name = "event.bin" if json.loads(frames[1])["event"] == "seeded" else None
            if name and name not in got:
                got[name] = frames
        missing = wanted - got.keys()
        if missing:
            raise SystemExit(f"did not receive {sorted(missing)}:\n" + "\n".join(daemon.lines))

        got["snapshot-reply.bin"] = ask(ctx, query, b"snapshot")
        exact_means = struct.pack("<6f", *[v for m in MEANS for v in m])
        got["predict-reply.bin"] = ask(ctx, query, b"predict", struct.pack("<4sIQ", b"VB1N", 3, 0), exact_means)
        got["stats-reply.bin"] = ask(ctx, query, b"stats")
        pub.close()
        sub.close()
    finally:
        ctx.destroy(linger=0)
        daemon.stop()
    out.mkdir(parents=True, exist_ok=True)
    for name, frames in sorted(got.items()):
        write_frames(out / name, frames)
        print(f"{name}: {len(frames)} frames, {sum(map(len, frames))} bytes")
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.environ.get("VORONOID_BIN", str(ROOT / ".build" / "release" / "voronoid")))
    parser.add_argument("--out", type=Path, default=ROOT / "Tests" / "golden")
    args = parser.parse_args()
    if not Path(args.binary).exists():
        sys.exit(f"no voronoid binary at {args.binary} (set VORONOID_BIN or --binary)")
    capture(args.binary, args.out)


if __name__ == "__main__":
    main()
