import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A Linux event file descriptor (`eventfd(2)`): the way for any thread to wake a thread that
/// waits in ``ZMQPoller/poll(timeoutMilliseconds:)``.
///
/// ``signal()`` adds one to a kernel counter, making the descriptor readable; ``drain()`` reads
/// the counter back to zero. Several signals before a drain wake the poller once, which is
/// what a "there is work queued" notification wants.
///
/// `Sendable` without `@unchecked`: the only state is an immutable descriptor number, and the
/// kernel serialises reads and writes on it.
public final class EventFD: Sendable {
    /// The descriptor, open until this object is released.
    public let fileDescriptor: Int32

    /// Creates a non-blocking, close-on-exec event descriptor with a zero counter.
    ///
    /// The corresponding C function is `eventfd` (declared in the shim header because Swift's
    /// Glibc module does not export it).
    ///
    /// - Throws: `ZMQError` carrying `errno` (`EMFILE`, `ENFILE`, `ENOMEM`).
    public init() throws(ZMQError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw ZMQError(operation: "eventfd", code: errno) }
        fileDescriptor = fd
    }

    deinit {
        _ = Glibc.close(fileDescriptor)
    }

    /// Wakes the waiting thread: makes the descriptor readable until the next ``drain()``.
    ///
    /// Never blocks. If the counter is about to overflow (2⁶⁴−2 unread signals) the descriptor
    /// is already readable, so the signal is dropped rather than blocking.
    ///
    /// - Throws: `ZMQError` carrying `errno` for an unexpected failure.
    public func signal() throws(ZMQError) {
        var one: UInt64 = 1
        _ = try posixNonBlockingCall("write(eventfd)") {
            write(fileDescriptor, &one, MemoryLayout<UInt64>.size)
        }
    }

    /// Resets the counter so the descriptor is no longer readable. Call it after a poll reports
    /// the descriptor readable, before handling the work it announced, so that a signal sent
    /// meanwhile is not lost.
    ///
    /// - Returns: The number of signals since the last drain (0 if none).
    /// - Throws: `ZMQError` carrying `errno` for an unexpected failure.
    @discardableResult
    public func drain() throws(ZMQError) -> UInt64 {
        var value: UInt64 = 0
        let read = try posixNonBlockingCall("read(eventfd)") {
            Glibc.read(fileDescriptor, &value, MemoryLayout<UInt64>.size)
        }
        return read == nil ? 0 : value
    }
}
