import Clustering
import Testing

/// The drift test and its response, on streams built to cause each event and one built not to.
@Suite struct DriftTests {
    /// Blobs (k 8, d 4, std 1) whose means all move to new places after `jumpAt` vectors.
    struct JumpStream {
        var before: [Float] = []
        var after: [Float] = []
        var random = RandomSource(seed: 41)
        let k = 8, d = 4

        init(jump: Bool) {
            before = (0..<(k * d)).map { _ in Float((random.nextUnit() - 0.5) * 40) }
            after = jump ? (0..<(k * d)).map { _ in Float((random.nextUnit() - 0.5) * 40) } : before
        }

        /// The next `n` rows from `means`, and the squared distances to their true means.
        mutating func rows(_ n: Int, jumped: Bool) -> (rows: [Float], trueError: Double) {
            let means = jumped ? after : before
            var out = [Float]()
            var error = 0.0
            for _ in 0..<n {
                let j = Int(random.next() % UInt64(k))
                for t in 0..<d {
                    let noise = random.nextGaussian()
                    out.append(means[j * d + t] + Float(noise))
                    error += noise * noise
                }
            }
            return (out, error)
        }
    }

    /// Streams `total` vectors in batches of 500, jumping after `jumpAt`; returns the vectors
    /// seen at each drift event, and the model's error / true error over the last 5 000.
    static func run(jump: Bool, total: Int, jumpAt: Int = 40_000, reheat: Double = 1, pacing: Pacing = .fixed) -> (drifts: [Int], reheats: Int, warnings: Int, finalRatio: Double, reseeds: Int) {
        var stream = JumpStream(jump: jump)
        let (warm, _) = stream.rows(400, jumped: false)
        var s = warm.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 400, dimension: 4, k: 8, seed: 3)
        }
        var configuration = UpdateConfiguration()
        configuration.reheatFactor = reheat
        configuration.pacing = pacing
        let updater = MiniBatchUpdater(configuration: configuration)
        var drifts: [Int] = [], reheats = 0, warnings = 0, reseeds = 0
        var lateModel = 0.0, lateTrue = 0.0
        var seen = 0
        while seen < total {
            let (rows, trueError) = stream.rows(500, jumped: seen >= jumpAt)
            let report = rows.withUnsafeBufferPointer { updater.update(&s, rows: $0, count: 500) }
            seen += 500
            reseeds += report.reseeds
            for e in updater.events {
                switch e.kind {
                case .drift:
                    drifts.append(seen)
                    #expect(e.value > e.threshold && e.threshold > 0)
                case .reheated:
                    reheats += 1
                    #expect(e.threshold > e.value)
                case .driftWarning: warnings += 1
                default: break
                }
            }
            if seen > total - 5000 {
                lateModel += report.inertia
                lateTrue += trueError
            }
        }
        return (drifts, reheats, warnings, lateModel / lateTrue, reseeds)
    }

    /// Both pacings: the daemon's default is the model's, the core's the fixed one.
    @Test(arguments: [Pacing.fixed, Pacing()])
    func aJumpIsAnnouncedQuicklyAndTheModelRecovers(pacing: Pacing) {
        let r = Self.run(jump: true, total: 60_000, pacing: pacing)
        #expect(r.drifts.count >= 1)
        let first = r.drifts.first ?? .max
        #expect(first > 40_000 && first <= 45_000, "drift announced within 5 000 vectors of the jump, at \(first)")
        #expect(r.reheats == 0, "reheating is off by default")
        // 20 000 vectors after the jump, the last 5 000 are explained within 1.2× the truth.
        #expect(r.finalRatio <= 1.2, "error / true error \(r.finalRatio)")
    }

    @Test func reheatingIsAnnouncedWhenConfigured() {
        let r = Self.run(jump: true, total: 44_000, reheat: 4)
        #expect(r.drifts.count >= 1)
        #expect(r.reheats == r.drifts.count)
    }

    @Test(arguments: [Pacing.fixed, Pacing()])
    func aStationaryStreamRaisesNoDrift(pacing: Pacing) {
        let r = Self.run(jump: false, total: 200_000, pacing: pacing)
        #expect(r.drifts.isEmpty)
        #expect(r.reheats == 0)
        #expect(r.finalRatio <= 1.05)
    }

    @Test func reheatingMovesTheClockBackAndStopsAtTheStart() {
        let schedule = TemperatureSchedule(kind: .exponential, initial: 16, floor: 0.001, halfLife: 100)
        var s = ModelState(centers: [0, 1], k: 2, dimension: 1, schedule: schedule, random: RandomSource(seed: 1))
        s.scheduleClock = 400
        #expect(s.temperature == 1)
        s.reheat(by: 4)
        #expect(abs(s.temperature - 4) < 1e-9)
        s.reheat(by: 100)
        #expect(s.temperature == 16 && s.scheduleClock == 0)
        var i = ModelState(centers: [0, 1], k: 2, dimension: 1,
                           schedule: TemperatureSchedule(kind: .inverseTime, initial: 8, floor: 0.001, halfLife: 10),
                           random: RandomSource(seed: 1))
        i.scheduleClock = 70
        i.reheat(by: 2)
        #expect(abs(i.temperature - 2) < 1e-9)
    }

    @Test func theDetectorIsCheckpointed() throws {
        var stream = JumpStream(jump: false)
        let (warm, _) = stream.rows(400, jumped: false)
        var s = warm.withUnsafeBufferPointer { ModelState.seeded(warmup: $0, count: 400, dimension: 4, k: 8, seed: 3) }
        let updater = MiniBatchUpdater()
        for _ in 0..<20 {
            let (rows, _) = stream.rows(500, jumped: false)
            rows.withUnsafeBufferPointer { _ = updater.update(&s, rows: $0, count: 500) }
        }
        #expect(s.drift.learned > 0)
        #expect(s.spread(0) > 0)
        let back = try ModelState(encoded: s.encoded())
        #expect(back == s)
        #expect(back.drift.reference == s.drift.reference)
    }
}
