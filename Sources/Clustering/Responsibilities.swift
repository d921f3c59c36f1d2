import CKernelShims
import RealModule

/// Per-row responsibility kernels: from one row of squared distances to a sparse distribution.
///
/// Every kernel works on distances shifted by the row's minimum, `δ_j = d_j − d_min ≥ 0`, which is
/// the max shift of the logits `−d/T`; nothing here forms `exp(−d/T)`.
public enum ResponsibilityKernel {
    /// Index and value of the smallest entry (lowest index on ties). A row of `+∞` reports index 0.
    ///
    /// Squared distances are never negative, and the bit patterns of non-negative IEEE floats
    /// order exactly like the floats themselves, so the minimum is an unsigned-integer reduction,
    /// which the compiler vectorizes (a floating-point `min` reduction it may not reorder).
    /// A NaN pattern sorts above `+∞` and is never chosen while any other value exists.
    public static func argmin(_ d: UnsafePointer<Float>, count k: Int) -> (index: Int, value: Float) {
        let bits = UnsafeRawPointer(d).assumingMemoryBound(to: UInt32.self)
        var m = UInt32.max
        for j in 0..<k {
            let v = bits[j]
            m = v < m ? v : m
        }
        var index = 0
        let raw = UnsafeRawPointer(d)
        let target = SIMD8<UInt32>(repeating: m)
        while index &+ 8 <= k && !any(raw.loadUnaligned(fromByteOffset: index &* 4, as: SIMD8<UInt32>.self) .== target) {
            index &+= 8
        }
        while index < k && bits[index] != m { index &+= 1 }
        return index < k ? (index, Float(bitPattern: m)) : (0, d[0])
    }

    /// The smallest entry: the first half of ``argmin(_:count:)``, for callers that learn the
    /// index elsewhere (``entmax15(_:count:best:dMin:temperature:indices:weights:scratch:)`` puts
    /// the nearest center first).
    public static func minimum(_ d: UnsafePointer<Float>, count k: Int) -> Float {
        let bits = UnsafeRawPointer(d).assumingMemoryBound(to: UInt32.self)
        var m = UInt32.max
        for j in 0..<k {
            let v = bits[j]
            m = v < m ? v : m
        }
        return Float(bitPattern: m)
    }

    /// Entmax weights `(u − τ)²` at or below this are left out of the support.
    ///
    /// `τ` carries a rounding error of a few `ρ·ε` (`u, τ ∈ [−1, 0]`), so a center whose `u`
    /// sits that close to it is, in exact arithmetic, on the boundary with weight zero — the
    /// usual case being ties at the threshold, as in integer-valued data. Kept, such centers would
    /// be published with weights near 1e-32; the nearest center's is at least 1/k.
    static let negligibleWeight = 1e-24

    /// Bit `j` set where `d[j] ≤ limit`, for `count ≤ 64` distances, eight at a time.
    @inline(__always)
    static func candidateMask(_ d: UnsafePointer<Float>, count: Int, limit: Float) -> UInt64 {
        var mask: UInt64 = 0
        var j = 0
        while j &+ 8 <= count {
            mask |= UInt64(voronoid_mask_at_most8(d + j, limit)) << UInt64(j)
            j &+= 8
        }
        while j < count {
            if d[j] <= limit { mask |= 1 << UInt64(j) }
            j &+= 1
        }
        return mask
    }

    /// Entmax-1.5 over the logits `z_j = −d_j / T` (Peters, Niculae and Martins, ACL 2019).
    ///
    /// With the halved, max-shifted logits `u_j = −(d_j − d_min) / (2T) ∈ (−∞, 0]`:
    ///
    /// ```
    /// r_j = [u_j − τ]₊²,   τ such that Σ r_j = 1,   τ ∈ [−1, 0)
    /// ```
    ///
    /// Only centers with `d_j − d_min < 2T` (that is `u_j > −1`) can be in the support, so they
    /// are gathered first, sorted, and the exact threshold found from prefix moments:
    /// `τ_ρ = μ_ρ − √((1 − ρ·(mean of squares − μ_ρ²)) / ρ)`, support = largest ρ with `τ_ρ ≤ u_(ρ)`.
    ///
    /// - Parameters:
    ///   - d: the row's `k` squared distances.
    ///   - best: the row's argmin if known (else it is found when needed); `dMin` its value.
    ///   - temperature: `T > 0`.
    ///   - indices, weights: output, room for `k`; written in decreasing weight order.
    ///   - scratch: room for `2k` doubles.
    /// - Returns: the support size `s ≥ 1`; the weights sum to 1, and `indices[0]` is the
    ///   nearest center (lowest index on ties).
    /// - Complexity: O(k + s²) for up to ``sortLimit`` candidates `s` (an insertion sort),
    ///   O(k + s + ρ log s) above, where ρ is the support size.

