import Clustering
import Testing

/// Half-lives keyed on the model: the rule's values, the memory's growth on a stationary stream
/// and its cut on drift.
@Suite struct PacingTests {
    @Test func theRuleFollowsTheCountsWithAFloorPerCenter() {
        let p = Pacing(kind: .model, memoryFraction: 0.1, memoryFloor: 100, coolingPerCenter: 50)
        // Below the floor: 100 vectors per center.
        #expect(p.countHalfLife(totalCount: 10, k: 8, fixed: 7) == 800)
        // Above it: (ρ + ln 2) · ΣN.
        let h = p.countHalfLife(totalCount: 10_000, k: 8, fixed: 7)
        #expect(abs(h - (0.1 + 0.6931471805599453) * 10_000) < 1e-9)
        #expect(p.temperatureHalfLife(k: 8, fixed: 7) == 400)
        #expect(Pacing.fixed.countHalfLife(totalCount: 10_000, k: 8, fixed: 7) == 7)
        #expect(Pacing.fixed.temperatureHalfLife(k: 8, fixed: 7) == 7)
    }

    @Test func badValuesAreNamed() {
        #expect(Pacing(memoryFraction: 0).validationError?.contains("memory fraction") == true)
        #expect(Pacing(memoryFloor: .infinity).validationError?.contains("memory floor") == true)
        #expect(Pacing(coolingPerCenter: -1).validationError?.contains("cooling") == true)
        #expect(Pacing(kind: .fixed, memoryFraction: 0).validationError == nil)
        var u = UpdateConfiguration()
        u.pacing = Pacing(memoryFraction: .nan)
        #expect(u.validationError != nil)
    }

    /// On a stationary stream the total count grows by ρ/(ρ + ln 2) per vector, so the
    /// half-life grows as ρ · n: the memory keeps growing with the stream instead of stopping
    /// at a fixed length. (Batches of 100 keep the per-batch step's discreteness below 2 %.)
    @Test(arguments: [0.1, 0.5])
    func theMemoryGrowsWithAStationaryStream(fraction: Double) {
        var random = RandomSource(seed: 5)
        let k = 4, d = 2, batch = 100
        let means: [Float] = [0, 0, 30, 0, 0, 30, 30, 30]
        var s = ModelState(centers: means, k: k, dimension: d, schedule: .constant(0.01), random: RandomSource(seed: 1))
        var configuration = UpdateConfiguration(mode: .hard, deadCenterFraction: 0, separationInterval: 0)
        configuration.pacing = Pacing(memoryFraction: fraction)
        configuration.drift = nil
        let updater = MiniBatchUpdater(configuration: configuration)
        var rows = [Float](repeating: 0, count: batch * d)
        var totals = [Double]()
        for b in 1...2000 {
            for i in 0..<batch {
                let j = Int(random.next() % UInt64(k))
                for t in 0..<d { rows[i * d + t] = means[j * d + t] + Float(random.nextGaussian()) }
            }
            rows.withUnsafeBufferPointer { _ = updater.update(&s, rows: $0, count: batch) }
            if b == 1000 || b == 2000 { totals.append(s.counts.reduce(0, +)) }
        }
        let slope = fraction / (fraction + 0.6931471805599453)
        let measured = (totals[1] - totals[0]) / 100_000
        #expect(abs(measured / slope - 1) < 0.03, "ΣN grew by \(measured) per vector, expected \(slope)")
        let h = configuration.pacing.countHalfLife(totalCount: totals[1], k: k, fixed: 0)
        #expect(h > 0.9 * fraction * 200_000, "half-life \(h) after 200 000 vectors")
    }

    /// A drift alarm cuts the counts to one dead-center window each, and with them the memory.
    @Test func driftShortensTheMemory() {
        let p = Pacing()
        var s = DriftTests.JumpStream(jump: true)
        let (warm, _) = s.rows(400, jumped: false)
        var model = warm.withUnsafeBufferPointer { ModelState.seeded(warmup: $0, count: 400, dimension: 4, k: 8, seed: 3) }
        var configuration = UpdateConfiguration()
        configuration.pacing = p
        let updater = MiniBatchUpdater(configuration: configuration)
        var before = 0.0, after = Double.infinity
        var seen = 0
        while seen < 50_000 {
            let (rows, _) = s.rows(500, jumped: seen >= 40_000)
            rows.withUnsafeBufferPointer { _ = updater.update(&model, rows: $0, count: 500) }
            seen += 500
            if seen == 40_000 { before = p.countHalfLife(totalCount: model.counts.reduce(0, +), k: 8, fixed: 0) }
            if updater.events.contains(where: { $0.kind == .drift }) {
                after = min(after, p.countHalfLife(totalCount: model.counts.reduce(0, +), k: 8, fixed: 0))
            }
        }
        #expect(before > 3_000, "memory after 40 000 stationary vectors: \(before)")
        #expect(after <= 0.5 * before, "memory right after the drift alarm: \(after), before it \(before)")
    }
}
