import CKernelShims
import COpenBLAS
import Synchronization

/// Initial centers and the data-driven starting temperature.
public enum Seeding {
    /// Greedy k-means++ (Arthur and Vassilvitskii 2007, with the `2 + ⌊ln k⌋` local trials of
    /// scikit-learn): each new center is the best of a few candidates drawn with probability
    /// proportional to their squared distance to the centers chosen so far.
    ///
    /// - Parameters:
    ///   - rows: `count` warm-up vectors, row-major, finite.
    ///   - k: centers wanted (`1 ≤ k`); with fewer distinct rows than `k` some centers repeat
    ///     (the updater separates or re-seeds them later).
    ///   - random: the generator; advanced.
    /// - Returns: `k · dimension` floats.
    /// - Complexity: O(k · (2 + ln k) · count · dimension) by the direct form; O(m² · dimension
    ///   + k · (2 + ln k) · m) through the Gram matrix of `m = min(count, gramRows)` rows.
    ///   - distances: `.automatic` seeds through the Gram matrix from d 128 (measured by
    ///     `voronoid bench core --only seeding`: 3× the direct form at d 384, k 256, 8× at
    ///     d 768, k 1024); `.direct` and `.screened` force the direct form or the Gram matrix.
    ///   - gramRows: the most rows the Gram-matrix seeding draws from (``gramRows``).
    ///   - loop: where the Gram matrix is computed (the draws that follow are serial); the
    ///     centers are the same on any loop.
    public static func kMeansPlusPlus(
        rows: UnsafeBufferPointer<Float>, count: Int, dimension d: Int, k: Int, random: inout RandomSource,
        distances: UpdateConfiguration.DistanceMethod = .automatic, gramRows limit: Int = gramRows,
        loop: some ParallelLoop = SerialLoop()
    ) -> [Float] {
        precondition(count >= 1 && k >= 1 && d >= 1, "kMeansPlusPlus: need at least one row, center and dimension")
        precondition(rows.count >= count * d, "kMeansPlusPlus: too few values for \(count) rows")
        let x = rows.baseAddress!
        if seedsByGram(k: k, dimension: d, distances: distances, gramRows: limit) {
            return kMeansPlusPlusByGram(rows: x, count: count, dimension: d, k: k, random: &random, limit: limit, loop: loop).centers
        }
        var centers = [Float](repeating: 0, count: k * d)
        var closest = [Double](repeating: 0, count: count)
        var candidateClosest = [Double](repeating: 0, count: count)
        var bestClosest = [Double](repeating: 0, count: count)
        let trials = 2 + Int(_log(Double(k)))

        func copyRow(_ i: Int, to j: Int) {
            for t in 0..<d { centers[j * d + t] = x[i * d + t] }
        }

        let first = Int(random.next() % UInt64(count))
        copyRow(first, to: 0)
        var potential = 0.0
        for i in 0..<count {
            closest[i] = Double(DistanceKernel.squaredDistance(x + i * d, x + first * d, dimension: d))
            potential += closest[i]
        }
        for j in 1..<k {
            var bestRow = 0
            var bestPotential = Double.infinity
            for _ in 0..<trials {
                let row = closest.withUnsafeBufferPointer {
                    drawRow(weights: $0.baseAddress!, count: count, total: potential, random: &random)
                }
                var p = 0.0
                for i in 0..<count {
                    let dist = Double(DistanceKernel.squaredDistance(x + i * d, x + row * d, dimension: d))
                    candidateClosest[i] = min(closest[i], dist)
                    p += candidateClosest[i]
                }
                if p < bestPotential {
                    bestPotential = p
                    bestRow = row
                    swap(&bestClosest, &candidateClosest)
                }
            }
            copyRow(bestRow, to: j)
            swap(&closest, &bestClosest)
            potential = bestPotential
        }
        return centers
    }

