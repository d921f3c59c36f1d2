import Glibc
import Testing
@testable import Transport

@Suite("Z85 and CURVE")
struct SecurityTests {
    @Test("Z85 matches the RFC 32 test vector and round-trips")
    func z85() throws {
        let vector: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(try Z85.encode(vector) == "HelloWorld")
        #expect(try Z85.decode("HelloWorld") == vector)
        let bytes = (0..<64).map { UInt8($0 * 4 + 1) }
        #expect(try Z85.decode(Z85.encode(bytes)) == bytes)
        #expect(try Z85.encode([]) == "")

        #expect(throws: ZMQError.self) { try Z85.encode([1, 2, 3]) }
        #expect(try Z85.decode("Hello").count == 4)
        #expect(throws: ZMQError.self) { try Z85.decode("Hell\u{7F}") }
        let bad = #expect(throws: ZMQError.self) { try Z85.decode("Hell") }
        #expect(bad?.code == EINVAL)
    }

    @Test("Key pairs: generated keys are 32 bytes and the public key derives from the secret")
    func keyPairs() throws {
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.count == 32)
        #expect(pair.secretKey.count == 32)
        #expect(pair.z85PublicKey.utf8.count == 40)
        #expect(try CurveKeyPair(secretKey: pair.secretKey) == pair)
        #expect(try CurveKeyPair(z85SecretKey: pair.z85SecretKey) == pair)
        #expect(try CurveKeyPair.generate() != pair)
        #expect(!pair.description.contains(pair.z85SecretKey))
        #expect(throws: ZMQError.self) { try CurveKeyPair(secretKey: [1, 2, 3]) }
    }

    /// Binds a CURVE server PULL and connects a CURVE client PUSH trusting `trustedServerKey`.
    private func curvePair(
        _ context: ZMQContext, server: CurveKeyPair, client: CurveKeyPair, trustedServerKey: [UInt8],
        beforeBind: (ZMQSocket) throws -> Void = { _ in }
    ) throws -> (pull: ZMQSocket, push: ZMQSocket) {
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.configureCurveServer(keyPair: server)
        try beforeBind(pull)
        try pull.bind("tcp://127.0.0.1:*")
        let push = try ZMQSocket(context: context, type: .push)
        try push.configureCurveClient(keyPair: client, serverPublicKey: trustedServerKey)
        try push.connect(try pull.lastEndpoint)
        return (pull, push)
    }

    @Test("CURVE handshake succeeds with the right server key and fails with a wrong one", arguments: [true, false])
    func curveHandshake(rightKey: Bool) throws {
        let context = try ZMQContext()
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let trusted = rightKey ? server.publicKey : try CurveKeyPair.generate().publicKey
        let (pull, push) = try curvePair(context, server: server, client: client, trustedServerKey: trusted)
        try pull.setReceiveTimeout(milliseconds: rightKey ? 5_000 : 500)
        #expect(try push.send([[UInt8]("secret"), [0, 1, 2]]))
        let received = try pull.receiveMultipart()
        #expect(received == (rightKey ? [[UInt8]("secret"), [0, 1, 2]] : nil))
    }

    @Test("Typed Z85 key setters configure CURVE too")
    func curveZ85Setters() throws {
        let context = try ZMQContext()
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let rep = try ZMQSocket(context: context, type: .rep)
        try rep.setCurveServer(true)
        try rep.setCurveSecretKey(z85: server.z85SecretKey)
        try rep.setReceiveTimeout(milliseconds: 5_000)
        try rep.bind("tcp://127.0.0.1:*")
        let req = try ZMQSocket(context: context, type: .req)
        try req.setCurvePublicKey(z85: client.z85PublicKey)
        try req.setCurveSecretKey(z85: client.z85SecretKey)
        try req.setCurveServerKey(z85: server.z85PublicKey)
        try req.setReceiveTimeout(milliseconds: 5_000)
        try req.connect(try rep.lastEndpoint)
        #expect(try req.send([[UInt8]("hello")]))
        #expect(try rep.receiveMultipart() == [[UInt8]("hello")])
        #expect(try rep.send([[UInt8]("world")]))
        #expect(try req.receiveMultipart() == [[UInt8]("world")])
        #expect(throws: ZMQError.self) { try req.setCurveServerKey(z85: "too short") }
    }

    @Test("A ZAP handler allow-lists client keys and its user id reaches each message", arguments: [true, false])
    func zapAuthentication(allowed: Bool) throws {
        let context = try ZMQContext()
        // The handler must be bound before the CURVE server socket.
        let zap = try ZMQSocket(context: context, type: .rep)
        try zap.bind("inproc://zeromq.zap.01")
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let (pull, push) = try curvePair(context, server: server, client: client, trustedServerKey: server.publicKey) {
            try $0.setZAPDomain("voronoid")
        }
        #expect(try push.send([[UInt8]("hello")]))

        let poller = ZMQPoller()
        let zapIndex = poller.add(zap)
        let pullIndex = poller.add(pull)
        var message = ZMQMultipartMessage()
        var requests = 0
        var delivered = false
        // A denied message never arrives, so its wait ends a while after the denial was sent;
        // the long limit only bounds a ZAP request that is slow to come on a loaded machine.
        var deadline = ContinuousClock.now + .seconds(10)
        while !delivered, ContinuousClock.now < deadline {
            try poller.poll(timeoutMilliseconds: 50)
            if poller.isReadable(zapIndex), let request = try zap.receiveMultipart(dontWait: true) {
                requests += 1
                // version, request id, domain, address, routing id, mechanism, client key
                #expect(request.count == 7)
                #expect(request[0] == [UInt8]("1.0"))
                #expect(request[2] == [UInt8]("voronoid"))
                #expect(request[5] == [UInt8]("CURVE"))
                #expect(request[6] == client.publicKey)
                let status = allowed && request[6] == client.publicKey ? "200" : "400"
                try zap.send([[UInt8]("1.0"), request[1], [UInt8](status), [UInt8]("OK"), [UInt8]("alice"), []])
                if !allowed { deadline = min(deadline, ContinuousClock.now + .milliseconds(500)) }
            }
            if poller.isReadable(pullIndex), try pull.receive(into: &message, dontWait: true) {
                delivered = true
            }
        }
        #expect(requests >= 1)
        #expect(delivered == allowed)
        if allowed {
            #expect(message.frames == [[UInt8]("hello")])
            #expect(message.userID == "alice")
            #expect(message.gets("Socket-Type") == "PUSH")
        }
    }
}
