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
        /// Rows compared with every center again after the first assignment, over all steps
        /// (the others kept their center by their bounds).
        public var comparedAgain: Int = 0
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
    /// After the first assignment a row is compared with every center again only when its
    /// bounds fail (Hamerly 2010): each row keeps a lower bound on its distance to every center
    /// but its own, lowered after a step by the farthest any other center moved; a row whose
    /// own center is still nearer than that bound keeps it. Near convergence few rows change
    /// center, so a step costs a pass over the rows (`count · d`) instead of `count · k · d`:
    /// at d 384, k 256 over 4 096 rows the second to fifth steps had 78, 25, 4 and 4 rows
    /// change. The bound comes from rounded distances and is kept 0.1 % short, far more than
    /// their rounding; what a row keeps is its nearest center but for near ties, which the
    /// matrix-product distances may round either way anyway.
    ///
    /// The centers returned are the best ones evaluated (by the warm-up's inertia, each row's
    /// squared distance to its center by the direct form), so the refinement never makes the
    /// warm-up's inertia worse. It stops early once a step gains less than a relative `1e-4`.
    ///
    /// - Parameters:
    ///   - centers: `k · dimension` floats; replaced by the refined centers.
    ///   - rows: `count` warm-up rows, row-major, finite.
    ///   - iterations: Lloyd steps at most (0 only measures the inertia).
    ///   - metric: under ``Metric/cosine`` each mean is scaled back to unit length (spherical
    ///     k-means), the rows being unit vectors already.
    ///   - distances: `.automatic` uses the matrix product from d 128 (as the updater does).
    ///   - loop: where the rows' nearest centers are found; the result is the same on any loop.
    /// - Complexity: O(count · k · dimension) for the first assignment, then per step
    ///   O(count · dimension + k · dimension) and `k · d` for each row whose bound fails;
    ///   allocates its scratch once.
    @discardableResult
    public static func refine(
        centers: inout [Float], rows: UnsafeBufferPointer<Float>, count: Int, dimension d: Int, k: Int,
        iterations: Int, metric: Metric = .euclidean, distances: UpdateConfiguration.DistanceMethod = .automatic,
        loop: some ParallelLoop = SerialLoop()
    ) -> Refinement {
        precondition(count >= 1 && k >= 1 && d >= 1 && iterations >= 0, "refine: bad shape or iteration count")
        precondition(centers.count == k * d && rows.count >= count * d, "refine: shapes disagree")
        let x = rows.baseAddress!
        let assignment = BoundedAssignment(count: count, dimension: d, k: k,
                                           products: distances.usesMatrixProduct(k: k, dimension: d), loop: loop)
        assignment.assignAll(rows: x, centers: centers)
        var bestInertia = assignment.inertia
        let initial = bestInertia
        var sums = [Double](repeating: 0, count: k * d)
        var sizes = [Int](repeating: 0, count: k)
        var best = centers
        var steps = 0
        var comparedAgain = 0
        var current = centers
        while steps < iterations {
            // The mean of each center's rows (in doubles: thousands of rows per center).
            for t in sums.indices { sums[t] = 0 }
            for j in 0..<k { sizes[j] = 0 }
            sums.withUnsafeMutableBufferPointer { s in
                for i in 0..<count {
                    let j = Int(assignment.labels[i])
                    sizes[j] += 1
                    voronoid_add_doubles(s.baseAddress! + j * d, x + i * d, d)
                }
            }
            let previous = current
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
            assignment.step(rows: x, from: previous, to: current)
            comparedAgain += assignment.reassigned
            let inertia = assignment.inertia
            guard inertia < bestInertia else { break }
            let gain = bestInertia - inertia
            best = current
            bestInertia = inertia
            if gain <= 1e-4 * inertia { break }
        }
        centers = best
        return Refinement(before: initial, after: bestInertia, steps: steps, comparedAgain: comparedAgain)
    }
}

/// Each row's center for Lloyd's steps, with the bounds that spare most rows the comparison with
/// every center once the centers move little (Hamerly 2010, one lower bound per row).
private final class BoundedAssignment<Loop: ParallelLoop> {
    let count: Int
    let d: Int
    let k: Int
    let loop: Loop
    /// Rows' distances to every center, a block at a time.
    var blocks: RangedBlockDistances<Loop>
    /// Each row's center.
    let labels: UnsafeMutablePointer<Int32>
    /// Each row's squared distance to its center, by the direct form.
    let own: UnsafeMutablePointer<Double>
    /// A lower bound on each row's distance (not squared) to every center but its own.
    let lower: UnsafeMutablePointer<Float>
    /// Whether each row kept its center in the last step.
    let kept: UnsafeMutablePointer<Bool>
    /// Rows whose bound failed, and their copies side by side for the matrix product.
    var failed: [Int] = []
    var gathered: [Float] = []
    /// The warm-up's inertia under the last assignment, summed in row order.
    private(set) var inertia = 0.0
    /// Rows compared with every center in the last assignment (all of them the first time).
    private(set) var reassigned = 0

