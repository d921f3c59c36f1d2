import Clustering
import Testing

/// A vector of weight w must act on the model exactly as w copies of it: soft counts,
/// forgetting, the schedule's clock, inertia and re-seeding all included.
@Suite struct WeightTests {
    /// Runs `batches` batches through a fresh model, once with integer weights and once with each
    /// vector repeated as often as its weight (copies adjacent, so both batches hold the same data).
    static func compare(mode: ResponsibilityMode, deadCenterFraction: Double, seed: UInt64) -> (ModelState, ModelState, [BatchReport], [BatchReport]) {
        let k = 6, d = 5
        let blobs = TestBlobs(k: k, d: d, perCluster: 400, spread: 2, side: 30, seed: seed)
        var random = RandomSource(seed: seed &+ 1)
        let n = blobs.rows.count / d
        let weights: [Float] = (0..<n).map { _ in Float(1 + random.next() % 4) }
        let schedule = TemperatureSchedule(kind: .exponential, initial: 20, floor: 0.02, halfLife: 600)
        let centers = Array(blobs.rows[0..<(k * d)])
        var weighted = ModelState(centers: centers, k: k, dimension: d, schedule: schedule, random: RandomSource(seed: 9))
        var copied = weighted
        let configuration = UpdateConfiguration(mode: mode, countHalfLife: 700, deadCenterFraction: deadCenterFraction,
                                                deadCenterPatience: 300)
        let a = MiniBatchUpdater(configuration: configuration)
        let b = MiniBatchUpdater(configuration: configuration)
        var reportsA = [BatchReport](), reportsB = [BatchReport]()
        let batch = 100
        var start = 0
        while start < n {
            let end = min(n, start + batch)
            let rows = Array(blobs.rows[(start * d)..<(end * d)])
            let w = Array(weights[start..<end])
            var repeated = [Float]()
            for i in 0..<(end - start) {
                for _ in 0..<Int(w[i]) { repeated += rows[(i * d)..<((i + 1) * d)] }
            }
            reportsA.append(rows.withUnsafeBufferPointer { r in
                w.withUnsafeBufferPointer { wp in a.update(&weighted, rows: r, count: end - start, weights: wp) }
            })
            reportsB.append(repeated.withUnsafeBufferPointer { r in b.update(&copied, rows: r, count: repeated.count / d) })
            start = end
        }
        return (weighted, copied, reportsA, reportsB)
    }

    @Test(arguments: ResponsibilityMode.allCases)
    func weightActsAsCopies(mode: ResponsibilityMode) {
        let (a, b, ra, rb) = Self.compare(mode: mode, deadCenterFraction: 0.01, seed: 5)
        let scale = a.centers.map { abs(Double($0)) }.max()!
        #expect(maxAbsDifference(a.centers.map(Double.init), b.centers.map(Double.init)) <= 1e-4 * scale)
        let largest = a.counts.max()!
        #expect(maxAbsDifference(a.counts, b.counts) <= 1e-5 * largest)
        #expect(a.scheduleClock == b.scheduleClock)
        #expect(a.scheduleClock == Double(b.vectorsSeen))
        #expect(a.vectorsSeen < b.vectorsSeen)
        #expect(a.temperature == b.temperature)
        #expect(a.reseeds == b.reseeds)
        for (x, y) in zip(ra, rb) {
            #expect(abs(x.inertia - y.inertia) <= 1e-4 * max(y.inertia, 1))
            #expect(x.weight == y.weight)
            #expect(x.temperature == y.temperature)
        }
    }

    @Test func scheduleAdvancesByWeight() {
        let schedule = TemperatureSchedule(kind: .exponential, initial: 8, floor: 0.01, halfLife: 100)
        var s = ModelState(centers: [0, 0, 10, 10], k: 2, dimension: 2, schedule: schedule, random: RandomSource(seed: 1))
        let updater = MiniBatchUpdater()
        let rows: [Float] = [0.5, 0, 9.5, 10]
        let weights: [Float] = [40, 60]
        rows.withUnsafeBufferPointer { r in
            weights.withUnsafeBufferPointer { w in _ = updater.update(&s, rows: r, count: 2, weights: w) }
        }
        #expect(s.vectorsSeen == 2)
        #expect(s.scheduleClock == 100)
        #expect(s.temperature == 4)
    }
}