    public static func entmax15(
        _ d: UnsafePointer<Float>, count k: Int, best: Int? = nil, dMin: Float, temperature: Double,
        indices: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Double>
    ) -> Int {
        let twoT = 2 * temperature
        let floorD = Double(dMin)
        // A row whose nearest distance overflowed cannot be compared: give it to its argmin.
        guard floorD.isFinite, twoT > 0 else {
            indices[0] = Int32(truncatingIfNeeded: best ?? argmin(d, count: k).index)
            weights[0] = 1
            return 1
        }
        let u = scratch
        let idx = UnsafeMutableRawPointer(scratch + k).assumingMemoryBound(to: Int.self)
        let s = gatherCandidates(d, count: k, floor: floorD, twoT: twoT, u: u, idx: idx)
        // Candidates were gathered in index order, so the first at distance d_min is the argmin
        // (lowest index on ties), and the stable sort below keeps it first.
        if s <= 1 {
            indices[0] = Int32(truncatingIfNeeded: s == 1 ? idx[0] : (best ?? argmin(d, count: k).index))
            weights[0] = 1
            return 1
        }
        let (support, tau) = orderedThreshold(u, idx, count: s)
        var total = 0.0
        var written = 0
        for r in 0..<support {
            let e = u[r] - tau
            let w = e * e
            if w > negligibleWeight {
                u[written] = w
                idx[written] = idx[r]
                written &+= 1
                total += w
            }
        }
        if written == 0 || !(total > 0) {
            indices[0] = Int32(truncatingIfNeeded: best ?? argmin(d, count: k).index)
            weights[0] = 1
            return 1
        }
        let scale = 1 / total
        for r in 0..<written {
            indices[r] = Int32(truncatingIfNeeded: idx[r])
            weights[r] = Float(u[r] * scale)
        }
        return written
    }

    /// The candidates of a row: every center with `δ = d − floor < 2T`, in index order, as
    /// `u = −δ / 2T ∈ (−1, 0]` with its index. Returns how many.
    ///
    /// A float pre-filter, rounded outwards, marks the candidates eight at a time in a bit mask,
    /// and only the marked ones are visited (usually two or three of them): no branch per
    /// center to mispredict. The exact test in double precision, on δ so no division can
    /// overflow, decides membership.
    @inline(__always)
    static func gatherCandidates(
        _ d: UnsafePointer<Float>, count k: Int, floor floorD: Double, twoT: Double,
        u: UnsafeMutablePointer<Double>, idx: UnsafeMutablePointer<Int>
    ) -> Int {
        let limit = Float(floorD + twoT).nextUp
        // A multiplication per candidate instead of a division, unless 2T is so small (subnormal)
        // that its inverse overflows.
        let inverseTwoT = 1 / twoT
        let inverseIsFinite = inverseTwoT.isFinite
        var s = 0
        var block = 0
        while block < k {
            let end = Swift.min(block &+ 64, k)
            var mask = candidateMask(d + block, count: end &- block, limit: limit)
            while mask != 0 {
                let c = block &+ mask.trailingZeroBitCount
                mask &= mask &- 1
                let delta = Double(d[c]) - floorD
                if delta < twoT {
                    u[s] = inverseIsFinite ? -delta * inverseTwoT : -delta / twoT
                    idx[s] = c
                    s &+= 1
                }
            }
            block = end
        }
        return s
    }

    /// Candidate counts up to this are sorted outright; above it (a hot temperature, tens to
    /// hundreds of candidates) a heap yields them in order only as far as the support reaches.
    static let sortLimit = 48

    /// Support size and threshold of `s` candidates, leaving the support sorted at the front:
    /// a few are sorted outright; many are first narrowed (``narrow(_:_:count:)``), then sorted
    /// or, if still many, drawn from a heap as far as the support reaches.
    static func orderedThreshold(
        _ u: UnsafeMutablePointer<Double>, _ idx: UnsafeMutablePointer<Int>, count s: Int
    ) -> (support: Int, tau: Double) {
        let kept = s <= sortLimit ? s : narrow(u, idx, count: s)
        if kept <= sortLimit {
            sortDescending(u, idx, count: kept)
            return threshold(u, count: kept)
        }
        return heapThreshold(u, idx, count: kept)
    }

