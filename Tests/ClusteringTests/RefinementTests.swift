import Clustering
import Testing

/// Lloyd refinement of the seeding over the warm-up (`Seeding.refine`, `ModelState.seeded`).
struct RefinementTests {
    /// The warm-up's inertia of `centers`, in doubles by the direct form.
    static func inertia(_ rows: [Float], _ centers: [Float], k: Int, d: Int) -> Double {
        let n = rows.count / d
        var total = 0.0
        for i in 0..<n {
            let x = rows[(i * d)..<((i + 1) * d)]
            total += (0..<k).map { Reference.squaredDistance(x, centers[($0 * d)..<(($0 + 1) * d)]) }.min()!
        }
        return total
    }

    static func seeding(_ rows: [Float], k: Int, d: Int, seed: UInt64) -> [Float] {
        var random = RandomSource(seed: seed)
        return rows.withUnsafeBufferPointer {
            Seeding.kMeansPlusPlus(rows: $0, count: rows.count / d, dimension: d, k: k, random: &random, distances: .direct)
        }
    }

    /// One step equals the reference Lloyd step, by the direct form and through the matrix
    /// product (far from the origin, where the expansion would lose digits uncentered).
    @Test(arguments: [(d: 5, method: UpdateConfiguration.DistanceMethod.direct, offset: Float(0)),
                      (d: 160, method: .screened, offset: 1e3)])
    func oneStepIsLloydsStep(d: Int, method: UpdateConfiguration.DistanceMethod, offset: Float) {
        let k = 6
        let blobs = TestBlobs(k: k, d: d, perCluster: 50, spread: 2, side: 6, seed: 4)
        let rows = blobs.rows.map { $0 + offset }
        var centers = Self.seeding(rows, k: k, d: d, seed: 7)
        let expected = Reference.lloyd(centers: centers, k: k, d: d, rows: rows)
        let r = rows.withUnsafeBufferPointer {
            Seeding.refine(centers: &centers, rows: $0, count: k * 50, dimension: d, k: k, iterations: 1, distances: method)
        }
        #expect(r.steps == 1)
        #expect(r.after < r.before, "the step improved a k-means++ seeding of overlapping blobs")
        let scale = Double(offset) + 10
        #expect(maxAbsDifference(centers.map(Double.init), expected) < 1e-5 * scale)
        #expect(abs(r.after - Self.inertia(rows, centers, k: k, d: d)) < 1e-3 * r.after)
    }

    /// Several steps in one call are Lloyd's steps: the rows the bounds spare keep the center a
    /// comparison with every center would give them. Overlapping blobs (many rows change center,
    /// bounds fail often) and separated ones (they rarely do), near the origin and far from it.
    @Test(arguments: [(spread: 2.5, side: 6.0, offset: Float(0)), (spread: 2.5, side: 6.0, offset: 1e3),
                      (spread: 0.5, side: 12.0, offset: 0), (spread: 0.5, side: 12.0, offset: 1e4)])
    func stepsInOneCallAreLloydsSteps(spread: Double, side: Double, offset: Float) {
        let k = 12, d = 160, n = 12 * 40
        for seed in UInt64(1)...3 {
            let blobs = TestBlobs(k: 9, d: d, perCluster: n / 9 + 1, spread: spread, side: side, seed: seed)
            let rows = Array(blobs.rows[0..<(n * d)]).map { $0 + offset }
            let start = Self.seeding(rows, k: k, d: d, seed: seed)
            // Each reference step from the last one's float centers, as the refinement keeps them.
            var iterates = [start]
            for _ in 0..<8 { iterates.append(Reference.lloyd(centers: iterates.last!, k: k, d: d, rows: rows).map(Float.init)) }
            var centers = start
            let r = rows.withUnsafeBufferPointer {
                Seeding.refine(centers: &centers, rows: $0, count: n, dimension: d, k: k, iterations: 8, distances: .screened)
            }
            // The centers returned are the last step's, or the one before when the last did not gain.
            let scale = Double(offset) + 10
            let nearestIterate = [r.steps, r.steps - 1].filter { $0 >= 0 }.map {
                maxAbsDifference(centers.map(Double.init), iterates[$0].map(Double.init))
            }.min()!
            #expect(nearestIterate < 1e-4 * scale, "seed \(seed): \(r.steps) steps")
            #expect(abs(r.after - Self.inertia(rows, centers, k: k, d: d)) < 1e-4 * r.after)
            #expect(r.comparedAgain <= r.steps * n)
        }
    }

