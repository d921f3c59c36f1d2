import Clustering
@testable import Daemon
import Testing

/// A worker's copies of the epochs it sent: kept relative to one set of centers, sent again
/// after a coordinator's checkpoint exactly as if each had been rebased from its own centers.
@Suite struct EpochRetentionTests {
    static let k = 5, d = 4

    /// Four model versions whose centers move, and one epoch of statistics against each.
    static func epochs() -> (models: [ModelState], epochs: [SufficientStatistics]) {
        let rows = StatisticsMergerTests.data(n: 800, seed: 21)
        let (start, configuration) = StatisticsMergerTests.start(rows)
        let updater = MiniBatchUpdater(configuration: configuration)
        var model = start
        var models: [ModelState] = []
        var epochs: [SufficientStatistics] = []
        rows.withUnsafeBufferPointer { r in
            for e in 0..<4 {
                let batch = UnsafeBufferPointer(rebasing: r[(e * 200 * d)..<((e + 1) * 200 * d)])
                var s = SufficientStatistics(k: k, dimension: d)
                updater.computeStatistics(model, rows: batch, count: 200, into: &s)
                models.append(model)
                epochs.append(s)
                updater.update(&model, rows: batch, count: 200)
            }
            models.append(model)
        }
        return (models, epochs)
    }

    @Test func copiesSentAgainEqualEachEpochRebasedFromItsOwnCenters() {
        let (models, epochs) = Self.epochs()
        var retention = EpochRetention(capacity: 8, k: Self.k, dimension: Self.d)
        for (i, e) in epochs.enumerated() {
            var taken = e
            let released = models[i].centers.withUnsafeBufferPointer {
                retention.retain(taking: &taken, sequence: UInt64(i + 1), centers: $0, version: models[i].batches)
            }
            #expect(released == 0)
            // What is left in its place is a buffer of the same shape, not the epoch.
            #expect(taken.k == Self.k && taken.dimension == Self.d)
        }
        #expect(retention.epochs == 4 && retention.vectors == 800)
        // The restored coordinator's model holds epochs 1 and 2.
        let now = models[4]
        var held = SufficientStatistics(k: Self.k, dimension: Self.d, baseVersion: now.batches)
        let taken = now.centers.withUnsafeBufferPointer {
            retention.takeAll(after: 2, onto: $0, version: now.batches, into: &held)
        }
        #expect(taken.epochs == 2 && taken.vectors == 400)
        #expect(retention.isEmpty)
        var expected = SufficientStatistics(k: Self.k, dimension: Self.d, baseVersion: now.batches)
        for i in 2..<4 {
            var e = epochs[i]
            models[i].centers.withUnsafeBufferPointer { old in
                now.centers.withUnsafeBufferPointer { e.rebase(to: now.batches, from: old, onto: $0) }
            }
            expected.merge(e)
        }
        #expect(held.vectors == expected.vectors && held.weight == expected.weight && held.mass == expected.mass)
        let scale = expected.delta.map(abs).max()!
        #expect(zip(held.delta, expected.delta).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
    }

    @Test func aCheckpointReleasesItsEpochsAndAFullRetentionReleasesTheOldest() {
        let (models, epochs) = Self.epochs()
        var retention = EpochRetention(capacity: 2, k: Self.k, dimension: Self.d)
        var released: [Int] = []
        for (i, e) in epochs.enumerated() {
            var taken = e
            released.append(models[i].centers.withUnsafeBufferPointer {
                retention.retain(taking: &taken, sequence: UInt64(10 + i), centers: $0, version: models[i].batches)
            })
        }
        // Epochs 10 and 11 made room for 12 and 13.
        #expect(released == [0, 0, 200, 200])
        #expect(retention.epochs == 2)
        retention.release(through: 12)
        #expect(retention.epochs == 1 && retention.vectors == 200)
        retention.release(through: 11)
        #expect(retention.epochs == 1)
        retention.release(through: 13)
        #expect(retention.isEmpty)
    }

    /// Buffers are made for as many copies as were ever unconfirmed at once, not for the
    /// capacity: a worker whose copies are confirmed one or two epochs later keeps two or three.
    @Test func buffersFollowTheCopiesUnconfirmedAtOnce() {
        let (models, epochs) = Self.epochs()
        var retention = EpochRetention(capacity: 64, k: Self.k, dimension: Self.d)
        var held = epochs[0]
        for i in 1...200 {
            _ = models[0].centers.withUnsafeBufferPointer {
                retention.retain(taking: &held, sequence: UInt64(i), centers: $0, version: models[0].batches)
            }
            held.merge(epochs[i % 4].rebased(from: models[i % 4], onto: models[0]))
            // Confirmed two epochs late, and now and then five.
            retention.release(through: UInt64(max(0, i % 50 == 0 ? i - 5 : i - 2)))
            #expect(retention.epochs <= 5)
        }
        #expect(retention.buffers <= 6)
        #expect(retention.epochs == 3)  // 198, 199, 200: the last confirmation was late
    }

    @Test func noCapacityKeepsNothingAndLeavesTheStatisticsAlone() {
        let (models, epochs) = Self.epochs()
        var retention = EpochRetention(capacity: 0, k: Self.k, dimension: Self.d)
        var taken = epochs[0]
        let released = models[0].centers.withUnsafeBufferPointer {
            retention.retain(taking: &taken, sequence: 1, centers: $0, version: models[0].batches)
        }
        #expect(released == 0 && retention.isEmpty && taken == epochs[0])
    }
}


extension SufficientStatistics {
    /// These statistics made relative to `to`'s centers instead of `from`'s.
    func rebased(from: ModelState, onto to: ModelState) -> SufficientStatistics {
        var copy = self
        from.centers.withUnsafeBufferPointer { old in
            to.centers.withUnsafeBufferPointer { copy.rebase(to: to.batches, from: old, onto: $0) }
        }
        return copy
    }
}
