import Clustering
@testable import Daemon
import Foundation
import Logging
import Synchronization
import Testing
import Transport
import Wire

/// The daemon in-process, over real ipc and tcp sockets: vectors in, centers and assignments
/// out, ids preserved, late subscribers served, predictions answered, bad input counted.
@Suite(.serialized) struct PipelineTests {
    final class Running: @unchecked Sendable {
        // SAFETY: `status` is written once by the daemon thread before `finished` is signalled
        // and read only after waiting for it.
        let runner: DaemonRunner
        let ready = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        var status: Int32 = -1

        init(_ configuration: DaemonConfiguration) throws {
            let logger = Logger(label: "voronoid-test", factory: { StderrLogHandler(label: $0, level: .warning) })
            runner = try DaemonRunner(configuration: configuration, logger: logger)
            Thread.detachNewThread { [self] in
                status = (try? runner.run(handleSignals: false, onReady: { [ready] in ready.signal() })) ?? 1
                finished.signal()
            }
            #expect(ready.wait(timeout: .now() + 20) == .success, "daemon did not become ready")
        }

        func stop() -> Int32 {
            runner.requestStop()
            #expect(finished.wait(timeout: .now() + 20) == .success, "daemon did not stop")
            return status
        }
    }

    static func configuration(_ dir: String, transport: String) -> DaemonConfiguration {
        var c = DaemonConfiguration()
        if transport == "ipc" {
            c.input.endpoints = ["ipc://\(dir)/in"]
            c.output.endpoint = "ipc://\(dir)/out"
            c.query.endpoint = "ipc://\(dir)/query"
        } else {
            c.input.endpoints = ["tcp://127.0.0.1:\(freePort())"]
            c.output.endpoint = "tcp://127.0.0.1:\(freePort())"
            c.query.endpoint = "tcp://127.0.0.1:\(freePort())"
        }
        c.model.k = 3
        c.input.batchSize = 200
        c.output.centersIntervalMilliseconds = 50
        // Anneal within the test's 1000 vectors.
        c.model.pacing = .fixed
        c.temperature.halfLife = 100
        c.model.countHalfLife = 200
        c.state.directory = ""
        c.metrics.address = ""
        return c
    }

    static func freePort() -> Int { LoopbackPort.free() }

    static func blobs(_ n: Int, seed: UInt64) -> [[Float]] {
        var random = RandomSource(seed: seed)
        let means: [[Float]] = [[0, 0], [20, 0], [0, 20]]
        return (0..<n).map { _ in
            let m = means[Int(random.next() % 3)]
            return [m[0] + Float(random.nextGaussian()), m[1] + Float(random.nextGaussian())]
        }
    }

    static func send(_ message: WireMessage, on socket: ZMQSocket) throws {
        _ = try socket.send(message.frames)
    }

    /// Receives until `body` returns true or `seconds` pass; returns whether it did.
    static func receive(_ socket: ZMQSocket, seconds: Double, _ body: ([[UInt8]]) -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        try socket.setReceiveTimeout(milliseconds: 200)
        while Date() < deadline {
            if let frames = try socket.receiveMultipart(), body(frames) { return true }
        }
        return false
    }

