import Foundation
import Synchronization
import Testing
import Transport

/// A fresh directory for test files, removed with its contents on release.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "clients-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `bytes` to a file in the directory and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A value shared between a test and a thread it starts.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { withLock { $0 } }
}

/// Runs `body` on a new OS thread (blocking libzmq calls must not run on the test's
/// cooperative executor while another party is expected to make progress) and returns a
/// semaphore signalled when it ends.
@discardableResult
func onThread(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.start()
    return done
}

/// Repeats `attempt` until it returns true or `timeout` passes; returns whether it succeeded.
func eventually(timeout: Duration = .seconds(5), _ attempt: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try attempt() { return true }
    }
    return false
}

/// Little-endian bytes of float32 values.
func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// Little-endian bytes of float64 values.
func littleEndianBytes(_ values: [Double]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// A `.npy` file built by hand: magic, version, header length, the padded header dictionary
/// (total header a multiple of 64 bytes, ending in a line feed, as NumPy writes it), payload.
func npyFile(major: UInt8 = 1, descr: String, fortran: Bool = false, shape: String, payload: [UInt8]) -> [UInt8] {
    let fixed = major == 1 ? 10 : 12
    var dictionary = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
    let unpadded = fixed + dictionary.utf8.count + 1
    dictionary += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    let length = dictionary.utf8.count
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
    if major == 1 {
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
    } else {
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
    }
    return bytes + Array(dictionary.utf8) + payload
}
