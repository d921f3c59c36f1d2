"""A numpy reimplementation of voronoid's update (MATH.md, "Streaming form"), for the claims that
need step-by-step trajectories. It follows the daemon's order of operations:

- xoshiro256** seeded through SplitMix64, greedy k-means++ with 2 + floor(ln k) trials, and the
  automatic start temperature heat x median((d2 - d1) / 2) over the warm-up;
- per batch: T = schedule(vectors seen before the batch); responsibilities from the distances
  shifted by the row minimum (entmax-1.5 exact by sorting, max-shifted softmax, or one-hot);
  S_k = sum_i r_ik, N_k <- gamma N_k + S_k with gamma = 2^(-|B|/h), c_k += sum_i r_ik (x_i - c_k) / N_k
  where S_k > 0.

Not reimplemented: dead-center re-seeding and the separation of coinciding centers (the daemon
runs for the agreement check switch both off with model.dead_center_fraction=0 and
model.separation_interval=0).
"""
import math

import numpy as np

MASK = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro256:
    """xoshiro256** with SplitMix64 seeding, bit for bit as Sources/Clustering/RandomSource.swift."""

    def __init__(self, seed):
        s = seed & MASK
        words = []
        for _ in range(4):
            s = (s + 0x9E3779B97F4A7C15) & MASK
            z = s
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            words.append(z ^ (z >> 31))
        self.s = words

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & MASK, 7) * 9) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def unit(self):
        return (self.next() >> 11) * 2.0 ** -53


def sqdist(X, C):
    """Squared distances (n x k) in float32, the direct form (x - c)^2 as the daemon's kernel."""
    X = np.asarray(X, dtype=np.float32)
    C = np.asarray(C, dtype=np.float32)
    out = np.empty((len(X), len(C)), dtype=np.float32)
    for j in range(len(C)):
        diff = X - C[j]
        out[:, j] = np.einsum("ij,ij->i", diff, diff)
    return out


def kmeans_pp(X, k, rng):
    """Greedy k-means++ as Sources/Clustering/Seeding.swift (same draws from `rng`)."""
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    trials = 2 + int(math.log(k))
    first = rng.next() % n
    chosen = [first]
    closest = sqdist(X, X[first:first + 1])[:, 0].astype(np.float64)
    potential = float(np.sum(closest))
    for _ in range(1, k):
        best_row, best_potential, best_closest = 0, math.inf, None
        for _ in range(trials):
            if potential > 0:
                target = rng.unit() * potential
                csum = np.cumsum(closest)
                hits = np.nonzero(csum > target)[0]
                row = int(hits[0]) if len(hits) else n - 1
            else:
                row = rng.next() % n
            cand = np.minimum(closest, sqdist(X, X[row:row + 1])[:, 0].astype(np.float64))
            p = float(np.sum(cand))
            if p < best_potential:
                best_row, best_potential, best_closest = row, p, cand
        chosen.append(best_row)
        closest = best_closest
        potential = best_potential
    return X[chosen].copy(), chosen


