import CZeroMQ

/// A failed security handshake reported by libzmq's socket monitor.
public struct ZMQHandshakeFailure: Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure libzmq reported.
    public enum Kind: Sendable, Hashable {
        /// The ZAP handler refused the peer (`ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`); `code` is its
        /// status code (400: key not allowed).
        case authentication
        /// The peer broke the security protocol (`ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`): a
        /// plaintext client on a CURVE socket, or a client that encrypted to another server
        /// key; `code` is libzmq's `ZMQ_PROTOCOL_ERROR_*` value.
        case protocolError
        /// The handshake failed without more detail (`ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`):
        /// libzmq 4.3 reports a plaintext peer on a CURVE socket this way.
        case noDetail
    }

    public var kind: Kind
    /// The event's value: a ZAP status code or a protocol error number.
    public var code: UInt32
    /// The endpoint the event concerns (the socket's own, as bound or connected).
    public var endpoint: String

    public var description: String {
        switch kind {
        case .authentication: "refused by the ZAP handler (status \(code)) on \(endpoint)"
        case .protocolError: "security protocol error 0x\(String(code, radix: 16)) on \(endpoint) (a plaintext peer on a CURVE socket, or a wrong server key)"
        case .noDetail: "handshake failed without detail on \(endpoint) (a plaintext peer on a CURVE socket, or a connection closed mid-handshake)"
        }
    }

    /// The events a monitor needs to report handshake failures.
    static let events: Int32 = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH

    /// Decodes a monitor message (`[u16 event, u32 value][endpoint]`); nil for other events.
    public init?(frames: [[UInt8]]) {
        guard frames.count >= 2, frames[0].count >= 6 else { return nil }
        let event = UInt16(frames[0][0]) | UInt16(frames[0][1]) << 8
        let value = frames[0][2...5].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        switch Int32(event) {
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: kind = .authentication
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: kind = .protocolError
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: kind = .noDetail
        default: return nil
        }
        code = value
        endpoint = String(decoding: frames[1], as: UTF8.self)
    }
}

/// What a handshake monitor has seen so far (see ``ZMQSocket/monitorHandshakes(_:)``).
public struct ZMQHandshakeTally: Sendable {
    /// Handshakes that completed.
    public var succeeded = 0
    /// Handshakes that failed, the latest last.
    public var failures: [ZMQHandshakeFailure] = []

    public init() {}

    /// Whether the peer refused every handshake tried: at least one failed and none succeeded.
    public var refused: Bool { succeeded == 0 && !failures.isEmpty }

    /// Adds one monitor message.
    public mutating func record(frames: [[UInt8]]) {
        if let failure = ZMQHandshakeFailure(frames: frames) {
            failures.append(failure)
        } else if frames.first.map({ $0.count >= 2 && Int32(UInt16($0[0]) | UInt16($0[1]) << 8) == ZMQ_EVENT_HANDSHAKE_SUCCEEDED }) == true {
            succeeded += 1
        }
    }
}

extension ZMQSocket {
    /// Publishes this socket's failed security handshakes on `inproc://name`; read them with a
    /// PAIR socket connected there (in the same context) and ``ZMQHandshakeFailure/init(frames:)``.
    ///
    /// The corresponding C function is `zmq_socket_monitor`.
    public func monitorHandshakeFailures(_ name: String) throws(ZMQError) {
        try zmqCall("zmq_socket_monitor") { zmq_socket_monitor(handle, "inproc://" + name, ZMQHandshakeFailure.events) }
    }

    /// Like ``monitorHandshakeFailures(_:)``, and also reports handshakes that succeed, so a
    /// client can tell "refused" from "never answered"; read them into a ``ZMQHandshakeTally``.
    public func monitorHandshakes(_ name: String) throws(ZMQError) {
        try zmqCall("zmq_socket_monitor") {
            zmq_socket_monitor(handle, "inproc://" + name, ZMQHandshakeFailure.events | ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        }
    }
}