    /// The k-means++ draw: row `i` with probability `weights[i] / total` (its squared distance
    /// to the centers so far), or uniformly when every weight is 0.
    @inline(__always)
    static func drawRow(
        weights: UnsafePointer<Double>, count: Int, total: Double, random: inout RandomSource
    ) -> Int {
        guard total > 0 else { return Int(random.next() % UInt64(count)) }
        var target = random.nextUnit() * total
        var i = 0
        while i < count {
            target -= weights[i]
            if target < 0 { return i }
            i += 1
        }
        return count - 1
    }

    /// Rows per block of the Gram seeding's weighted draw.
    static let drawBlock = 64

    /// A row drawn with probability `weights[i] / total`, as ``drawRow(weights:count:total:random:)``
    /// does, skipping whole blocks of `block` rows by their sums first.
    static func drawRow(
        weights: UnsafePointer<Double>, count: Int, total: Double, blockSums: UnsafePointer<Double>, block: Int,
        random: inout RandomSource
    ) -> Int {
        guard total > 0 else { return Int(random.next() % UInt64(count)) }
        var target = random.nextUnit() * total
        var lo = 0, b = 0
        while lo + block < count && target >= blockSums[b] {
            target -= blockSums[b]
            lo += block
            b += 1
        }
        var i = lo
        while i < count {
            target -= weights[i]
            if target < 0 { return i }
            i += 1
        }
        // Rounding left a sliver past the last weight: the last row with any.
        var last = count - 1
        while last > 0 && weights[last] == 0 { last -= 1 }
        return last
    }

    /// Whether ``kMeansPlusPlus(rows:count:dimension:k:random:distances:gramRows:loop:)`` seeds
    /// through the Gram matrix: where distances go through the matrix product and the sample
    /// holds at least two rows per center.
    static func seedsByGram(
        k: Int, dimension d: Int, distances: UpdateConfiguration.DistanceMethod = .automatic, gramRows limit: Int = gramRows
    ) -> Bool {
        distances.usesMatrixProduct(k: k, dimension: d) && 2 * k <= limit
    }

    /// Rows the Gram-matrix seeding works on at most: its `m × m` inner products take
    /// `m² · 4` bytes (256 MiB at 8 192) for the length of the seeding.
    public static let gramRows = 8192

