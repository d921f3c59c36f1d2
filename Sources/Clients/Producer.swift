import Transport
import Wire

/// The socket a producer sends on.
public enum ProducerSocketKind: String, Sendable, Hashable, CaseIterable {
    /// PUB, for a daemon that reads with SUB (the default): best effort, drops at the
    /// high-water mark, and loses everything sent before the subscription arrives. The socket
    /// is an XPUB, which sends as PUB does and also hears the daemon's subscription, so the
    /// first message can wait for it (``ProducerConfiguration/warmup``).
    case pub
    /// PUSH, for a daemon that reads with PULL: lossless, blocks when the daemon falls behind.
    case push

    /// The libzmq socket type.
    public var socketType: ZMQSocketType { self == .pub ? .xpub : .push }
}

/// The ids a producer attaches to its vectors.
public enum ProducerIDMode: String, Sendable, Hashable, CaseIterable {
    /// No ids.
    case none
    /// The vector's running index in this run (0, 1, 2, …) as an int64 id.
    case int
    /// The running index as a decimal string id (`"0"`, `"1"`, …).
    case string
}

/// How a ``Producer`` sends: message form, batching, pacing and limits.
public struct ProducerConfiguration: Sendable, Hashable {
    /// Frame 0 of every message (1–255 bytes of UTF-8). Default `vectors`.
    public var topic: String
    /// The inbound form: one vector per message, binary batches, or JSON. Default `.batch`.
    public var format: VectorMessageFormat
    /// The most vectors per message for `.batch` and `.json` (1…65 536). Default 256.
    ///
    /// With a ``rate`` a message holds at most about 10 ms worth of vectors, so a slow
    /// stream is sent smoothly rather than in a few large bursts.
    public var batchSize: Int
    /// Vectors per second; 0 sends as fast as the socket takes them. Default 0.
    public var rate: Double
    /// The number of vectors to send; 0 for no limit. Default 0.
    public var count: Int
    /// How long to send; nil for no limit. With a ``rate`` this sends exactly
    /// `rate × duration` vectors (unless ``count`` or the source ends first). Default nil.
    public var duration: Duration?
    /// The ids to attach (`.batch` and `.json` only; the single form has no ids). Default `.int`.
    public var ids: ProducerIDMode
    /// Whether messages carry sequence numbers 1, 2, 3, … (`.batch` and `.json` only).
    /// Default true.
    public var sequence: Bool
    /// The longest a PUB producer waits before its first message for a subscription covering
    /// its topic (the slow-joiner problem): it sends as soon as one arrives, or once this has
    /// passed (a plain PUB socket, which hears no subscription, waits all of it). PUSH sockets
    /// do not wait. Default 2 s.
    public var warmup: Duration
    /// Whether to restart a finite source at its end. Default false.
    public var loop: Bool

    /// Creates a configuration; every parameter defaults to the documented default.
    public init(
        topic: String = "vectors", format: VectorMessageFormat = .batch, batchSize: Int = 256,
        rate: Double = 0, count: Int = 0, duration: Duration? = nil, ids: ProducerIDMode = .int,
        sequence: Bool = true, warmup: Duration = .seconds(2), loop: Bool = false
    ) {
        self.topic = topic
        self.format = format
        self.batchSize = batchSize
        self.rate = rate
        self.count = count
        self.duration = duration
        self.ids = ids
        self.sequence = sequence
        self.warmup = warmup
        self.loop = loop
    }

    /// Checks every value.
    /// - Throws: ``ClientError`` `.badInput` naming the field and value.
    public func validate() throws(ClientError) {
        let limits = WireLimits()
        let topicBytes = topic.utf8.count
        guard topicBytes >= 1, topicBytes <= limits.maxTopicBytes else {
            throw ClientError(.badInput, "topic: must be 1–\(limits.maxTopicBytes) bytes, got \(topicBytes)")
        }
        guard batchSize >= 1, batchSize <= limits.maxVectorsPerMessage else {
            throw ClientError(.badInput, "batch: must be 1–\(limits.maxVectorsPerMessage), got \(batchSize)")
        }
        guard rate.isFinite, rate >= 0 else { throw ClientError(.badInput, "rate: must be ≥ 0, got \(rate)") }
        guard count >= 0 else { throw ClientError(.badInput, "count: must be ≥ 0, got \(count)") }
        if let duration, duration < .zero { throw ClientError(.badInput, "seconds: must be ≥ 0, got \(duration)") }
        guard warmup >= .zero else { throw ClientError(.badInput, "warmup: must be ≥ 0, got \(warmup)") }
    }
}

/// What a producer run did.
public struct ProducerReport: Sendable, Hashable, CustomStringConvertible {
    /// Vectors sent.
    public var vectors: Int
    /// Messages sent.
    public var messages: Int
    /// Seconds from the first message to the end (the warm-up excluded).
    public var seconds: Double

