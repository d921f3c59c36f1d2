/// What one or more batches contribute to the model, computed against one model version: the
/// sums from which the step, the forgetting, the schedule and the cluster statistics follow.
///
/// For rows `x_i` with sample weights `w_i`, responsibilities `r_ik` and nearest squared
/// distances `e_i` against the centers `c_k` of version ``baseVersion``:
///
/// ```
/// mass_k   = Σ_i w_i r_ik                   (S_k)
/// delta_k  = Σ_i w_i r_ik (x_i − c_k)       (L_k − S_k c_k, with L_k = Σ_i w_i r_ik x_i)
/// nearestError_k  = Σ_{i: k nearest} w_i e_i      nearestWeight_k = Σ_{i: k nearest} w_i
/// weight = Σ_i w_i     inertia = Σ_i w_i e_i     squaredErrors = Σ_i w_i e_i²
/// ```
///
/// Every field is a sum over rows, so the statistics of disjoint shards of a batch merge by
/// addition (``merge(_:)``) into the statistics of the whole batch, and applying the merged
/// statistics (``MiniBatchUpdater/apply(_:to:)``) is one update over the concatenated batch:
/// "apply a batch" and "merge statistics" are the same operation. Forgetting and the
/// temperature schedule are not in here: they are applied once, where the statistics are
/// applied, by the merged ``weight``.
///
/// Deltas rather than `L_k` keep float32 precise far from the origin (the difference is taken
/// per row before the sum). Statistics computed against an older version are moved onto the
/// current centers with ``rebase(to:from:onto:)``, which is exact in real arithmetic because
/// `Σ w r (x − c′) = delta + mass·(c − c′)`.
///
/// Float addition is commutative but not associative: merging in a different order changes
/// results by float32 rounding only. Merge in a fixed order, such as by (worker, sequence),
/// where runs must be bit-identical.
public struct SufficientStatistics: Sendable, Equatable {
    /// Number of centers.
    public let k: Int
    /// Dimension of every vector.
    public let dimension: Int
    /// The model version (``ModelState/batches``) whose centers ``delta`` is relative to.
    public var baseVersion: UInt64
    /// Rows summed.
    public var vectors: Int
    /// `Σ w_i`: the rows' total sample weight.
    public var weight: Double
    /// `Σ w_i e_i`: the distortion before the step.
    public var inertia: Double
    /// `Σ w_i e_i²`, for the drift test's variance.
    public var squaredErrors: Double
    /// Total support size (centers with non-zero responsibility) over the rows.
    public var supportTotal: Int
    /// Rows whose responsibilities were one-hot.
    public var oneHotRows: Int
    /// `S_k = Σ w r` per center.
    public var mass: [Double]
    /// `Σ w r (x − c_k)` per center, row-major `k × dimension`.
    public var delta: [Float]
    /// `Σ w e` over the rows each center was nearest to.
    public var nearestError: [Double]
    /// `Σ w` over the rows each center was nearest to.
    public var nearestWeight: [Double]

    /// Empty statistics (nothing summed) relative to version `baseVersion`.
    ///
    /// - Precondition: `k ≥ 1`, `dimension ≥ 1`.
    public init(k: Int, dimension: Int, baseVersion: UInt64 = 0) {
        precondition(k >= 1 && dimension >= 1, "SufficientStatistics: k and dimension must be at least 1")
        self.init(uncheckedK: k, dimension: dimension, baseVersion: baseVersion)
    }

    /// Also the updater's placeholder before its first batch (k = 0).
    init(uncheckedK k: Int, dimension: Int, baseVersion: UInt64) {
        self.k = k
        self.dimension = dimension
        self.baseVersion = baseVersion
        vectors = 0
        weight = 0
        inertia = 0
        squaredErrors = 0
        supportTotal = 0
        oneHotRows = 0
        mass = Array(repeating: 0, count: k)
        delta = Array(repeating: 0, count: k * dimension)
        nearestError = Array(repeating: 0, count: k)
        nearestWeight = Array(repeating: 0, count: k)
    }

    /// Whether no row has been summed.
    public var isEmpty: Bool { vectors == 0 }

    /// Forgets every sum, keeping the storage, and makes the statistics relative to `version`.
    public mutating func reset(baseVersion version: UInt64) {
        reset(baseVersion: version, zeroingDelta: true)
    }

    /// ``reset(baseVersion:)``, leaving ``delta`` to the caller when not `zeroingDelta` (the
    /// updater zeroes it a range per thread).
    mutating func reset(baseVersion version: UInt64, zeroingDelta: Bool) {
        baseVersion = version
        vectors = 0
        weight = 0
        inertia = 0
        squaredErrors = 0
        supportTotal = 0
        oneHotRows = 0
        Self.fill(&mass, 0)
        if zeroingDelta { Self.fill(&delta, 0) }
        Self.fill(&nearestError, 0)
        Self.fill(&nearestWeight, 0)
    }

