import Clustering
@testable import Daemon
import Testing
import Wire

/// The coordinator's merge: workers' epochs, in any arrival order, with duplicates and bad
/// frames mixed in, give the model one daemon would have built from the same batches.
@Suite struct StatisticsMergerTests {
    static let k = 5, d = 4

    static func data(n: Int, seed: UInt64) -> [Float] {
        var random = RandomSource(seed: seed)
        let means = (0..<(k * d)).map { _ in Float(random.nextGaussian() * 8) }
        return (0..<n).flatMap { i in (0..<d).map { t in means[(i % k) * d + t] + Float(random.nextGaussian()) } }
    }

    static func start(_ rows: [Float]) -> (ModelState, UpdateConfiguration) {
        let state = rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 40, dimension: d, k: k, seed: 2,
                              schedule: TemperatureSchedule(kind: .exponential, initial: 3, floor: 0.01, halfLife: 1500))
        }
        var u = UpdateConfiguration(countHalfLife: 1000, deadCenterFraction: 0, separationInterval: 4)
        u.drift = nil
        return (state, u)
    }

    /// One worker's epoch: statistics of `rows` against `model`, encoded.
    static func epoch(_ updater: MiniBatchUpdater, _ model: ModelState, _ rows: ArraySlice<Float>,
                      worker: UInt64, sequence: UInt64) -> [UInt8] {
        var s = SufficientStatistics(k: k, dimension: d)
        rows.withUnsafeBufferPointer { updater.computeStatistics(model, rows: $0, count: $0.count / d, into: &s) }
        var bytes: [UInt8] = []
        StatisticsMessage.encode(s, origin: .init(worker: worker, incarnation: 1, sequence: sequence, modelEpoch: model.epoch), into: &bytes)
        return bytes
    }

    static func run(order seed: UInt64, rows: [Float], start: ModelState, configuration: UpdateConfiguration)
        -> (StatisticsMerger, refusedFrames: Int)
    {
        let merger = StatisticsMerger(model: start, updater: MiniBatchUpdater(configuration: configuration), maxStaleness: 0)
        let workers = (0..<2).map { _ in MiniBatchUpdater(configuration: configuration) }
        var random = RandomSource(seed: seed)
        var refused = 0
        let batch = 100  // per worker; one step merges 2 × 100 vectors
        for round in 0..<(rows.count / d / (2 * batch)) {
            var frames = (0..<2).map { w in
                let lo = (round * 2 + w) * batch * d
                return epoch(workers[w], merger.model, rows[lo..<(lo + batch * d)], worker: UInt64(w + 1), sequence: UInt64(round + 1))
            }
            // A re-sent copy and a damaged frame travel with them.
            frames.append(frames[0])
            var damaged = frames[1]
            damaged[StatisticsMessage.headerSize + 3] = 0xFF  // a mass turns negative or NaN
            damaged[StatisticsMessage.headerSize + 7] = 0xFF
            frames.append(damaged)
            frames.shuffle(using: &random)
            for f in frames {
                let outcome = f.withUnsafeBytes { merger.receive($0) }
                if case .refused = outcome { refused += 1 }
            }
            #expect(merger.pendingWorkers == 2)
            _ = merger.applyPending()
        }
        return (merger, refused)
    }

    @Test func mergedEpochsEqualOneDaemonOnTheSameBatches() {
        let rows = Self.data(n: 2000, seed: 7)
        let (start, configuration) = Self.start(rows)
        let (a, refusedA) = Self.run(order: 1, rows: rows, start: start, configuration: configuration)
        let (b, _) = Self.run(order: 2, rows: rows, start: start, configuration: configuration)
        // Arrival order does not matter at all: epochs are merged in (worker, sequence) order.
        #expect(a.model == b.model)
        // One daemon, batches of 200 = the two workers' 100 each.
        var single = start
        let updater = MiniBatchUpdater(configuration: configuration)
        rows.withUnsafeBufferPointer { r in
            for s in 0..<10 {
                updater.update(&single, rows: UnsafeBufferPointer(rebasing: r[(s * 200 * Self.d)..<((s + 1) * 200 * Self.d)]), count: 200)
            }
        }
        #expect(a.model.batches == single.batches && a.model.vectorsSeen == single.vectorsSeen)
        #expect(zip(a.model.centers, single.centers).allSatisfy { abs($0 - $1) <= 1e-4 * (1 + abs($1)) })
        #expect(zip(a.model.counts, single.counts).allSatisfy { abs($0 - $1) <= 1e-4 * (1 + abs($1)) })
        #expect(a.counters.epochsMerged == 20 && a.counters.duplicatesDropped == 10)
        #expect(refusedA == 10 && a.counters.refused[.invalid] == 10)
        #expect(a.counters.stepsApplied == 10 && a.counters.epochsMissed == 0)
    }

    /// The model names the epochs it holds, a checkpoint keeps them, and a coordinator restored
    /// from it drops those epochs if they come again and merges the rest.
    @Test func aRestoredModelKnowsTheEpochsItHolds() throws {
        let rows = Self.data(n: 1000, seed: 9)
        let (start, configuration) = Self.start(rows)
        let worker = MiniBatchUpdater(configuration: configuration)
        let merger = StatisticsMerger(model: start, updater: MiniBatchUpdater(configuration: configuration), maxStaleness: 2)
        #expect(merger.model.mergedEpochs.positions.isEmpty)
        for s in 0..<3 {
            let lo = s * 100 * Self.d
            for w: UInt64 in [1, 2] where w == 1 || s < 2 {
                let f = Self.epoch(worker, merger.model, rows[lo..<(lo + 100 * Self.d)], worker: w, sequence: UInt64(s + 1))
                #expect(f.withUnsafeBytes { merger.receive($0) } == .pending)
            }
            _ = merger.applyPending()
        }
        let held = EpochLedger(positions: [1: .init(incarnation: 1, sequence: 3), 2: .init(incarnation: 1, sequence: 2)])
        #expect(merger.model.mergedEpochs == held)
        let restored = try ModelState(encoded: merger.model.encoded())
        #expect(restored == merger.model)
        let again = StatisticsMerger(model: restored, updater: MiniBatchUpdater(configuration: configuration), maxStaleness: 2)
        let lo = 300 * Self.d
        let copy = Self.epoch(worker, restored, rows[lo..<(lo + 100 * Self.d)], worker: 2, sequence: 2)
        #expect(copy.withUnsafeBytes { again.receive($0) } == .duplicate)
        let next = Self.epoch(worker, restored, rows[lo..<(lo + 100 * Self.d)], worker: 2, sequence: 3)
        #expect(next.withUnsafeBytes { again.receive($0) } == .pending)
        _ = again.applyPending()
        #expect(again.model.mergedEpochs.lastSequence(of: 2) == .init(incarnation: 1, sequence: 3))
        #expect(again.model.vectorsSeen == restored.vectorsSeen + 100)
    }

    /// Within the staleness bound an older epoch is rebased and merged; beyond it, dropped.
    @Test(arguments: [0, 1, 3])
    func staleEpochsAreRebasedWithinTheBoundAndDroppedBeyond(bound: Int) {
        let rows = Self.data(n: 1200, seed: 3)
        let (start, configuration) = Self.start(rows)
        let merger = StatisticsMerger(model: start, updater: MiniBatchUpdater(configuration: configuration), maxStaleness: bound)
        let worker = MiniBatchUpdater(configuration: configuration)
        // Worker 2 computes against version 0, then worker 1 moves the model on twice.
        let late = Self.epoch(worker, merger.model, rows[0..<(100 * Self.d)], worker: 2, sequence: 1)
        for s in 0..<2 {
            let lo = (1 + s) * 100 * Self.d
            let f = Self.epoch(worker, merger.model, rows[lo..<(lo + 100 * Self.d)], worker: 1, sequence: UInt64(s + 1))
            #expect(f.withUnsafeBytes { merger.receive($0) } == .pending)
            _ = merger.applyPending()
        }
        let outcome = late.withUnsafeBytes { merger.receive($0) }
        if bound >= 2 {
            #expect(outcome == .pending)
            #expect(merger.workers[2]?.staleness == 2)
            let before = merger.model.vectorsSeen
            _ = merger.applyPending()
            #expect(merger.model.vectorsSeen == before + 100)
        } else {
            #expect(outcome == .stale(versionsBehind: 2))
            #expect(merger.counters.staleDropped == 1 && merger.pendingEpochs == 0)
        }
        let finite = merger.model.centers.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    @Test func malformedAndForeignFramesLeaveTheModelAlone() {
        let rows = Self.data(n: 400, seed: 5)
        let (start, configuration) = Self.start(rows)
        let merger = StatisticsMerger(model: start, updater: MiniBatchUpdater(configuration: configuration), maxStaleness: 2)
        let good = Self.epoch(MiniBatchUpdater(configuration: configuration), start, rows[0..<(100 * Self.d)], worker: 1, sequence: 1)
        var cases: [([UInt8], StatisticsMerger.Outcome)] = [
            ([], .refused(.malformed)),
            (Array(good.prefix(50)), .refused(.malformed)),
            (Array(good.dropLast()), .refused(.malformed)),
            (good + [0], .refused(.malformed)),
        ]
        var wrongMagic = good; wrongMagic[0] = UInt8(ascii: "X")
        cases.append((wrongMagic, .refused(.malformed)))
        var wrongK = good; wrongK[44] = 6
        cases.append((wrongK, .refused(.shape)))
        var nanDelta = good
        nanDelta.replaceSubrange((nanDelta.count - 4)..<nanDelta.count, with: [0x00, 0x00, 0xC0, 0x7F])
        cases.append((nanDelta, .refused(.invalid)))
        var foreign = good; foreign[28] ^= 1
        cases.append((foreign, .foreignEpoch))
        // Finite and consistent, yet impossible: a delta no row below 2⁴⁰ could give (the fuzzer's
        // find: it made a center infinite), and a delta on a center that received no mass.
        var huge = good
        let deltaStart = StatisticsMessage.headerSize + 3 * 8 * Self.k
        huge.replaceSubrange(deltaStart..<(deltaStart + 4), with: withUnsafeBytes(of: Float(1e38).bitPattern.littleEndian, Array.init))
        cases.append((huge, .refused(.invalid)))
        for (frame, expected) in cases {
            #expect(frame.withUnsafeBytes { merger.receive($0) } == expected)
        }
        let nothing = merger.applyPending()
        #expect(merger.pendingEpochs == 0 && nothing == nil)
        #expect(merger.model == start)
        #expect(good.withUnsafeBytes { merger.receive($0) } == .pending)
        // Sequence 1 again, and a lower incarnation: both dropped.
        #expect(good.withUnsafeBytes { merger.receive($0) } == .duplicate)
        var older = good; older[12] = 0
        #expect(older.withUnsafeBytes { merger.receive($0) } == .superseded)
        #expect(merger.pendingEpochs == 1)
    }

    /// A mass too small for float32 to step by (the fuzzer's find) counts as none: the center
    /// it lands on stays where it was, and stays finite.
    @Test func negligibleMassesMoveNoCenter() {
        let rows = Self.data(n: 400, seed: 8)
        let (start, configuration) = Self.start(rows)
        var fresh = start
        fresh.counts = Array(repeating: 0, count: Self.k)
        let merger = StatisticsMerger(model: fresh, updater: MiniBatchUpdater(configuration: configuration), maxStaleness: 0)
        var s = SufficientStatistics(k: Self.k, dimension: Self.d)
        s.vectors = 2
        s.supportTotal = 2
        s.oneHotRows = 2
        s.weight = 2
        s.inertia = 0.5
        s.squaredErrors = 0.125
        s.mass[0] = 2
        s.mass[1] = 1e-270
        s.nearestWeight[0] = 2
        s.nearestError[0] = 0.5
        for t in 0..<Self.d { s.delta[t] = 0.25 }
        var bytes: [UInt8] = []
        StatisticsMessage.encode(s, origin: .init(worker: 1, incarnation: 1, sequence: 1, modelEpoch: fresh.epoch), into: &bytes)
        #expect(bytes.withUnsafeBytes { merger.receive($0) } == .pending)
        #expect(merger.applyPending() != nil)
        #expect(merger.model.centers.allSatisfy { $0.isFinite })
        #expect(Array(merger.model.centers[Self.d..<(2 * Self.d)]) == Array(fresh.centers[Self.d..<(2 * Self.d)]))
        #expect(merger.model.counts[1] == 0)
    }

    @Test func theMergersRowLimitIsTheWiresOwn() {
        #expect(StatisticsMerger.rowLimit == Double(WireLimits.maxAbsoluteValue))
    }

    /// What the coordinator acknowledges: the newest epoch decoded from each worker, merged or
    /// dropped (a dropped one must open the sender's window too), never an older one; and the
    /// acknowledgements frame carries it to the worker it is about.
    @Test func acknowledgementsFollowTheNewestEpochReceivedAndTravelInTheModelMessage() throws {
        let rows = Self.data(n: 400, seed: 6)
        let (start, configuration) = Self.start(rows)
        let updater = MiniBatchUpdater(configuration: configuration)
        let merger = StatisticsMerger(model: start, updater: MiniBatchUpdater(configuration: configuration), maxStaleness: 2)
        func frame(worker: UInt64, sequence: UInt64) -> [UInt8] {
            Self.epoch(updater, start, rows[0..<(50 * Self.d)], worker: worker, sequence: sequence)
        }
        #expect(frame(worker: 1, sequence: 3).withUnsafeBytes { merger.receive($0) } == .pending)
        #expect(frame(worker: 1, sequence: 3).withUnsafeBytes { merger.receive($0) } == .duplicate)
        #expect(frame(worker: 1, sequence: 2).withUnsafeBytes { merger.receive($0) } == .duplicate)
        var foreign = frame(worker: 2, sequence: 7)
        foreign[28] ^= 1
        #expect(foreign.withUnsafeBytes { merger.receive($0) } == .foreignEpoch)
        #expect(merger.received == [1: .init(incarnation: 1, sequence: 3), 2: .init(incarnation: 1, sequence: 7)])
        // A malformed frame names no one reliably: nothing is acknowledged for it.
        #expect([UInt8](repeating: 0, count: 10).withUnsafeBytes { merger.receive($0) } == .refused(.malformed))
        #expect(merger.received.count == 2)

        var bytes: [UInt8] = []
        ModelMessage.encodeAcknowledgements(merger.received, into: &bytes)
        #expect(bytes.count == 8 + 2 * 24)
        let two = try bytes.withUnsafeBytes { b throws(StatisticsMessage.DecodeError) in try ModelMessage.acknowledgement(for: 2, in: b) }
        #expect(two == .init(incarnation: 1, sequence: 7))
        let none = try bytes.withUnsafeBytes { b throws(StatisticsMessage.DecodeError) in try ModelMessage.acknowledgement(for: 9, in: b) }
        #expect(none == nil)
        for damaged in [Array(bytes.dropLast()), Array("VAK2".utf8) + bytes.dropFirst(4), []] {
            #expect(throws: StatisticsMessage.DecodeError.self) {
                try damaged.withUnsafeBytes { b throws(StatisticsMessage.DecodeError) in try ModelMessage.acknowledgement(for: 1, in: b) }
            }
        }
    }
}