    /// ``kMeansPlusPlus(rows:count:dimension:k:random:distances:gramRows:loop:)`` from the rows' Gram matrix.
    ///
    /// The greedy seeding measures each step's trial rows against every row: `k · trials ·
    /// count · d` multiply-adds, done one trial row at a time a pass over all rows that is
    /// bound by memory (at d 1536, k 4096 over the 4k-row warm-up: minutes). Every center is a
    /// row, so all those distances come from one product of the rows with themselves
    /// (``gramDistances(centered:norms:count:dimension:loop:)``, `count² · d / 2` at OpenBLAS's
    /// full rate on each thread), after which a trial costs `count` reads. Above ``gramRows`` rows the seeding draws from a uniform sample of that many
    /// (scikit-learn seeds from 3k rows); beyond `k > gramRows / 2` it keeps every row and the
    /// direct form.
    ///
    /// The rows are centered on their mean first, so the expansion `‖x‖² + ‖r‖² − 2x·r` loses
    /// digits only on the scale of the data's spread; a seeding samples by these distances and
    /// needs no more (the updater's screened distances are the exact ones).
    ///
    /// With `measuring`, it also returns each sampled row's nearest and second-nearest squared
    /// distances to the centers, read from the same matrix (what
    /// ``automaticTemperature(rows:count:dimension:centers:k:heat:distances:loop:)`` would
    /// compute again with a product of `count · k · d`).
    static func kMeansPlusPlusByGram(
        rows x: UnsafePointer<Float>, count: Int, dimension d: Int, k: Int, random: inout RandomSource, limit: Int,
        loop: some ParallelLoop, measuring: Bool = false
    ) -> (centers: [Float], nearest: NearestTwo?) {
        let trials = 2 + Int(_log(Double(k)))
        // The rows seeded from: all of them, or a uniform sample without replacement.
        var chosen = Array(0..<count)
        let m = min(count, limit)
        if m < count {
            for a in 0..<m {
                let b = a + Int(random.next() % UInt64(count - a))
                chosen.swapAt(a, b)
            }
            chosen.removeLast(count - m)
        }
        // The rows centered on their mean, and their squared lengths: the sampled rows copied
        // first, all rows read where they are.
        var norms = [Float](repeating: 0, count: m)
        func centering(_ sample: UnsafePointer<Float>) -> [Float] {
            var mean = [Float](repeating: 0, count: d)
            for a in 0..<m { voronoid_add_scaled(&mean, sample + a * d, 1 / Float(m), d) }
            return LargeBuffer.array(count: m * d) { voronoid_center_rows(sample, m, d, mean, $0.baseAddress!, &norms) }
        }
        var centered: [Float]
        if m < count {
            let sample: [Float] = LargeBuffer.array(count: m * d) { buffer in
                for a in 0..<m { (buffer.baseAddress! + a * d).update(from: x + chosen[a] * d, count: d) }
            }
            centered = sample.withUnsafeBufferPointer { centering($0.baseAddress!) }
        } else {
            centered = centering(x)
        }
        let (gram, ld) = Seeding.gramDistances(centered: centered, norms: norms, count: m, dimension: d, loop: loop)
        centered = []
        var closest = [Double](repeating: 0, count: m)
        var trialRows = [Int](repeating: 0, count: trials)
        var centers = [Float](repeating: 0, count: k * d)
        var picks = [Int](repeating: 0, count: k)
        var measured: NearestTwo?
        gram.withUnsafeBufferPointer { gBuf in
            let g = gBuf.baseAddress!
            // Each step draws its trials in proportion to `closest`, through the sums of its
            // blocks (a draw skips whole blocks, then walks one), and keeps the trial whose
            // potential is lowest; both sums run in the C kernels' fixed lane order.
            let block = Self.drawBlock
            var blockSums = [Double](repeating: 0, count: (m + block - 1) / block)
            closest.withUnsafeMutableBufferPointer { cBuf in
                blockSums.withUnsafeMutableBufferPointer { sBuf in
                    let closest = cBuf.baseAddress!, sums = sBuf.baseAddress!
                    let first = Int(random.next() % UInt64(m))
                    for t in 0..<d { centers[t] = x[chosen[first] * d + t] }
                    picks[0] = first
                    for i in 0..<m { closest[i] = .infinity }
                    var potential = voronoid_seeding_lower(closest, g + first * ld, m, block, sums)
                    for j in 1..<k {
                        for a in 0..<trials {
                            trialRows[a] = drawRow(weights: closest, count: m, total: potential, blockSums: sums,
                                                   block: block, random: &random)
                        }
                        var best = trialRows[0]
                        var bestPotential = Double.infinity
                        for a in 0..<trials {
                            let p = voronoid_seeding_potential(closest, g + trialRows[a] * ld, m)
                            if p < bestPotential { bestPotential = p; best = trialRows[a] }
                        }
                        potential = voronoid_seeding_lower(closest, g + best * ld, m, block, sums)
                        for t in 0..<d { centers[j * d + t] = x[chosen[best] * d + t] }
                        picks[j] = best
                    }
                }
            }
            if measuring { measured = NearestTwo(distances: g, ld: ld, count: m, picks: picks, loop: loop) }
        }
        return (centers, measured)
    }

    /// Each of `count` rows' nearest and second-nearest squared distances to a set of centers.
    struct NearestTwo {
        var nearest: [Double]
        var second: [Double]

        /// From a matrix of squared distances between rows (``gramDistances(centered:norms:count:dimension:loop:)``)
        /// whose centers are the rows `picks`: a pass over the `picks` rows, contiguous, each
        /// row range on one of `loop`'s parts. A center picked twice counts twice, as two
        /// equal centers do.
        init(distances g: UnsafePointer<Float>, ld: Int, count m: Int, picks: [Int], loop: some ParallelLoop) {
            var near = [Float](repeating: .infinity, count: m)
            var next = [Float](repeating: .infinity, count: m)
            let parts = max(1, min(loop.width, m / 256))
            near.withUnsafeMutableBufferPointer { nBuf in
                next.withUnsafeMutableBufferPointer { sBuf in
                    let n = nBuf.baseAddress!, s = sBuf.baseAddress!
                    loop.run(parts) { p in
                        let lo = p * m / parts, hi = (p + 1) * m / parts
                        for pick in picks {
                            let row = g + pick * ld
                            // Branch-free, so it vectorizes: the second is the least of the
                            // old second and the larger of the old nearest and this one.
                            for i in lo..<hi {
                                let r = row[i]
                                s[i] = min(s[i], max(n[i], r))
                                n[i] = min(n[i], r)
                            }
                        }
                    }
                }
            }
            nearest = near.map(Double.init)
            second = next.map(Double.init)
        }
    }

