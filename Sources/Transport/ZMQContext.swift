import CZeroMQ

/// A libzmq context: the owner of libzmq's I/O threads and the scope of `inproc://` endpoints.
///
/// Create one per process (or per independent component) and share it between threads; make
/// sockets with ``ZMQSocket/init(context:type:linger:)``. Each socket keeps its context alive,
/// so the context is terminated only after the last socket has been closed, which is the order
/// `zmq_ctx_term` requires.
///
/// To stop threads that are blocked in `zmq_recv`/`zmq_poll`, call ``shutdown()``: their calls
/// fail with `ETERM` (``ZMQError/isETERM``), after which they should close their sockets.
// SAFETY: a libzmq context is documented as thread-safe; `handle` never changes after `init`
// and is only freed in `deinit`, when no other reference (and hence no socket) exists.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// Creates a context.
    ///
    /// The corresponding C function is `zmq_ctx_new`.
    ///
    /// - Parameter ioThreads: libzmq's background I/O threads (`ZMQ_IO_THREADS`). One handles
    ///   about a gigabyte per second; `inproc://` traffic uses none.
    /// - Throws: `ZMQError` if libzmq cannot create the context (for example `EMFILE`) or
    ///   rejects the option.
    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        handle = try zmqPointerCall("zmq_ctx_new") { zmq_ctx_new() }
        // If this throws, `deinit` still runs (every stored property is set) and terminates
        // the context, so there is nothing to clean up here.
        try zmqCall("zmq_ctx_set(ZMQ_IO_THREADS, \(ioThreads))") {
            zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
        }
    }

    /// Makes every blocking call on this context's sockets, in any thread, fail with `ETERM`,
    /// and every later call too. Sockets must still be closed (released) afterwards.
    ///
    /// Safe to call more than once and from any thread. The corresponding C function is
    /// `zmq_ctx_shutdown`.
    public func shutdown() {
        // zmq_ctx_shutdown only fails with EFAULT for an invalid handle, which cannot happen
        // while `self` exists, so there is nothing useful to throw.
        _ = zmq_ctx_shutdown(handle)
    }

    deinit {
        // Every socket holds a strong reference to its context, so none is open here and
        // zmq_ctx_term cannot block on a socket's linger; retry only if a signal interrupts it.
        while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
    }
}
