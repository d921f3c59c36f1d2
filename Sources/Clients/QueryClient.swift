import Synchronization
import Transport
import Wire

/// A client of the daemon's query socket (REQ → REP): `snapshot`, `stats` and `predict`.
///
/// Every request uses a fresh REQ socket with linger 0, closed after the reply or the
/// timeout: a REQ socket whose reply never came cannot send again (its state machine waits
/// for that reply forever), so it is discarded rather than reused.
///
/// Blocking: use it on the thread that created it, never from async code.
public final class QueryClient {
    /// The context sockets are made in.
    public let context: ZMQContext
    /// The daemon's query endpoint, such as `tcp://127.0.0.1:5557`.
    public let endpoint: String
    /// How long a request may take, send and reply together.
    public let timeout: Duration
    /// Keys for a daemon whose query socket requires CURVE; nil for plaintext.
    public let curve: CurveClientKeys?

    /// Creates a client; nothing connects until the first request.
    /// - Parameters:
    ///   - context: the context.
    ///   - endpoint: the daemon's REP endpoint.
    ///   - timeout: the longest wait for a reply (default 5 s).
    ///   - curve: keys for a daemon whose query socket requires CURVE.
    public init(context: ZMQContext, endpoint: String, timeout: Duration = .seconds(5), curve: CurveClientKeys? = nil) {
        self.context = context
        self.endpoint = endpoint
        self.timeout = timeout
        self.curve = curve
    }

    /// Sends one request and returns the reply's frames.
    /// - Throws: ``ClientError`` `.refused` as soon as the daemon refuses this client's
    ///   handshake, `.timeout` if no reply came within ``timeout``, `.remote`
    ///   for an error reply `["error", reason, detail]`; `ZMQError` for a bad endpoint.
    public func request(_ message: WireMessage) throws -> [[UInt8]] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let socket = try ZMQSocket(context: context, type: .req, linger: 0)
        defer { socket.close() }
        try socket.setSendTimeout(milliseconds: milliseconds(timeout))
        try curve?.apply(to: socket)
        // Watch the handshake, so a refusal is reported as one rather than as silence.
        let monitorName = "voronoid.query.handshakes.\(QueryClient.monitors.add(1, ordering: .relaxed))"
        try socket.monitorHandshakes(monitorName)
        let monitor = try ZMQSocket(context: context, type: .pair, linger: 0)
        defer { monitor.close() }
        try monitor.connect("inproc://" + monitorName)
        try socket.connect(endpoint)
        guard try socket.send(message) else { throw failure(ZMQHandshakeTally(), monitor) }
        let reply = try awaitReply(on: socket, monitor: monitor, until: deadline, clock: clock)
        if let error = WireError.decodeReply(frames: reply) {
            throw ClientError.remote(reason: error.reason, detail: error.detail)
        }
        return reply
    }

    /// Waits for the reply and the handshake together: a refusal ends the wait at once instead
    /// of running out the timeout, which on a loaded machine could also come first.
    private func awaitReply(on socket: ZMQSocket, monitor: ZMQSocket, until deadline: ContinuousClock.Instant,
                            clock: ContinuousClock) throws -> [[UInt8]] {
        var handshakes = ZMQHandshakeTally()
        let poller = ZMQPoller()
        let replyItem = poller.add(socket)
        let monitorItem = poller.add(monitor)
        while true {
            let left = deadline - clock.now
            guard left > .zero else { throw failure(handshakes, monitor) }
            try poller.poll(timeoutMilliseconds: Int(max(1, milliseconds(left))))
            if poller.isReadable(monitorItem) {
                drain(monitor, into: &handshakes)
                if handshakes.refused { throw failure(handshakes, monitor) }
            }
            if poller.isReadable(replyItem), let reply = try socket.receiveMultipart(dontWait: true) { return reply }
        }
    }

    /// Asks for the current centers.
    /// - Throws: as ``request(_:)``, or ``ClientError`` `.badReply` for a malformed reply.
    public func snapshot() throws -> CentersSnapshot {
        var message = WireMessage()
        VectorEncoder.encodeSnapshotRequest(into: &message)
        let reply = try request(message)
        do {
            return try CentersSnapshot.decodeBinary(frames: reply, hasTopic: false)
        } catch {
            throw ClientError(.badReply, "snapshot reply: \(error)")
        }
    }

    /// Asks for the daemon's statistics.
    /// - Returns: the decoded values and the reply's JSON text as received.
    /// - Throws: as ``request(_:)``, or ``ClientError`` `.badReply` for a malformed reply.
    public func stats() throws -> (values: [String: WireScalar], json: String) {
        var message = WireMessage()
        VectorEncoder.encodeStatsRequest(into: &message)
        let reply = try request(message)
        do {
            let values = try decodeStatsReply(frames: reply)
            return (values, String(decoding: reply[0], as: UTF8.self))
        } catch {
            throw ClientError(.badReply, "stats reply: \(error)")
        }
    }

    /// Asks for the assignments of `batch` (computed without training).
    /// - Throws: as ``request(_:)``; ``ClientError`` `.badInput` for mixed ids (the request
    ///   form cannot carry them), `.badReply` for a malformed reply or one of another size.
    public func predict(_ batch: VectorBatch) throws -> Assignments {
        var message = WireMessage()
        do {
            try VectorEncoder.encodePredictRequest(batch: batch, into: &message)
        } catch {
            throw ClientError(.badInput, "predict request: \(error)")
        }
        let reply = try request(message)
        let assignments: Assignments
        do {
            assignments = try Assignments.decodeBinary(frames: reply, hasTopic: false)
        } catch {
            throw ClientError(.badReply, "predict reply: \(error)")
        }
        guard assignments.count == batch.count else {
            throw ClientError(.badReply, "predict reply has \(assignments.count) rows for \(batch.count) vectors")
        }
        return assignments
    }

    /// Distinct inproc names for the monitors of concurrent requests in one process.
    private static let monitors = Atomic<UInt64>(0)

    /// Reads the monitor's pending events into `tally`.
    private func drain(_ monitor: ZMQSocket, into tally: inout ZMQHandshakeTally) {
        // Events only: a receive error here just means there are none left to read.
        while let frames = try? monitor.receiveMultipart(dontWait: true) { tally.record(frames: frames) }
    }

    /// The error for a request that got no reply: a refusal, if the monitor saw the daemon
    /// refuse every handshake, else a timeout.
    private func failure(_ tally: ZMQHandshakeTally, _ monitor: ZMQSocket) -> ClientError {
        var tally = tally
        drain(monitor, into: &tally)
        if tally.refused, let last = tally.failures.last {
            let hint = curve == nil
                ? "it requires CURVE: give --curve-server-key and --curve-key"
                : "is this client's public key on its allow-list, and --curve-server-key its public key?"
            return ClientError(.refused, "\(endpoint) refused this client (\(last)); \(hint)")
        }
        return timedOut()
    }

    private func timedOut() -> ClientError {
        // A CURVE socket ignores a client it refuses, so silence is also what a missing or
        // unlisted key looks like.
        let security = curve == nil
            ? "; if it requires CURVE, give --curve-server-key and --curve-key"
            : "; is this client's public key on its allow-list and the server key its own?"
        return ClientError(.timeout, "no reply from \(endpoint) within \(fixed(seconds(timeout), 1)) s (is the daemon running and its query socket on this endpoint\(security))")
    }
}

/// Whole milliseconds of `d`, clamped to what a socket option holds.
func milliseconds(_ d: Duration) -> Int32 {
    let ms = seconds(d) * 1000
    return Int32(max(0, min(ms.rounded(.up), Double(Int32.max))))
}
