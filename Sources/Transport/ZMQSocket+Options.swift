import CZeroMQ

// Socket options. Setters are throwing methods rather than properties because Swift property
// setters cannot throw, and libzmq rejects some values (EINVAL) or some options on some socket
// types.

extension ZMQSocket {
    // MARK: Generic options

    /// Sets an `int` option, such as `ZMQ_SNDHWM`.
    ///
    /// The corresponding C function is `zmq_setsockopt`.
    ///
    /// - Throws: `ZMQError` (`EINVAL` for an unknown option or a bad value).
    public func setOption(_ option: Int32, int value: Int32) throws(ZMQError) {
        var value = value
        try zmqCall("zmq_setsockopt(\(option), \(value))") {
            zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size)
        }
    }

    /// Sets an `int64_t` option, such as `ZMQ_MAXMSGSIZE`.
    ///
    /// - Throws: `ZMQError`.
    public func setOption(_ option: Int32, int64 value: Int64) throws(ZMQError) {
        var value = value
        try zmqCall("zmq_setsockopt(\(option), \(value))") {
            zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size)
        }
    }

    /// Sets a binary option, such as `ZMQ_SUBSCRIBE` or `ZMQ_CURVE_SECRETKEY`.
    ///
    /// - Throws: `ZMQError`.
    public func setOption(_ option: Int32, bytes: some Collection<UInt8>) throws(ZMQError) {
        // Array.withUnsafeBytes is untyped-rethrows: carry the typed error out as a Result.
        _ = try Array(bytes).withUnsafeBytes { buffer in
            Result { () throws(ZMQError) in
                try zmqCall("zmq_setsockopt(\(option), \(buffer.count) bytes)") {
                    zmq_setsockopt(handle, option, buffer.baseAddress, buffer.count)
                }
            }
        }.get()
    }

    /// Reads an `int` option, such as `ZMQ_LINGER` or `ZMQ_RCVMORE`.
    ///
    /// The corresponding C function is `zmq_getsockopt`.
    ///
    /// - Throws: `ZMQError`.
    public func intOption(_ option: Int32) throws(ZMQError) -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try zmqCall("zmq_getsockopt(\(option))") { zmq_getsockopt(handle, option, &value, &size) }
        return value
    }

    /// Reads an `int64_t` option, such as `ZMQ_MAXMSGSIZE`.
    ///
    /// - Throws: `ZMQError`.
    public func int64Option(_ option: Int32) throws(ZMQError) -> Int64 {
        var value: Int64 = 0
        var size = MemoryLayout<Int64>.size
        try zmqCall("zmq_getsockopt(\(option))") { zmq_getsockopt(handle, option, &value, &size) }
        return value
    }

    /// Reads a binary option, such as `ZMQ_ROUTING_ID`.
    ///
    /// - Parameters:
    ///   - option: The option.
    ///   - capacity: The largest value expected; libzmq fails with `EINVAL` if it is too small.
    /// - Throws: `ZMQError`.
    public func bytesOption(_ option: Int32, capacity: Int = 256) throws(ZMQError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: capacity)
        var size = capacity
        _ = try result.withUnsafeMutableBytes { buffer in
            Result { () throws(ZMQError) in
                try zmqCall("zmq_getsockopt(\(option))") {
                    zmq_getsockopt(handle, option, buffer.baseAddress, &size)
                }
            }
        }.get()
        result.removeLast(capacity - size)
        return result
    }

    /// Reads a NUL-terminated string option, such as `ZMQ_LAST_ENDPOINT`.
    func stringOption(_ option: Int32, capacity: Int) throws(ZMQError) -> String {
        var bytes = try bytesOption(option, capacity: capacity)
        if let end = bytes.firstIndex(of: 0) { bytes.removeSubrange(end...) }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Queues and limits

    /// Sets how long unsent messages are kept after close (`ZMQ_LINGER`), in milliseconds:
    /// `0` discards them, `-1` waits forever (and can make context termination hang).
    ///
    /// - Throws: `ZMQError`.
    public func setLinger(milliseconds: Int32) throws(ZMQError) {
        try setOption(ZMQ_LINGER, int: milliseconds)
    }

    /// The linger period in milliseconds (`ZMQ_LINGER`).
    public var linger: Int32 {
        get throws(ZMQError) { try intOption(ZMQ_LINGER) }
    }

    /// Sets the outbound high-water mark in messages (`ZMQ_SNDHWM`; 0 means unlimited). Applies
    /// to connections made after the call, so set it before bind/connect.
    ///
    /// - Throws: `ZMQError`.
    public func setSendHighWaterMark(_ messages: Int32) throws(ZMQError) {
        try setOption(ZMQ_SNDHWM, int: messages)
    }

    /// Sets the inbound high-water mark in messages (`ZMQ_RCVHWM`; 0 means unlimited). Applies
    /// to connections made after the call, so set it before bind/connect.
    ///
    /// - Throws: `ZMQError`.
    public func setReceiveHighWaterMark(_ messages: Int32) throws(ZMQError) {
        try setOption(ZMQ_RCVHWM, int: messages)
    }

    /// Sets the largest inbound frame in bytes (`ZMQ_MAXMSGSIZE`; -1 means unlimited).
    ///
    /// The limit is per frame, not per message. A peer that sends a larger frame loses that
    /// message and is disconnected (it reconnects by itself). It has no effect on `inproc://`,
    /// where frames are never decoded.
    ///
    /// - Throws: `ZMQError`.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) {
        try setOption(ZMQ_MAXMSGSIZE, int64: bytes)
    }

    /// Sets how long a blocking receive waits before returning "nothing" (`ZMQ_RCVTIMEO`), in
    /// milliseconds; `-1` waits forever.
    ///
    /// - Throws: `ZMQError`.
    public func setReceiveTimeout(milliseconds: Int32) throws(ZMQError) {
        try setOption(ZMQ_RCVTIMEO, int: milliseconds)
    }

    /// Sets how long a blocking send waits before returning `false` (`ZMQ_SNDTIMEO`), in
    /// milliseconds; `-1` waits forever.
    ///
    /// - Throws: `ZMQError`.
    public func setSendTimeout(milliseconds: Int32) throws(ZMQError) {
        try setOption(ZMQ_SNDTIMEO, int: milliseconds)
    }

    /// Queues messages only to completed connections (`ZMQ_IMMEDIATE`), so a send to a peer
    /// that is not (yet) there blocks or fails instead of filling a queue for it.
    ///
    /// - Throws: `ZMQError`.
    public func setImmediate(_ on: Bool) throws(ZMQError) {
        try setOption(ZMQ_IMMEDIATE, int: on ? 1 : 0)
    }

    /// Sets the identity a ROUTER peer sees for this socket (`ZMQ_ROUTING_ID`): 1 to 255 bytes,
    /// not starting with a zero byte. Set it before connecting.
    ///
    /// - Throws: `ZMQError` (`EINVAL` for an empty or over-long id).
    public func setRoutingID(_ id: some Collection<UInt8>) throws(ZMQError) {
        try setOption(ZMQ_ROUTING_ID, bytes: id)
    }

    // MARK: Publish/subscribe

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix`
    /// (`ZMQ_SUBSCRIBE`). The match is a byte prefix: `assign` also matches `assignments`.
    /// An empty prefix subscribes to everything.
    ///
    /// - Throws: `ZMQError` (`EINVAL` on a socket type that does not subscribe).
    public func subscribe(_ prefix: some Collection<UInt8>) throws(ZMQError) {
        try setOption(ZMQ_SUBSCRIBE, bytes: prefix)
    }

    /// Subscribes to messages whose first frame starts with the UTF-8 bytes of `prefix`.
    ///
    /// - Throws: `ZMQError`.
    public func subscribe(_ prefix: String) throws(ZMQError) {
        try subscribe(prefix.utf8)
    }

    /// Removes one earlier subscription to `prefix` (`ZMQ_UNSUBSCRIBE`).
    ///
    /// - Throws: `ZMQError`.
    public func unsubscribe(_ prefix: some Collection<UInt8>) throws(ZMQError) {
        try setOption(ZMQ_UNSUBSCRIBE, bytes: prefix)
    }

    /// Removes one earlier subscription to the UTF-8 bytes of `prefix`.
    ///
    /// - Throws: `ZMQError`.
    public func unsubscribe(_ prefix: String) throws(ZMQError) {
        try unsubscribe(prefix.utf8)
    }

    /// Makes an XPUB socket report every subscription as a `\x01topic` message, not just the
    /// first one per topic (`ZMQ_XPUB_VERBOSE`): the hook for sending the latest value to a late
    /// joiner.
    ///
    /// - Throws: `ZMQError`.
    public func setXPubVerbose(_ on: Bool) throws(ZMQError) {
        try setOption(ZMQ_XPUB_VERBOSE, int: on ? 1 : 0)
    }

    /// Makes an XPUB socket at a subscriber's high-water mark fail with `EAGAIN` instead of
    /// silently dropping (`ZMQ_XPUB_NODROP`); with `dontWait`, ``send(_:dontWait:)`` then returns
    /// `false`, so drops can be counted.
    ///
    /// - Throws: `ZMQError`.
    public func setXPubNoDrop(_ on: Bool) throws(ZMQError) {
        try setOption(ZMQ_XPUB_NODROP, int: on ? 1 : 0)
    }

    // MARK: CURVE security

    /// Makes this socket the CURVE server side (`ZMQ_CURVE_SERVER`); it also needs its secret
    /// key (``setCurveSecretKey(_:)``). Set before bind.
    ///
    /// - Throws: `ZMQError` (`EINVAL` if libzmq lacks CURVE; see ``ZMQ/has(_:)``).
    public func setCurveServer(_ on: Bool) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVER, int: on ? 1 : 0)
    }

    /// Sets this socket's long-term public key (`ZMQ_CURVE_PUBLICKEY`), 32 bytes.
    ///
    /// - Throws: `ZMQError` (`EINVAL` for a key of the wrong length).
    public func setCurvePublicKey(_ key: some Collection<UInt8>) throws(ZMQError) {
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: key)
    }

    /// Sets this socket's long-term public key from its 40-character Z85 text.
    ///
    /// - Throws: `ZMQError` (`EINVAL` for text of the wrong length).
    public func setCurvePublicKey(z85 key: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: key.utf8)
    }

    /// Sets this socket's long-term secret key (`ZMQ_CURVE_SECRETKEY`), 32 bytes.
    ///
    /// - Throws: `ZMQError`.
    public func setCurveSecretKey(_ key: some Collection<UInt8>) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: key)
    }

    /// Sets this socket's long-term secret key from its 40-character Z85 text.
    ///
    /// - Throws: `ZMQError`.
    public func setCurveSecretKey(z85 key: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: key.utf8)
    }

    /// Sets the public key of the server a CURVE client connects to (`ZMQ_CURVE_SERVERKEY`),
    /// 32 bytes; setting it makes this socket a CURVE client. Set before connect.
    ///
    /// - Throws: `ZMQError`.
    public func setCurveServerKey(_ key: some Collection<UInt8>) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: key)
    }

    /// Sets the server's public key from its 40-character Z85 text.
    ///
    /// - Throws: `ZMQError`.
    public func setCurveServerKey(z85 key: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: key.utf8)
    }

    /// Sets the ZAP domain sent to the authentication handler (`ZMQ_ZAP_DOMAIN`).
    ///
    /// - Throws: `ZMQError`.
    public func setZAPDomain(_ domain: String) throws(ZMQError) {
        try setOption(ZMQ_ZAP_DOMAIN, bytes: domain.utf8)
    }

    /// Configures this socket as a CURVE server with `keyPair`. Call before ``bind(_:)``.
    ///
    /// - Throws: `ZMQError`.
    public func configureCurveServer(keyPair: CurveKeyPair) throws(ZMQError) {
        try setCurveServer(true)
        try setCurveSecretKey(keyPair.secretKey)
    }

    /// Configures this socket as a CURVE client with its own `keyPair` that trusts the server
    /// whose public key is `serverPublicKey` (32 bytes). Call before ``connect(_:)``.
    ///
    /// - Throws: `ZMQError`.
    public func configureCurveClient(keyPair: CurveKeyPair, serverPublicKey: [UInt8]) throws(ZMQError) {
        try setCurvePublicKey(keyPair.publicKey)
        try setCurveSecretKey(keyPair.secretKey)
        try setCurveServerKey(serverPublicKey)
    }
}
