import Clustering
import Synchronization

/// Counters shared by the daemon's threads: written with relaxed atomics on the hot paths, read
/// by heartbeats, `stats` queries and metrics.
public final class Statistics: Sendable {
    /// Vectors decoded from valid messages.
    public let vectorsIn = Atomic<UInt64>(0)
    /// Vectors applied to the model.
    public let vectorsAccepted = Atomic<UInt64>(0)
    /// Valid inbound messages.
    public let messagesIn = Atomic<UInt64>(0)
    /// Batches applied.
    public let batches = Atomic<UInt64>(0)
    /// Missing messages inferred from producers' sequence numbers.
    public let sequenceGaps = Atomic<UInt64>(0)
    /// Outbound messages not sent because the publish queue was full.
    public let publishDropped = Atomic<UInt64>(0)
    /// Outbound messages sent.
    public let published = Atomic<UInt64>(0)
    /// Queries answered.
    public let queries = Atomic<UInt64>(0)
    /// Subscriptions seen on the outbound socket minus unsubscriptions.
    public let subscriptions = Atomic<Int64>(0)
    /// Whether a subscription covers `assignments.bin` and `assignments.json`: set by the publish
    /// thread from the subscriptions it sees, read by the clustering thread, which encodes a
    /// batch's assignments only for a topic someone receives (libzmq would drop them unsent).
    public let assignmentsBinaryWatched = Atomic<Bool>(false)
    public let assignmentsJSONWatched = Atomic<Bool>(false)
    /// Batches whose assignments were not encoded because no subscription covered their topics.
    public let assignmentsUnwatched = Atomic<UInt64>(0)
    /// The temperature of the last batch, as a bit pattern.
    public let temperatureBits = Atomic<UInt64>(0)
    /// The model version after the last batch.
    public let modelVersion = Atomic<UInt64>(0)
    /// Microseconds the last batch took in the core.
    public let lastBatchMicroseconds = Atomic<UInt64>(0)
    /// The inbound socket's receive high-water mark in messages, as the ingest thread last set it.
    public let inputHighWaterMark = Atomic<Int64>(0)
    /// Checkpoints written and failed.
    public let checkpointsWritten = Atomic<UInt64>(0)
    public let checkpointFailures = Atomic<UInt64>(0)
    /// Snapshots the checkpoint writer skipped because a newer one arrived before it got to them.
    public let checkpointsSkipped = Atomic<UInt64>(0)
    /// Outbound messages that could not be encoded (a non-finite field); never sent.
    public let encodeFailures = Atomic<UInt64>(0)
    /// Query replies that failed to send; the REP socket is then opened anew.
    public let querySendFailures = Atomic<UInt64>(0)
    /// Security handshakes that failed on CURVE sockets, as libzmq's socket monitor reports them.
    public let handshakeFailures = Atomic<UInt64>(0)
    /// The last lifecycle and model events, for readers that join late (the live view).
    public let recentEvents = RecentEvents()
    /// The worker's or the coordinator's counters (`cluster.role`); zero for a single daemon.
    let cluster = ClusterStatistics()

    /// CURVE clients let in and refused by the ZAP handler.
    public let authenticationsAllowed = Atomic<UInt64>(0)
    public let authenticationsDenied = Atomic<UInt64>(0)

    /// Vectors accepted per authenticated producer (CURVE user id), bounded by `input.max_producers`.
    private let producers = Mutex<[String: UInt64]>([:])

    /// Counts `vectors` from the authenticated producer `name`.
    public func producerVectors(_ name: String, _ vectors: UInt64, limit: Int) {
        producers.withLock { map in
            if map[name] != nil || map.count < limit { map[name, default: 0] += vectors }
        }
    }

    /// Vectors per authenticated producer.
    public var vectorsByProducer: [String: UInt64] { producers.withLock { $0 } }

    /// Unix milliseconds of the last checkpoint written (0: none yet).
    public let lastCheckpointUnixMilliseconds = Atomic<UInt64>(0)