    /// Creates a report.
    public init(vectors: Int, messages: Int, seconds: Double) {
        self.vectors = vectors
        self.messages = messages
        self.seconds = seconds
    }

    /// Vectors per second over the run (0 for an instantaneous run).
    public var rate: Double { seconds > 0 ? Double(vectors) / seconds : 0 }

    /// `sent 1000 vectors in 50 messages over 0.50 s (2000 vectors/s)`.
    public var description: String {
        "sent \(vectors) vectors in \(messages) messages over \(fixed(seconds, 2)) s (\(Int(rate.rounded())) vectors/s)"
    }
}

/// Sends vectors from a ``VectorSource`` over a PUB or PUSH socket, in protocol v1's single,
/// batch or JSON form, with optional ids, sequence numbers and pacing.
///
/// Pacing follows an absolute schedule on the monotonic clock: message `m` goes out when
/// `vectorsBefore(m) / rate` seconds have passed since the start, and the producer sleeps in
/// steps of a few milliseconds until then. A late message therefore never shifts the
/// schedule, and the long-run rate is exact.
///
/// Everything here blocks the calling thread: call it from a command's synchronous `run()`
/// or a dedicated thread, never from async code.
public struct Producer {
    /// The configuration.
    public var configuration: ProducerConfiguration

    /// A message sent at a rate holds at most this many seconds' worth of vectors.
    static let pacingQuantum = 0.01

    /// Creates a producer.
    public init(configuration: ProducerConfiguration = ProducerConfiguration()) {
        self.configuration = configuration
    }

    /// Opens a PUB or PUSH socket on `endpoint`, bound or connected.
    ///
    /// The socket lingers up to one second at close, so the last messages of a run are
    /// flushed to a connected peer without hanging forever when there is none.
    /// - Parameter curve: keys for a daemon whose input requires CURVE; only when connecting
    ///   (a daemon's connecting input never uses CURVE).
    /// - Parameter monitor: an inproc name on which the socket reports its security handshakes
    ///   (see ``ZMQSocket/monitorHandshakes(_:)``), so a refused CURVE client can say so.
    /// - Throws: `ZMQError` for a malformed endpoint or an address in use.
    public static func makeSocket(
        context: ZMQContext, kind: ProducerSocketKind, endpoint: String, bind: Bool, curve: CurveClientKeys? = nil,
        monitor: String? = nil
    ) throws(ZMQError) -> ZMQSocket {
        precondition(!(bind && curve != nil), "a bound producer cannot be a CURVE client")
        let socket = try ZMQSocket(context: context, type: kind.socketType, linger: 1_000)
        // A bounded send wait lets a PUSH with no (or a slow) peer notice a stop request.
        try socket.setSendTimeout(milliseconds: 100)
        try curve?.apply(to: socket)
        if let monitor { try socket.monitorHandshakes(monitor) }
        if bind { try socket.bind(endpoint) } else { try socket.connect(endpoint) }
        return socket
    }

