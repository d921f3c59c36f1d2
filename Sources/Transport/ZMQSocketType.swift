import CZeroMQ

/// The messaging pattern of a ``ZMQSocket`` (`ZMQ_PUB`, `ZMQ_PULL`, …).
///
/// A struct with static members rather than an enum, so that more types can be added without
/// breaking exhaustive `switch`es in callers.
public struct ZMQSocketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The libzmq constant, such as `ZMQ_PUB`.
    public var rawValue: Int32

    /// Wraps a libzmq socket type constant.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Publisher: sends to every matching subscriber; drops at the high-water mark.
    public static let pub = Self(rawValue: ZMQ_PUB)
    /// Subscriber: receives messages whose first frame starts with a subscribed prefix.
    public static let sub = Self(rawValue: ZMQ_SUB)
    /// Publisher that also receives subscription messages (`\x01topic`, `\x00topic`).
    public static let xpub = Self(rawValue: ZMQ_XPUB)
    /// Subscriber that sends subscriptions as messages.
    public static let xsub = Self(rawValue: ZMQ_XSUB)
    /// Pipeline source: round-robins messages to connected pullers.
    public static let push = Self(rawValue: ZMQ_PUSH)
    /// Pipeline sink: fair-queues messages from connected pushers.
    public static let pull = Self(rawValue: ZMQ_PULL)
    /// Strict request/reply client.
    public static let req = Self(rawValue: ZMQ_REQ)
    /// Strict request/reply server.
    public static let rep = Self(rawValue: ZMQ_REP)
    /// Asynchronous request/reply client.
    public static let dealer = Self(rawValue: ZMQ_DEALER)
    /// Asynchronous request/reply server that prefixes each message with the peer's routing id.
    public static let router = Self(rawValue: ZMQ_ROUTER)
    /// Exclusive pair, mostly for `inproc://` signalling between two threads.
    public static let pair = Self(rawValue: ZMQ_PAIR)

    /// The pattern's name, such as `"PUB"`.
    public var description: String {
        switch self {
        case .pub: "PUB"
        case .sub: "SUB"
        case .xpub: "XPUB"
        case .xsub: "XSUB"
        case .push: "PUSH"
        case .pull: "PULL"
        case .req: "REQ"
        case .rep: "REP"
        case .dealer: "DEALER"
        case .router: "ROUTER"
        case .pair: "PAIR"
        default: "socket type \(rawValue)"
        }
    }
}
