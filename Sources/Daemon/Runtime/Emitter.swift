import Clustering
import Logging
import Wire

/// An outbound message for the publish thread.
struct Outbound: Sendable {
    enum Kind: Sendable {
        /// The latest centers: the publish thread keeps it to re-send to new subscribers.
        case centers
        /// Anything else: sent once, then its buffer goes back to the emitter.
        case other
    }

    var kind: Kind
    var message: WireMessage
    /// With the binary centers: the snapshot (its sequence on `centers.json` set) for the publish
    /// thread to encode as `centers.json`, only while someone subscribes to it. Formatting a model
    /// of k 1024, d 768 as text takes tens of milliseconds, so no subscriber should cost it.
    var centersJSON: CentersSnapshot? = nil
}

/// Everything the model owner says to the outside: assignments, centers, heartbeats and
/// events, encoded into messages whose buffers the publish thread hands back after sending, so
/// a steady stream of batches allocates no outbound memory.
///
/// Owned by the clustering thread (not `Sendable`); it reaches the publish thread only through
/// the `outbound` and `spent` queues.
final class Emitter {
    let startEpoch: UInt64
    let statistics: Statistics
    let outbound: BoundedQueue<Outbound>
    /// Sent messages coming back for reuse (their frames already removed).
    let spent: BoundedQueue<WireMessage>
    let logger: Logger
    let limiter: DropLogLimiter
    private var sequences = Sequences()
    /// Reused for every batch's assignments: its columns keep their capacity.
    private var assignments: Assignments

    /// Per-topic sequence numbers, without a dictionary: the topics are fixed.
    private struct Sequences {
        var centersBinary: UInt64 = 0
        var centersJSON: UInt64 = 0
        var assignmentsBinary: UInt64 = 0
        var assignmentsJSON: UInt64 = 0
        var heartbeat: UInt64 = 0
        var events: UInt64 = 0

        mutating func next(_ counter: WritableKeyPath<Sequences, UInt64>) -> UInt64 {
            self[keyPath: counter] += 1
            return self[keyPath: counter]
        }
    }

    init(startEpoch: UInt64, k: Int, statistics: Statistics, outbound: BoundedQueue<Outbound>,
         spent: BoundedQueue<WireMessage>, limiter: DropLogLimiter, logger: Logger) {
        self.startEpoch = startEpoch
        self.statistics = statistics
        self.outbound = outbound
        self.spent = spent
        self.limiter = limiter
        self.logger = logger
        assignments = Assignments(k: k, startEpoch: startEpoch)
    }

    /// A message to fill: a spent one if any came back, else a new one.
    private func blank(reserving capacity: Int) -> WireMessage {
        if var m = spent.pop() {
            m.removeAll()
            return m
        }
        return WireMessage(reservingCapacity: capacity)
    }

    private func send(_ message: WireMessage, kind: Outbound.Kind = .other, centersJSON: CentersSnapshot? = nil) {
        if !outbound.tryPush(Outbound(kind: kind, message: message, centersJSON: centersJSON)) {
            statistics.publishDropped.add(1, ordering: .relaxed)
        }
    }

    /// Encodes one message and queues it; a message that cannot be encoded (a field JSON
    /// cannot carry) is counted and logged, never sent half-made.
    private func encode(_ topic: String, kind: Outbound.Kind = .other, capacity: Int = 256,
                        _ body: (inout WireMessage) throws(WireError) -> Void) {
        var m = blank(reserving: capacity)
        do {
            try body(&m)
            send(m, kind: kind)
        } catch {
            statistics.encodeFailures.add(1, ordering: .relaxed)
            limiter.log(logger, reason: topic, detail: error.description)
            m.removeAll()
            _ = spent.tryPush(m)  // a full pool only means this buffer is freed
        }
    }