    /// Adds `other`'s sums to these: afterwards these are the statistics of both sets of rows.
    ///
    /// - Precondition: same `k`, dimension and ``baseVersion`` (``rebase(to:from:onto:)`` first
    ///   when the versions differ).
    /// - Complexity: O(k·dimension); allocates nothing when this value's storage is unshared.
    public mutating func merge(_ other: SufficientStatistics) {
        precondition(k == other.k && dimension == other.dimension, "merge: shapes differ (\(k)×\(dimension) and \(other.k)×\(other.dimension))")
        precondition(baseVersion == other.baseVersion, "merge: versions differ (\(baseVersion) and \(other.baseVersion)); rebase first")
        vectors += other.vectors
        weight += other.weight
        inertia += other.inertia
        squaredErrors += other.squaredErrors
        supportTotal += other.supportTotal
        oneHotRows += other.oneHotRows
        Self.add(&mass, other.mass)
        Self.add(&delta, other.delta)
        Self.add(&nearestError, other.nearestError)
        Self.add(&nearestWeight, other.nearestWeight)
    }

    /// Makes the deltas relative to the centers of version `version`: `delta_k += mass_k ·
    /// (base_k − current_k)`, where `base` are the centers the statistics were computed against.
    ///
    /// The responsibilities stay those of the base version: that difference is the staleness
    /// a worker's statistics carry, bounded by how many versions old they may be.
    /// - Precondition: both center arrays hold `k × dimension` values.
    public mutating func rebase(to version: UInt64, from base: UnsafeBufferPointer<Float>, onto current: UnsafeBufferPointer<Float>) {
        precondition(base.count == k * dimension && current.count == k * dimension, "rebase: expected \(k * dimension) center values")
        let d = dimension
        mass.withUnsafeBufferPointer { m in
            delta.withUnsafeMutableBufferPointer { out in
                var j = 0
                while j < k {
                    let s = Float(m[j])
                    if s > 0 {
                        var t = j * d
                        let end = t + d
                        while t < end { out[t] += s * (base[t] - current[t]); t += 1 }
                    }
                    j += 1
                }
            }
        }
        baseVersion = version
    }

    /// Why these statistics cannot have come from real rows, or nil when they can. Applied to
    /// statistics from the wire before they are merged: non-finite values, negative masses or
    /// weights, counts that contradict each other, or masses that do not sum to the weight
    /// (each row's responsibilities sum to 1).
    public var validationError: String? {
        guard vectors >= 0, supportTotal >= 0, oneHotRows >= 0, oneHotRows <= vectors else {
            return "row counts are inconsistent (vectors \(vectors), one-hot \(oneHotRows), support \(supportTotal))"
        }
        guard weight.isFinite, weight >= 0, inertia.isFinite, inertia >= 0, squaredErrors.isFinite, squaredErrors >= 0 else {
            return "weight, inertia or squared errors is negative or not finite"
        }
        guard mass.count == k, delta.count == k * dimension, nearestError.count == k, nearestWeight.count == k else {
            return "array sizes do not match k = \(k), dimension = \(dimension)"
        }
        var massTotal = 0.0
        var nearestTotal = 0.0
        for j in 0..<k {
            guard mass[j].isFinite, mass[j] >= 0, nearestError[j].isFinite, nearestError[j] >= 0,
                  nearestWeight[j].isFinite, nearestWeight[j] >= 0 else {
                return "center \(j): a mass or error is negative or not finite"
            }
            massTotal += mass[j]
            nearestTotal += nearestWeight[j]
        }
        if !allFinite(delta) { return "a delta is not finite" }
        // Each row's responsibilities sum to 1 and each row has one nearest center; float32
        // responsibilities allow a relative error of a few units of their precision.
        let tolerance = 1e-4 * weight + 1e-6
        guard abs(massTotal - weight) <= tolerance, abs(nearestTotal - weight) <= tolerance else {
            return "masses sum to \(massTotal) and nearest weights to \(nearestTotal), not to the weight \(weight)"
        }
        return nil
    }

    private static func fill<T: Numeric>(_ a: inout [T], _ value: T) {
        a.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < p.count { p[i] = value; i += 1 }
        }
    }

    private static func add(_ a: inout [Double], _ b: [Double]) {
        a.withUnsafeMutableBufferPointer { p in
            b.withUnsafeBufferPointer { q in
                var i = 0
                while i < p.count { p[i] += q[i]; i += 1 }
            }
        }
    }

    private static func add(_ a: inout [Float], _ b: [Float]) {
        a.withUnsafeMutableBufferPointer { p in
            b.withUnsafeBufferPointer { q in
                var i = 0
                while i < p.count { p[i] += q[i]; i += 1 }
            }
        }
    }
}
