import Wire

/// One cluster's soft count and its share of the total.
public struct ClusterShare: Sendable, Hashable {
    /// The center's index.
    public var center: Int
    /// Its soft count.
    public var count: Double
    /// `count / Σ counts` (0 when the total is 0).
    public var share: Double

    /// Creates a value.
    public init(center: Int, count: Double, share: Double) {
        self.center = center
        self.count = count
        self.share = share
    }
}

/// What `voronoid watch` knows about the daemon, updated message by message: the latest
/// model, rates, sequence gaps per topic, restarts and recent events.
///
/// A pure value with an explicit clock (`now`, monotonic seconds), so tests can feed it
/// messages and times and check every counter.
///
/// Sequence numbers: each topic's `seq` should grow by 1 per message within one daemon run
/// (one `start_epoch`). A jump of more than 1 adds the missing messages to ``gaps``; a
/// number not above the last (the daemon re-sends the latest centers whenever any
/// subscriber joins) counts as a duplicate. A change of `start_epoch` is a restart: it is
/// counted and the per-topic sequence tracking starts afresh.
///
/// Staleness: heartbeats are the daemon's pulse. Once one has arrived, the state is stale
/// (``isStale``) when none has followed for longer than ``staleAfterSeconds`` (three heartbeat
/// intervals, at least 3 s), as of the last ``sampleRates(now:)``; the last heartbeat's rate is
/// then history, not a live reading, and ``vectorsPerSecond`` is nil.
public struct WatchState: Sendable {
    /// The least silence that counts as stale, whatever the heartbeat interval.
    public static let minimumStaleSeconds = 3.0

    /// How many recent events to keep.
    public var eventCapacity: Int

    /// The latest centers snapshot.
    public private(set) var centers: CentersSnapshot?
    /// The latest heartbeat.
    public private(set) var heartbeat: Heartbeat?
    /// The daemon run seen last.
    public private(set) var startEpoch: UInt64?
    /// The newest model version seen on any topic.
    public private(set) var modelVersion: UInt64?
    /// The newest temperature seen (centers or heartbeat).
    public private(set) var temperature: Double?
    /// How often `start_epoch` changed.
    public private(set) var restarts = 0
    /// Messages missed per topic (sum of sequence jumps).
    public private(set) var gaps: [String: UInt64] = [:]
    /// Messages per topic whose sequence number was not above the last.
    public private(set) var duplicates: [String: UInt64] = [:]
    /// Messages received per topic.
    public private(set) var received: [String: UInt64] = [:]
    /// Messages on watched topics that did not decode.
    public private(set) var undecodable: UInt64 = 0
    /// The most recent events, oldest first.
    public private(set) var recentEvents: [WireEvent] = []
    /// Assignment rows received in total.
    public private(set) var assignmentRows: UInt64 = 0
    /// Vectors per second into the daemon, from the last two heartbeats of one run.
    public private(set) var heartbeatVectorsPerSecond: Double?
    /// Assignment rows per second over the last ``sampleRates(now:)`` interval.
    public private(set) var assignmentRowsPerSecond: Double?
    /// When the latest heartbeat arrived (the `now` it was applied with).
    public private(set) var lastHeartbeatAt: Double?
    /// The daemon's heartbeat interval in seconds, from the timestamps of the last two
    /// heartbeats of one run; nil until two have arrived.
    public private(set) var heartbeatIntervalSeconds: Double?
    /// The `now` of the last ``sampleRates(now:)`` call: the time the view describes.
    public private(set) var sampledAt: Double?

    private var lastSequence: [String: UInt64] = [:]
    private var rowsAtSample: UInt64 = 0
    private var sampleTime: Double?

    /// An empty state.
    /// - Parameter eventCapacity: how many recent events to keep (≥ 0).
    public init(eventCapacity: Int = 5) {
        self.eventCapacity = max(0, eventCapacity)
    }

    /// Vectors per second: from heartbeats when two of one run have arrived, else the
    /// assignment rows per second (one row per trained vector); nil while stale, when neither
    /// is a live reading.
    public var vectorsPerSecond: Double? {
        isStale ? nil : heartbeatVectorsPerSecond ?? assignmentRowsPerSecond
    }

    /// How long without a heartbeat counts as stale: three heartbeat intervals, and at least
    /// ``minimumStaleSeconds`` (a daemon on a 100 ms heartbeat is not stale after 0.3 s of
    /// scheduling noise).
    public var staleAfterSeconds: Double {
        max(Self.minimumStaleSeconds, 3 * (heartbeatIntervalSeconds ?? 0))
    }

    /// Seconds since the latest heartbeat at `now`; nil before the first heartbeat.
    public func heartbeatSilence(now: Double) -> Double? {
        lastHeartbeatAt.map { max(0, now - $0) }
    }

