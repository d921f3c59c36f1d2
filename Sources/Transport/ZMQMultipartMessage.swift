import CZeroMQ

/// A whole received message (all its frames), reusable across receives so that a hot receive
/// loop allocates nothing in steady state.
///
/// Fill it with `ZMQSocket.receive(into:dontWait:)`. It keeps one
/// `zmq_msg_t` per frame slot and grows (doubling) only when a message has more frames than any
/// before it. `~Copyable` for the same reason as ``ZMQMessage``: a copied `zmq_msg_t` would be
/// closed twice.
public struct ZMQMultipartMessage: ~Copyable {
    /// `capacity` slots, each always an initialised `zmq_msg_t` (empty when unused), so that
    /// `zmq_msg_recv` can replace them and `deinit` can close them all.
    private var slots: UnsafeMutablePointer<zmq_msg_t>
    private var capacity: Int

    /// The number of frames received.
    public private(set) var count: Int

    /// Creates an empty buffer with room for `capacity` frames before it must grow.
    ///
    /// - Parameter capacity: The expected largest frame count; at least 1.
    public init(capacity: Int = 4) {
        precondition(capacity >= 1, "ZMQMultipartMessage capacity must be ≥ 1, got \(capacity)")
        self.capacity = capacity
        self.count = 0
        slots = .allocate(capacity: capacity)
        for index in 0..<capacity { zmq_msg_init(slots + index) }
    }

    deinit {
        for index in 0..<capacity { zmq_msg_close(slots + index) }
        slots.deallocate()
    }

    /// Whether no frame has been received.
    public var isEmpty: Bool { count == 0 }

    /// The frame at `index`'s length in bytes.
    public func count(ofFrame index: Int) -> Int {
        zmq_msg_size(slot(index))
    }

    /// The bytes of all its frames.
    public var totalBytes: Int {
        var total = 0
        for index in 0..<count { total += zmq_msg_size(slot(index)) }
        return total
    }

    /// Calls `body` with the bytes of the frame at `index`, without copying them.
    ///
    /// The buffer is valid only during `body`. Frames carry no alignment guarantee: load
    /// multi-byte values with `loadUnaligned`.
    public func withUnsafeBytes<Result, Failure: Error>(
        ofFrame index: Int,
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(frameBytes(slot(index)))
    }

    /// Calls `body` with views of every frame, without copying them or allocating on the heap.
    ///
    /// The views are valid only during `body`; this is the shape decoders take.
    public func withUnsafeFrames<Result, Failure: Error>(
        _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let n = count
        let outcome: Swift.Result<Result, Failure> = withUnsafeTemporaryAllocation(
            of: UnsafeRawBufferPointer.self, capacity: max(n, 1)
        ) { views in
            for index in 0..<n { views.initializeElement(at: index, to: frameBytes(slots + index)) }
            do throws(Failure) {
                return .success(try body(UnsafeBufferPointer(rebasing: views[0..<n])))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// A copy of the frame at `index`.
    public func bytes(ofFrame index: Int) -> [UInt8] {
        Array(frameBytes(slot(index)))
    }

    /// Copies of all frames, in order.
    public var frames: [[UInt8]] {
        (0..<count).map { bytes(ofFrame: $0) }
    }

    /// A metadata property of the connection the message arrived on, such as `"User-Id"`;
    /// `nil` if unset. The corresponding C function is `zmq_msg_gets`.
    public func gets(_ property: String, frame index: Int = 0) -> String? {
        frameProperty(slot(index), property)
    }

    /// The user id a ZAP handler assigned to the sender, or `nil` without ZAP.
    public var userID: String? {
        isEmpty ? nil : gets("User-Id")
    }

    private func slot(_ index: Int) -> UnsafeMutablePointer<zmq_msg_t> {
        precondition(index >= 0 && index < count, "frame index \(index) out of range 0..<\(count)")
        return slots + index
    }

    // MARK: Filling (for ZMQSocket)

    /// Forgets the frames. Their content is released by the next receive into each slot (or by
    /// `deinit`), which spares a close/init pair per frame.
    mutating func removeAll() {
        count = 0
    }

    /// Makes room for one more frame and returns its slot for `zmq_msg_recv`.
    mutating func appendSlot() -> UnsafeMutablePointer<zmq_msg_t> {
        if count == capacity { grow() }
        count += 1
        return slots + (count - 1)
    }

    private mutating func grow() {
        let newCapacity = capacity * 2
        let newSlots = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: newCapacity)
        for index in 0..<newCapacity { zmq_msg_init(newSlots + index) }
        // zmq_msg_move is libzmq's way to relocate a message without touching its reference
        // count; it leaves the source empty, so closing it afterwards releases nothing.
        for index in 0..<capacity {
            zmq_msg_move(newSlots + index, slots + index)
            zmq_msg_close(slots + index)
        }
        slots.deallocate()
        slots = newSlots
        capacity = newCapacity
    }
}

@available(*, unavailable, message: "receive into a message on the thread that owns it")
extension ZMQMultipartMessage: Sendable {}
