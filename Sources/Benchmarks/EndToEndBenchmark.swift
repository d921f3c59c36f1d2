import Clustering
import Daemon
import Glibc
import Logging
import Synchronization
import Transport
import Wire

/// The whole daemon on loopback TCP: a producer thread, the daemon's own threads, and a
/// subscriber thread, in one process so the numbers share one machine state.
///
/// Every message's ids carry its send time (monotonic nanoseconds), so the subscriber measures
/// each vector's latency from the producer's send to the assignment's arrival: an upper bound
/// on the daemon's receive-to-publish time.
public struct EndToEndBenchmark {
    /// One measured case.
    public struct Result: Sendable {
        public var name: String
        public var socket: String
        public var vectorsPerMessage: Int
        public var offeredRate: Double?
        public var seconds: Double
        public var sent: UInt64
        public var accepted: UInt64
        public var assigned: UInt64
        public var dropped: UInt64
        public var vectorsPerSecond: Double
        public var messagesPerSecond: Double
        public var assignedPerSecond: Double
        public var latencyP50Milliseconds: Double
        public var latencyP99Milliseconds: Double
        public var latencyMaxMilliseconds: Double
    }

    public var seconds: Double
    public var dimension = 64
    public var k = 64
    /// `input.max_wait_ms` for the daemon under test.
    public var maxWaitMilliseconds: Int

    public init(seconds: Double = 3, maxWaitMilliseconds: Int = DaemonConfiguration().input.maxWaitMilliseconds) {
        self.seconds = seconds
        self.maxWaitMilliseconds = maxWaitMilliseconds
    }

    /// The cases of the issue: batched throughput, one-vector throughput, latency at 100 k/s.
    public func run(only: String? = nil, report: (Result) -> Void) throws {
        let cases: [(String, DaemonConfiguration.InputSocket, Int, Double?)] = [
            ("batched", .pull, 256, nil),
            ("single", .pull, 1, nil),
            ("latency", .sub, 1, 100_000),
            ("latency", .sub, 64, 100_000),
        ]
        for (name, socket, perMessage, rate) in cases where only.map({ name.contains($0) }) ?? true {
            report(try measure(name: name, socket: socket, vectorsPerMessage: perMessage, rate: rate))
        }
    }

