import Clustering
import Dispatch
import Testing

/// The batch update against the per-vector reference, and the properties listed in MATH.md.
@Suite struct UpdateTests {
    static func state(centers: [Float], k: Int, d: Int, temperature: Double) -> ModelState {
        ModelState(centers: centers, k: k, dimension: d, schedule: .constant(temperature), random: RandomSource(seed: 1))
    }

    @Test(arguments: ResponsibilityMode.allCases)
    func batchUpdateMatchesPerVectorReference(mode: ResponsibilityMode) {
        var random = RandomSource(seed: 77)
        for trial in 0..<40 {
            let k = 1 + Int(random.next() % 9)
            let d = 1 + Int(random.next() % 12)
            let n = 1 + Int(random.next() % 300)
            let rows = (0..<(n * d)).map { _ in Float(random.nextGaussian() * 3) }
            let centers = (0..<(k * d)).map { _ in Float(random.nextGaussian() * 3) }
            let weights: [Float]? = trial % 2 == 0 ? nil : (0..<n).map { _ in Float(random.nextUnit() * 2) }
            let temperature = [0.05, 1, 5][trial % 3]
            let halfLife = trial % 4 == 0 ? Double.infinity : 500
            var s = Self.state(centers: centers, k: k, d: d, temperature: temperature)
            s.counts = (0..<k).map { _ in random.nextUnit() * 50 }
            let before = s
            let updater = MiniBatchUpdater(configuration: UpdateConfiguration(
                mode: mode, countHalfLife: halfLife, deadCenterFraction: 0, separationInterval: 0))
            let loop: any ParallelLoop = trial % 3 == 0 ? ThreadedLoop(width: 3) : SerialLoop()
            let report = rows.withUnsafeBufferPointer { rp in
                if let weights {
                    return weights.withUnsafeBufferPointer { wp in
                        updater.update(&s, rows: rp, count: n, weights: wp, loop: loop)
                    }
                }
                return updater.update(&s, rows: rp, count: n, loop: loop)
            }
            // Forgetting goes by the batch's total weight (a weight-w vector is w copies).
            let total = weights.map { $0.reduce(0.0) { $0 + Double($1) } } ?? Double(n)
            let gamma = halfLife.isFinite ? Double.exp2(-total / halfLife) : 1
            let ref = Reference.update(
                centers: before.centers, counts: before.counts, k: k, d: d, rows: rows,
                weights: weights?.map(Double.init), temperature: temperature, mode: mode, gamma: gamma)
            #expect(maxAbsDifference(s.centers.map(Double.init), ref.centers) < 2e-3, "trial \(trial) \(mode)")
            #expect(maxAbsDifference(s.counts, ref.counts) < 1e-3 * Double(n))
            #expect(report.vectors == n && s.vectorsSeen == UInt64(n) && s.batches == 1)
            #expect(report.temperature == temperature)
            // The report's inertia is the batch's distortion before the step.
            var inertia = 0.0
            for i in 0..<n {
                let x = rows[(i * d)..<((i + 1) * d)]
                let best = (0..<k).map { Reference.squaredDistance(x, before.centers[($0 * d)..<(($0 + 1) * d)]) }.min()!
                inertia += Double(weights?[i] ?? 1) * best
            }
            #expect(abs(report.inertia - inertia) <= 1e-4 * inertia + 1e-6)
        }
    }

