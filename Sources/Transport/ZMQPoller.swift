import CZeroMQ

/// The readiness conditions ``ZMQPoller`` can wait for and report.
public struct ZMQPollEvents: OptionSet, Hashable, Sendable {
    /// The `short` bit mask of `zmq_pollitem_t.events`.
    public var rawValue: Int16

    /// Wraps a `ZMQ_POLL*` bit mask.
    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    /// A message (or, for a file descriptor, data) can be read without blocking (`ZMQ_POLLIN`).
    public static let readable = Self(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without blocking (`ZMQ_POLLOUT`).
    public static let writable = Self(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a file descriptor (`ZMQ_POLLERR`); never set for sockets.
    public static let error = Self(rawValue: Int16(ZMQ_POLLERR))
}

/// Waits until any of several sockets and file descriptors is ready, over `zmq_poll`.
///
/// Register items once with ``add(_:events:)`` and ``add(fileDescriptor:events:)``, then call
/// ``poll(timeoutMilliseconds:)`` in a loop and test each item's index with ``isReadable(_:)``.
/// A poll allocates nothing. A raw file descriptor such as an ``EventFD`` lets another thread
/// wake the polling thread, for example when it has queued outbound messages.
///
/// The poller keeps its sockets alive; like them, it belongs to one thread.
public final class ZMQPoller {
    private var items: ContiguousArray<zmq_pollitem_t> = []
    // Strong references so a socket cannot be closed by deinit while its handle is polled.
    private var sockets: [ZMQSocket] = []
    private var eventFDs: [EventFD] = []

    /// Creates an empty poller.
    public init() {}

    /// The number of registered items.
    public var count: Int { items.count }

    /// Registers a socket.
    ///
    /// - Parameters:
    ///   - socket: The socket; the poller keeps a reference to it.
    ///   - events: The conditions to wait for.
    /// - Returns: The item's index, for ``events(at:)`` and ``isReadable(_:)``.
    @discardableResult
    public func add(_ socket: ZMQSocket, events: ZMQPollEvents = .readable) -> Int {
        sockets.append(socket)
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Registers a file descriptor (level-triggered, like `poll(2)`). The caller keeps it open
    /// while it is registered.
    ///
    /// - Returns: The item's index.
    @discardableResult
    public func add(fileDescriptor: Int32, events: ZMQPollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Registers an event file descriptor for reading; the poller keeps it open.
    ///
    /// - Returns: The item's index.
    @discardableResult
    public func add(_ eventFD: EventFD) -> Int {
        eventFDs.append(eventFD)
        return add(fileDescriptor: eventFD.fileDescriptor, events: .readable)
    }

    /// Waits until at least one item is ready or the timeout passes.
    ///
    /// A signal interrupting the wait restarts it with the full timeout. The corresponding C
    /// function is `zmq_poll`.
    ///
    /// - Parameter timeoutMilliseconds: The longest wait; `0` returns at once, `-1` waits
    ///   without limit.
    /// - Returns: The number of ready items (0 on timeout).
    /// - Throws: `ZMQError`, for example `ETERM` once the context is shut down, or `ENOTSOCK`
    ///   if a registered socket was closed.
    @discardableResult
    public func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        let count = Int32(items.count)
        let ready = try items.withUnsafeMutableBufferPointer { buffer throws(ZMQError) -> Int32 in
            try zmqCall("zmq_poll") { zmq_poll(buffer.baseAddress, count, timeoutMilliseconds) }
        }
        return Int(ready)
    }

    /// The conditions found at the last poll for the item at `index`.
    public func events(at index: Int) -> ZMQPollEvents {
        ZMQPollEvents(rawValue: items[index].revents)
    }

    /// Whether the item at `index` was readable at the last poll.
    public func isReadable(_ index: Int) -> Bool {
        events(at: index).contains(.readable)
    }

    /// Whether the item at `index` was writable at the last poll.
    public func isWritable(_ index: Int) -> Bool {
        events(at: index).contains(.writable)
    }
}

@available(*, unavailable, message: "a poller and its sockets belong to one thread")
extension ZMQPoller: Sendable {}
