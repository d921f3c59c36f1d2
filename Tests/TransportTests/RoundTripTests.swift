import CZeroMQ
import Testing
import TestSupport
@testable import Transport

@Suite("Round trips over real sockets")
struct RoundTripTests {
    @Test("PUSH/PULL carries binary multipart messages intact", arguments: TestTransport.allCases)
    func pushPullMultipart(transport: TestTransport) throws {
        let context = try ZMQContext()
        let directory = try TemporaryDirectory()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.setReceiveTimeout(milliseconds: 5_000)
        let endpoint = try bindFresh(pull, transport, name: "pushpull", directory: directory)
        let push = try ZMQSocket(context: context, type: .push)
        try push.setSendTimeout(milliseconds: 5_000)
        try push.connect(endpoint)

        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let frames: [[UInt8]] = [Array(0...255), [], big, [0, 0, 0xFF], [UInt8]("end")]
        #expect(try push.send(frames))

        // Capacity 2 < 5 frames: the reusable buffer must grow without losing frames.
        var message = ZMQMultipartMessage(capacity: 2)
        #expect(try pull.receive(into: &message))
        #expect(message.count == frames.count)
        #expect(message.frames == frames)
        #expect(message.count(ofFrame: 2) == big.count)
        let firstWord = message.withUnsafeBytes(ofFrame: 0) { $0.loadUnaligned(fromByteOffset: 1, as: UInt32.self) }
        #expect(firstWord == UInt32(littleEndian: 0x0403_0201))

        // Reuse the same buffer for a shorter message sent from raw buffers.
        let a: [UInt8] = [1, 2, 3]
        let b: [UInt8] = Array(repeating: 7, count: 1000)
        let sentRaw = try a.withUnsafeBytes { ra in
            try b.withUnsafeBytes { rb in
                try [ra, rb].withUnsafeBufferPointer { try push.send(rawFrames: $0) }
            }
        }
        #expect(sentRaw)
        #expect(try pull.receive(into: &message))
        #expect(message.frames == [a, b])

        // A single frame through ZMQMessage, and the convenience receive.
        #expect(try push.send([[UInt8]("one"), [UInt8]("two")]))
        var frame = ZMQMessage()
        #expect(try pull.receive(into: &frame))
        #expect(frame.bytes == [UInt8]("one"))
        let more = frame.more  // #expect cannot capture a ~Copyable value
        #expect(more)
        #expect(try pull.receive(into: &frame))
        #expect(frame.bytes == [UInt8]("two"))
        let last = !frame.more
        #expect(last)

        #expect(try push.send(["x".utf8, "yz".utf8]))
        #expect(try pull.receiveMultipart() == [[UInt8]("x"), [UInt8]("yz")])
    }

    @Test("REQ/REP round trip; REQ refuses to send twice")
    func requestReply() throws {
        let context = try ZMQContext()
        let rep = try ZMQSocket(context: context, type: .rep)
        try rep.setReceiveTimeout(milliseconds: 5_000)
        try rep.bind("inproc://reqrep")
        let req = try ZMQSocket(context: context, type: .req)
        try req.setReceiveTimeout(milliseconds: 5_000)
        try req.connect("inproc://reqrep")

        #expect(try req.send([[UInt8]("ping"), [UInt8]("1")]))
        let error = #expect(throws: ZMQError.self) { try req.send([[UInt8]("again")]) }
        #expect(error?.code == EFSM)
        #expect(try rep.receiveMultipart() == [[UInt8]("ping"), [UInt8]("1")])
        #expect(try rep.send([[UInt8]("pong")]))
        #expect(try req.receiveMultipart() == [[UInt8]("pong")])
    }

    @Test("DEALER routing id reaches the ROUTER as the first frame")
    func routingID() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, type: .router)
        try router.setReceiveTimeout(milliseconds: 5_000)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context: context, type: .dealer)
        try dealer.setRoutingID([UInt8]("worker-1"))
        try dealer.connect(try router.lastEndpoint)
        #expect(try dealer.send([[UInt8]("hi")]))
        #expect(try router.receiveMultipart() == [[UInt8]("worker-1"), [UInt8]("hi")])
    }

    @Test("tcp://127.0.0.1:* resolves to a concrete port")
    func lastEndpoint() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pull)
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = try socket.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let port = Int(endpoint.dropFirst("tcp://127.0.0.1:".count))
        #expect(port != nil && port! > 0)
        try socket.unbind(endpoint)
        #expect(throws: ZMQError.self) { try socket.unbind(endpoint) }
    }

    @Test("Linger is set explicitly at creation")
    func lingerDefault() throws {
        let context = try ZMQContext()
        // PUSH defaults to -1 in libzmq; the wrapper must have changed it.
        #expect(try ZMQSocket(context: context, type: .push).linger == 0)
        #expect(try ZMQSocket(context: context, type: .pub, linger: 250).linger == 250)
    }
}
