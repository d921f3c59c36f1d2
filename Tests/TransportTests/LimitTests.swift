import Testing
import TestSupport
@testable import Transport

@Suite("Limits")
struct LimitTests {
    @Test("ZMQ_MAXMSGSIZE drops an oversize frame; the peer reconnects by itself")
    func maxMessageSize() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.setMaxMessageSize(1_000)
        try pull.bind("tcp://127.0.0.1:*")
        let push = try ZMQSocket(context: context, type: .push)
        try push.setSendTimeout(milliseconds: 2_000)
        try push.connect(try pull.lastEndpoint)

        try pull.setReceiveTimeout(milliseconds: 5_000)
        #expect(try push.send([[UInt8]("small"), Array(repeating: 1, count: 1_000)]))
        #expect(try pull.receiveMultipart() == [[UInt8]("small"), Array(repeating: 1, count: 1_000)])

        let oversize = [UInt8](repeating: 2, count: 1_001)
        #expect(try push.send([oversize]))
        try pull.setReceiveTimeout(milliseconds: 500)
        var received: [[UInt8]] = []
        while let frames = try pull.receiveMultipart() {
            received.append(contentsOf: frames)
        }
        let oversizeArrived = received.contains { $0.count > 1_000 }
        #expect(!oversizeArrived, "a frame above ZMQ_MAXMSGSIZE was delivered")

        // The connection comes back: a normal message gets through again.
        try pull.setReceiveTimeout(milliseconds: 100)
        let recovered = try eventually {
            _ = try push.send([[UInt8]("again")], dontWait: true)
            return try pull.receiveMultipart() == [[UInt8]("again")]
        }
        #expect(recovered)
    }
}
