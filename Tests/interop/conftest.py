"""Fixtures that run the real voronoid binary and talk to it with pyzmq."""
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

ROOT = Path(__file__).resolve().parents[2]
def _binary():
    """VORONOID_BIN, else the newer of the release and debug builds (scripts/test.sh sets it to release)."""
    if os.environ.get("VORONOID_BIN"):
        return Path(os.environ["VORONOID_BIN"])
    built = [p for p in (ROOT / ".build" / "release" / "voronoid", ROOT / ".build" / "debug" / "voronoid") if p.exists()]
    return max(built, key=lambda p: p.stat().st_mtime) if built else ROOT / ".build" / "debug" / "voronoid"


BINARY = _binary()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free ports: the sockets stay bound until all are chosen, so the kernel cannot
    hand out one port twice (separate free_port calls can)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Daemon:
    """A running `voronoid run`; its stderr is collected so tests can read the log."""

    def __init__(self, *args, env=None, ports=None, wait_ready=True):
        self.ports = ports if isinstance(ports, dict) else dict(zip(("input", "output", "query"), free_ports(3)))
        self.input = f"tcp://127.0.0.1:{self.ports['input']}"
        self.output = f"tcp://127.0.0.1:{self.ports['output']}"
        self.query = f"tcp://127.0.0.1:{self.ports['query']}"
        endpoint_args = [] if ports == "default" else [
            "--input", self.input, "--output", self.output, "--query", self.query]
        if not any(str(a).startswith("metrics.address") for a in args):
            endpoint_args += ["--set", 'metrics.address=""']
        if ports == "default":
            self.input, self.output, self.query = (
                "tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557")
        self.proc = subprocess.Popen(
            [str(BINARY), "run", *endpoint_args, *args],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        self.lines = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if wait_ready and not self.ready.wait(30):
            self.stop()
            raise RuntimeError("voronoid did not become ready:\n" + self.log)

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if "voronoid ready" in line:
                self.ready.set()

    @property
    def log(self):
        return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def ask(ctx, endpoint, *frames, timeout_ms=5000):
    """One REQ/REP exchange with the query socket."""
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, timeout_ms)
    req.connect(endpoint)
    try:
        req.send_multipart(list(frames))
        return req.recv_multipart()
    finally:
        req.close()


def stats(ctx, endpoint):
    return json.loads(ask(ctx, endpoint, b"stats")[0])


def wait_for(predicate, timeout=20, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def blobs(n, d=8, k=4, seed=0, spread=1.0, side=40.0):
    rng = np.random.default_rng(seed)
    means = rng.uniform(-side / 2, side / 2, size=(k, d))
    labels = rng.integers(0, k, n)
    return (means[labels] + spread * rng.normal(size=(n, d))).astype("<f4"), labels, means


def batch_message(X, seq=0, ids=None, topic=b"vectors"):
    if ids is None:
        return [topic, struct.pack("<4sIQ", b"VB1N", len(X), seq), X.astype("<f4").tobytes()]
    if isinstance(ids[0], str):
        return [topic, struct.pack("<4sIQ", b"VB1S", len(X), seq), X.astype("<f4").tobytes(),
                "\n".join(ids).encode()]
    return [topic, struct.pack("<4sIQ", b"VB1I", len(X), seq), X.astype("<f4").tobytes(),
            np.asarray(ids, dtype="<i8").tobytes()]


def connected_push(ctx, endpoint):
    """A producer's PUSH socket connected to a daemon run with --pull; closing it waits up to
    5 s for what is queued."""
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 5000)
    push.connect(endpoint)
    return push


def connected_pub(ctx, endpoint):
    """A producer's PUB socket connected to the daemon, returned once the daemon's SUB has
    subscribed: an XPUB hears the subscription, where a fixed sleep could end before it came on
    a loaded machine (the slow joiner) and the first messages would be dropped."""
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 2000)
    pub.setsockopt(zmq.RCVTIMEO, 30000)
    pub.connect(endpoint)
    assert pub.recv()[:1] == b"\x01", "the daemon did not subscribe"
    return pub


def subscriber(ctx, endpoint, *topics):
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(endpoint)
    for t in topics:
        sub.setsockopt(zmq.SUBSCRIBE, t)
    return sub


def decode_assignments(frames):
    magic, n, k, start_epoch, seq, version = struct.unpack("<4sIIQQQ", frames[1])
    rest = frames[2:]
    ids = None
    if magic == b"VASI":
        ids, rest = np.frombuffer(rest[0], dtype="<i8").tolist(), rest[1:]
    elif magic == b"VASS":
        ids, rest = [s.decode() for s in rest[0].split(b"\n")], rest[1:]
    elif magic == b"VASM":
        # Per row a tag byte: 0 (no id), 1 followed by an int64, or 2 followed by a length byte
        # (1-64) and that many UTF-8 bytes.
        ids, p, frame = [], 0, rest[0]
        for _ in range(n):
            tag, p = frame[p], p + 1
            if tag == 0:
                ids.append(None)
            elif tag == 1:
                ids.append(struct.unpack_from("<q", frame, p)[0])
                p += 8
            elif tag == 2:
                length = frame[p]
                assert 1 <= length <= 64, f"VASM string id of {length} bytes"
                ids.append(frame[p + 1:p + 1 + length].decode())
                p += 1 + length
            else:
                raise AssertionError(f"unknown VASM id tag {tag}")
        assert p == len(frame), f"{len(frame) - p} bytes left over in the VASM ids frame"
        rest = rest[1:]
    return {
        "n": n, "k": k, "seq": seq, "start_epoch": start_epoch, "version": version, "ids": ids,
        "best": np.frombuffer(rest[0], dtype="<i4"), "dist": np.frombuffer(rest[1], dtype="<f4"),
        "offsets": np.frombuffer(rest[2], dtype="<u4"), "indices": np.frombuffer(rest[3], dtype="<u4"),
        "weights": np.frombuffer(rest[4], dtype="<f4"),
    }


def decode_centers(frames):
    magic, k, d, start_epoch, seq, model_epoch, version, temperature = struct.unpack("<4sIIQQQQd", frames[0])
    return {"k": k, "d": d, "seq": seq, "start_epoch": start_epoch, "version": version,
            "temperature": temperature, "centers": np.frombuffer(frames[1], dtype="<f4").reshape(k, d),
            "counts": np.frombuffer(frames[2], dtype="<f8")}
