"""Compares voronoid settings on the defaults.py sets: for each JSON object of settings (applied
with --set, beyond k and the batch size) one line with, per set, the geometric mean over seeds of
voronoid's inertia / scikit-learn MiniBatchKMeans.partial_fit's (one thread), then each seed's.

    python3 scripts/evidence/sweep.py SETS SEEDS '{}' '{"model.memory_fraction": 0.3}' ...

e.g. SETS = blobs-16,digits,wine,cancer,flower and SEEDS = 3 (docs/SCHEDULES.md).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import defaults as D
from sklearn.cluster import MiniBatchKMeans
from threadpoolctl import threadpool_limits
cache = {}
def mbk(name, seed):
    if (name, seed) not in cache:
        X, E, k, b = D.make(name, seed)
        with threadpool_limits(limits=1):
            m = MiniBatchKMeans(n_clusters=k, batch_size=b, random_state=seed, n_init=1)
            for s in range(0, len(X), b): m.partial_fit(X[s:s+b])
        cache[(name, seed)] = D.inertia(E, m.cluster_centers_)
    return cache[(name, seed)]
sets = sys.argv[1].split(","); seeds = int(sys.argv[2]); configs = [json.loads(c) for c in sys.argv[3:]]
for cfg in configs:
    out = []
    for name in sets:
        r = []
        for seed in range(1, seeds + 1):
            X, E, k, b = D.make(name, seed)
            with D.Voronoid(D.binary(), k, {"input.batch_size": b, "model.seed": seed, **cfg}) as v:
                v.stream(X, b); C = v.snapshot()["centers"]
            r.append(D.inertia(E, C) / mbk(name, seed))
        out.append(f"{name}:{np.exp(np.mean(np.log(r))):.3f}[{','.join(f'{x:.3f}' for x in r)}]")
    print(json.dumps(cfg), " ".join(out), flush=True)
