import CZeroMQ
import Foundation
import Testing
import TestSupport
@testable import Transport

@Suite("Errors")
struct ErrorTests {
    @Test("Binding a malformed endpoint throws with libzmq's code", arguments: [
        ("bogus://x", EPROTONOSUPPORT),
        ("tcp://127.0.0.1:notaport", EINVAL),
    ])
    func badEndpoint(endpoint: String, code: Int32) throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pull)
        let error = #expect(throws: ZMQError.self) { try socket.bind(endpoint) }
        #expect(error?.code == code)
        #expect(error?.description.contains(endpoint) == true)
        #expect(error?.isETERM == false)
    }

    @Test("Binding a TCP port twice throws EADDRINUSE")
    func addressInUse() throws {
        let context = try ZMQContext()
        let first = try ZMQSocket(context: context, type: .pull)
        try first.bind("tcp://127.0.0.1:*")
        let second = try ZMQSocket(context: context, type: .pull)
        let error = #expect(throws: ZMQError.self) { try second.bind(try first.lastEndpoint) }
        #expect(error?.code == EADDRINUSE)
        #expect(error?.reason == "Address already in use")
    }

    @Test("ZMQError.eterm is libzmq's ETERM")
    func etermConstant() {
        #expect(ZMQError.eterm == ETERM)
        #expect(ZMQError(operation: "x", code: ETERM).isETERM)
        #expect(ZMQError(operation: "x", code: EAGAIN).isEAGAIN)
    }

    @Test("Context shutdown makes a receive blocked in another thread throw ETERM")
    func shutdownUnblocksReceive() throws {
        let context = try ZMQContext()
        let ready = try EventFD()
        let finished = try EventFD()
        let outcome = Locked<Result<[[UInt8]]?, ZMQError>?>(nil)

        onThread {
            let result = Result { () throws(ZMQError) -> [[UInt8]]? in
                let pull = try ZMQSocket(context: context, type: .pull)
                // Bound in time: if shutdown did not interrupt it, this returns nil, not ETERM.
                try pull.setReceiveTimeout(milliseconds: 10_000)
                try pull.bind("inproc://blocked")
                try ready.signal()
                return try pull.receiveMultipart()
            }
            outcome.withLock { $0 = result }
            try? finished.signal()
        }

        let readyPoller = ZMQPoller()
        readyPoller.add(ready)
        #expect(try readyPoller.poll(timeoutMilliseconds: 10_000) == 1)
        // Give the thread time to enter zmq_msg_recv; ETERM is expected either way.
        Thread.sleep(forTimeInterval: 0.1)
        let start = ContinuousClock.now
        context.shutdown()

        let finishedPoller = ZMQPoller()
        finishedPoller.add(finished)
        #expect(try finishedPoller.poll(timeoutMilliseconds: 15_000) == 1)
        #expect(ContinuousClock.now - start < .seconds(5))
        let result = try #require(outcome.withLock { $0 })
        #expect(throws: ZMQError.self) { _ = try result.get() }
        if case .failure(let error) = result {
            #expect(error.isETERM, "got \(error)")
        }
        // New sockets on a shut-down context fail with ETERM too.
        let late = #expect(throws: ZMQError.self) { _ = try ZMQSocket(context: context, type: .pull) }
        #expect(late?.isETERM == true)
    }

    @Test("Library facts: version and capabilities")
    func libraryFacts() {
        #expect(ZMQ.version >= ZMQ.Version(major: 4, minor: 3, patch: 0))
        #expect(ZMQ.has("curve"))
        #expect(ZMQ.has("ipc"))
        #expect(!ZMQ.has("no-such-capability"))
    }
}

@Test("A rejected context option throws and the half-made context is cleaned up once")
func badContextOption() {
    let error = #expect(throws: ZMQError.self) { _ = try ZMQContext(ioThreads: -1) }
    #expect(error?.code == EINVAL)
}