    /// The assignments of the batch the updater just applied: rows `firstID ..< firstID + count`
    /// of `ids` (the warm-up trains on slices of one long id column).
    func assignments(from updater: MiniBatchUpdater, count: Int, k: Int, ids: VectorIDs, firstID: Int,
                     version: UInt64, binary: Bool, json: Bool) {
        assignments.removeAll()
        assignments.k = k
        assignments.startEpoch = startEpoch
        assignments.modelVersion = version
        // Filled column by column straight from the updater's buffers: no per-row arrays.
        assignments.best.reserveCapacity(count)
        assignments.distances.reserveCapacity(count)
        assignments.offsets.reserveCapacity(count + 1)
        for i in 0..<count {
            let support = updater.support(i)
            assignments.best.append(Int32(truncatingIfNeeded: updater.bestCenter(i)))
            assignments.distances.append(updater.squaredDistance(i))
            for e in 0..<support.indices.count {
                assignments.indices.append(UInt32(truncatingIfNeeded: support.indices[e]))
                assignments.weights.append(support.weights[e])
            }
            assignments.offsets.append(UInt32(truncatingIfNeeded: assignments.indices.count))
        }
        // Copied, not shared: the batch's id column goes back to the ingest thread for reuse.
        if ids.kind != .none {
            assignments.ids.append(contentsOf: ids, rows: firstID..<min(firstID + count, ids.count))
        }
        if binary {
            assignments.sequence = sequences.next(\.assignmentsBinary)
            var m = blank(reserving: 64 + count * 32)
            assignments.encodeBinary(into: &m)
            send(m)
        }
        if json {
            assignments.sequence = sequences.next(\.assignmentsJSON)
            encode(WireTopic.assignmentsJSON, capacity: 64 + count * 64) { (m) throws(WireError) in try assignments.encodeJSON(into: &m) }
        }
    }

    /// The model's centers, binary and (when `json`) the snapshot the publish thread encodes as
    /// JSON for its subscribers. Not recycled: the publish thread keeps the latest for new
    /// subscribers.
    func centers(_ state: ModelState, json: Bool) {
        var snapshot = CentersSnapshot(
            k: state.k, dimension: state.dimension, startEpoch: startEpoch, sequence: sequences.next(\.centersBinary),
            modelEpoch: state.epoch, modelVersion: state.batches, temperature: state.temperature,
            centers: state.centers, counts: state.counts)
        if json {
            // The spread of each cluster travels in the JSON form only: the binary form's frames
            // are fixed, and consumers that unpack four of them must keep working.
            var spreads = [Double]()
            spreads.reserveCapacity(state.k)
            for j in 0..<state.k { spreads.append(state.spread(j)) }
            snapshot.spreads = spreads
        }
        var bin = WireMessage(reservingCapacity: 128 + state.centers.count * 4 + state.k * 8)
        snapshot.encodeBinary(into: &bin)
        var text: CentersSnapshot?
        if json {
            text = snapshot
            text!.sequence = sequences.next(\.centersJSON)
        }
        send(bin, kind: .centers, centersJSON: text)
    }

    /// A heartbeat with the daemon's counters.
    func heartbeat(model: ModelState?) {
        let hb = Heartbeat(
            startEpoch: startEpoch, sequence: sequences.next(\.heartbeat),
            timeUnixMilliseconds: Clock.unixMilliseconds(),
            vectorsIn: statistics.vectorsIn.load(ordering: .relaxed),
            vectorsAccepted: statistics.vectorsAccepted.load(ordering: .relaxed),
            dropped: statistics.totalDropped, modelVersion: model?.batches ?? 0,
            temperature: model?.temperature ?? 0)
        encode(WireTopic.heartbeat) { (m) throws(WireError) in try hb.encodeJSON(into: &m) }
    }

    /// A lifecycle or model event, published and logged.
    func event(_ name: String, _ fields: [String: WireScalar]) {
        let event = WireEvent(startEpoch: startEpoch, sequence: sequences.next(\.events),
                              timeUnixMilliseconds: Clock.unixMilliseconds(), event: name, fields: fields)
        encode(WireTopic.events) { (m) throws(WireError) in try event.encodeJSON(into: &m) }
        statistics.recentEvents.record(name, fields)
        statistics.countEvent(name)
        logger.info("event \(name) \(fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}