    @Test(arguments: ["ipc", "tcp"])
    func vectorsInCentersAndAssignmentsOut(transport: String) throws {
        let dir = NSTemporaryDirectory() + "voronoid-pipeline-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = Self.configuration(dir, transport: transport)
        let daemon = try Running(c)
        let context = try ZMQContext()
        let sub = try ZMQSocket(context: context, type: .sub)
        try sub.connect(c.output.endpoint)
        try sub.subscribe(WireTopic.assignmentsBinary)
        // Subscribed after assignments.bin on the same connection: once a heartbeat arrives the
        // daemon holds both subscriptions (and encodes assignments), however loaded the machine.
        try sub.subscribe(WireTopic.heartbeat)
        // An XPUB producer hears the daemon's subscription, so nothing is sent before it listens.
        let pub = try ZMQSocket(context: context, type: .xpub, linger: 2000)
        try pub.setReceiveTimeout(milliseconds: 20_000)
        try pub.connect(c.input.endpoints[0])
        #expect(try pub.receiveMultipart()?.first?.first == 1, "the daemon subscribed to the producer")
        #expect(try Self.receive(sub, seconds: 20) { $0.first == Array(WireTopic.heartbeat.utf8) }, "a heartbeat came")

        // 10 batches of 100 with int ids 0..<1000, sequenced; a malformed message between each.
        var message = WireMessage()
        let rows = Self.blobs(1000, seed: 4)
        for b in 0..<10 {
            let ids = (0..<100).map { VectorID.int(Int64(b * 100 + $0)) }
            let batch = try VectorBatch(rows: Array(rows[(b * 100)..<((b + 1) * 100)]), ids: ids)
            message.removeAll()
            try VectorEncoder.encodeBatch(topic: "vectors/test", batch: batch, sequence: UInt64(b + 1), into: &message)
            try Self.send(message, on: pub)
            _ = try pub.send([Array("vectors".utf8), [1, 2, 3]])                       // truncated float
            _ = try pub.send([Array("vectors".utf8), Array("json".utf8), Array("{\"vector\": [1, NaN]}".utf8)])
            _ = try pub.send([Array("vectors".utf8), [0, 0, 0x80, 0x7F, 0, 0, 0, 0]])  // +inf
        }
        // A model exists after the warm-up (max(4k, min(32k, 4096), batch) = 200 vectors): assignments arrive
        // with the producers' ids.
        var seen = Set<Int64>()
        let complete = try Self.receive(sub, seconds: 15) { frames in
            guard let a = try? Assignments.decodeBinary(frames: frames) else { return false }
            for i in 0..<a.count { if case .int(let id)? = a.ids[i] { seen.insert(id) } }
            #expect(a.k == 3)
            for i in 0..<a.count {
                let s = a.support(row: i)
                #expect(abs(s.reduce(0) { $0 + $1.weight } - 1) < 1e-4)
                #expect(s.contains { $0.center == Int(a.best[i]) })
            }
            return seen.count == 1000
        }
        #expect(complete, "all 1000 ids came back (got \(seen.count))")

        // A late subscriber gets the current centers at once, near the three means.
        let late = try ZMQSocket(context: context, type: .sub)
        try late.connect(c.output.endpoint)
        try late.subscribe(WireTopic.centersBinary)
        var centers: CentersSnapshot?
        _ = try Self.receive(late, seconds: 5) { frames in
            centers = try? CentersSnapshot.decodeBinary(frames: frames)
            return centers != nil
        }
        let snapshot = try #require(centers)
        #expect(snapshot.k == 3 && snapshot.dimension == 2)
        #expect(snapshot.centers.allSatisfy { $0.isFinite })
        for m in [[Float(0), 0], [20, 0], [0, 20]] {
            let nearest = (0..<3).map { j in
                let dx = snapshot.centers[j * 2] - m[0], dy = snapshot.centers[j * 2 + 1] - m[1]
                return (dx * dx + dy * dy).squareRoot()
            }.min()!
            #expect(nearest < 3, "a center near \(m)")
        }

        // Queries: stats count what was dropped and accepted; predict answers.
        let req = try ZMQSocket(context: context, type: .req)
        try req.setReceiveTimeout(milliseconds: 5000)
        try req.connect(c.query.endpoint)
        _ = try req.send([Array("stats".utf8)])
        let stats = try decodeStatsReply(frames: try #require(try req.receiveMultipart()))
        #expect(stats["vectors_accepted"] == .int(1000))
        #expect(stats["dropped_bad_body_length"] == .int(10))
        #expect(stats["dropped_non_finite"] == .int(10))
        #expect(stats["dropped_bad_json"] == .int(10))
        #expect(stats["sequence_gaps"] == .int(0))
        message.removeAll()
        try VectorEncoder.encodePredictRequest(batch: try VectorBatch(rows: [[0.5, 0.5], [19, 1]]), into: &message)
        _ = try req.send(message.frames)
        let predicted = try Assignments.decodeBinary(frames: try #require(try req.receiveMultipart()), hasTopic: false)
        #expect(predicted.count == 2 && predicted.best[0] != predicted.best[1])
        _ = try req.send([Array("predict".utf8), Array("json".utf8), Array("{\"vector\":[1,2,3]}".utf8)])
        let refused = try #require(try req.receiveMultipart())
        #expect(WireError.decodeReply(frames: refused)?.reason == "dimension_mismatch")

        for s in [sub, late, pub, req] { s.close() }
        #expect(daemon.stop() == 0)
    }

    @Test func pullInputIsLosslessUnderBackpressure() throws {
        var c = Self.configuration("", transport: "tcp")
        c.input.socket = .pull
        c.input.queueBatches = 1
        c.input.highWaterMark = 10
        c.output.assignments = false
        let daemon = try Running(c)
        let context = try ZMQContext()
        let push = try ZMQSocket(context: context, type: .push, linger: 5000)
        try push.setSendHighWaterMark(10)
        try push.connect(c.input.endpoints[0])
        var message = WireMessage()
        let rows = Self.blobs(250, seed: 9)
        for _ in 0..<200 {
            message.removeAll()
            try VectorEncoder.encodeBatch(topic: "vectors", batch: try VectorBatch(rows: rows), into: &message)
            try Self.send(message, on: push)
        }
        let req = try ZMQSocket(context: context, type: .req)
        try req.setReceiveTimeout(milliseconds: 5000)
        try req.connect(c.query.endpoint)
        var accepted: WireScalar?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            _ = try req.send([Array("stats".utf8)])
            let stats = try decodeStatsReply(frames: try #require(try req.receiveMultipart()))
            accepted = stats["vectors_accepted"]
            if accepted == .int(50_000) { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(accepted == .int(50_000))
        push.close()
        req.close()
        #expect(daemon.stop() == 0)
    }
}
