import Foundation
import Synchronization
import Testing
@testable import Transport
import TestSupport

/// The transports every round-trip test runs over.
enum TestTransport: String, CaseIterable, CustomTestStringConvertible {
    case inproc, ipc, tcp
    var testDescription: String { rawValue }
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

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}
