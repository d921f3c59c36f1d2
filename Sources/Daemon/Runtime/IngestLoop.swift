import Glibc
import Synchronization
import Logging
import Transport
import Wire

/// A closed mini-batch on its way to the clustering thread.
struct InboundBatch: Sendable {
    var vectors: VectorBatch
    /// How many messages the vectors came in.
    var messages: Int
    /// Monotonic time the batch's first vector arrived.
    var openedAt: UInt64
}

/// The ingest thread: owns the inbound SUB or PULL socket, decodes messages into mini-batches,
/// drops and counts what is malformed, and hands closed batches to the clustering thread.
///
/// A batch closes at `input.batch_size` vectors or `input.max_wait_ms` after its first vector,
/// whichever comes first. When the hand-off queue is full, SUB input drops the batch and counts
/// it; PULL input stops reading, so libzmq's queue fills and producers block (backpressure).
final class IngestLoop: Sendable {
    let configuration: DaemonConfiguration
    let context: ZMQContext
    let statistics: Statistics
    let batches: BoundedQueue<InboundBatch>
    /// Empty batches returned by the clustering thread, so steady state allocates nothing.
    let recycled: BoundedQueue<VectorBatch>
    let stop: EventFD
    let logger: Logger
    let dimension: Int?
    let security: CurveSecurity?
    let health: LoopHealth
    /// Where rejected messages are republished (the publish thread's queue), when enabled.
    let deadLetters: BoundedQueue<Outbound>?
    private let limiter: DropLogLimiter
    // SAFETY: set by start() and read by run(), both on the loop's own thread, never elsewhere.
    nonisolated(unsafe) private var socket: ZMQSocket?

    init(configuration: DaemonConfiguration, context: ZMQContext, statistics: Statistics,
         batches: BoundedQueue<InboundBatch>, recycled: BoundedQueue<VectorBatch>, stop: EventFD,
         dimension: Int?, security: CurveSecurity?, deadLetters: BoundedQueue<Outbound>?, health: LoopHealth,
         limiter: DropLogLimiter, logger: Logger) {
        self.deadLetters = deadLetters
        self.health = health
        self.configuration = configuration
        self.context = context
        self.statistics = statistics
        self.batches = batches
        self.recycled = recycled
        self.stop = stop
        self.dimension = dimension
        self.security = security
        self.logger = logger
        self.limiter = limiter
    }

    /// Creates and binds (or connects) the socket; throws so start-up can fail before READY.
    func openSocket() throws(ZMQError) -> ZMQSocket {
        let input = configuration.input
        let socket = try ZMQSocket(context: context, type: input.socket == .sub ? .sub : .pull, linger: 0)
        let mark = Self.initialHighWaterMark(input)
        try socket.setReceiveHighWaterMark(Int32(clamping: mark))
        statistics.inputHighWaterMark.store(Int64(mark), ordering: .relaxed)
        try socket.setMaxMessageSize(Int64(input.maxFrameBytes))
        if input.socket == .sub {
            for topic in input.topics { try socket.subscribe(topic) }
        }
        if !input.connect { try security?.apply(to: socket, role: "input") }
        for endpoint in input.endpoints {
            if input.connect { try socket.connect(endpoint) } else { try socket.bind(endpoint) }
        }
        return socket
    }

    /// The least receive high-water mark `input.buffer_bytes` sets, whatever the messages' size.
    static let minimumHighWaterMark = 8

    /// Until a message has been seen: libzmq's own default, within the configured limit.
    static func initialHighWaterMark(_ input: DaemonConfiguration.Input) -> Int {
        input.socket == .pull && input.bufferBytes > 0 ? min(input.highWaterMark, 1000) : input.highWaterMark
    }

    /// Keeps a PULL socket's receive high-water mark at about `input.buffer_bytes` of the
    /// messages arriving. libzmq's mark counts messages, so a fixed one cannot suit both a
    /// producer that sends single vectors and one that sends 1.5 MB batches: 100 000 of the
    /// latter let a burst pile up a whole stream in the daemon (every page of it new memory,
    /// a page fault per 4 KiB: 7–12 % of the daemon's processor time at d 384, k 256), where
    /// a few dozen keep its pages in use and leave the rest with the producer.
    struct HighWaterMark {
        let budget: Int
        let ceiling: Int
        private(set) var current: Int
        /// The messages' mean size, in bytes, weighted to the latest (1/8).
        private var meanBytes = 0

        init(_ input: DaemonConfiguration.Input) {
            budget = input.socket == .pull ? input.bufferBytes : 0
            ceiling = max(1, input.highWaterMark)
            current = IngestLoop.initialHighWaterMark(input)
        }

        /// Records a message of `bytes`; returns a new mark when it should change (by half or
        /// double: the option is a system call and a command to libzmq's I/O thread).
        mutating func observe(bytes: Int) -> Int? {
            guard budget > 0 else { return nil }
            meanBytes = meanBytes == 0 ? max(1, bytes) : max(1, meanBytes + (bytes - meanBytes) / 8)
            let target = min(ceiling, max(IngestLoop.minimumHighWaterMark, budget / meanBytes))
            guard target * 2 <= current || target >= current * 2 || (target != current && target == ceiling) else { return nil }
            current = target
            return target
        }
    }

