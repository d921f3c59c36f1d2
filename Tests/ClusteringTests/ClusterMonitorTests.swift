import Clustering
import Testing

/// Per-cluster change events on streams built to cause each kind, and none on one built not to.
@Suite struct ClusterMonitorTests {
    /// Four blobs in 4 dimensions (std 1, means 30 apart), through the model-paced updater with
    /// the drift test off, so only the monitor speaks. `phase` alters the stream after 40 000
    /// vectors; returns the changes seen after that point, with the true cluster of each center.
    static func run(_ phase: (_ cluster: Int, _ progress: Double) -> (weight: Double, shift: Float, std: Double)?)
        -> (changes: [ClusterMonitor.Change], clusterOf: [Int], early: Int) {
        let k = 4, d = 4, batch = 500
        var random = RandomSource(seed: 21)
        let means: [Float] = [0, 0, 0, 0, 30, 0, 0, 0, 0, 30, 0, 0, 0, 0, 30, 0]
        var s = ModelState(centers: means.map { $0 + 0.5 }, k: k, dimension: d, schedule: .constant(0.01),
                           random: RandomSource(seed: 2))
        var configuration = UpdateConfiguration(mode: .hard)
        configuration.pacing = Pacing()
        configuration.drift = nil
        let updater = MiniBatchUpdater(configuration: configuration)
        var monitor = ClusterMonitor()
        var changes: [ClusterMonitor.Change] = []
        var early = 0
        var rows = [Float](repeating: 0, count: batch * d)
        let total = 80_000
        for b in 0..<(total / batch) {
            let seen = b * batch
            let progress = seen < 40_000 ? -1 : Double(seen - 40_000) / 40_000
            var weights = [1.0, 1.0, 1.0, 1.0], shifts: [Float] = [0, 0, 0, 0], stds = [1.0, 1.0, 1.0, 1.0]
            if progress >= 0 {
                for j in 0..<k { if let p = phase(j, progress) { weights[j] = p.weight; shifts[j] = p.shift; stds[j] = p.std } }
            }
            let sum = weights.reduce(0, +)
            for i in 0..<batch {
                var u = random.nextUnit() * sum
                var j = 0
                while j < k - 1 && u >= weights[j] { u -= weights[j]; j += 1 }
                for t in 0..<d {
                    rows[i * d + t] = means[j * d + t] + (t == 3 ? shifts[j] : 0) + Float(stds[j] * random.nextGaussian())
                }
            }
            rows.withUnsafeBufferPointer { _ = updater.update(&s, rows: $0, count: batch) }
            monitor.check(s, settle: 1_600)
            if progress >= 0 { changes += monitor.changes } else { early += monitor.changes.count }
        }
        // Each center's true cluster: the nearest mean (the model started next to them).
        let clusterOf = (0..<k).map { j in
            (0..<k).min { a, b in
                let da = (0..<d).map { t in Double(s.centers[j * d + t] - means[a * d + t]) }.map { $0 * $0 }.reduce(0, +)
                let db = (0..<d).map { t in Double(s.centers[j * d + t] - means[b * d + t]) }.map { $0 * $0 }.reduce(0, +)
                return da < db
            }!
        }
        return (changes, clusterOf, early)
    }

    @Test func aStationaryStreamTellsNothing() {
        let r = Self.run { _, _ in nil }
        #expect(r.changes.isEmpty, "\(r.changes)")
        #expect(r.early == 0)
    }

    @Test func aClusterThatGrowsIsTold() {
        // Cluster 0 goes from a quarter of the stream to seven tenths at once.
        let r = Self.run { j, _ in j == 0 ? (7, 0, 1) : nil }
        let sizes = r.changes.filter { $0.kind == .size }
        #expect(sizes.contains { r.clusterOf[$0.center] == 0 && $0.after >= 2 * $0.before }, "\(r.changes)")
        // The other three shrank from 1/4 to 1/10: each announced as (at least) halved.
        #expect(Set(sizes.filter { $0.after < $0.before }.map { r.clusterOf[$0.center] }) == [1, 2, 3])
        #expect(!r.changes.contains { $0.kind == .location || $0.kind == .spread }, "\(r.changes)")
    }

    @Test func aClusterThatSpreadsIsTold() {
        let r = Self.run { j, _ in j == 2 ? (1, 0, 1.6) : nil }
        #expect(r.changes.contains { $0.kind == .spread && r.clusterOf[$0.center] == 2 && $0.after >= 1.5 * $0.before }, "\(r.changes)")
        #expect(!r.changes.contains { r.clusterOf[$0.center] != 2 }, "\(r.changes)")
    }

    @Test func aClusterThatMovesIsTold() {
        // Cluster 1 travels 6 std along the last axis over 40 000 vectors.
        let r = Self.run { j, p in j == 1 ? (1, Float(6 * p), 1) : nil }
        let moves = r.changes.filter { $0.kind == .location }
        #expect(moves.contains { r.clusterOf[$0.center] == 1 && $0.after >= $0.threshold }, "\(r.changes)")
        #expect(!moves.contains { r.clusterOf[$0.center] != 1 }, "\(r.changes)")
    }

    @Test func badFactorsAreNamed() {
        #expect(ClusterMonitor(sizeFactor: 1).validationError?.contains("size factor") == true)
        #expect(ClusterMonitor(spreadFactor: .nan).validationError?.contains("spread factor") == true)
        #expect(ClusterMonitor(locationFraction: 0).validationError?.contains("location") == true)
        #expect(ClusterMonitor().validationError == nil)
    }
}
