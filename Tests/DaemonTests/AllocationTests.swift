import CAllocationCounter
import Clustering
@testable import Daemon
import Logging
import Testing
import Transport
import Wire

/// The clustering thread's batch path allocates nothing in steady state: the model is updated
/// in place, published through a double buffer, and its assignments are encoded into messages
/// the publish side hands back.
@Suite struct DaemonAllocationTests {
    enum IDs: CaseIterable { case none, int, string }

    @Test(arguments: IDs.allCases)
    func steadyStateBatchesAllocateNothingOnTheClusteringThread(ids: IDs) throws {
        let k = 8, d = 16, rows = 256
        var c = DaemonConfiguration()
        c.model.k = k
        c.model.dimension = d
        c.model.warmup = rows
        c.input.batchSize = rows
        c.output.assignments = true
        let statistics = Statistics()
        // As the publish thread sets it once a subscriber covers the topic: encoded assignments
        // are part of the path measured.
        statistics.assignmentsBinaryWatched.store(true, ordering: .relaxed)
        let outbound = try BoundedQueue<Outbound>(capacity: 64)
        let spent = try BoundedQueue<WireMessage>(capacity: 64)
        let recycled = try BoundedQueue<VectorBatch>(capacity: 256)
        let logger = Logger(label: "voronoid-test", factory: { StderrLogHandler(label: $0, level: .warning) })
        let loop = ClusteringLoop(
            configuration: c, statistics: statistics, batches: try BoundedQueue(capacity: 4), recycled: recycled,
            outbound: outbound, spent: spent, shared: SharedModel(update: c.update), stop: try EventFD(), logger: logger,
            startEpoch: 1, restored: nil, checkpoints: nil, health: LoopHealth(logger: logger))

        // Batches made beforehand (the ingest thread's work, not measured), from eight blobs.
        // Steady state means batches like the ones before: a seeded generator (no run may
        // differ), and string ids of one width, so no measured batch needs more id bytes than
        // the warm-up's did (ids growing from "sensor-99-…" to "sensor-100-…" grew a recycled
        // buffer by one allocation in about one run in five).
        var rng = RandomSource(seed: 12)
        let means = (0..<k).map { _ in (0..<d).map { _ in Float(rng.nextUnit() * 80 - 40) } }
        var prepared: [InboundBatch] = try (0..<120).map { b in
            let batchRows = (0..<rows).map { i in means[(b + i) % k].map { $0 + Float(rng.nextUnit() * 2 - 1) } }
            let batchIDs: [VectorID?]? = switch ids {
            case .none: nil
            case .int: (0..<rows).map { .int(Int64(b * rows + $0)) }
            case .string: (0..<rows).map { .string("sensor-" + Self.padded(b) + "-" + Self.padded($0)) }
            }
            return InboundBatch(vectors: try VectorBatch(rows: batchRows, ids: batchIDs), messages: 1, openedAt: 0)
        }

        /// The publish thread's part: send (here: drop) and hand every buffer back.
        func drainOutbound() -> Int {
            var n = 0
            while var item = outbound.pop() {
                item.message.removeAll()
                _ = spent.tryPush(item.message)
                n += 1
            }
            return n
        }

        func run(_ range: Range<Int>) -> Int {
            var messages = 0
            for b in range {
                var batch = InboundBatch(vectors: VectorBatch(), messages: 0, openedAt: 0)
                swap(&batch, &prepared[b])
                loop.process(&batch)
                messages += drainOutbound()
            }
            return messages
        }

        _ = run(0..<20)  // warm-up, seeding, buffers sized
        let eventsBefore = statistics.eventsByName
        voronoid_allocations_start()
        let messages = run(20..<120)
        let allocations = voronoid_allocations_stop()
        // An event (re-seed, drift, …) is news, not steady state: publishing it builds JSON and
        // allocates. On this stream none is due; should one fire, say so rather than blame the
        // batch path.
        #expect(statistics.eventsByName == eventsBefore, "events fired in the measured window: \(statistics.eventsByName)")
        #expect(allocations == 0, "\(allocations) allocations in 100 steady-state batches (ids: \(ids)), events \(statistics.eventsByName)")
        #expect(messages == 100, "one assignments message per batch")
        #expect(statistics.vectorsAccepted.load(ordering: .relaxed) == 120 * UInt64(rows))
        #expect(recycled.count > 0, "batches go back to the ingest side")
    }

