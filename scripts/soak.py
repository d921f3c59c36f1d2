#!/usr/bin/env python3
"""Runs voronoid under steady load for a chosen time and prints a report.

    scripts/soak.py --seconds 600 --rate 100000

Starts the built binary (VORONOID_BIN, else .build/release/voronoid, else .build/debug/voronoid)
on free loopback ports, publishes sequenced batches of synthetic vectors at the given rate, and
subscribes to the assignments. Every ids frame carries the send time, so the subscriber measures
each vector's latency from send to assignment. Prints vectors sent, accepted and dropped by
reason, resident memory over time and latency percentiles; exits non-zero if the daemon died,
lost vectors over PULL, or its memory grew by more than --max-growth.
"""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    if os.environ.get("VORONOID_BIN"):
        return os.environ["VORONOID_BIN"]
    for p in [ROOT / ".build/release/voronoid", ROOT / ".build/debug/voronoid"]:
        if p.exists():
            return str(p)
    sys.exit("build voronoid first: swift build -c release")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=50_000, help="vectors per second")
    ap.add_argument("--per-message", type=int, default=64)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--pull", action="store_true", help="lossless PUSH/PULL input instead of PUB/SUB")
    ap.add_argument("--max-growth", type=float, default=0.25, help="allowed RSS growth after the first tenth")
    args = ap.parse_args()

    ports = {n: free_port() for n in ["in", "out", "query"]}
    cmd = [binary(), "run", "--k", str(args.k), "--dimension", str(args.dim),
           "--input", f"tcp://127.0.0.1:{ports['in']}", "--output", f"tcp://127.0.0.1:{ports['out']}",
           "--query", f"tcp://127.0.0.1:{ports['query']}", "--set", 'metrics.address=""']
    if args.pull:
        cmd.append("--pull")
    daemon = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    ready = threading.Event()
    log = []

    def read():
        for line in daemon.stderr:
            log.append(line.rstrip())
            if "voronoid ready" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(30):
        daemon.kill()
        sys.exit("daemon did not start:\n" + "\n".join(log))

    ctx = zmq.Context()
    latencies = []
    received = [0]
    stop = threading.Event()

    def subscribe():
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.connect(f"tcp://127.0.0.1:{ports['out']}")
        sub.setsockopt(zmq.SUBSCRIBE, b"assignments.bin")
        while not stop.is_set():
            if not sub.poll(200):
                continue
            frames = sub.recv_multipart()
            now = time.monotonic_ns()
            n = struct.unpack_from("<I", frames[1], 4)[0]
            received[0] += n
            ids = np.frombuffer(frames[2], dtype="<i8")
            latencies.append((now - ids[0]) / 1e6)
        sub.close(linger=0)

    subscriber = threading.Thread(target=subscribe)
    subscriber.start()
    producer = ctx.socket(zmq.PUSH if args.pull else zmq.PUB)
    producer.setsockopt(zmq.SNDHWM, 10_000)
    producer.connect(f"tcp://127.0.0.1:{ports['in']}")
    time.sleep(0.7)

    rng = np.random.default_rng(1)
    means = rng.uniform(-20, 20, size=(args.k, args.dim))
    pool = (means[rng.integers(0, args.k, 65_536)] + rng.normal(size=(65_536, args.dim))).astype("<f4")
    memory = []
    sent = 0
    seq = 0
    start = time.monotonic()
    next_sample = start
    while True:
        now = time.monotonic()
        if now - start >= args.seconds or daemon.poll() is not None:
            break
        if now >= next_sample:
            memory.append((round(now - start, 1), rss_kib(daemon.pid)))
            next_sample += max(1.0, args.seconds / 60)
        due = (now - start) * args.rate
        if sent >= due:
            time.sleep(min(0.005, (sent - due) / args.rate))
            continue
        seq += 1
        i = (seq * args.per_message) % (65_536 - args.per_message)
        ids = np.full(args.per_message, time.monotonic_ns(), dtype="<i8")
        producer.send_multipart([b"vectors/soak", struct.pack("<4sIQ", b"VB1I", args.per_message, seq),
                                 pool[i:i + args.per_message].tobytes(), ids.tobytes()])
        sent += args.per_message
    elapsed = time.monotonic() - start
    time.sleep(1.5)
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, 5000)
    req.connect(f"tcp://127.0.0.1:{ports['query']}")
    req.send_multipart([b"stats"])
    stats = json.loads(req.recv_multipart()[0])
    stop.set()
    subscriber.join()
    alive = daemon.poll() is None
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(30)

    lat = np.array(latencies) if latencies else np.array([np.nan])
    print(f"soak: {elapsed:.0f} s at {args.rate:,.0f} vectors/s offered ({'PULL' if args.pull else 'SUB'}), "
          f"d {args.dim}, k {args.k}, {args.per_message} vectors/message")
    print(f"  sent      {sent:,}")
    print(f"  accepted  {stats['vectors_accepted']:,}  ({stats['vectors_accepted'] / elapsed:,.0f}/s)")
    print(f"  assigned  {received[0]:,} (rows received by the subscriber)")
    drops = {k[len('dropped_'):]: v for k, v in stats.items() if k.startswith("dropped_")}
    print(f"  dropped   {stats['dropped']:,} {drops if drops else ''}; sequence gaps {stats['sequence_gaps']:,} messages")
    print(f"  latency   p50 {np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms, max {lat.max():.2f} ms (send to assignment)")
    print("  rss (KiB) " + ", ".join(f"{t}s:{m}" for t, m in memory))
    print(f"  daemon    {'alive' if alive else 'DIED'} until the end; exit status {code}")
    failures = []
    if not alive or code != 0:
        failures.append("the daemon died or exited badly")
    if args.pull and stats["vectors_accepted"] != sent:
        failures.append(f"PULL lost {sent - stats['vectors_accepted']} vectors")
    if len(memory) >= 10:
        base = max(m for _, m in memory[len(memory) // 10: len(memory) // 5 + 1])
        peak = max(m for _, m in memory[len(memory) // 5:])
        if peak > base * (1 + args.max_growth):
            failures.append(f"resident memory grew from {base} to {peak} KiB")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