    /// Waits on an XPUB socket until a subscription covering `topic` arrives (`0x01` and a
    /// prefix of it) or `limit` passes; returns true if `stop` asked to end meanwhile.
    static func awaitSubscription(on socket: ZMQSocket, topic: String, atMost limit: Duration,
                                  stop: () -> Bool) throws(ZMQError) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        let poller = ZMQPoller()
        _ = poller.add(socket)
        let wanted = Array(topic.utf8)
        while true {
            if stop() { return true }
            let left = deadline - clock.now
            guard left > .zero else { return false }
            // Short polls, so a stop request is seen within 50 ms.
            if try poller.poll(timeoutMilliseconds: Int(min(50, max(1, milliseconds(left))))) > 0 {
                while let frames = try socket.receiveMultipart(dontWait: true) {
                    if let first = frames.first, first.first == 1, wanted.starts(with: first.dropFirst()) { return false }
                }
            }
        }
    }

    /// Sends from `source` until the count, the duration or the source is exhausted, or
    /// `shouldStop` returns true.
    ///
    /// - Parameters:
    ///   - source: the vectors; read in chunks of at most one message.
    ///   - socket: an XPUB (``makeSocket(context:kind:endpoint:bind:curve:monitor:)`` for `.pub`),
    ///     PUB or PUSH socket, already bound or connected.
    ///   - shouldStop: polled between messages, while pacing and while a send waits.
    /// - Returns: what was sent.
    /// - Throws: ``ClientError`` for a bad configuration or bad source data (messages sent
    ///   before it stay sent), `ZMQError` from the socket.
    public func run<Source: VectorSource>(source: inout Source, socket: ZMQSocket, shouldStop: () -> Bool = { false }) throws -> ProducerReport {
        let config = configuration
        try config.validate()
        let d = source.dimension
        let limits = WireLimits()
        guard d >= 1, d <= limits.maxDimension else {
            throw ClientError(.badInput, "dimension \(d) is outside the protocol's 1–\(limits.maxDimension)")
        }
        var perMessage = config.format == .single ? 1 : config.batchSize
        // Keep every message under the daemon's frame limits (binary body, JSON text).
        let bytesPerValue = config.format == .json ? 16 : 4
        let sizeLimit = config.format == .json ? limits.maxJSONBytes : limits.maxFrameBytes
        perMessage = max(1, min(perMessage, sizeLimit / (bytesPerValue * d)))
        if config.rate > 0 {
            perMessage = min(perMessage, max(1, Int(config.rate * Self.pacingQuantum)))
        }
        let useIDs = config.format != .single && config.ids != .none
        let useSequence = config.format != .single && config.sequence
        // With a rate, the duration becomes an exact vector budget: deterministic, and the
        // last message is not cut short by a clock read.
        var budget = config.count > 0 ? config.count : Int.max
        if config.rate > 0, let duration = config.duration {
            budget = min(budget, Int((config.rate * seconds(duration)).rounded()))
        }

        if socket.type == .xpub, config.warmup > .zero {
            if try Self.awaitSubscription(on: socket, topic: config.topic, atMost: config.warmup, stop: shouldStop) {
                return ProducerReport(vectors: 0, messages: 0, seconds: 0)
            }
        } else if socket.type == .pub, config.warmup > .zero {
            if sleep(for: config.warmup, stop: shouldStop) {
                return ProducerReport(vectors: 0, messages: 0, seconds: 0)
            }
        }

        let clock = ContinuousClock()
        let start = clock.now
        var rows: [Float] = []
        var row = [Float](repeating: 0, count: d)
        var batch = VectorBatch(reservingRows: perMessage, dimension: d)
        var message = WireMessage(reservingCapacity: 64 + perMessage * d * bytesPerValue)
        var sent = 0
        var messages = 0
        var sequence: UInt64 = 0
        var rewoundEmpty = false

        sending: while sent < budget, !shouldStop() {
            if config.rate > 0 {
                let due = start + .seconds(Double(sent) / config.rate)
                if sleep(for: due - clock.now, step: .milliseconds(2), stop: shouldStop) { break }
            } else if let duration = config.duration, clock.now - start >= duration {
                break
            }
            let want = min(perMessage, budget - sent)
            var n = try source.next(into: &rows, maxRows: want)
            if n == 0 {
                // An empty pass after a rewind means the file has no rows left: stop, don't spin.
                guard config.loop, !rewoundEmpty else { break }
                try source.rewind()
                rewoundEmpty = true
                n = try source.next(into: &rows, maxRows: want)
                if n == 0 { break }
            }
            rewoundEmpty = false

            message.removeAll()
            if config.format == .single {
                row.withUnsafeMutableBufferPointer { r in
                    for j in 0..<d { r[j] = rows[j] }
                }
                VectorEncoder.encodeSingle(topic: config.topic, vector: row, into: &message)
            } else {
                batch.removeAll()
                for i in 0..<n {
                    row.withUnsafeMutableBufferPointer { r in
                        for j in 0..<d { r[j] = rows[i * d + j] }
                    }
                    let index = Int64(sent + i)
                    let id: VectorID? = !useIDs ? nil : config.ids == .int ? .int(index) : .string(String(index))
                    do {
                        try batch.append(row, id: id)
                    } catch {
                        throw ClientError(.badInput, "vector \(sent + i): \(error)")
                    }
                }
                let seq = useSequence ? sequence + 1 : 0
                if config.format == .json {
                    try VectorEncoder.encodeJSON(topic: config.topic, batch: batch, sequence: seq, into: &message)
                } else {
                    try VectorEncoder.encodeBatch(topic: config.topic, batch: batch, sequence: seq, into: &message)
                }
            }
            // A PUSH send waits (in 100 ms slices) while the peer is absent or full.
            while try !socket.send(message) {
                if shouldStop() { break sending }
            }
            sequence += 1
            sent += n
            messages += 1
        }
        // A paced run ends when its last message's time slot does, so the reported rate is
        // the configured one and `--seconds` takes that long.
        if config.rate > 0, sent > 0 {
            sleep(for: start + .seconds(Double(sent) / config.rate) - clock.now, step: .milliseconds(2), stop: shouldStop)
        }
        let elapsed = clock.now - start
        return ProducerReport(vectors: sent, messages: messages, seconds: seconds(elapsed))
    }
}

/// A duration in seconds.
func seconds(_ d: Duration) -> Double {
    let (s, atto) = d.components
    return Double(s) + Double(atto) * 1e-18
}

/// `v` with `places` decimals, without Foundation's format strings.
func fixed(_ v: Double, _ places: Int) -> String {
    guard v.isFinite else { return v.description }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = (abs(v) * scale).rounded()
    guard scaled < 9e15 else { return v.description }
    let whole = Int(scaled) / Int(scale)
    var frac = String(Int(scaled) % Int(scale))
    while frac.count < places { frac = "0" + frac }
    let sign = v < 0 && scaled != 0 ? "-" : ""
    return places == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(frac)"
}