    /// Insertion sort by `u` descending, stable: ties keep index order.
    @inline(__always)
    static func sortDescending(_ u: UnsafeMutablePointer<Double>, _ idx: UnsafeMutablePointer<Int>, count s: Int) {
        var a = 1
        while a < s {
            let key = u[a]
            let keyIndex = idx[a]
            var b = a &- 1
            while b >= 0 && u[b] < key {
                u[b &+ 1] = u[b]
                idx[b &+ 1] = idx[b]
                b &-= 1
            }
            u[b &+ 1] = key
            idx[b &+ 1] = keyIndex
            a &+= 1
        }
    }

    /// Support size and threshold `τ` of `s` candidates sorted by `u` descending: the condition
    /// `τ_ρ ≤ u_(ρ)` holds for a prefix of them, so the scan stops at its first failure.
    @inline(__always)
    static func threshold(_ u: UnsafePointer<Double>, count s: Int) -> (support: Int, tau: Double) {
        var sum = 0.0
        var sumSquares = 0.0
        var support = 1
        var tau = -1.0
        var r = 0
        while r < s {
            let v = u[r]
            sum += v
            sumSquares += v * v
            let inverseRho = 1 / Double(r &+ 1)
            let mean = sum * inverseRho
            let spread = sumSquares - sum * mean
            let t = mean - Swift.max(0, (1 - spread) * inverseRho).squareRoot()
            if t > v { break }
            support = r &+ 1
            tau = t
            r &+= 1
        }
        return (support, tau)
    }

    /// ``threshold(_:count:)`` for many candidates: a max-heap (by `u`, then lower index) gives
    /// them in the sorted order one at a time, so only the support and one more are ordered,
    /// O(s + ρ log s) instead of the insertion sort's O(s²). Leaves the support's candidates
    /// sorted at the front of `u` and `idx`, exactly as the sort would.
    static func heapThreshold(
        _ u: UnsafeMutablePointer<Double>, _ idx: UnsafeMutablePointer<Int>, count s: Int
    ) -> (support: Int, tau: Double) {
        @inline(__always) func before(_ a: Int, _ b: Int) -> Bool {
            u[a] > u[b] || (u[a] == u[b] && idx[a] < idx[b])
        }
        @inline(__always) func swapAt(_ a: Int, _ b: Int) {
            let v = u[a]; u[a] = u[b]; u[b] = v
            let i = idx[a]; idx[a] = idx[b]; idx[b] = i
        }
        @inline(__always) func siftDown(_ start: Int, _ end: Int) {
            var p = start
            while true {
                var child = 2 &* p &+ 1
                if child >= end { return }
                if child &+ 1 < end && before(child &+ 1, child) { child &+= 1 }
                if !before(child, p) { return }
                swapAt(p, child)
                p = child
            }
        }
        var p = s / 2 &- 1
        while p >= 0 { siftDown(p, s); p &-= 1 }
        // Popped candidates collect at the back, first popped last.
        var end = s
        var sum = 0.0
        var sumSquares = 0.0
        var support = 1
        var tau = -1.0
        while end > 0 {
            let v = u[0]
            sum += v
            sumSquares += v * v
            let rho = s &- end &+ 1
            let inverseRho = 1 / Double(rho)
            let mean = sum * inverseRho
            let spread = sumSquares - sum * mean
            let t = mean - Swift.max(0, (1 - spread) * inverseRho).squareRoot()
            if t > v { break }
            support = rho
            tau = t
            end &-= 1
            swapAt(0, end)
            siftDown(0, end)
        }
        // The support sits at s − support ..< s in reverse order: reverse it, then move it to
        // the front (source above destination, so the forward copy is safe).
        var a = s &- support, b = s &- 1
        while a < b { swapAt(a, b); a &+= 1; b &-= 1 }
        let first = s &- support
        var r = 0
        while r < support {
            u[r] = u[first &+ r]
            idx[r] = idx[first &+ r]
            r &+= 1
        }
        return (support, tau)
    }

