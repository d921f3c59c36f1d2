import CAllocationCounter
import Clustering
import Testing

/// "Apply a batch" and "merge statistics" are the same operation.
@Suite struct SufficientStatisticsTests {
    /// Data, a starting model and an updater with re-seeding off (applying merged statistics
    /// has no rows to re-seed from).
    static func setup(mode: ResponsibilityMode, k: Int = 6, d: Int = 5, n: Int = 600, seed: UInt64 = 11)
        -> (rows: [Float], weights: [Float], state: ModelState, configuration: UpdateConfiguration)
    {
        let blobs = TestBlobs(k: k, d: d, perCluster: n / k, spread: 2, side: 12, seed: seed)
        var random = RandomSource(seed: seed &+ 1)
        let weights = (0..<(blobs.rows.count / d)).map { _ in Float(0.25 + random.nextUnit()) }
        var state = blobs.rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 3 * k, dimension: d, k: k, seed: seed,
                              schedule: TemperatureSchedule(kind: .exponential, initial: 4, floor: 0.01, halfLife: 2000))
        }
        state.counts = (0..<k).map { _ in 5 + random.nextUnit() * 20 }
        var configuration = UpdateConfiguration(mode: mode, countHalfLife: 800, deadCenterFraction: 0, separationInterval: 0)
        configuration.drift = nil
        return (blobs.rows, weights, state, configuration)
    }

    static func statistics(
        _ updater: MiniBatchUpdater, _ state: ModelState, rows: ArraySlice<Float>, weights: ArraySlice<Float>, d: Int
    ) -> SufficientStatistics {
        var s = SufficientStatistics(k: state.k, dimension: d)
        rows.withUnsafeBufferPointer { r in
            weights.withUnsafeBufferPointer { w in
                updater.computeStatistics(state, rows: r, count: w.count, weights: w, into: &s)
            }
        }
        return s
    }

    static func close(_ a: [Float], _ b: [Float], _ tolerance: Float) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * (1 + abs($1)) }
    }

    /// Batches summed into one value (`adding`) give the statistics of the batches merged, and
    /// the first batch added to empty statistics is bit for bit the batch's own; on one thread
    /// and on three, which sum in parts.
    @Test(arguments: [1, 3])
    func batchesAddedInPlaceEqualTheirStatisticsMerged(threads: Int) {
        let (rows, weights, state, configuration) = Self.setup(mode: .entmax15)
        let d = state.dimension
        let updater = MiniBatchUpdater(configuration: configuration)
        let loop = ThreadedLoop(width: threads)
        var added = SufficientStatistics(k: state.k, dimension: d)
        var merged = SufficientStatistics(k: state.k, dimension: d, baseVersion: state.batches)
        var first: SufficientStatistics?
        for b in 0..<3 {
            let lo = b * 200, hi = lo + 200
            rows.withUnsafeBufferPointer { r in
                weights.withUnsafeBufferPointer { w in
                    let x = UnsafeBufferPointer(rebasing: r[(lo * d)..<(hi * d)]), wb = UnsafeBufferPointer(rebasing: w[lo..<hi])
                    var own = SufficientStatistics(k: state.k, dimension: d)
                    updater.computeStatistics(state, rows: x, count: 200, weights: wb, loop: loop, into: &own)
                    merged.merge(own)
                    if first == nil { first = own }
                    updater.computeStatistics(state, rows: x, count: 200, weights: wb, loop: loop, into: &added, adding: true)
                    if b == 0 { #expect(added == own) }
                }
            }
        }
        #expect(added.vectors == 600 && merged.vectors == 600)
        #expect(added.supportTotal == merged.supportTotal && added.oneHotRows == merged.oneHotRows)
        #expect(abs(added.weight - merged.weight) <= 1e-9 * merged.weight)
        #expect(abs(added.inertia - merged.inertia) <= 1e-9 * merged.inertia)
        #expect(zip(added.mass, merged.mass).allSatisfy { abs($0 - $1) <= 1e-9 * (1 + $1) })
        let scale = merged.delta.map(abs).max()!
        #expect(zip(added.delta, merged.delta).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
        #expect(zip(added.nearestError, merged.nearestError).allSatisfy { abs($0 - $1) <= 1e-9 * (1 + $1) })
    }

    /// At embedding size (k·d past the updater's shared-pass size) three threads zero the sums,
    /// center the centers and add the parts' sums a range of centers each. The sums are still
    /// bit for bit those of each part's rows summed apart and merged in part order, batch after
    /// batch (the parts' buffers must come back to zero between batches).
    @Test(arguments: ResponsibilityMode.allCases)
    func sharedPassesSumAsThePartsMergedInOrder(mode: ResponsibilityMode) {
        let k = 64, d = 2100, n = 640
        let (rows, weights, state, configuration) = Self.setup(mode: mode, k: k, d: d, n: n, seed: 5)
        // The updater's parts: rows count·p/3 ..< count·(p+1)/3.
        let cut = (0...3).map { n * $0 / 3 }
        let threaded = MiniBatchUpdater(configuration: configuration)
        let separate = MiniBatchUpdater(configuration: configuration)
        var own = SufficientStatistics(k: k, dimension: d)
        for batch in 0..<3 {
            // Each batch a different order of the rows.
            let order = (0..<n).map { ($0 * (7 + 2 * batch)) % n }
            let x = order.flatMap { rows[($0 * d)..<(($0 + 1) * d)] }
            let w = order.map { weights[$0] }
            x.withUnsafeBufferPointer { r in
                w.withUnsafeBufferPointer { wp in
                    threaded.computeStatistics(state, rows: r, count: n, weights: wp, loop: ThreadedLoop(width: 3), into: &own)
                }
            }
            var merged = Self.statistics(separate, state, rows: x[0..<(cut[1] * d)], weights: w[0..<cut[1]], d: d)
            for p in 1..<3 {
                merged.merge(Self.statistics(separate, state, rows: x[(cut[p] * d)..<(cut[p + 1] * d)],
                                             weights: w[cut[p]..<cut[p + 1]], d: d))
            }
            #expect(own.mass == merged.mass, "batch \(batch)")
            #expect(own.delta.elementsEqual(merged.delta) { $0.bitPattern == $1.bitPattern }, "batch \(batch)")
            #expect(own.delta.contains { $0 != 0 })
        }
    }

    @Test(arguments: ResponsibilityMode.allCases)
    func shardsMergedInAnyOrderEqualOneUpdateOverTheWholeBatch(mode: ResponsibilityMode) {
        let (rows, weights, start, configuration) = Self.setup(mode: mode)
        let d = start.dimension
        let n = weights.count
        // Several batches, so the forgetting and the schedule run several steps.
        var whole = start
        var merged = start
        let single = MiniBatchUpdater(configuration: configuration)
        let workers = (0..<3).map { _ in MiniBatchUpdater(configuration: configuration) }
        let coordinator = MiniBatchUpdater(configuration: configuration)
        let batch = 150
        var orderSeed = RandomSource(seed: 5)
        for b in 0..<(n / batch) {
            let lo = b * batch, hi = lo + batch
            rows.withUnsafeBufferPointer { r in
                weights.withUnsafeBufferPointer { w in
                    _ = single.update(&whole, rows: UnsafeBufferPointer(rebasing: r[(lo * d)..<(hi * d)]), count: batch,
                                      weights: UnsafeBufferPointer(rebasing: w[lo..<hi]))
                }
            }
            // Three shards of unequal size, each computed by its own worker against the same version.
            let cuts = [lo, lo + 17, lo + 90, hi]
            var shards = (0..<3).map { s in
                Self.statistics(workers[s], merged, rows: rows[(cuts[s] * d)..<(cuts[s + 1] * d)],
                                weights: weights[cuts[s]..<cuts[s + 1]], d: d)
            }
            shards.shuffle(using: &orderSeed)
            var total = SufficientStatistics(k: merged.k, dimension: d, baseVersion: merged.batches)
            for s in shards { total.merge(s) }
            #expect(total.vectors == batch)
            let report = coordinator.apply(total, to: &merged)
            #expect(report.vectors == batch && report.modelVersion == whole.batches)
        }
        #expect(merged.batches == whole.batches && merged.vectorsSeen == whole.vectorsSeen)
        #expect(abs(merged.scheduleClock - whole.scheduleClock) <= 1e-9 * whole.scheduleClock)
        #expect(Self.close(merged.centers, whole.centers, 1e-4), "\(mode): centers differ beyond float32 rounding")
        // Counts and spreads are sums of float32 responsibilities and distances, which follow
        // the centers' float32 rounding from the second batch on.
        func near(_ a: [Double], _ b: [Double]) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * (1 + abs($1)) } }
        #expect(near(merged.counts, whole.counts) && near(merged.received, whole.received))
        #expect(near(merged.spreadSums, whole.spreadSums) && near(merged.spreadMass, whole.spreadMass))
    }

    /// The same shards merged in the same fixed order give the same bits, whatever order they
    /// arrived in: the coordinator sorts by (worker, sequence) before merging.
    @Test func aFixedMergeOrderIsBitIdentical() {
        let (rows, weights, state, configuration) = Self.setup(mode: .entmax15)
        let d = state.dimension
        let updater = MiniBatchUpdater(configuration: configuration)
        let shards = (0..<4).map { s in
            (worker: UInt64(10 - s), Self.statistics(updater, state, rows: rows[(s * 100 * d)..<((s + 1) * 100 * d)],
                                                   weights: weights[(s * 100)..<((s + 1) * 100)], d: d))
        }
        var results: [SufficientStatistics] = []
        var random = RandomSource(seed: 3)
        for _ in 0..<5 {
            var arrived = shards
            arrived.shuffle(using: &random)
            var total = SufficientStatistics(k: state.k, dimension: d)
            for s in arrived.sorted(by: { $0.worker < $1.worker }) { total.merge(s.1) }
            results.append(total)
        }
        #expect(results.allSatisfy { $0.delta.elementsEqual(results[0].delta) { $0.bitPattern == $1.bitPattern } })
        #expect(results.allSatisfy { $0 == results[0] })
    }

    /// With re-seeding and the rows out of the picture, an update is exactly compute + apply.
    @Test(arguments: ResponsibilityMode.allCases)
    func updateIsComputeThenApply(mode: ResponsibilityMode) {
        let (rows, weights, start, configuration) = Self.setup(mode: mode)
        let d = start.dimension
        var a = start, b = start
        let u1 = MiniBatchUpdater(configuration: configuration)
        let u2 = MiniBatchUpdater(configuration: configuration)
        rows.withUnsafeBufferPointer { r in
            weights.withUnsafeBufferPointer { w in
                u1.update(&a, rows: UnsafeBufferPointer(rebasing: r[0..<(200 * d)]), count: 200,
                          weights: UnsafeBufferPointer(rebasing: w[0..<200]))
            }
        }
        let s = Self.statistics(u2, b, rows: rows[0..<(200 * d)], weights: weights[0..<200], d: d)
        #expect(s.validationError == nil)
        u2.apply(s, to: &b)
        #expect(a.centers.elementsEqual(b.centers) { $0.bitPattern == $1.bitPattern })
        #expect(a.counts.elementsEqual(b.counts) { $0.bitPattern == $1.bitPattern })
        #expect(a.received.elementsEqual(b.received) { $0.bitPattern == $1.bitPattern })
        #expect(a.batches == b.batches && a.vectorsSeen == b.vectorsSeen && a.scheduleClock == b.scheduleClock)
    }

    /// Statistics against an older version, rebased, equal the deltas against the new centers
    /// with the old responsibilities.
    @Test func rebaseMovesTheDeltasOntoNewCenters() {
        let (rows, weights, state, configuration) = Self.setup(mode: .entmax15)
        let d = state.dimension, k = state.k
        let updater = MiniBatchUpdater(configuration: configuration)
        var s = Self.statistics(updater, state, rows: rows[0..<(120 * d)], weights: weights[0..<120], d: d)
        var moved = state.centers
        var random = RandomSource(seed: 9)
        for t in moved.indices { moved[t] += Float(random.nextGaussian() * 0.5) }
        // The reference: Σ w r (x − c′) with r from the old centers, in double precision.
        var expected = [Double](repeating: 0, count: k * d)
        updater.predict(state, rows: rows.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[0..<(120 * d)]) }, count: 120)
        for i in 0..<120 {
            let (idx, r) = updater.support(i)
            for (j, rj) in zip(idx, r) {
                for t in 0..<d {
                    expected[Int(j) * d + t] += Double(weights[i]) * Double(rj) * (Double(rows[i * d + t]) - Double(moved[Int(j) * d + t]))
                }
            }
        }
        state.centers.withUnsafeBufferPointer { base in
            moved.withUnsafeBufferPointer { s.rebase(to: 7, from: base, onto: $0) }
        }
        #expect(s.baseVersion == 7)
        #expect(zip(s.delta, expected).allSatisfy { abs(Double($0) - $1) <= 1e-3 * (1 + abs($1)) })
    }

    @Test func malformedStatisticsAreRecognised() {
        let (rows, weights, state, configuration) = Self.setup(mode: .softmax)
        let d = state.dimension
        let good = Self.statistics(MiniBatchUpdater(configuration: configuration), state,
                                   rows: rows[0..<(50 * d)], weights: weights[0..<50], d: d)
        #expect(good.validationError == nil)
        var bad = good; bad.delta[3] = .nan
        #expect(bad.validationError != nil)
        bad = good; bad.mass[0] = -1
        #expect(bad.validationError != nil)
        bad = good; bad.weight *= 2
        #expect(bad.validationError != nil)
        bad = good; bad.oneHotRows = bad.vectors + 1
        #expect(bad.validationError != nil)
        bad = good; bad.inertia = .infinity
        #expect(bad.validationError != nil)
    }

    @Test func duplicatesByWorkerAndSequenceAreDropped() {
        var ledger = EpochLedger()
        #expect(ledger.admit(worker: 1, incarnation: 5, sequence: 1) == .fresh(missed: 0))
        #expect(ledger.admit(worker: 2, incarnation: 9, sequence: 1) == .fresh(missed: 0))
        #expect(ledger.admit(worker: 1, incarnation: 5, sequence: 1) == .duplicate)
        #expect(ledger.admit(worker: 1, incarnation: 5, sequence: 2) == .fresh(missed: 0))
        #expect(ledger.admit(worker: 1, incarnation: 5, sequence: 2) == .duplicate)
        #expect(ledger.admit(worker: 1, incarnation: 5, sequence: 5) == .fresh(missed: 2))
        #expect(ledger.admit(worker: 1, incarnation: 5, sequence: 4) == .duplicate)
        // A restarted worker numbers from 1 again under a new incarnation; the old one is gone.
        #expect(ledger.admit(worker: 1, incarnation: 6, sequence: 1) == .fresh(missed: 0))
        #expect(ledger.admit(worker: 1, incarnation: 5, sequence: 6) == .superseded)
        #expect(ledger.lastSequence(of: 1) == EpochLedger.Position(incarnation: 6, sequence: 1))
        #expect(ledger.admit(worker: 2, incarnation: 9, sequence: 1) == .duplicate)
    }

    /// A worker's compute and a coordinator's merge and apply allocate nothing in steady state.
    @Test func computeMergeAndApplyAllocateNothing() {
        let (rows, weights, start, configuration) = Self.setup(mode: .entmax15)
        let d = start.dimension
        var state = start
        let worker = MiniBatchUpdater(configuration: configuration)
        let coordinator = MiniBatchUpdater(configuration: configuration)
        var shard = SufficientStatistics(k: state.k, dimension: d)
        var total = SufficientStatistics(k: state.k, dimension: d)
        var allocations = -1
        rows.withUnsafeBufferPointer { r in
            weights.withUnsafeBufferPointer { w in
                func round(_ b: Int) {
                    total.reset(baseVersion: state.batches)
                    for s in 0..<2 {
                        let lo = ((2 * b + s) * 64) % (w.count - 64)
                        worker.computeStatistics(state, rows: UnsafeBufferPointer(rebasing: r[(lo * d)..<((lo + 64) * d)]),
                                                 count: 64, weights: UnsafeBufferPointer(rebasing: w[lo..<(lo + 64)]), into: &shard)
                        total.merge(shard)
                    }
                    coordinator.apply(total, to: &state)
                }
                for b in 0..<3 { round(b) }
                voronoid_allocations_start()
                for b in 3..<53 { round(b) }
                allocations = voronoid_allocations_stop()
            }
        }
        #expect(allocations == 0, "\(allocations) allocations in 50 steady-state rounds")
        #expect(state.batches == 53)
    }
}