    /// Rows and columns of one tile of ``gramDistances(centered:norms:count:dimension:loop:)``.
    static let gramTile = 512

    /// The squared distances between `count` centered rows (`norms` their squared lengths), as a
    /// full `count × count` matrix whose rows are `ld` floats apart, through `‖a‖² + ‖b‖² − 2a·b`.
    /// `ld` is padded past `count` by a cache line: rows a power of two apart would fall in one
    /// cache set, and the mirrored writes (and OpenBLAS's own) would evict each other.
    ///
    /// The upper triangle is cut into tiles of ``gramTile``: a diagonal tile is one `ssyrk`, any
    /// other one `sgemm`, each on one thread, then ``voronoid_gram_tile`` turns the tile into
    /// distances and writes its mirror below the diagonal, so a trial's distances are one
    /// contiguous row. The tiles are shared among `loop`'s parts; which part computes a tile
    /// does not change its bits, so the seeding is the same on any number of threads (and
    /// whichever part takes it: the parts take the next free tile). Every
    /// entry is written once, so the matrix is never zeroed first.
    static func gramDistances(
        centered: [Float], norms: [Float], count m: Int, dimension d: Int, loop: some ParallelLoop
    ) -> (distances: [Float], ld: Int) {
        let tile = gramTile
        let ld = (m + 15) / 16 * 16 + 16
        let bands = (m + tile - 1) / tile
        var tiles: [(Int, Int)] = []
        for a in 0..<bands { for b in a..<bands { tiles.append((a * tile, b * tile)) } }
        let parts = max(1, min(loop.width, tiles.count))
        // Each tile's product runs on its part's thread alone (as ``MiniBatchUpdater`` has it):
        // OpenBLAS threads of its own would serialise the parts' calls.
        useOneBLASThread()
        // 64 MiB at 4 096 rows, written once.
        let matrix: [Float] = LargeBuffer.array(count: m * ld) { buffer in
            let g = buffer.baseAddress!
            centered.withUnsafeBufferPointer { cBuf in
                norms.withUnsafeBufferPointer { nBuf in
                    let x = cBuf.baseAddress!, n = nBuf.baseAddress!
                    // Each part takes the next tile not yet taken: a part slowed by another
                    // thread on its core (the socket threads, while the stream arrives) takes
                    // fewer, instead of holding the others up with a fixed share.
                    let next = Atomic<Int>(0)
                    loop.run(parts) { _ in
                        while true {
                            let t = next.add(1, ordering: .relaxed).oldValue
                            guard t < tiles.count else { break }
                            let (a0, b0) = tiles[t]
                            let rows = min(tile, m - a0), cols = min(tile, m - b0)
                            if a0 == b0 {
                                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(rows), Int32(d), -2,
                                            x + a0 * d, Int32(d), 0, g + a0 * ld + b0, Int32(ld))
                            } else {
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d), -2,
                                            x + a0 * d, Int32(d), x + b0 * d, Int32(d), 0, g + a0 * ld + b0, Int32(ld))
                            }
                            voronoid_gram_tile(g, ld, a0, rows, b0, cols, n)
                        }
                    }
                }
            }
            // The padding past each row's `count` entries is never read.
        }
        return (matrix, ld)
    }

    /// `initial × ratio`, kept a normal positive number no larger than `initial`: data on a
    /// tiny scale must not underflow the floor to zero (an invalid schedule).
    public static func floor(_ initial: Double, ratio: Double) -> Double {
        min(initial, max(initial * ratio, Double.leastNormalMagnitude))
    }

    /// The scale-free starting temperature: `heat × median((d₂ − d₁) / 2)` over the warm-up rows.
    ///
    /// A row is exactly one-hot under entmax-1.5 when `d₂ − d₁ ≥ 2T`, so at `heat = 1` half the
    /// warm-up rows start hard and the rest are shared between a few neighbours. Falls back to
    /// the median positive gap, then the mean nearest distance, then 1, when the data are
    /// degenerate (duplicates, `k = 1`).
    public static func automaticTemperature(
        rows: UnsafeBufferPointer<Float>, count: Int, dimension d: Int,
        centers: [Float], k: Int, heat: Double, distances: UpdateConfiguration.DistanceMethod = .automatic,
        loop: some ParallelLoop = SerialLoop()
    ) -> Double {
        precondition(count >= 1 && centers.count == k * d, "automaticTemperature: shapes disagree")
        let x = rows.baseAddress!
        let products = distances.usesMatrixProduct(k: k, dimension: d)
        // Through the matrix product, evenly spaced rows, at most 4 096 of them (enough for a
        // median, and a median of gaps does not need the last digits); directly, every row.
        let measured = products ? min(count, 4096) : count
        var sample = [Float]()
        if measured < count {
            sample.reserveCapacity(measured * d)
            for a in 0..<measured {
                let i = a * count / measured
                sample.append(contentsOf: UnsafeBufferPointer(start: x + i * d, count: d))
            }
        }
        // Each row's nearest distance and half gap (NaN without a second center), written by
        // the part that holds the row and read in row order, so any loop gives the same sums.
        var nearest = [Double](repeating: 0, count: measured)
        var halfGaps = [Double](repeating: .nan, count: measured)
        var blocks = RangedBlockDistances(count: measured, dimension: d, k: k, products: products, loop: loop)
        sample.withUnsafeBufferPointer { s in
            nearest.withUnsafeMutableBufferPointer { nBuf in
                halfGaps.withUnsafeMutableBufferPointer { hBuf in
                    let near = nBuf.baseAddress!, half = hBuf.baseAddress!
                    blocks.forEachRow(rows: measured < count ? s.baseAddress! : x, centers: centers) { i, dist in
                        var d1 = Double.infinity
                        var d2 = Double.infinity
                        for j in 0..<k {
                            let v = Double(dist[j])
                            if v < d1 { d2 = d1; d1 = v } else if v < d2 { d2 = v }
                        }
                        near[i] = d1
                        if d2.isFinite { half[i] = (d2 - d1) / 2 }
                    }
                }
            }
        }
        return temperature(nearest: nearest, halfGaps: halfGaps, heat: heat)
    }

    /// The rule of ``automaticTemperature(rows:count:dimension:centers:k:heat:distances:loop:)``
    /// from each measured row's nearest distance and half gap (`(d₂ − d₁) / 2`, NaN where the
    /// row has no second center).
    static func temperature(nearest: [Double], halfGaps: [Double], heat: Double) -> Double {
        var nearestSum = 0.0
        for v in nearest { nearestSum += v }
        var gaps = halfGaps.filter { !$0.isNaN }
        gaps.sort()
        func median(_ v: ArraySlice<Double>) -> Double { v.isEmpty ? 0 : v[v.startIndex + v.count / 2] }
        var base = median(gaps[...])
        if !(base > 0) { base = median(gaps.drop(while: { $0 <= 0 })) }
        if !(base > 0) { base = nearestSum / Double(nearest.count) }
        if !(base > 0 && base.isFinite) { base = 1 }
        return heat * base
    }
}

