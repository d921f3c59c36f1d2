import Foundation
import Synchronization
import Testing
@testable import Transport

/// The transports every round-trip test runs over.
enum TestTransport: String, CaseIterable, CustomTestStringConvertible {
    case inproc, ipc, tcp
    var testDescription: String { rawValue }
}

/// A fresh directory for `ipc://` socket files, removed with its files on release.
final class TemporaryDirectory {
    let path: String
    private var files: [String] = []

    init() throws {
        var template = Array("/tmp/transport-tests-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        try #require(made, "mkdtemp failed: errno \(errno)")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A path inside the directory, deleted on release (libzmq leaves ipc files behind).
    func file(_ name: String) -> String {
        let file = path + "/" + name
        files.append(file)
        return file
    }

    deinit {
        for file in files { unlink(file) }
        rmdir(path)
    }
}

/// Binds `socket` on a fresh endpoint of `transport` and returns the endpoint to connect to.
func bindFresh(_ socket: ZMQSocket, _ transport: TestTransport, name: String, directory: TemporaryDirectory) throws -> String {
    switch transport {
    case .inproc:
        try socket.bind("inproc://\(name)")
        return "inproc://\(name)"
    case .ipc:
        try socket.bind("ipc://" + directory.file(name))
        return try socket.lastEndpoint
    case .tcp:
        try socket.bind("tcp://127.0.0.1:*")
        return try socket.lastEndpoint
    }
}

/// Repeats `attempt` until it returns true or `timeout` passes; returns whether it succeeded.
/// For conditions that depend on a background handshake (slow joiner, reconnect).
func eventually(timeout: Duration = .seconds(5), _ attempt: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try attempt() { return true }
    }
    return false
}

/// Runs `body` on a new OS thread (blocking libzmq calls must not occupy the test's executor
/// while another thread is expected to make progress).
func onThread(_ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.start()
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}

/// A value shared between a test and a thread it starts.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
