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

    /// `n` in three digits.
    static func padded(_ n: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