    func measure(name: String, socket: DaemonConfiguration.InputSocket, vectorsPerMessage: Int, rate: Double?) throws -> Result {
        var c = DaemonConfiguration()
        let ports = (0..<3).map { _ in LoopbackPort.free() }
        c.input.endpoints = ["tcp://127.0.0.1:\(ports[0])"]
        c.output.endpoint = "tcp://127.0.0.1:\(ports[1])"
        c.query.endpoint = "tcp://127.0.0.1:\(ports[2])"
        c.input.socket = socket
        c.input.maxWaitMilliseconds = maxWaitMilliseconds
        c.model.k = k
        c.model.dimension = dimension
        c.output.centersJSON = false
        c.output.highWaterMark = 1_000_000
        c.output.queueMessages = 65_536
        c.state.directory = ""
        c.metrics.address = ""
        let outputEndpoint = c.output.endpoint
        let logger = Logger(label: "bench", factory: { StderrLogHandler(label: $0, level: .warning) })
        let runner = try DaemonRunner(configuration: c, logger: logger)
        let ready = Atomic<Bool>(false)
        let daemonThread = OSThread(name: "daemon") {
            _ = try? runner.run(handleSignals: false, onReady: { ready.store(true, ordering: .releasing) })
        }
        while !ready.load(ordering: .acquiring) { usleep(1000) }

        let context = try ZMQContext()
        let stop = Atomic<Bool>(false)
        let assigned = Atomic<UInt64>(0)
        let latencies = Mutex<[UInt64]>([])
        let subscribed = Atomic<Bool>(false)
        let subscriber = OSThread(name: "subscriber") {
            guard let sub = try? ZMQSocket(context: context, type: .sub) else { return }
            defer { sub.close() }
            try? sub.setReceiveHighWaterMark(0)
            try? sub.connect(outputEndpoint)
            try? sub.subscribe(WireTopic.assignmentsBinary)
            try? sub.setReceiveTimeout(milliseconds: 100)
            subscribed.store(true, ordering: .releasing)
            var message = ZMQMultipartMessage(capacity: 8)
            var local: [UInt64] = []
            local.reserveCapacity(1 << 20)
            var counter: UInt64 = 0
            while !stop.load(ordering: .relaxed) {
                guard (try? sub.receive(into: &message)) == true, message.count >= 8 else { continue }
                let now = Daemon.Clock.monotonicNanoseconds()
                // header: "<4sIIQQQ": n at byte 4; the ids frame (int64) is frame 2.
                let n = message.withUnsafeBytes(ofFrame: 1) { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self))) }
                assigned.add(UInt64(n), ordering: .relaxed)
                message.withUnsafeBytes(ofFrame: 2) { ids in
                    // Sample one row in 16 to keep the subscriber's own cost small.
                    var i = 0
                    while i < n {
                        counter &+= 1
                        if counter % 16 == 0 {
                            let sentAt = UInt64(bitPattern: Int64(littleEndian: ids.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)))
                            local.append(now &- sentAt)
                        }
                        i += 1
                    }
                }
            }
            latencies.withLock { $0 = local }
        }
        while !subscribed.load(ordering: .acquiring) { usleep(1000) }
        usleep(300_000)

        // Producer on this thread.
        let producer = try ZMQSocket(context: context, type: socket == .pull ? .push : .pub, linger: 0)
        try producer.setSendHighWaterMark(socket == .pull ? 1000 : 100_000)
        try producer.connect(c.input.endpoints[0])
        usleep(500_000)
        let blobs = (rows: syntheticRows(k: k, dimension: dimension, count: 65_536, seed: 9), count: 65_536)
        let header = 16
        var bodyFrame = [UInt8](repeating: 0, count: vectorsPerMessage * dimension * 4)
        var idsFrame = [UInt8](repeating: 0, count: vectorsPerMessage * 8)
        var headerFrame = [UInt8](repeating: 0, count: header)
        let topic = Array("vectors".utf8)
        var sent: UInt64 = 0
        var messages: UInt64 = 0
        let start = Daemon.Clock.monotonicNanoseconds()
        let end = start + UInt64(seconds * 1e9)
        var row = 0
        while true {
            let now = Daemon.Clock.monotonicNanoseconds()
            if now >= end { break }
            if let rate {
                let due = start + UInt64(Double(sent) / rate * 1e9)
                // Ahead of schedule: sleep rather than spin, so the producer does not steal a
                // core from the daemon; behind it, send what is due back to back.
                if due > now {
                    usleep(UInt32(max(50, (due - now) / 1000)))
                    continue
                }
            }
            // Fill the message: rows from the blobs, ids = send time.
            blobs.rows.withUnsafeBytes { src in
                bodyFrame.withUnsafeMutableBytes { dst in
                    for v in 0..<vectorsPerMessage {
                        let r = (row + v) % blobs.count
                        dst.baseAddress!.advanced(by: v * dimension * 4).copyMemory(from: src.baseAddress!.advanced(by: r * dimension * 4), byteCount: dimension * 4)
                    }
                }
            }
            row = (row + vectorsPerMessage) % blobs.count
            let stamp = Int64(bitPattern: Daemon.Clock.monotonicNanoseconds()).littleEndian
            idsFrame.withUnsafeMutableBytes { dst in
                for v in 0..<vectorsPerMessage { dst.storeBytes(of: stamp, toByteOffset: v * 8, as: Int64.self) }
            }
            headerFrame.withUnsafeMutableBytes { h in
                h.copyBytes(from: Array("VB1I".utf8))
                h.storeBytes(of: UInt32(vectorsPerMessage).littleEndian, toByteOffset: 4, as: UInt32.self)
                h.storeBytes(of: (messages + 1).littleEndian, toByteOffset: 8, as: UInt64.self)
            }
            // Raw frames: the harness should cost the machine as little as a good producer would.
            _ = try topic.withUnsafeBytes { t in
                try headerFrame.withUnsafeBytes { h in
                    try bodyFrame.withUnsafeBytes { b in
                        try idsFrame.withUnsafeBytes { i in
                            try [t, h, b, i].withUnsafeBufferPointer { try producer.send(rawFrames: $0) }
                        }
                    }
                }
            }
            sent += UInt64(vectorsPerMessage)
            messages += 1
        }
        let elapsed = Double(Daemon.Clock.monotonicNanoseconds() - start) / 1e9
        // Let the pipeline drain, then read the daemon's counters.
        var accepted: UInt64 = 0
        for _ in 0..<50 {
            usleep(100_000)
            let a = runner.statistics.vectorsAccepted.load(ordering: .relaxed)
            if a == accepted && assigned.load(ordering: .relaxed) >= a { break }
            accepted = a
        }
        accepted = runner.statistics.vectorsAccepted.load(ordering: .relaxed)
        stop.store(true, ordering: .relaxed)
        subscriber.join()
        producer.close()
        runner.requestStop()
        daemonThread.join()
        var lat = latencies.withLock { $0 }
        lat.sort()
        func percentile(_ p: Double) -> Double {
            lat.isEmpty ? .nan : Double(lat[min(lat.count - 1, Int(Double(lat.count) * p))]) / 1e6
        }
        return Result(
            name: name, socket: socket.rawValue, vectorsPerMessage: vectorsPerMessage, offeredRate: rate,
            seconds: elapsed, sent: sent, accepted: accepted, assigned: assigned.load(ordering: .relaxed),
            dropped: sent > accepted ? sent - accepted : 0,
            vectorsPerSecond: Double(accepted) / elapsed, messagesPerSecond: Double(messages) / elapsed,
            assignedPerSecond: Double(assigned.load(ordering: .relaxed)) / elapsed,
            latencyP50Milliseconds: percentile(0.5), latencyP99Milliseconds: percentile(0.99),
            latencyMaxMilliseconds: lat.isEmpty ? .nan : Double(lat.last!) / 1e6)
    }
}
