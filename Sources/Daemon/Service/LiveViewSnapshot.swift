import Clustering
import Synchronization
import Wire

/// The model's course over time, sampled about once a second by the metrics thread, so the
/// live view can draw temperature, inertia and throughput since start even when it is opened
/// late. Bounded: the oldest sample goes once ``capacity`` are held.
final class LiveHistory: Sendable {
    /// One sample.
    struct Sample: Sendable, Hashable {
        var timeUnixMilliseconds: Int64
        var modelVersion: UInt64
        var temperature: Double
        var inertiaPerVector: Double
        var vectorsAccepted: UInt64
    }

    /// How many samples are kept.
    let capacity: Int
    /// The least time between two samples.
    let intervalMilliseconds: UInt64
    private let store: Mutex<(samples: [Sample], lastAt: UInt64?)>

    init(capacity: Int = 600, intervalMilliseconds: UInt64 = 1000) {
        self.capacity = max(1, capacity)
        self.intervalMilliseconds = intervalMilliseconds
        store = Mutex(([], nil))
    }

    /// Takes a sample from `statistics` if the last one is at least an interval old (`now` in
    /// monotonic milliseconds).
    func sampleIfDue(now: UInt64, statistics: Statistics) {
        store.withLock { s in
            if let last = s.lastAt, now < last + intervalMilliseconds { return }
            s.lastAt = now
            if s.samples.count >= capacity { s.samples.removeFirst(s.samples.count - capacity + 1) }
            s.samples.append(Sample(
                timeUnixMilliseconds: Clock.unixMilliseconds(), modelVersion: statistics.modelVersion.load(ordering: .relaxed),
                temperature: statistics.temperature, inertiaPerVector: statistics.currentQuality.inertiaPerVector,
                vectorsAccepted: statistics.vectorsAccepted.load(ordering: .relaxed)))
        }
    }

    /// The samples, oldest first.
    var samples: [Sample] { store.withLock { $0.samples } }
}

/// The last projection computed, by model, so several viewers polling one unchanged model cost
/// one projection.
final class ProjectionCache: Sendable {
    private let slot = Mutex<(epoch: UInt64, version: UInt64, k: Int, projection: CenterProjection)?>(nil)

    func projection(of state: ModelState) -> CenterProjection {
        if let hit = slot.withLock({ $0 }), hit.epoch == state.epoch, hit.version == state.batches, hit.k == state.k {
            return hit.projection
        }
        let p = CenterProjection.project(centers: state.centers, k: state.k, dimension: state.dimension)
        slot.withLock { $0 = (state.epoch, state.batches, state.k, p) }
        return p
    }
}

/// A JSON text written front to back, with separators placed automatically. Numbers that are
/// not finite are written as `null`: JSON has no NaN, and a reader must never get one.
struct JSONText {
    private(set) var text = ""
    /// Per open container: whether the next member needs a comma before it.
    private var needsComma: [Bool] = [false]
    private var afterKey = false

    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    mutating func beginObject() { separate(); text += "{"; needsComma.append(false) }
    mutating func endObject() { needsComma.removeLast(); text += "}" }
    mutating func beginArray() { separate(); text += "["; needsComma.append(false) }
    mutating func endArray() { needsComma.removeLast(); text += "]" }

    mutating func key(_ name: String) {
        separate()
        appendString(name)
        text += ":"
        afterKey = true
    }

    mutating func string(_ value: String) { separate(); appendString(value) }
    mutating func bool(_ value: Bool) { separate(); text += value ? "true" : "false" }
    mutating func null() { separate(); text += "null" }
    mutating func integer<T: BinaryInteger>(_ value: T) { separate(); text += value.description }

    mutating func number(_ value: Double) {
        separate()
        // `description` is the shortest round-trip form, and each of its forms (`1.0`, `1e-05`)
        // is valid JSON.
        text += value.isFinite ? value.description : "null"
    }

    mutating func number(_ value: Float) {
        separate()
        text += value.isFinite ? value.description : "null"
    }

    mutating func scalar(_ value: WireScalar) {
        switch value {
        case .string(let s): string(s)
        case .int(let v): integer(v)
        case .double(let v): number(v)
        }
    }

