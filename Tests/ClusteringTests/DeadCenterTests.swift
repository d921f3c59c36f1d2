import Clustering
import Testing

/// Dead centers are judged by the mass they receive, so rare clusters keep their center.
@Suite struct DeadCenterTests {
    /// Three clusters holding 60 %, 39.5 % and 0.5 % of the stream, the centers on their means.
    static func rareClusterStream(n: Int) -> (rows: [Float], means: [Float]) {
        let means: [Float] = [0, 0, 20, 0, 0, 20]
        var random = RandomSource(seed: 17)
        var rows = [Float]()
        rows.reserveCapacity(2 * n)
        for _ in 0..<n {
            let u = random.nextUnit()
            let j = u < 0.6 ? 0 : (u < 0.995 ? 1 : 2)
            rows.append(means[2 * j] + Float(random.nextGaussian()))
            rows.append(means[2 * j + 1] + Float(random.nextGaussian()))
        }
        return (rows, means)
    }

    static func run(_ configuration: UpdateConfiguration, n: Int = 30_000) -> (ModelState, Int) {
        let (rows, means) = rareClusterStream(n: n)
        var s = ModelState(centers: means, k: 3, dimension: 2, schedule: .constant(0.05), random: RandomSource(seed: 2))
        let updater = MiniBatchUpdater(configuration: configuration)
        var reseeds = 0
        rows.withUnsafeBufferPointer { all in
            for start in stride(from: 0, to: n, by: 100) {
                let r = updater.update(&s, rows: UnsafeBufferPointer(rebasing: all[(2 * start)..<(2 * (start + 100))]), count: 100)
                reseeds += r.reseeds
            }
        }
        return (s, reseeds)
    }

    @Test func rareClusterKeepsItsCenterUnderTheReceivedRule() {
        var configuration = UpdateConfiguration(separationInterval: 0)
        configuration.deadCenterWindow = 1000
        let (s, reseeds) = Self.run(configuration)
        #expect(reseeds == 0)
        #expect(abs(s.centers[4]) < 1 && abs(s.centers[5] - 20) < 1, "the rare cluster's center stays on it")
    }

    @Test func theShareRuleReseedsTheRareCluster() {
        var configuration = UpdateConfiguration(deadCenterPatience: 1000, separationInterval: 0)
        configuration.deadCenterRule = .share
        let (_, reseeds) = Self.run(configuration)
        #expect(reseeds > 0)
    }

    @Test func aCenterThatWinsNothingDiesAfterAboutOneWindow() {
        // Center 2 sits far from every vector; k = 3 and a window of 100 vectors per center: its
        // initial mass 1 halves every 300 vectors and reaches ½ after 300 (rounding decides
        // whether that batch or the next declares it dead).
        let (rows, means) = Self.rareClusterStream(n: 1000)
        var s = ModelState(centers: Array(means[0..<4]) + [1e4, 1e4], k: 3, dimension: 2, schedule: .constant(0.05),
                           random: RandomSource(seed: 2))
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(separationInterval: 0))
        var diedAfter: Int?
        rows.withUnsafeBufferPointer { all in
            for start in stride(from: 0, to: 1000, by: 50) where diedAfter == nil {
                let r = updater.update(&s, rows: UnsafeBufferPointer(rebasing: all[(2 * start)..<(2 * (start + 50))]), count: 50)
                if r.reseeds > 0 {
                    diedAfter = start + 50
                    #expect(updater.events.map(\.center) == [2])
                }
            }
        }
        #expect(diedAfter == 300 || diedAfter == 350)
        #expect(s.received[2] == 1, "a re-seeded center starts a fresh window")
    }

    @Test func receivedMassIsCheckpointed() throws {
        let (s, _) = Self.run(UpdateConfiguration(separationInterval: 0), n: 2000)
        let back = try ModelState(encoded: s.encoded())
        #expect(back.received == s.received)
        #expect(back == s)
    }
}
