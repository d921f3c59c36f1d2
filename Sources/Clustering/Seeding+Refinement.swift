import CKernelShims

extension Seeding {
    /// What a refinement did: the warm-up's inertia (sum of squared distances to the nearest
    /// center) before and after, and the Lloyd steps taken.
    public struct Refinement: Sendable, Equatable {
        /// Inertia of the centers given.
        public var before: Double
        /// Inertia of the centers returned; never above ``before``.
        public var after: Double
        /// Lloyd steps whose centers were evaluated.
        public var steps: Int
    }

    /// Multiply-adds the extra seedings and the Lloyd steps of a new model may cost together:
    /// two tenths of a second through OpenBLAS, about a second by the direct form.
    public static let refinementBudget = Double(1 << 31)

    /// The seedings and Lloyd steps actually run for a warm-up of this shape: those asked for
    /// when their work fits ``refinementBudget``, else fewer seedings first (down to one),
    /// then fewer steps (down to none).
    ///
    /// A Lloyd step costs `count · k · d` multiply-adds, as much as one pass of the updater over
    /// the warm-up, and a k-means++ seeding `count² · d / 2` through the Gram matrix (d ≥ 128)
    /// or `(2 + ln k) · k · count · d` directly. At embedding shapes (d 768, k 1024, 4 096
    /// warm-up rows: 3.2 · 10⁹ per step) nothing fits and the seeding is k-means++ alone, as
    /// cheap as before; on the quality sets (d ≤ 64, k ≤ 64) everything asked for fits.
    public static func refinementPlan(
        count: Int, dimension d: Int, k: Int, iterations: Int, seedings: Int, budget: Double = refinementBudget
    ) -> (iterations: Int, seedings: Int) {
        let step = Double(count) * Double(k) * Double(d)
        let seeding = seedsByGram(k: k, dimension: d)
            ? Double(min(count, gramRows)) * Double(min(count, gramRows)) * Double(d) / 2
            : (2 + _log(Double(k))) * step
        // The first seeding is paid anyway; each further one brings its own steps.
        func cost(_ i: Int, _ s: Int) -> Double { Double(s) * Double(i) * step + Double(s - 1) * seeding }
        var s = max(1, seedings)
        var i = max(0, iterations)
        while s > 1 && cost(i, s) > budget { s -= 1 }
        while i > 0 && cost(i, s) > budget { i -= 1 }
        return (i, s)
    }

    /// Lloyd's iterations of `centers` over the warm-up rows (Lloyd 1982): each row goes to its
    /// nearest center, each center to the mean of its rows; a center that wins no row stays.
    ///
    /// k-means++ only picks rows; a streaming pass then moves each center with a step of
    /// `1/N_k`, and on overlapping data it stays in the basin the seeding chose. A few full
    /// steps on the warm-up put the starting centers at a local minimum of the warm-up before
    /// the stream begins, which is what a batch k-means would start its pass from.
    ///
    /// The centers returned are the best ones evaluated (by the warm-up's inertia), so the
    /// refinement never makes the warm-up's inertia worse, even when the matrix-product
    /// distances round a near tie the other way. It stops early once a step gains less than
    /// a relative `1e-4`.
    ///
    /// - Parameters:
    ///   - centers: `k · dimension` floats; replaced by the refined centers.
    ///   - rows: `count` warm-up rows, row-major, finite.
    ///   - iterations: Lloyd steps at most (0 only measures the inertia).
    ///   - metric: under ``Metric/cosine`` each mean is scaled back to unit length (spherical
    ///     k-means), the rows being unit vectors already.
    ///   - distances: `.automatic` uses the matrix product from d 128 (as the updater does).
    ///   - loop: where the rows' nearest centers are found; the result is the same on any loop.
    /// - Complexity: O(iterations · count · k · dimension), as many passes of the updater
    ///   over the warm-up; allocates its scratch once.
    @discardableResult
    public static func refine(
        centers: inout [Float], rows: UnsafeBufferPointer<Float>, count: Int, dimension d: Int, k: Int,
        iterations: Int, metric: Metric = .euclidean, distances: UpdateConfiguration.DistanceMethod = .automatic,
        loop: some ParallelLoop = SerialLoop()
    ) -> Refinement {
        precondition(count >= 1 && k >= 1 && d >= 1 && iterations >= 0, "refine: bad shape or iteration count")
        precondition(centers.count == k * d && rows.count >= count * d, "refine: shapes disagree")
        var nearest = NearestCenters(count: count, dimension: d, k: k,
                                     products: distances.usesMatrixProduct(k: k, dimension: d), loop: loop)
        var labels = [Int32](repeating: 0, count: count)
        var sums = [Double](repeating: 0, count: k * d)
        var sizes = [Int](repeating: 0, count: k)
        var best = centers
        var bestInertia = nearest.assign(rows: rows.baseAddress!, centers: centers, labels: &labels)
        let initial = bestInertia
        var steps = 0
        var current = centers
        while steps < iterations {
            // The mean of each center's rows (in doubles: thousands of rows per center).
            for t in sums.indices { sums[t] = 0 }
            for j in 0..<k { sizes[j] = 0 }
            let x = rows.baseAddress!
            sums.withUnsafeMutableBufferPointer { s in
                for i in 0..<count {
                    let j = Int(labels[i])
                    sizes[j] += 1
                    voronoid_add_doubles(s.baseAddress! + j * d, x + i * d, d)
                }
            }
            for j in 0..<k where sizes[j] > 0 {
                for t in 0..<d { current[j * d + t] = Float(sums[j * d + t] / Double(sizes[j])) }
                if metric == .cosine {
                    // A mean of unit vectors that cancels to zero keeps its old direction.
                    if current.withUnsafeMutableBufferPointer({ Metric.normalize(rows: $0.baseAddress! + j * d, count: 1, dimension: d) }) != nil {
                        for t in 0..<d { current[j * d + t] = best[j * d + t] }
                    }
                }
            }
            steps += 1
            let inertia = nearest.assign(rows: x, centers: current, labels: &labels)
            guard inertia < bestInertia else { break }
            let gain = bestInertia - inertia
            best = current
            bestInertia = inertia
            if gain <= 1e-4 * inertia { break }
        }
        centers = best
        return Refinement(before: initial, after: bestInertia, steps: steps)
    }
}

/// Each row's nearest center, from ``RangedBlockDistances``.
private struct NearestCenters<Loop: ParallelLoop> {
    var blocks: RangedBlockDistances<Loop>
    /// Each row's nearest distance, summed in row order whatever the loop.
    var nearest: [Double]

    init(count: Int, dimension d: Int, k: Int, products: Bool, loop: Loop) {
        blocks = RangedBlockDistances(count: count, dimension: d, k: k, products: products, loop: loop)
        nearest = [Double](repeating: 0, count: count)
    }

    /// Writes each row's nearest center into `labels`; returns the summed nearest distances.
    mutating func assign(rows x: UnsafePointer<Float>, centers: [Float], labels: inout [Int32]) -> Double {
        let k = centers.count / blocks.d
        nearest.withUnsafeMutableBufferPointer { nBuf in
            labels.withUnsafeMutableBufferPointer { lBuf in
                let near = nBuf.baseAddress!, label = lBuf.baseAddress!
                blocks.forEachRow(rows: x, centers: centers) { i, distances in
                    let (best, least) = ResponsibilityKernel.argmin(distances, count: k)
                    label[i] = Int32(best)
                    near[i] = Double(least)
                }
            }
        }
        var total = 0.0
        for v in nearest { total += v }
        return total
    }
}