    /// A worker's batch path: responsibilities against the adopted model, assignments, and the
    /// statistics message encoded into a buffer the link hands back, allocate nothing either.
    @Test func steadyStateWorkerBatchesAllocateNothingOnTheClusteringThread() throws {
        let k = 8, d = 16, rows = 256
        var c = DaemonConfiguration()
        c.model.k = k
        c.model.dimension = d
        c.model.warmup = rows
        c.input.batchSize = rows
        c.cluster.role = .worker
        // Every batch is sent at once: nothing acknowledges here, and a closed window would
        // merely hold (which allocates nothing either, and would prove less).
        c.cluster.window = 1000
        c.cluster.workerID = 7
        // No checkpoint confirms the copies of sent epochs here either: they are released by
        // making room, so the warm-up batches fill the copies and the steady state reuses them.
        c.cluster.retainEpochs = 8
        let statistics = Statistics()
        // As the publish thread sets it once a subscriber covers the topic: encoded assignments
        // are part of the path measured.
        statistics.assignmentsBinaryWatched.store(true, ordering: .relaxed)
        let outbound = try BoundedQueue<Outbound>(capacity: 64)
        let spent = try BoundedQueue<WireMessage>(capacity: 64)
        let recycled = try BoundedQueue<VectorBatch>(capacity: 256)
        let logger = Logger(label: "voronoid-test", factory: { StderrLogHandler(label: $0, level: .warning) })
        let context = try ZMQContext()
        defer { context.shutdown() }
        let link = try WorkerLink(configuration: c, context: context, statistics: statistics, stop: try EventFD(),
                                  health: LoopHealth(logger: logger), logger: logger)
        let loop = ClusteringLoop(
            configuration: c, statistics: statistics, batches: try BoundedQueue(capacity: 4), recycled: recycled,
            outbound: outbound, spent: spent, shared: SharedModel(update: c.update), stop: try EventFD(), logger: logger,
            startEpoch: 1, restored: nil, checkpoints: nil, health: LoopHealth(logger: logger), workerLink: link)

        var rng = RandomSource(seed: 13)
        let means = (0..<k).map { _ in (0..<d).map { _ in Float(rng.nextUnit() * 80 - 40) } }
        var prepared: [InboundBatch] = try (0..<120).map { b in
            let batchRows = (0..<rows).map { i in means[(b + i) % k].map { $0 + Float(rng.nextUnit() * 2 - 1) } }
            return InboundBatch(vectors: try VectorBatch(rows: batchRows, ids: nil), messages: 1, openedAt: 0)
        }

        var sentFrames = 0
        func drainOutbound() {
            while var item = outbound.pop() {
                item.message.removeAll()
                _ = spent.tryPush(item.message)
            }
        }
        func run(_ range: Range<Int>) {
            for b in range {
                var batch = InboundBatch(vectors: VectorBatch(), messages: 0, openedAt: 0)
                swap(&batch, &prepared[b])
                loop.process(&batch)
                drainOutbound()
                while let proposal = link.outgoing.pop() {
                    // The first batch completes the warm-up: the worker offers its seed and
                    // waits; the coordinator's answer is that model (version 0), adopted here.
                    if proposal.starts(with: Array("VORONOID".utf8)) {
                        loop.adopt(.init(model: try! ModelState(encoded: proposal), acknowledged: nil))
                        drainOutbound()
                    } else {
                        // A statistics message: this worker's, numbered in order, for the batch.
                        var st = SufficientStatistics(k: k, dimension: d)
                        let origin = try! proposal.withUnsafeBytes { b throws(StatisticsMessage.DecodeError) in
                            try StatisticsMessage.decode(b, into: &st)
                        }
                        #expect(origin.worker == 7 && origin.sequence == UInt64(sentFrames + 1) && st.vectors == rows)
                        _ = link.spent.tryPush(proposal)
                        sentFrames += 1
                    }
                }
            }
        }

        run(0..<20)
        #expect(sentFrames == 20, "the warm-up batch and 19 more, each sent")
        voronoid_allocations_start()
        for b in 20..<120 {
            var batch = InboundBatch(vectors: VectorBatch(), messages: 0, openedAt: 0)
            swap(&batch, &prepared[b])
            loop.process(&batch)
            drainOutbound()
            // Hand the frame back as the link would once sent (the queue holds them meanwhile).
            while let frame = link.outgoing.pop() {
                _ = link.spent.tryPush(frame)
                sentFrames += 1
            }
        }
        let allocations = voronoid_allocations_stop()
        #expect(allocations == 0, "\(allocations) allocations in 100 steady-state worker batches")
        #expect(sentFrames == 120)
        #expect(statistics.cluster.epochsDropped.load(ordering: .relaxed) == 0)
        #expect(statistics.vectorsAccepted.load(ordering: .relaxed) == 120 * UInt64(rows))
    }

    /// `n` in three digits.
    static func padded(_ n: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
