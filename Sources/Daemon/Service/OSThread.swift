import Glibc

/// A plain POSIX thread for the socket loops: blocking libzmq calls must never run on Swift's
/// cooperative thread pool.
public final class OSThread: Sendable {
    private final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    // SAFETY: written once in init before any other thread can see the object; read by join().
    nonisolated(unsafe) private var handle = pthread_t()

    /// Starts `body` on a new thread; `name` says what it is for in crash reports.
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(&handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    /// Waits for the thread to end.
    public func join() {
        pthread_join(handle, nil)
    }
}
