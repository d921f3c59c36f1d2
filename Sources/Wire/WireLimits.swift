/// Size limits applied while decoding untrusted messages.
///
/// Every limit exists so that one misbehaving producer cannot make the daemon allocate or
/// loop without bound. The defaults suit a local deployment; raise them deliberately.
public struct WireLimits: Sendable, Hashable {
    /// The largest accepted frame, in bytes. Default 64 MiB.
    ///
    /// Set `ZMQ_MAXMSGSIZE` on the socket to the same value so libzmq drops larger frames
    /// before they are even buffered; this check is the backstop.
    public var maxFrameBytes: Int
    /// The most vectors one message may carry. Default 65 536.
    public var maxVectorsPerMessage: Int
    /// The largest accepted dimension. Default 65 536.
    public var maxDimension: Int
    /// The longest accepted topic frame, in bytes. Default 255.
    public var maxTopicBytes: Int
    /// The largest accepted JSON text, in bytes. Default 16 MiB.
    public var maxJSONBytes: Int
    /// The deepest accepted JSON nesting (arrays and objects). Default 32.
    ///
    /// The parser recurses only while skipping unknown values; this bounds that recursion.
    public var maxJSONDepth: Int

    /// The largest accepted magnitude of a vector component: 2⁴⁰ ≈ 1.1 × 10¹².
    ///
    /// Centers stay inside the convex hull of the data, so with every component in
    /// [−2⁴⁰, 2⁴⁰] a squared distance is at most 2⁸² per component and 2⁹⁸ at the largest
    /// dimension (2¹⁶): 2³⁰ below float32's largest finite value, room for every sum the model
    /// and its statistics form. Beyond it a single finite vector could make distances, inertia
    /// and centers overflow to infinity and NaN. Float32 resolves such values only to about
    /// 2¹⁷ anyway, so no meaningful feature needs more.
    public static let maxAbsoluteValue: Float = 0x1p40

    /// The biased float32 exponent of ``maxAbsoluteValue``: a value whose exponent field is at
    /// least this is out of range (or, at 255, not finite).
    static let outOfRangeExponentBits: UInt32 = UInt32(127 + 40) << 23

    /// Whether `value` may enter the model: finite and within ``maxAbsoluteValue``.
    ///
    /// 2⁴⁰ itself is refused, so the test is one comparison of exponent bits.
    @inlinable
    public static func accepts(_ value: Float) -> Bool {
        value.magnitude < maxAbsoluteValue
    }

    /// The error for a value ``accepts(_:)`` refuses, naming where it is.
    static func rejection(_ value: Float, at place: String) -> WireError {
        value.isFinite
            ? WireError(.outOfRange, "value \(value) \(place) exceeds the magnitude limit 2^40 (\(maxAbsoluteValue))")
            : WireError(.nonFinite, "non-finite value \(place)")
    }

    /// Creates limits; every parameter defaults to the documented default.
    public init(
        maxFrameBytes: Int = 64 << 20,
        maxVectorsPerMessage: Int = 65_536,
        maxDimension: Int = 65_536,
        maxTopicBytes: Int = 255,
        maxJSONBytes: Int = 16 << 20,
        maxJSONDepth: Int = 32
    ) {
        precondition(maxFrameBytes > 0 && maxVectorsPerMessage > 0 && maxDimension > 0, "WireLimits: limits must be positive")
        precondition(maxTopicBytes > 0 && maxJSONBytes > 0 && maxJSONDepth >= 3, "WireLimits: limits must be positive (JSON depth >= 3)")
        self.maxFrameBytes = maxFrameBytes
        self.maxVectorsPerMessage = maxVectorsPerMessage
        self.maxDimension = maxDimension
        self.maxTopicBytes = maxTopicBytes
        self.maxJSONBytes = maxJSONBytes
        self.maxJSONDepth = maxJSONDepth
    }
}

/// The topic names of the daemon's outbound messages (frame 0 on the XPUB socket).
///
/// SUB filtering is a byte-prefix match, so the names are chosen so that none is a prefix of
/// another: a subscriber to `centers.bin` never receives `centers.json`.
public enum WireTopic {
    /// Centers, binary: `[topic, header, centers, counts]`.
    public static let centersBinary = "centers.bin"
    /// Centers, JSON: `[topic, json]`.
    public static let centersJSON = "centers.json"
    /// Assignments, binary: `[topic, header, ids?, best, dist, offsets, indices, weights]`.
    public static let assignmentsBinary = "assignments.bin"
    /// Assignments, JSON: `[topic, json]`.
    public static let assignmentsJSON = "assignments.json"
    /// Heartbeat, JSON: `[topic, json]`.
    public static let heartbeat = "heartbeat"
    /// Lifecycle and model events, JSON: `[topic, json]`.
    public static let events = "events"
    /// Rejected inbound messages, republished for their producers' owners to debug:
    /// `[topic, reason, detail, original frames…]` (opt-in, rate-limited, frames truncated).
    public static let rejected = "rejected"
    /// Every outbound topic, for checks and subscriptions.
    public static let all: [String] = [centersBinary, centersJSON, assignmentsBinary, assignmentsJSON, heartbeat, events]
}
