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
    /// - Complexity: O(k · (2 + ln k) · count · dimension).
    public static func kMeansPlusPlus(
        rows: UnsafeBufferPointer<Float>, count: Int, dimension d: Int, k: Int, random: inout RandomSource
    ) -> [Float] {
        precondition(count >= 1 && k >= 1 && d >= 1, "kMeansPlusPlus: need at least one row, center and dimension")
        precondition(rows.count >= count * d, "kMeansPlusPlus: too few values for \(count) rows")
        let x = rows.baseAddress!
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
                let row: Int
                if potential > 0 {
                    var target = random.nextUnit() * potential
                    var pick = count - 1
                    for i in 0..<count {
                        target -= closest[i]
                        if target < 0 { pick = i; break }
                    }
                    row = pick
                } else {
                    row = Int(random.next() % UInt64(count))
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
        centers: [Float], k: Int, heat: Double
    ) -> Double {
        precondition(count >= 1 && centers.count == k * d, "automaticTemperature: shapes disagree")
        let x = rows.baseAddress!
        var gaps = [Double]()
        gaps.reserveCapacity(count)
        var nearestSum = 0.0
        centers.withUnsafeBufferPointer { c in
            for i in 0..<count {
                var d1 = Double.infinity
                var d2 = Double.infinity
                for j in 0..<k {
                    let v = Double(DistanceKernel.squaredDistance(x + i * d, c.baseAddress! + j * d, dimension: d))
                    if v < d1 { d2 = d1; d1 = v } else if v < d2 { d2 = v }
                }
                nearestSum += d1
                if d2.isFinite { gaps.append((d2 - d1) / 2) }
            }
        }
        gaps.sort()
        func median(_ v: ArraySlice<Double>) -> Double { v.isEmpty ? 0 : v[v.startIndex + v.count / 2] }
        var base = median(gaps[...])
        if !(base > 0) { base = median(gaps.drop(while: { $0 <= 0 })) }
        if !(base > 0) { base = nearestSum / Double(count) }
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
    public static func seeded(
        warmup rows: UnsafeBufferPointer<Float>, count: Int, dimension: Int, k: Int, seed: UInt64,
        schedule: TemperatureSchedule? = nil, heat: Double = 1, floorRatio: Double = 1e-3,
        autoKind: TemperatureSchedule.Kind = .exponential, autoHalfLife: Double = 20_000, epoch: UInt64 = 1,
        metric: Metric = .euclidean
    ) -> ModelState {
        var random = RandomSource(seed: seed)
        let centers = Seeding.kMeansPlusPlus(rows: rows, count: count, dimension: dimension, k: k, random: &random)
        let chosen: TemperatureSchedule
        if let schedule {
            chosen = schedule
        } else {
            let t0 = Seeding.automaticTemperature(rows: rows, count: count, dimension: dimension, centers: centers, k: k, heat: heat)
            chosen = TemperatureSchedule(kind: autoKind, initial: t0, floor: Seeding.floor(t0, ratio: floorRatio), halfLife: autoHalfLife)
        }
        // With the cosine metric the warm-up rows are unit vectors already, and so are the
        // centers k-means++ picks among them.
        return ModelState(centers: centers, k: k, dimension: dimension, schedule: chosen, random: random, epoch: epoch,
                          metric: metric)
    }
}