    /// Events published, by name (lifecycle and model events; rare, so a lock each is free).
    private let eventCounts = Mutex<[String: UInt64]>([:])

    /// Counts one published event.
    public func countEvent(_ name: String) {
        eventCounts.withLock { $0[name, default: 0] &+= 1 }
    }

    /// Events published so far, by name.
    public var eventsByName: [String: UInt64] { eventCounts.withLock { $0 } }

    /// Per reason: messages dropped, and the vectors in them where they were decoded.
    private let drops = Mutex<[String: (messages: UInt64, vectors: UInt64)]>([:])
    private let quality = Mutex(Quality())

    /// Per-batch quality numbers, smoothed.
    public struct Quality: Sendable {
        /// Exponential moving average (weight 0.1 per batch) of the per-vector inertia.
        public var inertiaPerVector = 0.0
        /// The last batch's mean support size.
        public var meanSupportSize = 0.0
        /// The last batch's fraction of one-hot rows.
        public var oneHotFraction = 0.0
        /// Batch durations (microseconds) by histogram bucket upper bound, cumulative as Prometheus wants.
        public var batchDurationBuckets = [UInt64](repeating: 0, count: Statistics.batchBuckets.count)
        public var batchDurationSum = 0.0
        public var batchDurationCount: UInt64 = 0
    }

    /// Upper bounds, in seconds, of the batch-duration histogram.
    public static let batchBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    /// Records one batch.
    public func observe(_ report: BatchReport) {
        let seconds = Double(lastBatchMicroseconds.load(ordering: .relaxed)) / 1e6
        quality.withLock { q in
            let perVector = report.weight > 0 ? report.inertia / report.weight : 0
            // Inputs are bounded so this cannot overflow; should it ever, the last finite value
            // stays rather than a NaN that would break every reader of the statistics.
            if perVector.isFinite {
                q.inertiaPerVector = q.batchDurationCount == 0 ? perVector : 0.9 * q.inertiaPerVector + 0.1 * perVector
            }
            if report.meanSupportSize.isFinite { q.meanSupportSize = report.meanSupportSize }
            q.oneHotFraction = report.vectors > 0 ? Double(report.oneHotRows) / Double(report.vectors) : 0
            // Indexed, not enumerated: this runs every batch and must not allocate, even unoptimized.
            for i in 0..<Statistics.batchBuckets.count where seconds <= Statistics.batchBuckets[i] {
                q.batchDurationBuckets[i] += 1
            }
            q.batchDurationSum += seconds
            q.batchDurationCount += 1
        }
    }

    /// The smoothed quality numbers.
    public var currentQuality: Quality { quality.withLock { $0 } }

    public init() {}

    /// Counts `messages` dropped for `reason`, holding `vectors` decoded vectors (0 for a
    /// message dropped because it could not be decoded).
    public func drop(_ reason: String, messages: UInt64 = 1, vectors: UInt64 = 0) {
        drops.withLock {
            let old = $0[reason] ?? (0, 0)
            $0[reason] = (old.messages &+ messages, old.vectors &+ vectors)
        }
    }

    /// Messages dropped so far, by reason.
    public var dropsByReason: [String: UInt64] { drops.withLock { $0.mapValues(\.messages) } }

    /// Vectors in the dropped messages that had been decoded (`queue_full`, `shutdown`,
    /// `dimension_mismatch` of a whole batch), by reason; reasons without any are left out.
    public var droppedVectorsByReason: [String: UInt64] {
        drops.withLock { $0.compactMapValues { $0.vectors > 0 ? $0.vectors : nil } }
    }

    /// All messages dropped.
    public var totalDropped: UInt64 { dropsByReason.values.reduce(0, +) }

    /// The last batch's temperature.
    public var temperature: Double { Double(bitPattern: temperatureBits.load(ordering: .relaxed)) }
}