    /// Whether heartbeats have stopped at `now`: one arrived once, and none for longer than
    /// ``staleAfterSeconds``. Before any heartbeat nothing is known, so nothing is stale.
    public func isStale(now: Double) -> Bool {
        guard let silence = heartbeatSilence(now: now) else { return false }
        return silence > staleAfterSeconds
    }

    /// ``isStale(now:)`` at the last ``sampleRates(now:)``, the time the view describes.
    public var isStale: Bool { sampledAt.map { isStale(now: $0) } ?? false }

    /// Total messages missed across topics.
    public var totalGaps: UInt64 { gaps.values.reduce(0, +) }

    /// Each cluster's soft count and share, from the latest centers (empty before any).
    public var shares: [ClusterShare] {
        guard let counts = centers?.counts else { return [] }
        let total = counts.reduce(0, +)
        return counts.enumerated().map { ClusterShare(center: $0.offset, count: $0.element, share: total > 0 ? $0.element / total : 0) }
    }

    /// The first `count` coordinates of `center` in the latest centers (fewer when the
    /// dimension is smaller; empty before any centers or for an index out of range).
    public func coordinates(of center: Int, first count: Int) -> [Float] {
        guard let c = centers, center >= 0, center < c.k, count > 0 else { return [] }
        let start = center * c.dimension
        return Array(c.centers[start..<(start + min(count, c.dimension))])
    }

    /// Applies one message.
    /// - Parameters:
    ///   - message: the decoded message.
    ///   - now: monotonic seconds, on the clock ``sampleRates(now:)`` is given (heartbeats
    ///     are stamped with it, for staleness).
    public mutating func apply(_ message: WatchMessage, now: Double) {
        let topic = message.topic
        received[topic, default: 0] += 1
        switch message {
        case .centers(let c):
            track(topic, epoch: c.startEpoch, sequence: c.sequence)
            centers = c
            noteModel(version: c.modelVersion, temperature: c.temperature)
        case .heartbeat(let h):
            track(topic, epoch: h.startEpoch, sequence: h.sequence)
            if let previous = heartbeat, previous.startEpoch == h.startEpoch,
               h.timeUnixMilliseconds > previous.timeUnixMilliseconds, h.vectorsIn >= previous.vectorsIn {
                let seconds = Double(h.timeUnixMilliseconds - previous.timeUnixMilliseconds) / 1000
                heartbeatVectorsPerSecond = Double(h.vectorsIn - previous.vectorsIn) / seconds
                heartbeatIntervalSeconds = seconds
            }
            heartbeat = h
            lastHeartbeatAt = now
            noteModel(version: h.modelVersion, temperature: h.temperature)
        case .event(let e):
            track(topic, epoch: e.startEpoch, sequence: e.sequence)
            recentEvents.append(e)
            if recentEvents.count > eventCapacity { recentEvents.removeFirst(recentEvents.count - eventCapacity) }
        case .assignments(let a):
            track(topic, epoch: a.startEpoch, sequence: a.sequence)
            assignmentRows += UInt64(a.count)
            noteModel(version: a.modelVersion, temperature: nil)
        case .undecodable:
            undecodable += 1
        }
    }

    /// Computes ``assignmentRowsPerSecond`` over the time since the previous call and sets the
    /// time ``isStale`` is judged at; call it once per display interval, before drawing. The
    /// first call only starts the rate interval.
    public mutating func sampleRates(now: Double) {
        sampledAt = now
        if let t = sampleTime, now > t {
            assignmentRowsPerSecond = Double(assignmentRows - rowsAtSample) / (now - t)
        }
        sampleTime = now
        rowsAtSample = assignmentRows
    }

    private mutating func noteModel(version: UInt64, temperature: Double?) {
        // Topics are published in order by one socket, but a re-sent (older) centers
        // snapshot must not move the version backwards.
        if let current = modelVersion, version < current { return }
        modelVersion = version
        if let temperature { self.temperature = temperature }
    }

    private mutating func track(_ topic: String, epoch: UInt64, sequence: UInt64) {
        if let known = startEpoch, known != epoch {
            restarts += 1
            lastSequence.removeAll()
            heartbeat = nil
            heartbeatVectorsPerSecond = nil
            heartbeatIntervalSeconds = nil
            lastHeartbeatAt = nil
            modelVersion = nil
        }
        startEpoch = epoch
        if let last = lastSequence[topic] {
            if sequence > last + 1 {
                gaps[topic, default: 0] += sequence - last - 1
            } else if sequence <= last {
                duplicates[topic, default: 0] += 1
                return
            }
        }
        lastSequence[topic] = sequence
    }
}
