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

    /// Cooling moves the schedule's clock on: T halves (exponential), its denominator doubles
    /// (inverse time), never below the floor, and a reheat afterwards finds the clock where the
    /// floor begins rather than past it.
    @Test func coolingHalvesTheTemperatureDownToTheFloor() {
        for kind in [TemperatureSchedule.Kind.exponential, .inverseTime] {
            var s = ModelState(centers: [0, 0], k: 1, dimension: 2,
                               schedule: TemperatureSchedule(kind: kind, initial: 64, floor: 1, halfLife: 1000),
                               random: RandomSource(seed: 1))
            s.scheduleClock = 500
            let before = s.temperature
            s.cool(by: 2)
            #expect(abs(s.temperature - before / 2) < 1e-9 * before, "\(kind)")
            for _ in 0..<20 { s.cool(by: 2) }
            #expect(s.temperature == 1, "\(kind): at the floor")
            s.reheat(by: 4)
            #expect(abs(s.temperature - 4) < 1e-9, "\(kind): a reheat from the floor")
        }
        var constant = ModelState(centers: [0, 0], k: 1, dimension: 2, schedule: .constant(3), random: RandomSource(seed: 1))
        constant.cool(by: 2)
        #expect(constant.temperature == 3)
    }

    /// With a support limit, a batch whose vectors share more centers than the limit halves the
    /// temperature after its step, on top of the schedule, whether it is updated at once or its
    /// statistics are applied as they come (a coordinator's); a batch within the limit, or the
    /// rule off, leaves the schedule alone.
    @Test func aWideSupportCoolsTheModel() {
        let blobs = TestBlobs(k: 8, d: 4, perCluster: 64, spread: 1, side: 12, seed: 3)
        let n = blobs.labels.count
        func model(_ initial: Double) -> ModelState {
            ModelState(centers: blobs.means, k: 8, dimension: 4,
                       schedule: TemperatureSchedule(kind: .exponential, initial: initial, floor: 0.01, halfLife: 1e12),
                       random: RandomSource(seed: 2))
        }
        func updater(limit: Double) -> MiniBatchUpdater {
            var configuration = UpdateConfiguration(mode: .entmax15, deadCenterFraction: 0, separationInterval: 0)
            configuration.drift = nil
            configuration.supportLimit = limit
            return MiniBatchUpdater(configuration: configuration)
        }
        // At T 400 on blobs 12 apart, every vector shares several centers.
        var off = model(400)
        let wide = blobs.rows.withUnsafeBufferPointer { updater(limit: 0).update(&off, rows: $0, count: n) }
        #expect(wide.meanSupportSize > 3)
        #expect(abs(off.temperature - 400) < 1e-6)

        var on = model(400)
        let cooled = blobs.rows.withUnsafeBufferPointer { updater(limit: 3).update(&on, rows: $0, count: n) }
        #expect(abs(cooled.temperature - 400) < 1e-6, "the step runs at the scheduled temperature")
        #expect(abs(on.temperature - 200) < 1e-6, "after a batch of mean support \(cooled.meanSupportSize): \(on.temperature)")

        var coordinator = model(400)
        let u = updater(limit: 3)
        var statistics = SufficientStatistics(k: 8, dimension: 4, baseVersion: 0)
        blobs.rows.withUnsafeBufferPointer { u.computeStatistics(coordinator, rows: $0, count: n, into: &statistics) }
        _ = u.apply(statistics, to: &coordinator)
        #expect(abs(coordinator.temperature - 200) < 1e-6)
        #expect(coordinator.centers == on.centers, "the same step either way")

        // Cold enough that the support is within the limit: the schedule alone.
        var cold = model(0.5)
        let narrow = blobs.rows.withUnsafeBufferPointer { updater(limit: 3).update(&cold, rows: $0, count: n) }
        #expect(narrow.meanSupportSize <= 3)
        #expect(abs(cold.temperature - 0.5) < 1e-9)
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
