import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// One helper per C call shape, after swift-nio's System.swift: every libzmq call in this module
// goes through one of these, so `EINTR` is retried in exactly one place and every other failure
// becomes a `ZMQError` that names the call.

/// Checks libzmq's error number after a failed call and traps for values that can only mean a
/// bug in this module (a bad pointer), rather than a condition a caller can handle.
@inline(__always)
private func checkNotProgrammerError(_ code: Int32, _ operation: () -> String) {
    precondition(code != EFAULT, "\(operation()): libzmq reported EFAULT (invalid handle); this is a Transport bug")
}

/// Calls an `int`-returning libzmq function that signals failure with `-1`, retrying on `EINTR`.
///
/// - Returns: The function's non-negative result.
/// - Throws: `ZMQError` for any error other than `EINTR`.
@inline(__always)
@discardableResult
func zmqCall(
    _ operation: @autoclosure () -> String,
    _ body: () -> Int32
) throws(ZMQError) -> Int32 {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = zmq_errno()
        if code == EINTR { continue }
        checkNotProgrammerError(code, operation)
        throw ZMQError(operation: operation(), code: code)
    }
}

/// Like ``zmqCall(_:_:)`` but maps `EAGAIN` to `nil`: for sends and receives that may be
/// non-blocking (`ZMQ_DONTWAIT`) or bounded by `ZMQ_SNDTIMEO`/`ZMQ_RCVTIMEO`, where "nothing
/// now" is a normal outcome and not an error.
///
/// - Returns: The function's result, or `nil` on `EAGAIN`.
/// - Throws: `ZMQError` for any error other than `EINTR` and `EAGAIN`.
@inline(__always)
func zmqNonBlockingCall(
    _ operation: @autoclosure () -> String,
    _ body: () -> Int32
) throws(ZMQError) -> Int32? {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = zmq_errno()
        if code == EINTR { continue }
        if code == EAGAIN { return nil }
        checkNotProgrammerError(code, operation)
        throw ZMQError(operation: operation(), code: code)
    }
}

/// Calls a pointer-returning libzmq function that signals failure with `NULL`
/// (`zmq_ctx_new`, `zmq_socket`), retrying on `EINTR`.
///
/// - Throws: `ZMQError` when the function returns `NULL` for a reason other than `EINTR`.
@inline(__always)
func zmqPointerCall(
    _ operation: @autoclosure () -> String,
    _ body: () -> UnsafeMutableRawPointer?
) throws(ZMQError) -> UnsafeMutableRawPointer {
    while true {
        if let pointer = body() { return pointer }
        let code = zmq_errno()
        if code == EINTR { continue }
        throw ZMQError(operation: operation(), code: code)
    }
}

/// Calls a POSIX function that returns `-1` and sets `errno` (used for eventfd I/O), retrying
/// on `EINTR` and mapping `EAGAIN` to `nil` because every descriptor we make is non-blocking.
///
/// - Throws: `ZMQError` carrying the `errno` for any other failure.
@inline(__always)
func posixNonBlockingCall(
    _ operation: @autoclosure () -> String,
    _ body: () -> Int
) throws(ZMQError) -> Int? {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return nil }
        precondition(code != EBADF && code != EFAULT, "\(operation()): errno \(code) means a Transport bug")
        throw ZMQError(operation: operation(), code: code)
    }
}