    mutating func field(_ name: String, _ value: Double) { key(name); number(value) }
    mutating func field<T: BinaryInteger>(_ name: String, _ value: T) { key(name); integer(value) }
    mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }
    mutating func field(_ name: String, _ value: String) { key(name); string(value) }

    mutating func array(_ name: String, _ values: [Double]) {
        key(name)
        beginArray()
        for v in values { number(v) }
        endArray()
    }

    private mutating func appendString(_ s: String) {
        text += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            // `<` escaped too, so the text can never close a script element if someone embeds it.
            case "<": text += "\\u003c"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

/// What the live view (`GET /model.json`) shows, gathered from the daemon's shared state.
struct LiveViewSnapshot {
    /// Raw centers are included only up to this many values; the projection always is.
    static let maxCenterValues = 4096

    var timeUnixMilliseconds: Int64
    var ready: Bool
    var health: (healthy: Bool, lines: [String])
    var model: SharedModel.Snapshot
    var projection: CenterProjection?
    var statistics: Statistics
    var history: [LiveHistory.Sample]
    var historyIntervalMilliseconds: UInt64
    var events: [RecentEvents.Entry]

    /// The snapshot as one JSON object; every number in it is finite (or `null`).
    func json() -> String {
        var j = JSONText()
        let s = statistics
        let q = s.currentQuality
        j.beginObject()
        j.field("time_unix_ms", timeUnixMilliseconds)
        j.field("ready", ready)
        j.field("healthy", health.healthy)
        j.key("health")
        j.beginArray()
        for line in health.lines { j.string(line) }
        j.endArray()
        j.field("warmup_collected", model.warmupCollected)
        j.field("warmup_needed", model.warmupNeeded)
        j.field("vectors_in", s.vectorsIn.load(ordering: .relaxed))
        j.field("vectors_accepted", s.vectorsAccepted.load(ordering: .relaxed))
        j.field("messages_in", s.messagesIn.load(ordering: .relaxed))
        j.field("batches", s.batches.load(ordering: .relaxed))
        j.field("sequence_gaps", s.sequenceGaps.load(ordering: .relaxed))
        let drops = s.dropsByReason
        j.field("dropped_total", drops.values.reduce(0, &+))
        j.key("dropped")
        j.beginObject()
        for (reason, n) in drops.sorted(by: { $0.key < $1.key }) { j.field(reason, n) }
        j.endObject()
        j.field("publish_dropped", s.publishDropped.load(ordering: .relaxed))
        j.field("inertia_per_vector", q.inertiaPerVector)
        j.field("mean_support_size", q.meanSupportSize)
        j.field("one_hot_fraction", q.oneHotFraction)

        if let state = model.state {
            j.field("has_model", true)
            j.field("model_epoch", state.epoch)
            j.field("model_version", state.batches)
            j.field("k", state.k)
            j.field("d", state.dimension)
            j.field("temperature", state.temperature)
            j.field("reseeds", state.reseeds)
            j.array("counts", state.counts)
            let total = state.counts.reduce(0, +)
            j.array("shares", state.counts.map { total > 0 ? $0 / total : 0 })
            if let p = projection {
                j.key("projection")
                j.beginObject()
                j.array("x", p.x)
                j.array("y", p.y)
                j.array("variance", [p.variance.0, p.variance.1])
                j.field("total_variance", p.totalVariance)
                j.endObject()
            }
            j.key("centers")
            if state.centers.count <= Self.maxCenterValues {
                j.beginArray()
                for c in 0..<state.k {
                    j.beginArray()
                    for v in state.centers[(c * state.dimension)..<((c + 1) * state.dimension)] { j.number(v) }
                    j.endArray()
                }
                j.endArray()
            } else {
                j.null()
            }
        } else {
            j.field("has_model", false)
            j.field("model_version", s.modelVersion.load(ordering: .relaxed))
            j.field("temperature", s.temperature)
        }

        // Columns rather than one object per sample: a tenth of the size.
        j.key("history")
        j.beginObject()
        j.field("interval_ms", historyIntervalMilliseconds)
        j.key("t")
        j.beginArray()
        for h in history { j.integer(h.timeUnixMilliseconds) }
        j.endArray()
        j.key("version")
        j.beginArray()
        for h in history { j.integer(h.modelVersion) }
        j.endArray()
        j.array("temperature", history.map(\.temperature))
        j.array("inertia", history.map(\.inertiaPerVector))
        j.key("accepted")
        j.beginArray()
        for h in history { j.integer(h.vectorsAccepted) }
        j.endArray()
        j.endObject()

        j.key("events")
        j.beginArray()
        for e in events {
            j.beginObject()
            j.field("time_unix_ms", e.timeUnixMilliseconds)
            j.field("event", e.name)
            j.key("fields")
            j.beginObject()
            for (name, value) in e.fields.sorted(by: { $0.key < $1.key }) {
                j.key(name)
                j.scalar(value)
            }
            j.endObject()
            j.endObject()
        }
        j.endArray()
        j.endObject()
        return j.text
    }
}