    /// Where the clusters are far apart, a step after the first compares almost no row with
    /// every center again: that is what makes the steps cheap at embedding sizes.
    @Test func separatedClustersSpareTheComparisons() {
        let k = 16, d = 64, n = 2048
        let blobs = TestBlobs(k: k, d: d, perCluster: n / k, spread: 1, side: 40, seed: 3)
        var centers = Self.seeding(blobs.rows, k: k, d: d, seed: 5)
        let r = blobs.rows.withUnsafeBufferPointer {
            Seeding.refine(centers: &centers, rows: $0, count: n, dimension: d, k: k, iterations: 5, distances: .screened)
        }
        #expect(r.steps >= 1)
        #expect(r.comparedAgain < r.steps * n / 10, "\(r.comparedAgain) rows compared again in \(r.steps) steps")
    }

    /// Whatever the start, the centers returned never explain the warm-up worse than the
    /// centers given, and more steps never end worse than fewer.
    @Test(arguments: [UpdateConfiguration.DistanceMethod.direct, .screened])
    func refinementNeverIncreasesTheWarmUpInertia(method: UpdateConfiguration.DistanceMethod) {
        let k = 9, d = 7
        for seed in UInt64(1)...8 {
            let blobs = TestBlobs(k: 5, d: d, perCluster: 60, spread: 3, side: 8, seed: seed)
            let start = Self.seeding(blobs.rows, k: k, d: d, seed: seed)
            var previous = Double.infinity
            for iterations in [0, 1, 3, 30] {
                var centers = start
                let r = blobs.rows.withUnsafeBufferPointer {
                    Seeding.refine(centers: &centers, rows: $0, count: 300, dimension: d, k: k, iterations: iterations,
                                   distances: method)
                }
                let before = Self.inertia(blobs.rows, start, k: k, d: d)
                let after = Self.inertia(blobs.rows, centers, k: k, d: d)
                #expect(abs(r.before - before) <= 1e-4 * before)
                #expect(after <= before * (1 + 1e-6), "seed \(seed), \(iterations) steps: \(before) → \(after)")
                #expect(after <= previous * (1 + 1e-6), "seed \(seed): \(iterations) steps ended worse than fewer")
                #expect(r.steps <= iterations)
                if iterations == 0 { #expect(centers == start) }
                previous = after
            }
        }
    }

    /// One center: its refinement is the warm-up's mean, reached in one step.
    @Test func oneCenterGoesToTheMean() {
        let blobs = TestBlobs(k: 3, d: 4, perCluster: 40, spread: 1, side: 10, seed: 5)
        var centers = Array(blobs.rows[0..<4])
        let r = blobs.rows.withUnsafeBufferPointer {
            Seeding.refine(centers: &centers, rows: $0, count: 120, dimension: 4, k: 1, iterations: 10)
        }
        for t in 0..<4 {
            let mean = stride(from: t, to: blobs.rows.count, by: 4).map { Double(blobs.rows[$0]) }.reduce(0, +) / 120
            #expect(abs(Double(centers[t]) - mean) < 1e-4)
        }
        #expect(r.steps == 2, "the second step cannot improve on the mean, and stops")
    }

    /// Duplicate rows, more centers than distinct rows: centers that win nothing stay where they
    /// are, everything stays finite and the inertia is 0.
    @Test func duplicatesKeepEveryCenterFinite() {
        let rows = [Float](repeating: 3, count: 20 * 2) + [Float](repeating: -1, count: 20 * 2)
        let state = rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 40, dimension: 2, k: 5, seed: 1, iterations: 10, seedings: 3)
        }
        #expect(state.centers.allSatisfy { $0.isFinite })
        #expect(Self.inertia(rows, state.centers, k: 5, d: 2) == 0)
        #expect(state.schedule.isValid)
    }

    /// Spherical: under the cosine metric the refined centers stay unit vectors.
    @Test func cosineCentersStayOnTheSphere() {
        var blobs = TestBlobs(k: 4, d: 6, perCluster: 30, spread: 1, side: 6, seed: 2).rows
        blobs.withUnsafeMutableBufferPointer { _ = Metric.normalize(rows: $0.baseAddress!, count: 120, dimension: 6) }
        var centers = Self.seeding(blobs, k: 4, d: 6, seed: 3)
        blobs.withUnsafeBufferPointer {
            _ = Seeding.refine(centers: &centers, rows: $0, count: 120, dimension: 6, k: 4, iterations: 5, metric: .cosine)
        }
        for j in 0..<4 {
            let norm = centers[(j * 6)..<((j + 1) * 6)].reduce(0) { $0 + Double($1) * Double($1) }
            #expect(abs(norm - 1) < 1e-5)
        }
    }

    /// Seeded: the same seed gives the same model bit for bit; more seedings never end with a
    /// higher warm-up inertia than the first alone (the first candidate is the same draw).
    @Test func seedingsAreReproducibleAndKeepTheBest() {
        let k = 8, d = 3
        let blobs = TestBlobs(k: 6, d: d, perCluster: 80, spread: 2.5, side: 10, seed: 12)
        func model(_ seedings: Int, seed: UInt64) -> ModelState {
            blobs.rows.withUnsafeBufferPointer {
                ModelState.seeded(warmup: $0, count: 480, dimension: d, k: k, seed: seed, iterations: 20, seedings: seedings)
            }
        }
        #expect(model(4, seed: 3) == model(4, seed: 3))
        var strictlyBetter = 0
        for seed in UInt64(1)...10 {
            let one = Self.inertia(blobs.rows, model(1, seed: seed).centers, k: k, d: d)
            let four = Self.inertia(blobs.rows, model(4, seed: seed).centers, k: k, d: d)
            #expect(four <= one * (1 + 1e-6), "seed \(seed): \(one) → \(four)")
            if four < one * (1 - 1e-4) { strictlyBetter += 1 }
        }
        #expect(strictlyBetter > 0, "on overlapping blobs some seed has a better candidate than its first")
    }
}

