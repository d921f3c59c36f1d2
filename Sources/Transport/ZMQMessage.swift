import CZeroMQ

/// One received frame, owning a libzmq `zmq_msg_t`; reuse it across receives to avoid
/// allocating per frame.
///
/// `~Copyable` because a `zmq_msg_t` is reference-counted by libzmq: a bitwise copy of it would
/// be closed twice. The `zmq_msg_t` lives in its own allocation so that its address never
/// changes while libzmq uses it, whatever Swift does with this struct.
public struct ZMQMessage: ~Copyable {
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// Creates an empty message. The corresponding C function is `zmq_msg_init`.
    public init() {
        pointer = .allocate(capacity: 1)
        // zmq_msg_init cannot fail: it only writes the empty-message header.
        zmq_msg_init(pointer)
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// The frame's length in bytes. The corresponding C function is `zmq_msg_size`.
    public var count: Int {
        zmq_msg_size(pointer)
    }

    /// Whether more frames of the same message follow this one. The corresponding C function
    /// is `zmq_msg_more`.
    public var more: Bool {
        zmq_msg_more(pointer) != 0
    }

    /// Calls `body` with the frame's bytes, without copying them.
    ///
    /// The buffer is valid only during `body` and until the next receive into this message.
    /// Frames carry no alignment guarantee: load multi-byte values with `loadUnaligned`.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(frameBytes(pointer))
    }

    /// A copy of the frame's bytes.
    public var bytes: [UInt8] {
        Array(frameBytes(pointer))
    }

    /// A metadata property of the connection the frame arrived on, such as `"User-Id"` (set
    /// by a ZAP handler), `"Socket-Type"` or `"Peer-Address"`; `nil` if it is not set.
    ///
    /// The corresponding C function is `zmq_msg_gets`.
    public func gets(_ property: String) -> String? {
        frameProperty(pointer, property)
    }

    /// The user id a ZAP handler assigned to the sending peer (`gets("User-Id")`), or `nil`
    /// without ZAP authentication.
    public var userID: String? {
        gets("User-Id")
    }
}

@available(*, unavailable, message: "receive into a message on the thread that owns it")
extension ZMQMessage: Sendable {}

/// The bytes of an initialised `zmq_msg_t`.
@inline(__always)
func frameBytes(_ message: UnsafeMutablePointer<zmq_msg_t>) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message))
}

/// A metadata property of an initialised `zmq_msg_t`, or `nil`.
func frameProperty(_ message: UnsafeMutablePointer<zmq_msg_t>, _ property: String) -> String? {
    // zmq_msg_gets returns NULL with EINVAL for an unknown or unset property.
    guard let value = zmq_msg_gets(message, property) else { return nil }
    return String(cString: value)
}
