import Foundation
import Synchronization

/// A fresh directory for test files (and `ipc://` socket files), removed with everything in it
/// when released.
public final class TemporaryDirectory {
    /// The directory's path.
    public let path: String

    /// Why a directory could not be made.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init() throws {
        var template = Array((NSTemporaryDirectory() + "voronoid-tests-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "mkdtemp failed: errno \(errno)")
        }
        path = String(cString: made)
    }

    /// A path inside the directory (for a socket file or a file a test writes later).
    public func file(_ name: String) -> String { path + "/" + name }

    /// Writes `bytes` to a file in the directory and returns its path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }  // leftovers in /tmp are harmless
}

/// A value shared between a test and a thread it starts.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    public var value: Value { withLock { $0 } }
}

/// Runs `body` on a new OS thread (blocking libzmq calls must not occupy the test's executor
/// while another party is expected to make progress) and returns a semaphore signalled when
/// it ends.
@discardableResult
public func onThread(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.start()
    return done
}

/// Repeats `attempt` until it returns true or `timeout` passes; returns whether it succeeded.
/// For conditions that depend on a background handshake (slow joiner, reconnect).
public func eventually(timeout: Duration = .seconds(5), _ attempt: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try attempt() { return true }
    }
    return false
}
