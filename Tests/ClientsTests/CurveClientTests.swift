import Clients
import Dispatch
import Testing
import TestSupport
import Transport
import Wire

/// The clients against real libzmq CURVE servers: the right keys get through, wrong or missing
/// ones do not, and key files are read the way `voronoid keygen` writes them.
@Suite("CURVE clients", .timeLimit(.minutes(1)))
struct CurveClientTests {
    /// A server and a client key pair written as `keygen --out` would, in a fresh directory.
    struct Keys {
        let directory: TemporaryDirectory
        let server: CurveKeyPair
        let client: CurveKeyPair
        let serverPublicFile: String
        let clientSecretFile: String

        init() throws {
            directory = try TemporaryDirectory()
            server = try CurveKeyPair.generate()
            client = try CurveKeyPair.generate()
            serverPublicFile = try directory.write("server.pub", Array((server.z85PublicKey + "\n").utf8))
            clientSecretFile = try directory.write("client.key", Array((client.z85SecretKey + "\n").utf8))
        }
    }

    @Test("keys load from keygen's files, and the server key also as text")
    func loading() throws {
        let keys = try Keys()
        for server in [keys.serverPublicFile, keys.server.z85PublicKey] {
            let loaded = try CurveClientKeys.load(server: server, secretKeyFile: keys.clientSecretFile)
            #expect(loaded.serverPublicKey == keys.server.publicKey)
            #expect(loaded.keyPair.publicKey == keys.client.publicKey, "the public key is derived from the secret")
            #expect(loaded.keyPair.secretKey == keys.client.secretKey)
        }
    }

    @Test("a missing file, an empty file or a bad key is an error naming it")
    func badKeys() throws {
        let keys = try Keys()
        let missing = keys.directory.path + "/nope.key"
        let empty = try keys.directory.write("empty.key", [])
        let garbage = try keys.directory.write("garbage.key", Array("not-a-key\n".utf8))
        let cases: [(server: String, secret: String, code: ClientError.Code, names: String)] = [
            (keys.serverPublicFile, missing, .io, missing),
            (missing, keys.clientSecretFile, .io, missing),
            (keys.serverPublicFile, empty, .badInput, empty),
            (keys.serverPublicFile, garbage, .badInput, garbage),
            (garbage, keys.clientSecretFile, .badInput, garbage),
        ]
        for c in cases {
            let error = try #require(throws: ClientError.self) {
                try CurveClientKeys.load(server: c.server, secretKeyFile: c.secret)
            }
            #expect(error.code == c.code, "\(c)")
            #expect(error.message.contains(c.names), "\(error.message)")
        }
    }

    @Test("a query with the server's key is answered; a wrong key or plaintext is told it was refused")
    func query() throws {
        let keys = try Keys()
        let context = try ZMQContext()
        let (endpoint, done) = try startServer(context, count: 1, curve: keys.server)
        let right = try CurveClientKeys.load(server: keys.serverPublicFile, secretKeyFile: keys.clientSecretFile)
        let wrong = CurveClientKeys(serverPublicKey: try CurveKeyPair.generate().publicKey, keyPair: keys.client)
        for (curve, answered) in [(wrong, false), (nil, false), (right, true)] as [(CurveClientKeys?, Bool)] {
            let client = QueryClient(context: context, endpoint: endpoint, timeout: .seconds(5),
                                     curve: curve)
            if answered {
                #expect(try client.stats().values["vectors_in"] == .int(1234))
            } else {
                let error = try #require(throws: ClientError.self) { try client.stats() }
                #expect(error.code == .refused, "\(error)")
                #expect(error.message.contains(curve == nil ? "--curve-server-key" : "allow-list"), "\(error)")
            }
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
    }

    @Test("a producer with the server's key delivers over CURVE; with a wrong key nothing arrives")
    func produce() throws {
        let keys = try Keys()
        let context = try ZMQContext()
        let sink = try ZMQSocket(context: context, type: .pull)
        try sink.configureCurveServer(keyPair: keys.server)
        try sink.setReceiveTimeout(milliseconds: 1_000)
        try sink.bind("tcp://127.0.0.1:*")
        let endpoint = try sink.lastEndpoint
        let producer = Producer(configuration: ProducerConfiguration(batchSize: 5, count: 10, warmup: .zero))

        let wrong = CurveClientKeys(serverPublicKey: try CurveKeyPair.generate().publicKey, keyPair: keys.client)
        let refused = try Producer.makeSocket(context: context, kind: .push, endpoint: endpoint, bind: false, curve: wrong)
        var source = try SyntheticSource(k: 2, dimension: 3, seed: 1)
        // libzmq queues the messages for the connection, but its handshake never completes.
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(1)
        _ = try producer.run(source: &source, socket: refused) { clock.now >= giveUp }
        #expect(try sink.receiveMultipart() == nil)
        refused.close()

        let right = try CurveClientKeys.load(server: keys.server.z85PublicKey, secretKeyFile: keys.clientSecretFile)
        let socket = try Producer.makeSocket(context: context, kind: .push, endpoint: endpoint, bind: false, curve: right)
        source = try SyntheticSource(k: 2, dimension: 3, seed: 1)
        let report = try producer.run(source: &source, socket: socket)
        #expect(report.vectors == 10)
        // The handshake and the delivery may take a while on a loaded machine; only the wrong
        // key's wait above is meant to be short.
        try sink.setReceiveTimeout(milliseconds: 10_000)
        var received = 0
        for _ in 0..<2 {
            let frames = try #require(try sink.receiveMultipart())
            received += try VectorDecoder(expectedDimension: 3).decode(frames: frames).batch.count
        }
        #expect(received == 10)
    }
}