    /// MATH.md property 1: hard mode, one full-data step from zero counts (η_k = 1/(2Σr)), is one
    /// Lloyd iteration. Property 2: entmax below min (d₂ − d₁)/2 is the same iteration, all one-hot.
    @Test(arguments: [ResponsibilityMode.hard, .entmax15])
    func fullDataStepIsOneLloydIteration(mode: ResponsibilityMode) {
        let blobs = TestBlobs(k: 5, d: 4, perCluster: 60, spread: 1, side: 40, seed: 3)
        let n = blobs.rows.count / 4
        var random = RandomSource(seed: 8)
        let centers = blobs.rows.withUnsafeBufferPointer {
            Seeding.kMeansPlusPlus(rows: $0, count: n, dimension: 4, k: 5, random: &random)
        }
        // The smallest half-gap over the data decides the one-hot temperature.
        var minGap = Double.infinity
        for i in 0..<n {
            let x = blobs.rows[(i * 4)..<((i + 1) * 4)]
            let dist = (0..<5).map { Reference.squaredDistance(x, centers[($0 * 4)..<(($0 + 1) * 4)]) }.sorted()
            minGap = min(minGap, (dist[1] - dist[0]) / 2)
        }
        var s = Self.state(centers: centers, k: 5, d: 4, temperature: minGap * 0.99)
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(
            mode: mode, countHalfLife: .infinity, deadCenterFraction: 0, separationInterval: 0))
        let report = blobs.rows.withUnsafeBufferPointer { updater.update(&s, rows: $0, count: n) }
        let lloyd = Reference.lloyd(centers: centers, k: 5, d: 4, rows: blobs.rows)
        #expect(report.oneHotRows == n)
        #expect(maxAbsDifference(s.centers.map(Double.init), lloyd) < 1e-4)
    }

    /// MATH.md property 4: the naive softmax produces NaN at tiny temperatures; the shifted one
    /// stays finite but is not sparse at moderate ones; entmax is finite and sparse everywhere.
    @Test func softmaxNaiveFailsShiftedIsDenseEntmaxIsSparse() {
        let distances: [Double] = [1000, 1001, 1003, 1010]
        let tiny = 1e-30
        let naive = distances.map { Double.exp(-$0 / tiny) }
        let total = naive.reduce(0, +)
        #expect(naive.map { $0 / total }.contains { $0.isNaN })
        let shifted = Reference.softmax(distances: distances, temperature: tiny)
        #expect(shifted.allSatisfy { $0.isFinite })
        let moderate = Reference.softmax(distances: distances, temperature: 3)
        #expect(moderate.allSatisfy { $0 > 0 })
        for t in [1e-30, 1e-5, 1, 3, 1e5] {
            let e = KernelTests.fastEntmax(distances.map(Float.init), temperature: t)
            #expect(e.allSatisfy { $0.isFinite })
            if t <= 3 { #expect(e.contains(0), "entmax at T=\(t) is exactly sparse") }
        }
    }

    /// MATH.md property 5: once T is below every vector's one-hot threshold, the annealed centers
    /// sit on a K-Means fixed point: one Lloyd iteration from them does not move them.
    @Test func annealedCentersAreAKMeansFixedPoint() {
        let blobs = TestBlobs(k: 4, d: 3, perCluster: 250, spread: 1, side: 30, seed: 21)
        let n = blobs.rows.count / 3
        var s = blobs.rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 200, dimension: 3, k: 4, seed: 5, heat: 4, floorRatio: 1e-6, autoHalfLife: 2000)
        }
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(countHalfLife: 1500, separationInterval: 0))
        // Many passes over the data, so the temperature decays far below the one-hot threshold.
        blobs.rows.withUnsafeBufferPointer { rp in
            for pass in 0..<40 {
                for start in stride(from: 0, to: n, by: 100) {
                    let slice = UnsafeBufferPointer(rebasing: rp[(start * 3)..<((start + 100) * 3)])
                    updater.update(&s, rows: slice, count: 100)
                }
                _ = pass
            }
        }
        let last = blobs.rows.withUnsafeBufferPointer { updater.update(&s, rows: $0, count: n) }
        #expect(last.oneHotRows == n, "all rows one-hot at T = \(last.temperature)")
        let lloyd = Reference.lloyd(centers: s.centers, k: 4, d: 3, rows: blobs.rows)
        // The streaming mean forgets, so it sits within sampling noise of the fixed point.
        #expect(maxAbsDifference(s.centers.map(Double.init), lloyd) < 0.05)
    }

    /// Trajectory: on seeded blobs, entmax with a fast-decaying temperature ends on the same
    /// centers as mini-batch K-Means with hard assignments from the same seeding.
    @Test func entmaxAnnealingEndsOnMiniBatchKMeansCenters() {
        let blobs = TestBlobs(k: 6, d: 5, perCluster: 1000, spread: 1, side: 40, seed: 12)
        let n = blobs.rows.count / 5
        let seeded = blobs.rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 256, dimension: 5, k: 6, seed: 2, heat: 1, floorRatio: 1e-6, autoHalfLife: 300)
        }
        func run(_ mode: ResponsibilityMode) -> ModelState {
            var s = seeded
            let updater = MiniBatchUpdater(configuration: UpdateConfiguration(mode: mode, countHalfLife: 2000))
            blobs.rows.withUnsafeBufferPointer { rp in
                for start in stride(from: 0, to: n, by: 100) {
                    updater.update(&s, rows: UnsafeBufferPointer(rebasing: rp[(start * 5)..<((start + 100) * 5)]), count: 100)
                }
            }
            return s
        }
        let soft = run(.entmax15)
        let hard = run(.hard)
        #expect(soft.temperature < 1e-3 * seeded.temperature)
        // Same centers up to order: match each soft center to its nearest hard one.
        for j in 0..<6 {
            let c = soft.centers[(j * 5)..<((j + 1) * 5)]
            let nearest = (0..<6).map { Reference.squaredDistance(c, hard.centers[($0 * 5)..<(($0 + 1) * 5)]) }.min()!
            #expect(nearest.squareRoot() < 0.15, "center \(j) is \(nearest.squareRoot()) from the hard run")
        }
        // And both recover the generating means.
        for j in 0..<6 {
            let m = blobs.means[(j * 5)..<((j + 1) * 5)]
            let nearest = (0..<6).map { Reference.squaredDistance(m, soft.centers[($0 * 5)..<(($0 + 1) * 5)]) }.min()!
            #expect(nearest.squareRoot() < 0.3)
        }
    }

    @Test func deadCenterIsReseededAndReported() {
        let blobs = TestBlobs(k: 3, d: 2, perCluster: 200, spread: 0.5, side: 20, seed: 4)
        // Center 2 starts far away from all data: it never receives mass.
        var s = Self.state(centers: [blobs.means[0], blobs.means[1], blobs.means[2], blobs.means[3], 1e4, 1e4],
                           k: 3, d: 2, temperature: 0.01)
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(deadCenterPatience: 300, separationInterval: 0))
        var reseeded: [CenterEvent] = []
        blobs.rows.withUnsafeBufferPointer { rp in
            for start in stride(from: 0, to: 600, by: 100) {
                let r = updater.update(&s, rows: UnsafeBufferPointer(rebasing: rp[(start * 2)..<((start + 100) * 2)]), count: 100)
                #expect(r.reseeds == updater.events.filter { $0.kind == .reseeded }.count)
                reseeded += updater.events
            }
        }
        #expect(reseeded.count == 1 && reseeded[0].center == 2)
        #expect(s.reseeds == 1)
        #expect(abs(s.centers[4]) < 30 && abs(s.centers[5]) < 30, "the dead center moved onto the data")
    }

    /// Among many centers, exactly the coinciding pairs are found (the check looks only at
    /// centers whose projections are close), wherever they sit in the list.
    @Test func coincidingPairsAmongManyCentersAreAllFound() {
        let k = 300, d = 40
        var random = RandomSource(seed: 12)
        var centers = (0..<(k * d)).map { _ in Float(random.nextGaussian() * 5) }
        let pairs = [(3, 250), (17, 18), (120, 299)]
        for (a, b) in pairs { for t in 0..<d { centers[b * d + t] = centers[a * d + t] } }
        var s = ModelState(centers: centers, k: k, dimension: d, schedule: .constant(1), random: RandomSource(seed: 2))
        let rows = (0..<(64 * d)).map { _ in Float(random.nextGaussian() * 5) }
        // Hard assignments: two centers sharing one row's weight would both land on it.
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(mode: .hard, countHalfLife: .infinity,
                                                                          deadCenterFraction: 0, separationInterval: 1))
        let r = rows.withUnsafeBufferPointer { updater.update(&s, rows: $0, count: 64) }
        #expect(r.separations == pairs.count)
        let found = Set(updater.events.filter { $0.kind == .separated }.map { [$0.other, $0.center] })
        #expect(found == Set(pairs.map { [$0.0, $0.1] }))
    }

    @Test func coincidingCentersAreSeparated() {
        let blobs = TestBlobs(k: 2, d: 3, perCluster: 100, spread: 1, side: 20, seed: 6)
        let c = Array(blobs.means[0..<3])
        var s = Self.state(centers: c + c, k: 2, d: 3, temperature: 1)
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(deadCenterFraction: 0, separationInterval: 1))
        let r = blobs.rows.withUnsafeBufferPointer { updater.update(&s, rows: $0, count: 200) }
        #expect(r.separations == 1)
        #expect(updater.events == [CenterEvent(kind: .separated, center: 1, other: 0, count: s.counts[1])])
        #expect(s.center(0) != s.center(1))
        // Without separation, identical centers stay identical forever by symmetry.
        var t = Self.state(centers: c + c, k: 2, d: 3, temperature: 1)
        let plain = MiniBatchUpdater(configuration: UpdateConfiguration(deadCenterFraction: 0, separationInterval: 0))
        blobs.rows.withUnsafeBufferPointer { _ = plain.update(&t, rows: $0, count: 200) }
        #expect(t.center(0) == t.center(1))
    }

    @Test func fixedLearningRateMovesAFractionOfTheWay() {
        var s = Self.state(centers: [0, 0], k: 1, d: 2, temperature: 1)
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(learningRate: .fixed(0.25)))
        let rows: [Float] = [4, 8, 4, 8]
        rows.withUnsafeBufferPointer { _ = updater.update(&s, rows: $0, count: 2) }
        #expect(s.centers == [1, 2])
    }

    @Test func kEqualsOneAndExtremeTemperaturesStayFinite() {
        for t in [1e-30, 1e30] {
            for mode in ResponsibilityMode.allCases {
                var s = Self.state(centers: [1, 1, 1, 1, 1, 1], k: 3, d: 2, temperature: t)
                let updater = MiniBatchUpdater(configuration: UpdateConfiguration(mode: mode))
                let rows: [Float] = [1e15, -1e15, 0, 0, 1, 1]
                rows.withUnsafeBufferPointer { _ = updater.update(&s, rows: $0, count: 3) }
                #expect(s.centers.allSatisfy { $0.isFinite } && s.counts.allSatisfy { $0.isFinite })
                var one = Self.state(centers: [5], k: 1, d: 1, temperature: t)
                [Float(1), 2, 3].withUnsafeBufferPointer { _ = updater.update(&one, rows: $0, count: 3) }
                #expect(abs(one.centers[0] - 2) < 1e-6)
            }
        }
    }

    @Test func predictDoesNotChangeTheModel() {
        let s = Self.state(centers: [0, 0, 10, 10], k: 2, d: 2, temperature: 1)
        let updater = MiniBatchUpdater()
        [Float(1), 1, 9, 9.5].withUnsafeBufferPointer { updater.predict(s, rows: $0, count: 2) }
        #expect(updater.rowCount == 2)
        #expect(updater.bestCenter(0) == 0 && updater.bestCenter(1) == 1)
        #expect(updater.squaredDistance(0) == 2)
        #expect(Array(updater.support(1).weights) == [1])
        #expect(s.batches == 0 && s.centers == [0, 0, 10, 10])
    }
}

/// A real multi-threaded loop for tests.
struct ThreadedLoop: ParallelLoop {
    let width: Int
    func run(_ parts: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBody(body: body)
            DispatchQueue.concurrentPerform(iterations: parts) { box.body($0) }
        }
    }
}

// SAFETY: concurrentPerform joins every iteration before returning; the parts touch disjoint memory.
private struct UncheckedBody: @unchecked Sendable {
    let body: (Int) -> Void
}
