import Clustering
@testable import Daemon
import Logging
import Testing
import Transport
import Wire

/// A worker's side of a coordinator restart, driven on the test's thread: the epochs a restored
/// coordinator's model lacks go out again with the next epoch, once; a model seeded anew gets none.
@Suite struct WorkerResendTests {
    static let k = 4, d = 8, rows = 64

    /// A worker's clustering loop with its link (never started: its queues are read here), and
    /// the batches to feed it.
    final class Worker {
        let statistics = Statistics()
        let link: WorkerLink
        let loop: ClusteringLoop
        let context: ZMQContext
        var batches: [InboundBatch]
        let outbound: BoundedQueue<Outbound>
        let spent: BoundedQueue<WireMessage>

        init() throws {
            var c = DaemonConfiguration()
            c.model.k = WorkerResendTests.k
            c.model.dimension = WorkerResendTests.d
            c.model.warmup = WorkerResendTests.rows
            c.input.batchSize = WorkerResendTests.rows
            c.cluster.role = .worker
            c.cluster.window = 1000
            c.cluster.workerID = 3
            // One batch, one epoch.
            c.cluster.epochVectors = WorkerResendTests.rows
            outbound = try BoundedQueue<Outbound>(capacity: 64)
            spent = try BoundedQueue<WireMessage>(capacity: 64)
            let logger = Logger(label: "voronoid-test", factory: { StderrLogHandler(label: $0, level: .error) })
            context = try ZMQContext()
            link = try WorkerLink(configuration: c, context: context, statistics: statistics, stop: try EventFD(),
                                  health: LoopHealth(logger: logger), logger: logger)
            loop = ClusteringLoop(
                configuration: c, statistics: statistics, batches: try BoundedQueue(capacity: 4),
                recycled: try BoundedQueue(capacity: 64), outbound: outbound, spent: spent,
                shared: SharedModel(update: c.update), stop: try EventFD(), logger: logger,
                startEpoch: 1, restored: nil, checkpoints: nil, health: LoopHealth(logger: logger), workerLink: link)
            var random = RandomSource(seed: 5)
            batches = try (0..<12).map { _ in
                let values = (0..<WorkerResendTests.rows).map { i in
                    (0..<WorkerResendTests.d).map { t in Float((i % WorkerResendTests.k) * 10 + t) + Float(random.nextGaussian()) }
                }
                return InboundBatch(vectors: try VectorBatch(rows: values, ids: nil), messages: 1, openedAt: 0)
            }
        }

        deinit { context.shutdown() }

        /// Feeds batch `b`; returns the frames the worker sent meanwhile.
        func feed(_ b: Int) -> [[UInt8]] {
            var batch = InboundBatch(vectors: VectorBatch(), messages: 0, openedAt: 0)
            swap(&batch, &batches[b])
            loop.process(&batch)
            while outbound.pop() != nil {}
            return drain()
        }

        func drain() -> [[UInt8]] {
            var frames: [[UInt8]] = []
            while let frame = link.outgoing.pop() { frames.append(frame) }
            return frames
        }
    }

    /// Vectors and sequence number of a statistics frame.
    static func epoch(_ frame: [UInt8]) throws -> (vectors: Int, sequence: UInt64) {
        var s = SufficientStatistics(k: k, dimension: d)
        let origin = try frame.withUnsafeBytes { b throws(StatisticsMessage.DecodeError) in try StatisticsMessage.decode(b, into: &s) }
        return (s.vectors, origin.sequence)
    }

    /// Starts the worker: its warm-up batch becomes the seeding proposal, adopted as version 0
    /// of `epoch`, and is learned as epoch 1; then three batches, epochs 2 to 4.
    static func started(_ w: Worker, epoch: UInt64) throws -> ModelState {
        let proposal = w.feed(0)
        #expect(proposal.count == 1)
        var model = try ModelState(encoded: proposal[0])
        model.epoch = epoch
        model.lineage = epoch
        w.loop.adopt(.init(model: model, acknowledged: nil))
        #expect(try w.drain().map(Self.epoch).map(\.sequence) == [1])
        for b in 1...3 {
            #expect(try w.feed(b).map(Self.epoch).map(\.sequence) == [UInt64(b + 1)])
        }
        return model
    }

    @Test func aRestoredCoordinatorIsSentTheEpochsItsCheckpointLacksOnce() throws {
        let w = try Worker()
        let model = try Self.started(w, epoch: 100)
        // The checkpoint holds epochs 1 and 2 (and says so), the model merged through 3.
        var newer = model
        newer.batches = 3
        newer.mergedEpochs = EpochLedger(positions: [3: .init(incarnation: w.link.incarnation, sequence: 3)])
        w.loop.adopt(.init(model: newer, acknowledged: 4, merged: 3, durable: 2))
        #expect(w.statistics.cluster.retainedEpochs.load(ordering: .relaxed) == 2)
        // Restored from that checkpoint, under a new model epoch: it holds epochs 1 and 2.
        var restored = model
        restored.epoch = 200
        restored.batches = 2
        restored.mergedEpochs = EpochLedger(positions: [3: .init(incarnation: w.link.incarnation, sequence: 2)])
        w.loop.adopt(.init(model: restored, acknowledged: nil, merged: 2, durable: 2))
        // Epochs 3 and 4 (merged by the lost run, not checkpointed) go out again as one epoch.
        let sent = try w.drain().map(Self.epoch)
        #expect(sent.map(\.sequence) == [5])
        #expect(sent.first?.vectors == 2 * Self.rows)
        #expect(w.statistics.cluster.epochsResent.load(ordering: .relaxed) == 2)
        #expect(w.statistics.cluster.vectorsResent.load(ordering: .relaxed) == UInt64(2 * Self.rows))
        // Once only: the next batch is its own epoch.
        #expect(try w.feed(4).map(Self.epoch).map(\.vectors) == [Self.rows])
    }

    @Test func aModelSeededAnewIsSentNothingLearnedAgainstTheOldOne() throws {
        let w = try Worker()
        let model = try Self.started(w, epoch: 100)
        var fresh = model
        fresh.epoch = 300
        fresh.lineage = 300
        w.loop.adopt(.init(model: fresh, acknowledged: nil))
        #expect(w.drain().isEmpty)
        #expect(w.statistics.cluster.epochsResent.load(ordering: .relaxed) == 0)
        #expect(w.statistics.cluster.epochsUnretained.load(ordering: .relaxed) == 4)
        #expect(w.statistics.cluster.retainedEpochs.load(ordering: .relaxed) == 0)
    }

    @Test func aVersionOfTheSameRunThatDoesNotListTheWorkerAcknowledgesNothing() throws {
        let w = try Worker()
        let model = try Self.started(w, epoch: 100)
        func unacknowledged() -> UInt64 { w.statistics.cluster.unacknowledged.load(ordering: .relaxed) }
        #expect(unacknowledged() == 4)
        // The version it seeded from, sent again to welcome another subscriber: it was made
        // before any of this worker's epochs arrived and lists none of them.
        w.loop.adopt(.init(model: model, acknowledged: nil))
        #expect(unacknowledged() == 4)
        var next = model
        next.batches = 1
        w.loop.adopt(.init(model: next, acknowledged: 3, merged: 3, durable: 3))
        #expect(unacknowledged() == 1)
    }
}
