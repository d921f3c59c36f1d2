"""Throughput at embedding shapes: the real daemon against scikit-learn on the same stream.

    python3 scripts/evidence/embedding.py [--binary .build/release/voronoid] [--vectors N] [--json]
    python3 scripts/evidence/embedding.py --start-cost [--vectors N] [--rounds R]

For each shape (d, k) the same blobs stream goes, in batches of 1024, through
  - `voronoid run --pull` (PUSH over loopback, VB1N batches, model.threads 1 and 2, defaults
    otherwise: k-means++ on its warm-up, entmax15 under the automatic temperature), timed from
    the first send to the last vector accepted, seeding included;
  - `MiniBatchKMeans.partial_fit` per batch, with one thread and with scikit-learn's default
    threads (its OpenMP threads are erratic on a shared 2-core machine; the better is quoted),
    initialisation included.
The two alternate in rounds and each keeps its best round, so a busy machine slows both alike.
Prints a Markdown table (or JSON lines) with the ratio to scikit-learn's best. The evidence report
(evidence.py) runs `measure` on SHAPES and holds the ratios to BARS.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon import Voronoid  # noqa: E402

SHAPES = [(384, 256), (768, 1024)]
BARS = {(384, 256): 2.0, (768, 1024): 3.0}  # voronoid ÷ scikit-learn's best, throughput
BATCH = 1024


def default_vectors(d):
    return 100_000 if d <= 384 else 60_000


def blobs(n, d, k, seed):
    """k Gaussian blobs of unit spread whose means are uniform in a cube of side 20."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10, 10, size=(k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    return (means[y] + rng.normal(size=(n, d)).astype(np.float32)).astype(np.float32)


def sklearn_rate(X, k, threads):
    model = MiniBatchKMeans(n_clusters=k, batch_size=BATCH, random_state=0, n_init=1)
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        for s in range(0, len(X), BATCH):
            model.partial_fit(X[s:s + BATCH])
        return len(X) / (time.perf_counter() - start)


def voronoid_rate(binary, X, k, threads):
    settings = {"input.batch_size": BATCH, "model.threads": threads}
    with Voronoid(binary, k, settings) as v:
        seconds = v.stream(X, BATCH)
    return len(X) / seconds


def measure(binary, d, k, n, rounds):
    """One shape's blobs through `compare`."""
    return compare(binary, blobs(n, d, k, seed=d + k), k, rounds)


def compare(binary, X, k, rounds):
    """One stream: each side's best round of `rounds`, alternating so that a busy machine slows
    both alike; ratios are to scikit-learn's better thread setting."""
    n, d = X.shape
    best = {"sk1": 0.0, "skdefault": 0.0, "v1": 0.0, "v2": 0.0}
    for _ in range(rounds):
        best["sk1"] = max(best["sk1"], sklearn_rate(X, k, 1))
        best["v1"] = max(best["v1"], voronoid_rate(binary, X, k, 1))
        best["skdefault"] = max(best["skdefault"], sklearn_rate(X, k, None))
        best["v2"] = max(best["v2"], voronoid_rate(binary, X, k, 2))
    sk = max(best["sk1"], best["skdefault"])
    return {"d": d, "k": k, "vectors": n, "rounds": rounds, "sklearn_1_thread": round(best["sk1"]),
            "sklearn_default_threads": round(best["skdefault"]), "voronoid_threads_1": round(best["v1"]),
            "voronoid_threads_2": round(best["v2"]), "ratio_threads_1": best["v1"] / sk,
            "ratio_best": max(best["v1"], best["v2"]) / sk}


def start_cost(binary, d, k, n, threads, rounds):
    """The daemon's time split as fixed + vectors / rate, from streams of n and 4n vectors (each
    length's best of `rounds`): the fixed part is its start (warm-up, seeding, first model), the
    rate what it learns at once it runs."""
    X = blobs(4 * n, d, k, seed=d + k)
    seconds = {}
    for m in (n, 4 * n):
        seconds[m] = min(len(X[:m]) / voronoid_rate(binary, X[:m], k, threads) for _ in range(rounds))
    rate = 3 * n / (seconds[4 * n] - seconds[n])
    return {"d": d, "k": k, "threads": threads, "fixed_seconds": seconds[n] - n / rate, "steady_rate": rate,
            "rate_n": n / seconds[n], "n": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/voronoid")
    ap.add_argument("--vectors", type=int, default=0, help="stream length (default: 100 000 at d 384, 60 000 at d 768)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--start-cost", action="store_true",
                    help="instead: split the daemon's time into its start and its steady rate (streams of n and 4n)")
    args = ap.parse_args()
    if args.start_cost:
        for d, k in SHAPES:
            for threads in (1, 2):
                r = start_cost(args.binary, d, k, args.vectors or default_vectors(d), threads, args.rounds)
                print(json.dumps(r) if args.json else
                      f"d {d}, k {k}, threads {threads}: start {1000 * r['fixed_seconds']:.0f} ms, then "
                      f"{r['steady_rate']:,.0f} vectors/s ({r['rate_n']:,.0f} over {r['n']:,})", flush=True)
        return
    rows = []
    for d, k in SHAPES:
        row = measure(args.binary, d, k, args.vectors or default_vectors(d), args.rounds)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        print("| d | k | vectors | scikit-learn 1 thread / default | voronoid threads 1 / 2 | ratio (1 thread / best) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| {r['d']} | {r['k']} | {r['vectors']} | {r['sklearn_1_thread']:,} / {r['sklearn_default_threads']:,} "
                  f"| {r['voronoid_threads_1']:,} / {r['voronoid_threads_2']:,} | {r['ratio_threads_1']:.2f} / {r['ratio_best']:.2f} |")


if __name__ == "__main__":
    main()
