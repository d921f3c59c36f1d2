"""The issue-12 bars: voronoid with only k and the batch size given (plus any --set overrides),
against scikit-learn's MiniBatchKMeans.partial_fit on the same batches in the same order and
against full-batch KMeans (k-means++, n_init=3, run to convergence), by inertia on the stream's
distinct vectors.

    python3 scripts/evidence/defaults.py [--sets a,b] [--seeds N] [--set key=value ...] [--json OUT]

Prints one row per set: voronoid / MiniBatchKMeans and voronoid / KMeans, and MiniBatchKMeans /
KMeans. MiniBatchKMeans runs with one thread and with scikit-learn's default threads (its
OpenMP reductions round differently, so the models differ) and the better of the two is quoted;
--sklearn-threads N runs it with N threads only. Full-batch KMeans runs with the default threads.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon import Voronoid  # noqa: E402

from sklearn.cluster import KMeans, MiniBatchKMeans  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, load_sample_image, load_wine  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


def blobs(n, d, k, std, seed, side=20.0, sizes=None):
    rng = np.random.default_rng(1000 + seed)
    means = rng.uniform(-side / 2, side / 2, size=(k, d))
    if sizes is None:
        y = rng.integers(0, k, n)
    else:
        p = np.asarray(sizes, dtype=float) / np.sum(sizes)
        y = rng.choice(k, size=n, p=p)
    return (means[y] + std * rng.normal(size=(n, d))).astype(np.float32)


def passes(base, times, seed):
    rng = np.random.default_rng(2000 + seed)
    order = np.concatenate([rng.permutation(len(base)) for _ in range(times)])
    return base[order].astype(np.float32), base.astype(np.float32)


def make(name, seed):
    """(stream, evaluation set, k, batch)."""
    if name == "blobs-16":
        X = blobs(100_000, 16, 16, 3.0, seed)
        return X, X, 16, 1024
    if name == "blobs-64":
        X = blobs(200_000, 64, 64, 1.0, seed)
        return X, X, 64, 1024
    if name == "blobs-384":
        X = blobs(200_000, 384, 256, 1.0, seed)
        return X, X, 256, 1024
    if name == "imbalanced":
        # Sizes spanning three orders of magnitude: 4 large, 4 medium, 4 rare clusters.
        X = blobs(100_000, 8, 12, 1.0, seed, sizes=[300, 300, 300, 300, 30, 30, 30, 30, 3, 3, 3, 3])
        return X, X, 12, 1024
    if name == "digits":
        X, base = passes(load_digits().data, 3, seed)
        return X, base, 10, 256
    if name == "flower":
        img = load_sample_image("flower.jpg").reshape(-1, 3).astype(np.float32) / 255
        rng = np.random.default_rng(3000 + seed)
        X = img[rng.permutation(len(img))]
        return X, img, 64, 1024
    if name == "wine":
        X, base = passes(StandardScaler().fit_transform(load_wine().data), 30, seed)
        return X, base, 8, 256
    if name == "cancer":
        X, base = passes(StandardScaler().fit_transform(load_breast_cancer().data), 10, seed)
        return X, base, 8, 256
    raise SystemExit(f"unknown set {name}")


def inertia(X, C, chunk=8192):
    C = np.asarray(C, dtype=np.float64)
    cc = (C ** 2).sum(1)
    total = 0.0
    for s in range(0, len(X), chunk):
        x = X[s:s + chunk].astype(np.float64)
        d = (x ** 2).sum(1)[:, None] - 2 * x @ C.T + cc[None, :]
        total += np.maximum(d.min(1), 0).sum()
    return total / len(X)


def binary():
    for p in (os.environ.get("VORONOID_BIN"), os.path.join(ROOT, ".build/release/voronoid")):
        if p and os.path.exists(p):
            return p
    raise SystemExit("no voronoid binary: build with `swift build -c release` or set VORONOID_BIN")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="blobs-16,digits,flower,wine,cancer,imbalanced,blobs-64,blobs-384")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="voronoid setting key=value")
    ap.add_argument("--sklearn-threads", type=int, default=0, help="0: the better of 1 and the default")
    ap.add_argument("--no-full", action="store_true", help="skip full-batch KMeans")
    ap.add_argument("--json")
    a = ap.parse_args()
    extra = dict(s.split("=", 1) for s in a.set)
    rows = []
    print(f"voronoid settings beyond k and batch size: {extra or 'none'}", flush=True)
    print(f"{'set':12} {'seed':>4} {'voronoid':>12} {'MBK':>12} {'KMeans':>12} {'v/MBK':>7} {'v/KM':>7} {'MBK/KM':>7}", flush=True)
    for name in a.sets.split(","):
        for seed in range(1, a.seeds + 1):
            X, E, k, batch = make(name, seed)
            with Voronoid(binary(), k, {"input.batch_size": batch, "model.seed": seed, **extra}) as v:
                v.stream(X, batch)
                Cv = v.snapshot()["centers"]
            def minibatch(threads):
                with threadpool_limits(limits=threads):
                    mbk = MiniBatchKMeans(n_clusters=k, batch_size=batch, random_state=seed, n_init=1)
                    for s in range(0, len(X), batch):
                        mbk.partial_fit(X[s:s + batch])
                return inertia(E, mbk.cluster_centers_)
            if a.sklearn_threads > 0:
                im = minibatch(a.sklearn_threads)
            else:
                im = min(minibatch(1), minibatch(None))
            full = None
            if not a.no_full:
                full = KMeans(n_clusters=k, init="k-means++", n_init=3, max_iter=300, tol=1e-6,
                              random_state=seed).fit(E)
            iv = inertia(E, Cv)
            ik = inertia(E, full.cluster_centers_) if full is not None else float("nan")
            row = {"set": name, "seed": seed, "voronoid": iv, "mbk": im, "kmeans": ik}
            rows.append(row)
            print(f"{name:12} {seed:>4} {iv:12.5g} {im:12.5g} {ik:12.5g} {iv / im:7.3f} {iv / ik:7.3f} {im / ik:7.3f}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"settings": extra, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
