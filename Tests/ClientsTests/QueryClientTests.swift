import Clients
import Dispatch
import Testing
import TestSupport
import Transport
import Wire

/// The model the test server answers with: two centers in 2-D.
let serverSnapshot = CentersSnapshot(
    k: 2, dimension: 2, startEpoch: 77, sequence: 5, modelEpoch: 1, modelVersion: 42,
    temperature: 0.5, centers: [0, 0, 10, 10], counts: [30, 10])

/// Answers one query the way the daemon would, using the Wire encoders.
func answer(_ frames: [[UInt8]]) -> WireMessage {
    var reply = WireMessage()
    do throws(WireError) {
        var batch = VectorBatch()
        let request = try withFramePointers(frames) { raws throws(WireError) in
            try VectorDecoder().decodeQuery(frames: raws, into: &batch)
        }
        switch request {
        case .snapshot:
            serverSnapshot.encodeBinary(topic: nil, into: &reply)
        case .stats:
            try encodeStatsReply(["vectors_in": .int(1234), "mode": .string("entmax15"), "temperature": .double(0.5)], into: &reply)
        case .predict(let info):
            guard info.dimension == 2 else { throw WireError(.dimensionMismatch, "dimension \(info.dimension), the model has 2") }
            var a = Assignments(k: 2, startEpoch: 77, modelVersion: 42)
            for r in 0..<batch.count {
                let x = batch[row: r]
                let d0 = x.map { $0 * $0 }.reduce(0, +)
                let d1 = x.map { ($0 - 10) * ($0 - 10) }.reduce(0, +)
                let best = d0 <= d1 ? 0 : 1
                try a.appendRow(id: batch.ids[r], best: best, distance: min(d0, d1), support: [(best, 0.75), (1 - best, 0.25)])
            }
            a.encodeBinary(topic: nil, into: &reply)
        }
    } catch {
        reply.removeAll()
        error.encodeReply(into: &reply)
    }
    return reply
}

/// Views byte arrays as raw buffers for the duration of `body`.
func withFramePointers<R>(_ frames: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws(WireError) -> R) throws(WireError) -> R {
    var raws: [UnsafeRawBufferPointer] = []
    func recurse(_ i: Int) throws(WireError) -> R {
        if i == frames.count { return try body(raws) }
        let result: Result<R, WireError> = frames[i].withUnsafeBytes { raw in
            raws.append(raw)
            return Result { () throws(WireError) in try recurse(i + 1) }
        }
        return try result.get()
    }
    return try recurse(0)
}

/// A REP server on its own thread that answers `count` requests, then exits; a CURVE server
/// with `curve`'s secret key when given.
/// - Returns: the endpoint, and a semaphore signalled when the server thread ends.
func startServer(_ context: ZMQContext, count: Int, curve: CurveKeyPair? = nil) throws -> (String, DispatchSemaphore) {
    let endpoint = Locked<String?>(nil)
    let bound = DispatchSemaphore(value: 0)
    let done = onThread {
        do {
            let rep = try ZMQSocket(context: context, type: .rep)
            try rep.setReceiveTimeout(milliseconds: 20_000)
            if let curve { try rep.configureCurveServer(keyPair: curve) }
            try rep.bind("tcp://127.0.0.1:*")
            let resolved = try rep.lastEndpoint
            endpoint.withLock { $0 = resolved }
            bound.signal()
            for _ in 0..<count {
                guard let request = try rep.receiveMultipart() else { return }
                let reply = answer(request)
                try rep.send(reply.frames)
            }
        } catch {
            bound.signal()
        }
    }
    #expect(bound.wait(timeout: .now() + 5) == .success)
    return (try #require(endpoint.value), done)
}

@Suite("Query client", .timeLimit(.minutes(1)))
struct QueryClientTests {
    @Test("snapshot, stats, predict and an error reply")
    func requests() throws {
        let context = try ZMQContext()
        let (endpoint, done) = try startServer(context, count: 4)
        let client = QueryClient(context: context, endpoint: endpoint, timeout: .seconds(5))

        #expect(try client.snapshot() == serverSnapshot)

        let stats = try client.stats()
        #expect(stats.values["vectors_in"] == .int(1234))
        #expect(stats.values["mode"] == .string("entmax15"))
        #expect(stats.json.hasPrefix("{"))

        let batch = try VectorBatch(rows: [[1, 1], [9, 11], [0, 0]], ids: [.int(5), .int(6), .int(7)])
        let a = try client.predict(batch)
        #expect(a.best == [0, 1, 0])
        #expect(a.distances == [2, 2, 0])
        #expect(a.ids.all == [.int(5), .int(6), .int(7)])
        #expect(a.support(row: 1).map(\.center) == [1, 0])
        let line = TextFormat.predictionJSON(row: 1, assignments: a, index: 1)
        #expect(line == #"{"row":1,"id":6,"best":1,"dist":2.0,"support":[[1,0.75],[0,0.25]]}"#)

        let wrong = try VectorBatch(rows: [[1, 2, 3]])
        let error = try #require(throws: ClientError.self) { try client.predict(wrong) }
        #expect(error.code == .remote)
        #expect(error.remote?.reason == "dimension_mismatch")
        #expect(error.remote?.detail == "dimension 3, the model has 2")
        #expect(done.wait(timeout: .now() + 5) == .success)
    }

    @Test("no reply within the timeout is a timeout error, promptly")
    func timeout() throws {
        let context = try ZMQContext()
        // A ROUTER that accepts the request and never answers.
        let silent = try ZMQSocket(context: context, type: .router)
        try silent.bind("tcp://127.0.0.1:*")
        let client = QueryClient(context: context, endpoint: try silent.lastEndpoint, timeout: .milliseconds(200))
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(throws: ClientError.self) { try client.stats() }
        #expect(error.code == .timeout)
        #expect(clock.now - start < .seconds(3))
        // A fresh socket per request: the client is usable again after a timeout.
        let again = try #require(throws: ClientError.self) { try client.snapshot() }
        #expect(again.code == .timeout)
    }

    @Test("the centers table and JSON carry every field")
    func centersText() throws {
        let table = TextFormat.centersTable(serverSnapshot)
        #expect(table.contains("k 2  d 2  model version 42"))
        #expect(table.contains("75.0%"))
        #expect(table.contains("10.0000"))
        let json = try TextFormat.centersJSON(serverSnapshot)
        #expect(json.hasPrefix("{") && json.hasSuffix("}"))
        for key in ["\"k\":2", "\"d\":2", "\"model_version\":42", "\"temperature\":0.5", "\"counts\":[30.0,10.0]"] {
            #expect(json.contains(key), "\(json)")
        }
    }
}
