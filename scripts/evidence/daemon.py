"""Drives the real `voronoid run` over ZeroMQ on loopback: start, stream, wait, snapshot, stop."""
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import numpy as np
import zmq


def default_binary():
    """The binary the stand-alone scripts drive: $VORONOID_BIN, else the release build."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for p in (os.environ.get("VORONOID_BIN"), os.path.join(root, ".build/release/voronoid")):
        if p and os.path.exists(p):
            return p
    raise SystemExit("no voronoid binary: build with `swift build -c release` or set VORONOID_BIN")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_frames(X, seq, topic=b"vectors/evidence"):
    X = np.ascontiguousarray(X, dtype="<f4")
    return [topic, struct.pack("<4sIQ", b"VB1N", len(X), seq), X.tobytes()]


def decode_centers(header, centers, counts):
    magic, k, d, start_epoch, seq, model_epoch, version, temperature = struct.unpack("<4sIIQQQQd", header)
    return {"k": k, "d": d, "version": version, "temperature": temperature,
            "centers": np.frombuffer(centers, dtype="<f4").reshape(k, d).astype(np.float64),
            "counts": np.frombuffer(counts, dtype="<f8").copy()}


class DaemonError(RuntimeError):
    pass


class Voronoid:
    """One `voronoid run --pull` on free loopback ports, with its settings as `--set` options."""

    # Binaries that serve HTTP metrics bind 127.0.0.1:9464 by default, which another daemon on
    # this machine may hold: switch it off ("" disables). Older binaries do not know the key.
    extra_settings = {"metrics.address": '""'}

    def __init__(self, binary, k, settings=None, ready_timeout=30.0):
        self.binary = str(binary)
        self.settings = dict(settings or {})
        self.ctx = zmq.Context()
        for attempt in range(2):
            self._start(k, {**Voronoid.extra_settings, **self.settings})
            if self._wait_ready(ready_timeout):
                return
            log = "\n".join(self.lines[-20:])
            self.stop()
            if attempt == 0 and "metrics" in log and "unknown key" in log and Voronoid.extra_settings:
                Voronoid.extra_settings = {}
                self.ctx = zmq.Context()
                continue
            raise DaemonError("voronoid did not become ready:\n" + log)

    def _start(self, k, settings):
        self.ports = [free_port() for _ in range(3)]
        self.input, self.output, self.query = (f"tcp://127.0.0.1:{p}" for p in self.ports)
        args = [self.binary, "run", "--pull", "--input", self.input, "--output", self.output,
                "--query", self.query, "--k", str(k), "--log-level", "notice"]
        for key, value in settings.items():
            args += ["--set", f"{key}={value}"]
        self.args = args
        self.lines = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.ready.wait(0.05):
                return True
            if self.proc.poll() is not None:
                self.reader.join(2)
                return self.ready.is_set()
        return False

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if "voronoid ready" in line:
                self.ready.set()

    def query_socket(self, timeout_ms=5000):
        """A REQ socket on the query endpoint; `ask` through it to reuse it."""
        req = self.ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.RCVTIMEO, timeout_ms)
        req.connect(self.query)
        return req

    def ask(self, *frames, timeout_ms=5000, req=None):
        """One query and its reply, through `req` or a socket of its own."""
        own = req is None
        if own:
            req = self.query_socket(timeout_ms)
        try:
            req.send_multipart(list(frames))
            reply = req.recv_multipart()
        except zmq.Again:
            raise DaemonError(f"no reply to {frames[0]!r} within {timeout_ms} ms") from None
        finally:
            if own:
                req.close()
        if reply[0] == b"error":
            raise DaemonError(b": ".join(reply[1:]).decode(errors="replace"))
        return reply

    def stats(self):
        return json.loads(self.ask(b"stats")[0])

    def snapshot(self):
        return decode_centers(*self.ask(b"snapshot"))

    def predict(self, X):
        X = np.ascontiguousarray(X, dtype="<f4")
        reply = self.ask(b"predict", struct.pack("<4sIQ", b"VB1N", len(X), 0), X.tobytes())
        magic, n, k, start_epoch, seq, version = struct.unpack("<4sIIQQQ", reply[0])
        return {"best": np.frombuffer(reply[1], dtype="<i4"), "dist": np.frombuffer(reply[2], dtype="<f4"),
                "offsets": np.frombuffer(reply[3], dtype="<u4"), "indices": np.frombuffer(reply[4], dtype="<u4"),
                "weights": np.frombuffer(reply[5], dtype="<f4")}

    def stream(self, X, batch_size, timeout=600.0, poll_interval=0.005, pace_seconds=0.0):
        """Sends X as binary batches of `batch_size` over PUSH, then polls `stats` until every
        vector is accepted. Returns the seconds from the first send to the last accepted vector
        (as seen by the poll: an upper bound by at most one poll interval and one round trip)."""
        n = len(X)
        before = self.stats()["vectors_accepted"]
        messages = [batch_frames(X[s:s + batch_size], seq=i + 1)
                    for i, s in enumerate(range(0, n, batch_size))]
        push = self.ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 5000)
        push.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
        push.connect(self.input)
        # The polls share one REQ socket: a new socket per poll cost about 0.8 ms of processor
        # time (0.35 ms of it in the daemon's query thread), which at one poll every 5 ms took
        # about 8 % of a two-core machine from the stream being measured.
        poll = self.query_socket()
        gap = pace_seconds / max(1, len(messages))
        try:
            start = time.perf_counter()
            deadline = start + timeout
            for m in messages:
                push.send_multipart(m, copy=False)
                if gap:
                    time.sleep(gap)
            while True:
                accepted = json.loads(self.ask(b"stats", req=poll)[0])["vectors_accepted"] - before
                if accepted >= n:
                    return time.perf_counter() - start
                if time.perf_counter() > deadline:
                    raise DaemonError(f"only {accepted} of {n} vectors accepted after {timeout} s")
                if self.proc.poll() is not None:
                    raise DaemonError("voronoid exited:\n" + "\n".join(self.lines[-20:]))
                time.sleep(poll_interval)
        finally:
            push.close()
            poll.close()

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        self.ctx.destroy(linger=0)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class CentersRecorder:
    """Subscribes to centers.bin in a thread and keeps every snapshot (bounded in time)."""

    def __init__(self, daemon, max_seconds=300.0):
        self.snapshots = []
        self.sub = daemon.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVTIMEO, 100)
        self.sub.connect(daemon.output)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"centers.bin")
        self.stop_flag = threading.Event()
        self.deadline = time.time() + max_seconds
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag.is_set() and time.time() < self.deadline:
            try:
                frames = self.sub.recv_multipart()
            except zmq.Again:
                continue
            if frames[0] == b"centers.bin" and len(frames) == 4:
                self.snapshots.append(decode_centers(*frames[1:]))

    def close(self):
        self.stop_flag.set()
        self.thread.join(5)
        self.sub.close()
        return self.snapshots
