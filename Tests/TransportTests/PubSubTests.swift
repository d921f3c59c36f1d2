import Testing
import TestSupport
@testable import Transport

@Suite("Publish/subscribe")
struct PubSubTests {
    @Test("SUB receives only topics matching its prefix")
    func topicFiltering() throws {
        let context = try ZMQContext()
        let pub = try ZMQSocket(context: context, type: .pub)
        try pub.bind("tcp://127.0.0.1:*")
        let sub = try ZMQSocket(context: context, type: .sub)
        try sub.subscribe("weather.")
        try sub.connect(try pub.lastEndpoint)

        // Slow joiner: messages published before the subscription reaches the PUB are dropped,
        // so publish probes until one arrives (bounded).
        let joined = try eventually {
            try pub.send([[UInt8]("weather.probe")])
            return try ZMQPoller().pollOne(sub, timeoutMilliseconds: 50)
        }
        #expect(joined)

        try pub.send([[UInt8]("sports.score"), [UInt8]("1-0")])
        try pub.send([[UInt8]("weather.oslo"), [UInt8]("-3")])
        try sub.setReceiveTimeout(milliseconds: 2_000)
        var received: [[UInt8]]?
        repeat {
            received = try sub.receiveMultipart()
        } while received?.first == [UInt8]("weather.probe")
        // Sports was sent first; had the filter let it through it would arrive before Oslo.
        #expect(received == [[UInt8]("weather.oslo"), [UInt8]("-3")])
        #expect(try sub.receiveMultipart(dontWait: true) == nil)

        // After unsubscribing, matching messages no longer arrive.
        try sub.unsubscribe("weather.")
        let stopped = try eventually(timeout: .seconds(5)) {
            try pub.send([[UInt8]("weather.late")])
            try sub.setReceiveTimeout(milliseconds: 50)
            return try sub.receiveMultipart() == nil
        }
        #expect(stopped)
    }

    @Test("XPUB reports subscriptions; verbose reports repeats too", arguments: [true, false])
    func xpubSubscriptions(verbose: Bool) throws {
        let context = try ZMQContext()
        let xpub = try ZMQSocket(context: context, type: .xpub)
        try xpub.setXPubVerbose(verbose)
        try xpub.setReceiveTimeout(milliseconds: 5_000)
        try xpub.bind("tcp://127.0.0.1:*")
        let endpoint = try xpub.lastEndpoint

        let first = try ZMQSocket(context: context, type: .sub)
        try first.subscribe("centers")
        try first.connect(endpoint)
        #expect(try xpub.receiveMultipart() == [[0x01] + [UInt8]("centers")])

        let second = try ZMQSocket(context: context, type: .sub)
        try second.subscribe("centers")
        try second.connect(endpoint)
        try xpub.setReceiveTimeout(milliseconds: verbose ? 5_000 : 500)
        let repeated = try xpub.receiveMultipart()
        if verbose {
            #expect(repeated == [[0x01] + [UInt8]("centers")])
        } else {
            #expect(repeated == nil)
        }
    }
}

extension ZMQPoller {
    /// Polls one socket for reading (test helper).
    func pollOne(_ socket: ZMQSocket, timeoutMilliseconds: Int) throws -> Bool {
        let index = add(socket)
        _ = try poll(timeoutMilliseconds: timeoutMilliseconds)
        return isReadable(index)
    }
}