extension ModelState {
    /// A new model seeded by k-means++ on warm-up rows, with an `auto` temperature schedule
    /// when `schedule` is `nil`.
    ///
    /// - Parameters:
    ///   - heat: multiplier of the median-gap rule for the automatic starting temperature.
    ///   - floorRatio: the automatic floor as a fraction of the automatic start.
    ///   - autoKind, autoHalfLife: the automatic schedule's shape and half-life in vectors.
    ///   - iterations: Lloyd steps of the seeded centers over the warm-up
    ///     (``Seeding/refine(centers:rows:count:dimension:k:iterations:metric:distances:loop:)``);
    ///     0 keeps the k-means++ centers.
    ///   - seedings: k-means++ seedings drawn, each refined; the one with the lowest refined
    ///     warm-up inertia is kept (the first on ties). Both are cut to what fits
    ///     ``Seeding/refinementBudget`` (``Seeding/refinementPlan(count:dimension:k:iterations:seedings:budget:)``).
    ///   - loop: where the seeding's matrix products run; the model is the same on any loop.
    ///
    /// Where the seeding goes through the Gram matrix and neither Lloyd steps nor extra
    /// seedings run (embedding shapes: ``Seeding/refinementPlan(count:dimension:k:iterations:seedings:budget:)``),
    /// the centers are rows of the warm-up, and the automatic temperature reads each row's two
    /// nearest distances from that matrix instead of measuring them again.
    public static func seeded(
        warmup rows: UnsafeBufferPointer<Float>, count: Int, dimension: Int, k: Int, seed: UInt64,
        schedule: TemperatureSchedule? = nil, heat: Double = 1, floorRatio: Double = 1e-3,
        autoKind: TemperatureSchedule.Kind = .exponential, autoHalfLife: Double = 20_000, epoch: UInt64 = 1,
        metric: Metric = .euclidean, iterations: Int = 0, seedings: Int = 1, loop: some ParallelLoop = SerialLoop()
    ) -> ModelState {
        precondition(iterations >= 0 && seedings >= 1, "seeded: iterations must be ≥ 0 and seedings ≥ 1")
        let (iterations, seedings) = Seeding.refinementPlan(count: count, dimension: dimension, k: k,
                                                             iterations: iterations, seedings: seedings)
        var random = RandomSource(seed: seed)
        var centers: [Float] = []
        var lowest = Double.infinity
        var measured: Seeding.NearestTwo?
        if iterations == 0 && seedings == 1 && schedule == nil && count <= Seeding.gramRows
            && Seeding.seedsByGram(k: k, dimension: dimension) {
            // The centers are rows and stay so: the automatic temperature's distances are in
            // the seeding's own matrix. Only when it holds every warm-up row: a sample of them
            // would hold the centers at a larger share than the warm-up does, and their zero
            // distances would push the median gap up.
            (centers, measured) = Seeding.kMeansPlusPlusByGram(
                rows: rows.baseAddress!, count: count, dimension: dimension, k: k, random: &random,
                limit: Seeding.gramRows, loop: loop, measuring: true)
        }
        for _ in 0..<seedings where measured == nil {
            var candidate = Seeding.kMeansPlusPlus(rows: rows, count: count, dimension: dimension, k: k, random: &random,
                                                   loop: loop)
            if iterations == 0 && seedings == 1 {
                centers = candidate
                break
            }
            let refined = Seeding.refine(centers: &candidate, rows: rows, count: count, dimension: dimension, k: k,
                                         iterations: iterations, metric: metric, loop: loop)
            if refined.after < lowest {
                lowest = refined.after
                centers = candidate
            }
        }
        let chosen: TemperatureSchedule
        if let schedule {
            chosen = schedule
        } else {
            let t0 = measured.map { m in
                Seeding.temperature(nearest: m.nearest,
                                    halfGaps: zip(m.nearest, m.second).map { $1.isFinite ? ($1 - $0) / 2 : .nan }, heat: heat)
            } ?? Seeding.automaticTemperature(rows: rows, count: count, dimension: dimension, centers: centers, k: k,
                                              heat: heat, loop: loop)
            chosen = TemperatureSchedule(kind: autoKind, initial: t0, floor: Seeding.floor(t0, ratio: floorRatio), halfLife: autoHalfLife)
        }
        // With the cosine metric the warm-up rows are unit vectors already, and so are the
        // centers k-means++ picks among them.
        return ModelState(centers: centers, k: k, dimension: dimension, schedule: chosen, random: random, epoch: epoch,
                          metric: metric)
    }
}