/// What the refinement may cost (`Seeding.refinementPlan`).
struct RefinementPlanTests {
    /// Small shapes run everything asked for; embedding shapes fall back to k-means++ alone;
    /// in between, seedings go before steps, and the plan never exceeds what was asked.
    @Test func workIsCutToTheBudgetSeedingsFirst() {
        #expect(Seeding.refinementPlan(count: 320, dimension: 64, k: 10, iterations: 10, seedings: 5) == (10, 5))
        #expect(Seeding.refinementPlan(count: 4096, dimension: 64, k: 64, iterations: 10, seedings: 5) == (10, 5))
        #expect(Seeding.refinementPlan(count: 4096, dimension: 768, k: 1024, iterations: 10, seedings: 5) == (0, 1))
        #expect(Seeding.refinementPlan(count: 4096, dimension: 1536, k: 4096, iterations: 10, seedings: 5) == (0, 1))
        let middle = Seeding.refinementPlan(count: 4096, dimension: 384, k: 256, iterations: 10, seedings: 5)
        #expect(middle.seedings == 1 && middle.iterations >= 1 && middle.iterations < 10)
        let step = 4096.0 * 256 * 384
        #expect(Double(middle.iterations) * step <= Seeding.refinementBudget)
        #expect(Double(middle.iterations + 1) * step > Seeding.refinementBudget)
        #expect(Seeding.refinementPlan(count: 100, dimension: 2, k: 3, iterations: 0, seedings: 1) == (0, 1))
    }
}
