import Clients
import Dispatch
import Testing
import TestSupport
import Transport
import Wire

@Suite("Producer", .timeLimit(.minutes(1)))
struct ProducerTests {
    /// A PULL socket bound on loopback TCP with a bounded receive wait.
    func pull(_ context: ZMQContext) throws -> (ZMQSocket, String) {
        let socket = try ZMQSocket(context: context, type: .pull)
        try socket.setReceiveTimeout(milliseconds: 5_000)
        try socket.bind("tcp://127.0.0.1:*")
        return (socket, try socket.lastEndpoint)
    }

    @Test("exact vectors, ids and sequence numbers arrive", arguments: [
        (VectorMessageFormat.batch, ProducerIDMode.int),
        (.batch, .string),
        (.batch, .none),
        (.json, .int),
        (.json, .string),
    ])
    func batches(format: VectorMessageFormat, ids: ProducerIDMode) throws {
        let context = try ZMQContext()
        let (sink, endpoint) = try pull(context)
        let socket = try Producer.makeSocket(context: context, kind: .push, endpoint: endpoint, bind: false)
        let producer = Producer(configuration: ProducerConfiguration(
            topic: "vectors/test", format: format, batchSize: 4, count: 10, ids: ids, warmup: .zero))
        var source = try SyntheticSource(k: 3, dimension: 5, seed: 11)
        let report = try producer.run(source: &source, socket: socket)
        #expect(report.vectors == 10)
        #expect(report.messages == 3)

        var expected = try SyntheticSource(k: 3, dimension: 5, seed: 11)
        var expectedRows: [Float] = []
        _ = try expected.next(into: &expectedRows, maxRows: 10)
        var rows: [Float] = []
        var gotIDs: [VectorID?] = []
        for seq in 1...3 {
            let frames = try #require(try sink.receiveMultipart())
            let message = try VectorDecoder(expectedDimension: 5).decode(frames: frames)
            #expect(message.topic == "vectors/test")
            #expect(message.info.format == format)
            #expect(message.info.sequence == UInt64(seq))
            #expect(message.info.count == (seq < 3 ? 4 : 2))
            rows += message.batch.values
            gotIDs += message.batch.ids.all
        }
        #expect(rows == expectedRows)
        switch ids {
        case .none: #expect(gotIDs.allSatisfy { $0 == nil })
        case .int: #expect(gotIDs == (0..<10).map { VectorID.int(Int64($0)) })
        case .string: #expect(gotIDs == (0..<10).map { VectorID.string(String($0)) })
        }
        #expect(try sink.receiveMultipart(dontWait: true) == nil)
    }

    @Test("the single form sends one bare vector per message")
    func single() throws {
        let context = try ZMQContext()
        let (sink, endpoint) = try pull(context)
        let socket = try Producer.makeSocket(context: context, kind: .push, endpoint: endpoint, bind: false)
        var source = try CSVSource(text: "a,b\n1,2\n3,4\n")
        let report = try Producer(configuration: ProducerConfiguration(format: .single, ids: .none, warmup: .zero))
            .run(source: &source, socket: socket)
        #expect(report.vectors == 2 && report.messages == 2)
        for expected in [[Float](arrayLiteral: 1, 2), [3, 4]] {
            let frames = try #require(try sink.receiveMultipart())
            #expect(frames.count == 2)
            let message = try VectorDecoder().decode(frames: frames)
            #expect(message.info.format == .single)
            #expect(message.info.sequence == 0)
            #expect(message.batch.values == expected)
        }
    }

