import CZeroMQ

/// A libzmq socket, owned by one thread at a time.
///
/// libzmq sockets are not thread-safe, so `ZMQSocket` is deliberately not `Sendable`: create it
/// on the thread that uses it (the ``ZMQContext`` is `Sendable` and can be handed to that
/// thread). The socket is closed when the last reference goes away, or earlier by ``close()``.
///
/// Blocking calls (`send`, `receive`, ``ZMQPoller/poll(timeoutMilliseconds:)``) block the OS
/// thread: call them from a dedicated thread, never from Swift concurrency's cooperative pool.
///
/// A final class rather than a `~Copyable` struct so that a ``ZMQPoller`` can hold several
/// sockets and keep them alive while it polls them.
public final class ZMQSocket {
    /// The libzmq socket, or `nil` once closed.
    private var _handle: UnsafeMutableRawPointer?

    /// The context, retained so that `zmq_ctx_term` can only run after this socket is closed.
    public let context: ZMQContext

    /// The messaging pattern this socket was created with.
    public let type: ZMQSocketType

    /// Creates a socket and sets its linger period.
    ///
    /// libzmq's default linger is infinite for most socket types (PUB, XPUB, PUSH, PULL,
    /// ROUTER), which makes `zmq_ctx_term` hang while unsent messages wait for a peer that will
    /// never come. We always set it explicitly; the default of 0 discards unsent messages at
    /// close. Pass a bounded value (say 1000 ms) for a socket whose last messages must be
    /// flushed at shutdown.
    ///
    /// The corresponding C functions are `zmq_socket` and `zmq_setsockopt(ZMQ_LINGER)`.
    ///
    /// - Parameters:
    ///   - context: The context that owns the socket.
    ///   - type: The messaging pattern.
    ///   - linger: Milliseconds to keep unsent messages after close; `0` discards them, `-1`
    ///     waits forever.
    /// - Throws: `ZMQError`, for example `ETERM` if the context has been shut down or `EMFILE`
    ///   if too many sockets are open.
    public init(context: ZMQContext, type: ZMQSocketType, linger: Int32 = 0) throws(ZMQError) {
        self.context = context
        self.type = type
        _handle = try zmqPointerCall("zmq_socket(\(type))") { zmq_socket(context.handle, type.rawValue) }
        try setOption(ZMQ_LINGER, int: linger)
    }

    deinit {
        close()
    }