    /// Runs until `stop` is signalled; flushes the open batch before returning.
    func run(socket: ZMQSocket) {
        let input = configuration.input
        var decoder = VectorDecoder(
            expectedDimension: dimension,
            limits: WireLimits(maxFrameBytes: input.maxFrameBytes, maxVectorsPerMessage: input.maxVectorsPerMessage))
        decoder.unitLength = configuration.model.metric == .cosine
        var message = ZMQMultipartMessage(capacity: 4)
        var sequences = SequenceTracker(maxProducers: input.maxProducers)
        var mark = HighWaterMark(input)
        var open = freshBatch()
        var openMessages = 0
        var openedAt: UInt64 = 0
        let maxWait = UInt64(input.maxWaitMilliseconds) * 1_000_000
        let poller = ZMQPoller()
        let socketIndex = poller.add(socket)
        let stopIndex = poller.add(stop)
        var running = true
        var bucket = TokenBucket(rate: configuration.output.deadLetterRate)
        let started = Clock.monotonicMilliseconds()

        func handOff() {
            guard !open.isEmpty else { return }
            let closed = InboundBatch(vectors: open, messages: openMessages, openedAt: openedAt)
            let n = UInt64(open.count), m = UInt64(openMessages)
            open = freshBatch()
            openMessages = 0
            if input.socket == .pull {
                if !batches.push(closed, until: { !stopRequested() }) {
                    statistics.drop("shutdown", messages: m, vectors: n)
                }
            } else if !batches.tryPush(closed) {
                statistics.drop("queue_full", messages: m, vectors: n)
                limiter.log(logger, reason: "queue_full", detail: "the clustering thread is behind; batch of \(n) vectors dropped")
            }
        }

        func stopRequested() -> Bool {
            var fd = pollfd(fd: stop.fileDescriptor, events: Int16(POLLIN), revents: 0)
            return poll(&fd, 1, 0) > 0
        }

        while running {
            health.beat(.ingest)
            if configuration.fault.failureDue("ingest", started: started, now: Clock.monotonicMilliseconds()) {
                health.fail(.ingest, "poll: injected fault (fault.fail_loop)")
                break
            }
            var timeout = 1000
            if !open.isEmpty {
                let now = Clock.monotonicNanoseconds()
                let due = openedAt &+ maxWait
                timeout = due > now ? Int((due - now + 999_999) / 1_000_000) : 0
            }
            do {
                _ = try poller.poll(timeoutMilliseconds: timeout)
            } catch {
                if error.isETERM { break }
                if error.isEINTR { continue }
                health.fail(.ingest, "poll: \(error)")
                break
            }
            if poller.isReadable(stopIndex) { running = false }
            // Drain what is queued, a bounded number at a time so timers are still honoured.
            var drained = 0
            while drained < 4096, poller.isReadable(socketIndex) || drained > 0 {
                let got: Bool
                do {
                    got = try socket.receive(into: &message, dontWait: true)
                } catch {
                    if error.isETERM { running = false }
                    break
                }
                guard got else { break }
                drained += 1
                if let next = mark.observe(bytes: message.totalBytes) {
                    // Applies to the connected producers' queues too (libzmq ≥ 4.2).
                    if (try? socket.setReceiveHighWaterMark(Int32(clamping: next))) != nil {
                        statistics.inputHighWaterMark.store(Int64(next), ordering: .relaxed)
                    }
                }
                let wasEmpty = open.isEmpty
                do throws(WireError) {
                    let info = try message.withUnsafeFrames { (frames) throws(WireError) -> VectorMessageInfo in
                        let info = try decoder.decode(frames: frames, into: &open)
                        if info.sequence != 0 {
                            let gap = sequences.record(topic: frames[0], sequence: info.sequence)
                            if gap > 0 { statistics.sequenceGaps.add(gap, ordering: .relaxed) }
                        }
                        return info
                    }
                    if decoder.expectedDimension == nil { decoder.expectedDimension = info.dimension }
                    openMessages += 1
                    statistics.messagesIn.add(1, ordering: .relaxed)
                    statistics.vectorsIn.add(UInt64(info.count), ordering: .relaxed)
                    if security != nil, let user = message.userID {
                        statistics.producerVectors(user, UInt64(info.count), limit: input.maxProducers)
                    }
                    if wasEmpty {
                        openedAt = Clock.monotonicNanoseconds()
                    } else if drained & 15 == 0, Clock.monotonicNanoseconds() >= openedAt &+ maxWait {
                        // A steady stream can keep this loop busy for long: honour the
                        // batch deadline here too, not only between polls.
                        handOff()
                        continue
                    }
                    if open.count >= input.batchSize { handOff() }
                } catch {
                    statistics.drop(error.reason.rawValue)
                    let from = security == nil ? "" : message.userID.map { " (from \($0))" } ?? ""
                    limiter.log(logger, reason: error.reason.rawValue, detail: error.detail + from)
                    if let deadLetters, bucket.take(now: Clock.monotonicNanoseconds()) {
                        var m = WireMessage()
                        m.appendFrame(WireTopic.rejected)
                        m.appendFrame(error.reason.rawValue)
                        m.appendFrame(error.detail + from)
                        message.withUnsafeFrames { frames in
                            // At most four frames of at most 64 KiB: enough to debug, bounded in size.
                            for frame in frames.prefix(4) { m.appendFrame(UnsafeRawBufferPointer(rebasing: frame.prefix(1 << 16))) }
                        }
                        if !deadLetters.tryPush(Outbound(kind: .other, message: m)) {
                            statistics.publishDropped.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
            if !open.isEmpty && Clock.monotonicNanoseconds() >= openedAt &+ maxWait { handOff() }
        }
        handOff()
    }

    private func freshBatch() -> VectorBatch {
        if var b = recycled.pop() {
            b.removeAll()
            return b
        }
        return VectorBatch(reservingRows: configuration.input.batchSize * 2, dimension: max(dimension ?? 0, 1))
    }
}

extension IngestLoop: DaemonService, StoppedByEventFD {
    var loop: LoopHealth.Loop { .ingest }

    func start() throws(StartupFailure) {
        do {
            socket = try openSocket()
        } catch {
            throw .opening(.ingest, "input.endpoints \(configuration.input.endpoints)", error)
        }
    }

    func run() {
        guard let socket else { return }
        run(socket: socket)
        socket.close()
    }
}

/// Allows `rate` events per second with a burst of the same size.
struct TokenBucket {
    let rate: Double
    private var tokens: Double
    private var last: UInt64 = 0

    init(rate: Double) {
        self.rate = rate
        tokens = max(1, rate)
    }

    mutating func take(now: UInt64) -> Bool {
        if last != 0 { tokens = min(max(1, rate), tokens + Double(now &- last) / 1e9 * rate) }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Per-topic sequence numbers: a producer's messages carry 1, 2, 3, …; a jump counts the
/// missing ones (SUB drops silently), a restart at 1 (or any step back) is not a gap.
struct SequenceTracker {
    let maxProducers: Int
    private var last: [[UInt8]: UInt64] = [:]
    /// The previous message's topic and sequence: most messages come from the same producer as
    /// the one before, and this spares them the hashing and the key allocation.
    private var recentTopic: [UInt8] = []
    private var recentSequence: UInt64 = 0
    private var recentTracked = false

    init(maxProducers: Int) { self.maxProducers = maxProducers }

    /// Records `sequence` for `topic`; returns how many messages went missing before it.
    mutating func record(topic: UnsafeRawBufferPointer, sequence: UInt64) -> UInt64 {
        if recentTracked && recentTopic.elementsEqual(topic) {
            let previous = recentSequence
            recentSequence = sequence
            last[recentTopic] = sequence
            return sequence > previous ? sequence - previous - 1 : 0
        }
        let key = Array(topic)
        let previous = last[key]
        let tracked = previous != nil || last.count < maxProducers
        if tracked { last[key] = sequence }
        recentTopic = key
        recentSequence = sequence
        recentTracked = tracked
        guard let previous, sequence > previous else { return 0 }
        return sequence - previous - 1
    }
}

/// Logs at most one line per reason per interval, with the count since the last line. The
/// interval is `log.drop_interval_s` and changes on reload.
final class DropLogLimiter: Sendable {
    private struct Entry {
        var lastLogged: UInt64 = 0
        var suppressed: UInt64 = 0
    }

    private let interval: Atomic<UInt64>
    private let entries = Mutex<[String: Entry]>([:])
    /// What is being limited, for the log line ("dropped input", "refused client").
    private let what: String

    init(intervalSeconds: Double, what: String = "dropped input") {
        interval = Atomic(Self.nanoseconds(intervalSeconds))
        self.what = what
    }

    private static func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1e9) }

    /// Applies a reloaded `log.drop_interval_s`.
    func setInterval(seconds: Double) { interval.store(Self.nanoseconds(seconds), ordering: .relaxed) }

    func log(_ logger: Logger, reason: String, detail: String) {
        let now = Clock.monotonicNanoseconds()
        let interval = interval.load(ordering: .relaxed)
        let suppressed: UInt64? = entries.withLock { map in
            var e = map[reason, default: Entry()]
            defer { map[reason] = e }
            if e.lastLogged != 0 && now - e.lastLogged < interval {
                e.suppressed += 1
                return nil
            }
            let s = e.suppressed
            e.lastLogged = now
            e.suppressed = 0
            return s
        }
        guard let suppressed else { return }
        let more = suppressed > 0 ? " (\(suppressed) more since the last report)" : ""
        logger.warning("\(what): \(reason): \(detail)\(more)")
    }
}
