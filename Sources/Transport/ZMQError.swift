import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error reported by libzmq (or by a system call this module makes on its behalf).
///
/// `ZMQError` is a struct rather than an enum so that new codes never break callers' `switch`
/// statements; test the common cases with ``isETERM``, ``isEAGAIN`` and friends.
public struct ZMQError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The failing operation, such as `"zmq_bind(tcp://127.0.0.1:5555)"`.
    public var operation: String

    /// The error number: `zmq_errno()` right after the failing call (a POSIX `errno` value or
    /// one of libzmq's own codes above `ZMQ_HAUSNUMERO`, such as `ETERM`).
    public var code: Int32

    /// Creates an error for `operation` with the given error number.
    ///
    /// - Parameters:
    ///   - operation: The name of the failing call, for the message.
    ///   - code: A `zmq_errno()` or `errno` value.
    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// The reason as libzmq words it (the corresponding C function is `zmq_strerror`, which
    /// falls back to `strerror` for POSIX codes).
    public var reason: String {
        String(cString: zmq_strerror(code))
    }

    /// `"<operation>: <reason> (errno <code>)"`.
    public var description: String {
        "\(operation): \(reason) (errno \(code))"
    }

    /// The context is being shut down (`ETERM`): the caller should leave its loop and close its
    /// sockets so that `zmq_ctx_term` can finish.
    public var isETERM: Bool { code == Self.eterm }

    /// Nothing could be done right now (`EAGAIN`): a non-blocking call found no message or no
    /// room, or a send/receive timeout expired.
    public var isEAGAIN: Bool { code == EAGAIN }

    /// The call was interrupted by a signal (`EINTR`). The wrappers in this module retry such
    /// calls, so callers only see this from code that calls libzmq directly.
    public var isEINTR: Bool { code == EINTR }

    /// The `ETERM` code. libzmq defines it as `ZMQ_HAUSNUMERO + 53`; we take it from the C
    /// header rather than hard-coding the number so that a libzmq build with a different base
    /// still compares correctly.
    public static let eterm: Int32 = ETERM

    /// The calling thread's current libzmq error number.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        ZMQError(operation: operation(), code: zmq_errno())
    }
}