    /// How far short of its bound a row's own distance must stay to keep its center.
    static var slack: Float { 1e-3 }

    init(count: Int, dimension d: Int, k: Int, products: Bool, loop: Loop) {
        self.count = count
        self.d = d
        self.k = k
        self.loop = loop
        blocks = RangedBlockDistances(count: count, dimension: d, k: k, products: products, loop: loop)
        labels = .allocate(capacity: count)
        labels.initialize(repeating: 0, count: count)
        own = .allocate(capacity: count)
        own.initialize(repeating: 0, count: count)
        lower = .allocate(capacity: count)
        lower.initialize(repeating: 0, count: count)
        kept = .allocate(capacity: count)
        kept.initialize(repeating: false, count: count)
        failed.reserveCapacity(count)
    }

    deinit {
        labels.deallocate()
        own.deallocate()
        lower.deallocate()
        kept.deallocate()
    }

    /// Compares every row with every center.
    func assignAll(rows x: UnsafePointer<Float>, centers: [Float]) {
        failed = Array(0..<count)
        assignFailed(rows: x, centers: centers)
    }

    /// The centers moved from `previous` to `centers`: lowers the bounds by the moves, keeps each
    /// row's center where its bound still holds and compares the others with every center.
    func step(rows x: UnsafePointer<Float>, from previous: [Float], to centers: [Float]) {
        // How far each center moved; a row's bound drops by the largest move of a center not its own.
        var farthest = 0.0, runnerUp = 0.0, farthestCenter = -1
        for j in 0..<k {
            var sum = 0.0
            for t in 0..<d {
                let e = Double(centers[j * d + t]) - Double(previous[j * d + t])
                sum += e * e
            }
            let move = sum.squareRoot()
            if move > farthest {
                runnerUp = farthest
                farthest = move
                farthestCenter = j
            } else if move > runnerUp {
                runnerUp = move
            }
        }
        let (count, d, slack) = (self.count, self.d, Self.slack)
        let (labels, own, lower, kept) = (self.labels, self.own, self.lower, self.kept)
        let parts = max(1, min(loop.width, count / 256))
        centers.withUnsafeBufferPointer { cBuf in
            let c = cBuf.baseAddress!
            loop.run(parts) { p in
                var e: Float = 0
                for i in (p * count / parts)..<((p + 1) * count / parts) {
                    let j = Int(labels[i])
                    lower[i] = Float(Double(lower[i]) - (j == farthestCenter ? runnerUp : farthest))
                    voronoid_squared_distances(x + i * d, 1, c + j * d, 1, d, &e)
                    own[i] = Double(e)
                    kept[i] = e.squareRoot() <= lower[i] * (1 - slack)
                }
            }
        }
        failed.removeAll(keepingCapacity: true)
        for i in 0..<count where !kept[i] { failed.append(i) }
        // Side by side for the matrix product.
        let n = failed.count
        if gathered.count < n * d { gathered = [Float](repeating: 0, count: n * d) }
        gathered.withUnsafeMutableBufferPointer { g in
            for (a, i) in failed.enumerated() { (g.baseAddress! + a * d).update(from: x + i * d, count: d) }
        }
        gathered.withUnsafeBufferPointer { assignFailed(rows: $0.baseAddress!, centers: centers, gathered: true) }
    }

    /// Assigns the rows in `failed` against every center, then sums the inertia. `rows` holds
    /// them side by side when `gathered`, else it is all the rows.
    private func assignFailed(rows source: UnsafePointer<Float>, centers: [Float], gathered: Bool = false) {
        let n = failed.count
        reassigned = n
        if n > 0 {
            let (d, k) = (self.d, self.k)
            let (labels, own, lower) = (self.labels, self.own, self.lower)
            failed.withUnsafeBufferPointer { fBuf in
                centers.withUnsafeBufferPointer { cBuf in
                    let (rows, c) = (fBuf.baseAddress!, cBuf.baseAddress!)
                    blocks.forEachRow(rows: source, count: n, centers: centers) { a, distances in
                        let (j, _) = ResponsibilityKernel.argmin(distances, count: k)
                        var second = Float.infinity
                        for t in 0..<k where t != j { second = min(second, distances[t]) }
                        let i = gathered ? rows[a] : a
                        labels[i] = Int32(j)
                        lower[i] = max(0, second).squareRoot()
                        var e: Float = 0
                        voronoid_squared_distances(source + a * d, 1, c + j * d, 1, d, &e)
                        own[i] = Double(e)
                    }
                }
            }
        }
        var total = 0.0
        for i in 0..<count { total += own[i] }
        inertia = total
    }
}