def auto_temperature(X, C, heat=1.0):
    """heat x median((d2 - d1) / 2) over the warm-up rows (upper median), with the same fallbacks."""
    D = sqdist(X, C).astype(np.float64)
    if D.shape[1] < 2:
        base = float(np.mean(D[:, 0]))
        return heat * (base if base > 0 else 1.0)
    part = np.sort(D, axis=1)
    gaps = np.sort((part[:, 1] - part[:, 0]) / 2)
    base = gaps[len(gaps) // 2]
    if not base > 0:
        pos = gaps[gaps > 0]
        base = pos[len(pos) // 2] if len(pos) else 0.0
    if not base > 0:
        base = float(np.mean(part[:, 0]))
    if not (base > 0 and math.isfinite(base)):
        base = 1.0
    return heat * base


class Schedule:
    def __init__(self, kind, initial, floor, half_life):
        self.kind, self.initial, self.floor, self.half_life = kind, initial, floor, half_life

    def __call__(self, n):
        x = n / self.half_life
        if self.kind == "constant":
            return self.initial
        if self.kind == "exponential":
            return max(self.floor, self.initial * 2.0 ** (-x))
        return max(self.floor, self.initial / (1 + x))


# ----- responsibilities ---------------------------------------------------------------------------

def entmax15_rows(D, T):
    """Entmax-1.5 over -D/T per row, dense (n x k) float64; exact (sort and prefix moments).

    Works on delta = D - min(D) so nothing overflows; only delta < 2T can be in the support."""
    D = np.asarray(D, dtype=np.float64)
    n, k = D.shape
    best = np.argmin(D, axis=1)
    dmin = D[np.arange(n), best]
    R = np.zeros((n, k))
    R[np.arange(n), best] = 1.0
    if not (T > 0) or k == 1:
        return R
    delta = D - dmin[:, None]
    cand = delta < 2 * T
    multi = cand.sum(axis=1) > 1
    if not multi.any():
        return R
    rows = np.nonzero(multi)[0]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        u = np.where(cand[rows], -delta[rows] / (2 * T), -np.inf)
    order = np.argsort(-u, axis=1, kind="stable")
    us = np.take_along_axis(u, order, axis=1)
    finite = np.isfinite(us)
    uz = np.where(finite, us, 0.0)
    rho = np.arange(1, k + 1, dtype=np.float64)
    cs = np.cumsum(uz, axis=1)
    css = np.cumsum(uz * uz, axis=1)
    mean = cs / rho
    spread = css - cs * mean
    tau = mean - np.sqrt(np.maximum(0.0, (1 - spread) / rho))
    ok = finite & (tau <= us)
    prefix = np.cumprod(ok, axis=1).astype(bool)
    support = prefix.sum(axis=1)
    support = np.maximum(support, 1)
    t = tau[np.arange(len(rows)), support - 1]
    e = np.where(prefix, np.maximum(us - t[:, None], 0.0), 0.0) ** 2
    tot = e.sum(axis=1)
    good = tot > 0
    W = np.zeros_like(e)
    W[good] = e[good] / tot[good, None]
    sub = np.zeros((len(rows), k))
    np.put_along_axis(sub, order, W, axis=1)
    # rows where nothing survived stay one-hot on the argmin
    R[rows[good]] = sub[good]
    return R


def softmax_shifted_rows(D, T, dtype=np.float32):
    """The daemon's softmax: exp(-(d - d_min) / T), 1/T clamped to the float range; dense."""
    D = np.asarray(D, dtype=dtype)
    dmin = D.min(axis=1, keepdims=True)
    delta = D - dmin
    inv = dtype(min(1.0 / T, float(np.finfo(dtype).max))) if T > 0 else dtype(np.finfo(dtype).max)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        W = np.where(delta == 0, dtype(1), np.exp(-(delta * inv)))
    return (W / W.sum(axis=1, keepdims=True)).astype(np.float64)


def softmax_naive_rows(D, T, dtype=np.float64):
    """Textbook softmax exp(-d/T) / sum exp(-d/T), no shift: what the daemon does not do."""
    D = np.asarray(D, dtype=dtype)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        E = np.exp(-D / dtype(T))
        return (E / E.sum(axis=1, keepdims=True)).astype(np.float64)


def hard_rows(D):
    D = np.asarray(D)
    R = np.zeros(D.shape)
    R[np.arange(len(D)), np.argmin(D, axis=1)] = 1.0
    return R


def responsibilities(D, T, mode):
    if mode == "entmax15":
        return entmax15_rows(D, T)
    if mode == "softmax":
        return softmax_shifted_rows(D, T)
    return hard_rows(D)


# ----- the streaming model ------------------------------------------------------------------------

class StreamingModel:
    """The daemon's model without re-seeding or separation."""

    def __init__(self, centers, schedule, count_half_life, mode):
        self.C = np.array(centers, dtype=np.float64)
        self.N = np.zeros(len(centers))
        self.schedule = schedule
        self.h = count_half_life
        self.mode = mode
        self.seen = 0

    @property
    def temperature(self):
        return self.schedule(self.seen)

    def step(self, X):
        X = np.asarray(X, dtype=np.float32)
        T = self.temperature
        D = sqdist(X, self.C.astype(np.float32))
        R = responsibilities(D, T, self.mode)
        S = R.sum(axis=0)
        gamma = 2.0 ** (-len(X) / self.h) if math.isfinite(self.h) else 1.0
        self.N = gamma * self.N + S
        moved = S > 0
        delta = R.T @ X.astype(np.float64) - S[:, None] * self.C
        self.C[moved] += delta[moved] / self.N[moved, None]
        self.seen += len(X)
        return R


def seeded_model(warmup, k, seed, mode, heat=1.0, floor_ratio=1e-3, kind="exponential",
                 half_life=20_000, count_half_life=10_000, fixed_temperature=None):
    """k-means++ on `warmup` with model.seed = seed and the automatic schedule, as the daemon."""
    rng = Xoshiro256(seed)
    C, _ = kmeans_pp(warmup, k, rng)
    if fixed_temperature is not None:
        sched = Schedule("constant", fixed_temperature, fixed_temperature, 1.0)
    else:
        t0 = auto_temperature(warmup, C, heat)
        sched = Schedule(kind, t0, t0 * floor_ratio, half_life)
    return StreamingModel(C, sched, count_half_life, mode)


def run_stream(model, X, batch_size):
    """Applies X in batches of `batch_size` (the last may be short), recording the centers."""
    traj = [model.C.copy()]
    for start in range(0, len(X), batch_size):
        model.step(X[start:start + batch_size])
        traj.append(model.C.copy())
    return np.array(traj)


def lloyd(X, C, max_iter=300):
    """Plain Lloyd iterations to a fixed point (empty clusters keep their center)."""
    X = np.asarray(X, dtype=np.float64)
    C = np.array(C, dtype=np.float64)
    for _ in range(max_iter):
        lab = np.argmin(sqdist(X, C), axis=1)
        newC = C.copy()
        for j in range(len(C)):
            m = lab == j
            if m.any():
                newC[j] = X[m].mean(axis=0)
        if np.array_equal(newC, C):
            break
        C = newC
    return C