    /// Closes the socket now instead of when it is released. Calling it again does nothing;
    /// using the socket afterwards is a programming error and traps.
    ///
    /// The corresponding C function is `zmq_close`.
    public func close() {
        guard let handle = _handle else { return }
        _handle = nil
        // zmq_close fails only with ENOTSOCK for an invalid handle, which `_handle` never is.
        _ = zmq_close(handle)
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { _handle == nil }

    /// The open libzmq handle. Using a closed socket is a bug in the caller, not a condition to
    /// recover from, so it traps with a message instead of throwing `ENOTSOCK`.
    var handle: UnsafeMutableRawPointer {
        guard let handle = _handle else {
            preconditionFailure("ZMQSocket(\(type)) used after close()")
        }
        return handle
    }

    // MARK: Endpoints

    /// Accepts connections on an endpoint such as `tcp://127.0.0.1:*`, `ipc:///run/x.sock` or
    /// `inproc://name`. With a `*` port, read the chosen port from ``lastEndpoint``.
    ///
    /// The corresponding C function is `zmq_bind`.
    ///
    /// - Throws: `ZMQError`: `EINVAL` for a malformed endpoint, `EPROTONOSUPPORT` for an unknown
    ///   transport, `EADDRINUSE` if the address is taken.
    public func bind(_ endpoint: String) throws(ZMQError) {
        try zmqCall("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint) }
    }

    /// Connects to an endpoint. libzmq connects in the background and reconnects by itself, so
    /// this succeeds even when no peer is listening yet.
    ///
    /// The corresponding C function is `zmq_connect`.
    ///
    /// - Throws: `ZMQError` for a malformed endpoint or unknown transport.
    public func connect(_ endpoint: String) throws(ZMQError) {
        try zmqCall("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint) }
    }

    /// Stops accepting on an endpoint previously bound. For a `*` port, pass the resolved
    /// ``lastEndpoint``, not the wildcard.
    ///
    /// The corresponding C function is `zmq_unbind`.
    ///
    /// - Throws: `ZMQError` (`ENOENT` if the endpoint was not bound).
    public func unbind(_ endpoint: String) throws(ZMQError) {
        try zmqCall("zmq_unbind(\(endpoint))") { zmq_unbind(handle, endpoint) }
    }

    /// Drops a connection previously made with ``connect(_:)``.
    ///
    /// The corresponding C function is `zmq_disconnect`.
    ///
    /// - Throws: `ZMQError` (`ENOENT` if the endpoint was not connected).
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        try zmqCall("zmq_disconnect(\(endpoint))") { zmq_disconnect(handle, endpoint) }
    }

    /// The endpoint last bound or connected, with wildcards resolved, such as
    /// `tcp://127.0.0.1:41234` after binding `tcp://127.0.0.1:*`.
    ///
    /// The corresponding option is `ZMQ_LAST_ENDPOINT`.
    public var lastEndpoint: String {
        get throws(ZMQError) {
            try stringOption(ZMQ_LAST_ENDPOINT, capacity: 1024)
        }
    }

    // MARK: Sending

    /// Sends one message of several frames, atomically: peers receive all frames or none.
    ///
    /// Only the first frame honours `dontWait`. libzmq counts its high-water mark in whole
    /// messages, so once the first frame is accepted the rest are accepted at once; sending them
    /// blocking guarantees we never leave a half-sent message in the socket.
    ///
    /// Each frame is copied once, into libzmq's message (the corresponding C function is
    /// `zmq_send`). An empty `frames` array sends nothing and returns `true`.
    ///
    /// - Parameters:
    ///   - frames: The frames, in order. Contiguous collections such as `[UInt8]`,
    ///     `ArraySlice<UInt8>` and `String.UTF8View` are sent without an intermediate copy.
    ///   - dontWait: Return `false` instead of blocking when the message cannot be queued now.
    /// - Returns: `false` if the message was not queued (`EAGAIN`: `dontWait`, `ZMQ_SNDTIMEO`
    ///   expired, or `ZMQ_XPUB_NODROP` at the high-water mark), `true` otherwise.
    /// - Throws: `ZMQError`, for example `ETERM` or `EFSM` (a REQ socket sending out of turn).
    @discardableResult
    public func send<Frame: Collection<UInt8>>(_ frames: [Frame], dontWait: Bool = false) throws(ZMQError) -> Bool {
        for index in frames.indices {
            let more = index != frames.index(before: frames.endIndex)
            let blocking = index != frames.startIndex
            if try !sendFrame(frames[index], more: more, dontWait: dontWait && !blocking) {
                return false
            }
        }
        return true
    }

    /// Sends one message of several frames from caller-owned memory, without copying into Swift
    /// arrays first: the fast path for a hot loop that encodes into reusable buffers.
    ///
    /// Same semantics as `send(_:dontWait:)`; libzmq copies each frame before this returns,
    /// so the buffers may be reused at once.
    ///
    /// - Returns: `false` on `EAGAIN` (nothing was queued), `true` otherwise.
    /// - Throws: `ZMQError`.
    @discardableResult
    public func send(rawFrames frames: UnsafeBufferPointer<UnsafeRawBufferPointer>, dontWait: Bool = false) throws(ZMQError) -> Bool {
        for index in frames.indices {
            let more = index != frames.count - 1
            let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait && index == 0 ? ZMQ_DONTWAIT : 0)
            if try !sendRaw(frames[index], flags: flags) {
                return false
            }
        }
        return true
    }

    /// Sends one frame, optionally as a non-final part of a multipart message.
    ///
    /// Prefer `send(_:dontWait:)` for whole messages: after a frame sent with `more: true` the
    /// caller must finish the message before anything else is sent on this socket.
    ///
    /// The corresponding C function is `zmq_send`.
    ///
    /// - Parameters:
    ///   - frame: The frame's bytes.
    ///   - more: Further frames of the same message follow (`ZMQ_SNDMORE`).
    ///   - dontWait: Return `false` instead of blocking (`ZMQ_DONTWAIT`).
    /// - Returns: `false` on `EAGAIN`, `true` when the frame was queued.
    /// - Throws: `ZMQError`.
    @discardableResult
    public func sendFrame(_ frame: some Collection<UInt8>, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        let sent: Result<Bool, ZMQError>? = frame.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ZMQError) -> Bool in try sendRaw(UnsafeRawBufferPointer(buffer), flags: flags) }
        }
        if let sent { return try sent.get() }
        // Not contiguous (for example a lazy collection): copy once into an array.
        return try Array(frame).withUnsafeBytes { buffer in
            Result { () throws(ZMQError) -> Bool in try sendRaw(buffer, flags: flags) }
        }.get()
    }

    private func sendRaw(_ buffer: UnsafeRawBufferPointer, flags: Int32) throws(ZMQError) -> Bool {
        try zmqNonBlockingCall("zmq_send(\(type))") {
            zmq_send(handle, buffer.baseAddress, buffer.count, flags)
        } != nil
    }

    // MARK: Receiving

    /// Receives one frame into a reusable message, replacing its previous content.
    ///
    /// The corresponding C function is `zmq_msg_recv`.
    ///
    /// - Parameters:
    ///   - message: The message to fill; check ``ZMQMessage/more`` for further frames.
    ///   - dontWait: Return `false` instead of blocking (`ZMQ_DONTWAIT`).
    /// - Returns: `false` when nothing arrived (`EAGAIN`: `dontWait` or `ZMQ_RCVTIMEO` expired).
    /// - Throws: `ZMQError`, for example `ETERM`.
    public func receive(into message: inout ZMQMessage, dontWait: Bool = false) throws(ZMQError) -> Bool {
        try receiveFrame(into: message.pointer, flags: dontWait ? ZMQ_DONTWAIT : 0)
    }

    /// Receives a whole multipart message into a reusable buffer of frames: the hot-path
    /// receive, which allocates nothing once the buffer has grown to the largest frame count
    /// seen (libzmq itself allocates only for frames longer than 33 bytes).
    ///
    /// libzmq delivers multipart messages atomically, so once the first frame has arrived the
    /// rest are already queued; only the first frame honours `dontWait`.
    ///
    /// - Parameters:
    ///   - message: The buffer to fill; its previous frames are released.
    ///   - dontWait: Return `false` instead of blocking (`ZMQ_DONTWAIT`).
    /// - Returns: `false` when nothing arrived (`EAGAIN`: `dontWait` or `ZMQ_RCVTIMEO` expired).
    /// - Throws: `ZMQError`, for example `ETERM`.
    public func receive(into message: inout ZMQMultipartMessage, dontWait: Bool = false) throws(ZMQError) -> Bool {
        message.removeAll()
        var flags = dontWait ? ZMQ_DONTWAIT : 0
        while true {
            let frame = message.appendSlot()
            guard try receiveFrame(into: frame, flags: flags) else {
                // Only possible for the first frame (or a receive timeout mid-message, which
                // libzmq's atomic delivery rules out): leave the buffer empty.
                message.removeAll()
                return false
            }
            if zmq_msg_more(frame) == 0 { return true }
            flags = 0
        }
    }

    /// Receives a whole multipart message as arrays of bytes: a convenience for tests and cold
    /// paths; hot loops should reuse a ``ZMQMultipartMessage`` instead.
    ///
    /// - Parameter dontWait: Return `nil` instead of blocking (`ZMQ_DONTWAIT`).
    /// - Returns: The frames, or `nil` when nothing arrived (`EAGAIN`: `dontWait` or
    ///   `ZMQ_RCVTIMEO` expired).
    /// - Throws: `ZMQError`.
    public func receiveMultipart(dontWait: Bool = false) throws(ZMQError) -> [[UInt8]]? {
        var message = ZMQMultipartMessage()
        guard try receive(into: &message, dontWait: dontWait) else { return nil }
        return message.frames
    }

    private func receiveFrame(into message: UnsafeMutablePointer<zmq_msg_t>, flags: Int32) throws(ZMQError) -> Bool {
        try zmqNonBlockingCall("zmq_msg_recv(\(type))") {
            zmq_msg_recv(message, handle, flags)
        } != nil
    }
}

@available(*, unavailable, message: "a libzmq socket must be used by one thread at a time; create it on the thread that uses it")
extension ZMQSocket: Sendable {}