    /// The entmax-1.5 threshold `τ ∈ [−1, 0)` of a row, relative to its largest halved logit
    /// (the same `u` scale as ``entmax15(_:count:best:dMin:temperature:indices:weights:scratch:)``):
    /// centers with `(d_j − dMin) / 2T < −τ` form the support. `dMin` must be the row's minimum.
    /// Writes nothing but `scratch` (room for `2k` doubles). With `lowerBound`, rows of many
    /// candidates get a lower bound of `τ` (Newton iterates) instead, without ordering them.
    public static func entmax15Threshold(
        _ d: UnsafePointer<Float>, count k: Int, dMin: Float, temperature: Double, scratch: UnsafeMutablePointer<Double>,
        lowerBound: Bool = false
    ) -> Double {
        let twoT = 2 * temperature
        let floorD = Double(dMin)
        guard floorD.isFinite, twoT > 0, twoT.isFinite else { return -1 }
        let u = scratch
        let idx = UnsafeMutableRawPointer(scratch + k).assumingMemoryBound(to: Int.self)
        let s = gatherCandidates(d, count: k, floor: floorD, twoT: twoT, u: u, idx: idx)
        if s <= 1 { return -1 }
        if lowerBound && s > sortLimit { return thresholdLowerBound(u, count: s) }
        return orderedThreshold(u, idx, count: s).tau
    }

    /// A lower bound of the entmax-1.5 threshold of `s` candidates `u ∈ (−1, 0]` (any order):
    /// up to eight Newton steps on `Σ (u − τ)₊² = 1` from −1, each a hair short, so every iterate
    /// stays at or below the root (the function is convex and decreasing).
    static func thresholdLowerBound(_ u: UnsafePointer<Double>, count s: Int) -> Double {
        var tau = -1.0
        var step = 0
        while step < 8 {
            var sum = 0.0
            var squares = 0.0
            var r = 0
            while r < s {
                let e = Swift.max(0, u[r] - tau)
                sum += e
                squares += e * e
                r &+= 1
            }
            let f = squares - 1
            guard f > 0, sum > 0 else { break }
            let next = tau + f / (2 * sum) * (1 - 0x1p-20)
            guard next > tau else { break }
            tau = next
            step &+= 1
        }
        // Near the root the step is below the sum's rounding: stay 2⁻⁴⁰ below, where a
        // weight (u − τ)² is far under what the kernel keeps (``negligibleWeight``).
        return tau - 0x1p-40
    }

    /// Drops candidates that certainly lie below the threshold, keeping the rest in index order;
    /// returns how many remain. `τ` solves `f(τ) = Σ (u − τ)₊² − 1 = 0` with `f` convex and
    /// decreasing, and `f(−1) ≥ 0` (the top candidate alone gives 1), so Newton steps from −1 rise
    /// towards `τ` without passing it: every candidate at or below an iterate is outside the
    /// support, and the sort that follows sees only the support and a few more. Dropping them
    /// changes neither `τ` nor the support (the prefix scan would stop before them).
    static func narrow(_ u: UnsafeMutablePointer<Double>, _ idx: UnsafeMutablePointer<Int>, count s: Int) -> Int {
        let tau = thresholdLowerBound(u, count: s)
        var kept = 0
        var r = 0
        while r < s {
            if u[r] > tau {
                u[kept] = u[r]
                idx[kept] = idx[r]
                kept &+= 1
            }
            r &+= 1
        }
        return kept
    }

    /// Max-shifted softmax over `−d / T`: `r_j ∝ exp(−(d_j − d_min) / T)`.
    ///
    /// Entries that underflow to exactly zero are left out of the output; the rest is dense.
    /// - Returns: the number of entries written (≥ 1); the weights sum to 1.

    public static func softmax(
        _ d: UnsafePointer<Float>, count k: Int, best: Int, dMin: Float, temperature: Double,
        indices: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>
    ) -> Int {
        guard dMin.isFinite, temperature > 0 else {
            indices[0] = Int32(truncatingIfNeeded: best)
            weights[0] = 1
            return 1
        }
        // 1/T can exceed float range at tiny temperatures: clamp it, which only makes already
        // vanishing terms vanish exactly.
        let inverse = Float(Swift.min(1 / temperature, Double(Float.greatestFiniteMagnitude)))
        var total: Float = 0
        var n = 0
        for j in 0..<k {
            let delta = d[j] - dMin
            let w: Float = delta == 0 ? 1 : Float.exp(-(delta * inverse))
            if w > 0 {
                indices[n] = Int32(truncatingIfNeeded: j)
                weights[n] = w
                total += w
                n &+= 1
            }
        }
        let scale = 1 / total
        for r in 0..<n { weights[r] *= scale }
        return n
    }
}
