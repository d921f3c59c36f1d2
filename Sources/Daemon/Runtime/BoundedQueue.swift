import Glibc
import Synchronization
import Transport

/// A bounded hand-off between two threads, with an eventfd that becomes readable when items are
/// waiting, so the consumer can sleep in `zmq_poll` next to its sockets.
///
/// The policy when full belongs to the producer: ``tryPush(_:)`` refuses (drop and count), and
/// ``push(_:until:)`` waits for room (backpressure).
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct Ring {
        var items: [Element?]
        var head = 0
        var count = 0
    }

    let capacity: Int
    private let ring: Mutex<Ring>
    /// Readable while the queue may hold items.
    let ready: EventFD
    /// Signalled whenever an item is taken, for producers waiting for room.
    let room: EventFD

    init(capacity: Int) throws(ZMQError) {
        precondition(capacity >= 1, "BoundedQueue capacity must be at least 1")
        self.capacity = capacity
        ring = Mutex(Ring(items: Array(repeating: nil, count: capacity)))
        ready = try EventFD()
        room = try EventFD()
    }

    /// Appends unless full; returns whether it did.
    func tryPush(_ element: sending Element) -> Bool {
        var element: Element? = element
        let pushed = ring.withLock { r -> Bool in
            guard r.count < capacity else { return false }
            r.items[(r.head + r.count) % capacity] = element.take()
            r.count += 1
            return true
        }
        // An eventfd signal fails only if its counter would overflow, and then it is readable anyway.
        if pushed { try? ready.signal() }
        return pushed
    }

    /// Appends, waiting for room while `keepWaiting()` holds; returns whether it did.
    func push(_ element: Element, until keepWaiting: () -> Bool) -> Bool {
        while true {
            if tryPush(element) { return true }
            guard keepWaiting() else { return false }
            waitForRoom(milliseconds: 50)
        }
    }

    /// Takes the oldest item, if any.
    func pop() -> Element? {
        let element = ring.withLock { r -> Element? in
            guard r.count > 0 else { return nil }
            let e = r.items[r.head].take()
            r.head = (r.head + 1) % capacity
            r.count -= 1
            return e
        }
        if element != nil { try? room.signal() }  // as in tryPush
        return element
    }

    /// Items waiting.
    var count: Int { ring.withLock { $0.count } }

    /// Clears the ready signal; call before draining with ``pop()`` so a push during the drain
    /// leaves it set.
    func acknowledge() { _ = try? ready.drain() }  // EAGAIN (nothing to drain) is the only failure

    private func waitForRoom(milliseconds: Int32) {
        var fd = pollfd(fd: room.fileDescriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, milliseconds)
        _ = try? room.drain()  // EAGAIN (nothing to drain) is the only failure
    }
}