    @Test("--no-sequence sends sequence 0; --loop repeats a file source")
    func loopWithoutSequence() throws {
        let context = try ZMQContext()
        let (sink, endpoint) = try pull(context)
        let socket = try Producer.makeSocket(context: context, kind: .push, endpoint: endpoint, bind: false)
        var source = try CSVSource(text: "1\n2\n3\n")
        let config = ProducerConfiguration(batchSize: 2, count: 7, ids: .none, sequence: false, warmup: .zero, loop: true)
        let report = try Producer(configuration: config).run(source: &source, socket: socket)
        #expect(report.vectors == 7)
        var values: [Float] = []
        while values.count < 7 {
            let message = try VectorDecoder().decode(frames: try #require(try sink.receiveMultipart()))
            #expect(message.info.sequence == 0)
            values += message.batch.values
        }
        #expect(values == [1, 2, 3, 1, 2, 3, 1])
    }

    @Test("pacing: --rate 2000 for 0.5 s sends about 1000 vectors in about 0.5 s")
    func pacing() throws {
        let context = try ZMQContext()
        let (sink, endpoint) = try pull(context)
        let socket = try Producer.makeSocket(context: context, kind: .push, endpoint: endpoint, bind: false)
        var source = try SyntheticSource(k: 2, dimension: 4, seed: 1)
        let config = ProducerConfiguration(rate: 2000, duration: .milliseconds(500), warmup: .zero)
        let clock = ContinuousClock()
        let start = clock.now
        let report = try Producer(configuration: config).run(source: &source, socket: socket)
        let wall = clock.now - start
        // Loose bounds: this checks behaviour (pacing happens), not speed, on a shared machine.
        #expect((800...1200).contains(report.vectors), "\(report)")
        #expect(wall >= .milliseconds(400) && wall < .seconds(3), "\(wall)")
        // Messages hold about 10 ms of vectors, not one big burst.
        #expect(report.messages >= 20, "\(report)")
        var received = 0
        while received < report.vectors, let frames = try sink.receiveMultipart() {
            received += try VectorDecoder().decode(frames: frames).info.count
        }
        #expect(received == report.vectors)
    }

    /// A SUB socket bound on loopback TCP, subscribed to `prefix`, receiving on a thread of its
    /// own (a bound SUB hands its subscription to a new peer only while it processes commands,
    /// as a receive does) until `vectors` have arrived or `seconds` pass; returns its endpoint,
    /// the count so far and the thread's end.
    func subscriber(_ context: ZMQContext, prefix: String, vectors: Int, seconds: Int32)
        throws -> (String, Locked<Int>, DispatchSemaphore) {
        let endpoint = Locked<String?>(nil)
        let bound = DispatchSemaphore(value: 0)
        let received = Locked(0)
        let done = onThread {
            defer { bound.signal() }
            guard let sub = try? ZMQSocket(context: context, type: .sub),
                  (try? sub.subscribe(prefix)) != nil, (try? sub.setReceiveTimeout(milliseconds: 50)) != nil,
                  (try? sub.bind("tcp://127.0.0.1:*")) != nil else { return }
            endpoint.withLock { $0 = try? sub.lastEndpoint }
            bound.signal()
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(seconds)
            while received.value < vectors, clock.now < deadline {
                if let frames = try? sub.receiveMultipart(), let batch = try? VectorDecoder().decode(frames: frames) {
                    received.withLock { $0 += batch.info.count }
                }
            }
            sub.close()
        }
        #expect(bound.wait(timeout: .now() + 10) == .success)
        return (try #require(endpoint.value), received, done)
    }

    @Test("a PUB producer sends once the subscription to its topic arrives, and loses nothing")
    func pubWaitsForTheSubscription() throws {
        let context = try ZMQContext()
        let (endpoint, received, done) = try subscriber(context, prefix: "vectors", vectors: 20, seconds: 30)
        let socket = try Producer.makeSocket(context: context, kind: .pub, endpoint: endpoint, bind: false)
        #expect(socket.type == .xpub)
        var source = try SyntheticSource(k: 2, dimension: 3, seed: 1)
        let clock = ContinuousClock()
        let started = clock.now
        let report = try Producer(configuration: ProducerConfiguration(topic: "vectors/t", batchSize: 5, count: 20,
                                                                       warmup: .seconds(30)))
            .run(source: &source, socket: socket)
        #expect(clock.now - started < .seconds(20), "it waited out the warm-up although the subscription came")
        #expect(report.vectors == 20)
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(received.value == 20, "a message sent before the subscription would have been lost")
        socket.close()
    }

    @Test("a PUB producer whose topic nobody subscribes to waits the whole warm-up")
    func pubWithoutSubscriptionWaits() throws {
        let context = try ZMQContext()
        let (endpoint, received, done) = try subscriber(context, prefix: "other", vectors: 1, seconds: 2)
        let socket = try Producer.makeSocket(context: context, kind: .pub, endpoint: endpoint, bind: false)
        var source = try SyntheticSource(k: 2, dimension: 3, seed: 1)
        let clock = ContinuousClock()
        let started = clock.now
        _ = try Producer(configuration: ProducerConfiguration(topic: "vectors/t", batchSize: 5, count: 5,
                                                              warmup: .milliseconds(600)))
            .run(source: &source, socket: socket)
        #expect(clock.now - started >= .milliseconds(600))
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(received.value == 0, "nothing of another topic is delivered")
        socket.close()
    }

    @Test("a stop request ends a PUSH whose peer never comes")
    func stopWithoutPeer() throws {
        let context = try ZMQContext()
        // Nothing listens here: the PUSH has no peer and its sends time out.
        let socket = try Producer.makeSocket(context: context, kind: .push, endpoint: "tcp://127.0.0.1:1", bind: false)
        var source = try SyntheticSource()
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(300)
        let report = try Producer(configuration: ProducerConfiguration(warmup: .zero))
            .run(source: &source, socket: socket) { clock.now >= deadline }
        // libzmq queues up to the high-water mark for a connection that may yet come up,
        // then the sends wait; the stop request must end that wait.
        #expect(clock.now - deadline < .seconds(2))
        #expect(report.vectors < 1_000_000)
    }

    @Test("bad configurations are rejected before anything is sent")
    func badConfiguration() throws {
        #expect(throws: ClientError.self) { try ProducerConfiguration(topic: "").validate() }
        #expect(throws: ClientError.self) { try ProducerConfiguration(batchSize: 0).validate() }
        #expect(throws: ClientError.self) { try ProducerConfiguration(batchSize: 70_000).validate() }
        #expect(throws: ClientError.self) { try ProducerConfiguration(rate: -1).validate() }
        #expect(throws: ClientError.self) { try ProducerConfiguration(count: -1).validate() }
    }
}
