import Transport
import Wire

/// A decoded message from the daemon's update socket, as the watcher sees it.
public enum WatchMessage: Sendable, Hashable {
    /// `centers.bin`: the model's centers and soft counts.
    case centers(CentersSnapshot)
    /// `heartbeat`: counters and the model's version and temperature.
    case heartbeat(Heartbeat)
    /// `events`: a lifecycle or model event.
    case event(WireEvent)
    /// `assignments.bin`: per-vector results.
    case assignments(Assignments)
    /// A message on a watched topic that did not decode.
    case undecodable(topic: String, error: WireError)

    /// The topics the watcher subscribes to.
    public static let topics = [WireTopic.centersBinary, WireTopic.heartbeat, WireTopic.events, WireTopic.assignmentsBinary]

    /// The message's topic (frame 0).
    public var topic: String {
        switch self {
        case .centers: return WireTopic.centersBinary
        case .heartbeat: return WireTopic.heartbeat
        case .event: return WireTopic.events
        case .assignments: return WireTopic.assignmentsBinary
        case .undecodable(let topic, _): return topic
        }
    }

    /// Decodes an update message by its exact topic.
    ///
    /// SUB filtering is a prefix match, so the topic is compared for equality here.
    /// - Returns: nil for a topic the watcher does not handle.
    public static func decode(frames: [[UInt8]]) -> WatchMessage? {
        guard let first = frames.first else { return nil }
        let topic = String(decoding: first, as: UTF8.self)
        do {
            switch topic {
            case WireTopic.centersBinary: return .centers(try CentersSnapshot.decodeBinary(frames: frames))
            case WireTopic.heartbeat: return .heartbeat(try Heartbeat.decodeJSON(frames: frames))
            case WireTopic.events: return .event(try WireEvent.decodeJSON(frames: frames))
            case WireTopic.assignmentsBinary: return .assignments(try Assignments.decodeBinary(frames: frames))
            default: return nil
            }
        } catch {
            return .undecodable(topic: topic, error: error)
        }
    }
}

/// A SUB socket on the daemon's update endpoint that yields decoded ``WatchMessage``s.
///
/// Blocking: use it on the thread that created it (the command's main thread), never from
/// async code.
public final class Watcher {
    /// The subscribed socket.
    public let socket: ZMQSocket
    private let poller = ZMQPoller()

    /// Connects and subscribes.
    /// - Parameters:
    ///   - context: the context.
    ///   - endpoint: the daemon's XPUB endpoint, such as `tcp://127.0.0.1:5556`.
    ///   - topics: the exact topics to subscribe to (default: ``WatchMessage/topics``).
    ///   - curve: keys for a daemon whose output requires CURVE.
    /// - Throws: `ZMQError` for a malformed endpoint.
    public init(
        context: ZMQContext, endpoint: String, topics: [String] = WatchMessage.topics, curve: CurveClientKeys? = nil
    ) throws(ZMQError) {
        socket = try ZMQSocket(context: context, type: .sub, linger: 0)
        // Room for bursts of assignments, so the watcher itself is rarely the cause of a gap.
        try socket.setReceiveHighWaterMark(10_000)
        for topic in topics { try socket.subscribe(topic) }
        try curve?.apply(to: socket)
        try socket.connect(endpoint)
        poller.add(socket)
    }

    /// Waits up to `timeoutMilliseconds` for the next message on a handled topic.
    /// - Returns: the message, or nil if none arrived in time (or only unhandled topics did).
    /// - Throws: `ZMQError` (for example `ETERM`).
    public func next(timeoutMilliseconds: Int) throws(ZMQError) -> WatchMessage? {
        // Drain what is already queued before waiting.
        if let frames = try socket.receiveMultipart(dontWait: true) { return WatchMessage.decode(frames: frames) }
        guard try poller.poll(timeoutMilliseconds: timeoutMilliseconds) > 0 else { return nil }
        guard let frames = try socket.receiveMultipart(dontWait: true) else { return nil }
        return WatchMessage.decode(frames: frames)
    }
}
