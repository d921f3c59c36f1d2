import Foundation
import Testing
import TestSupport
@testable import Transport

@Suite("Polling and waking")
struct PollTests {
    @Test("An eventfd signalled from another thread wakes zmq_poll")
    func eventFDWakesPoll() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://poll")
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect("inproc://poll")
        let waker = try EventFD()

        let poller = ZMQPoller()
        let socketIndex = poller.add(pull)
        let wakerIndex = poller.add(waker)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)

        let start = ContinuousClock.now
        let signalled = onThread {
            Thread.sleep(forTimeInterval: 0.05)
            try? waker.signal()
            try? waker.signal()
        }
        #expect(try poller.poll(timeoutMilliseconds: 10_000) >= 1)
        #expect(ContinuousClock.now - start < .seconds(9))
        #expect(poller.isReadable(wakerIndex))
        #expect(!poller.isReadable(socketIndex))

        // Once the second signal has landed, one drain returns both and clears readiness.
        #expect(signalled.wait(timeout: .now() + 10) == .success)
        #expect(try waker.drain() == 2)
        #expect(try waker.drain() == 0)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)

        // A message makes the socket readable, and only the socket.
        #expect(try push.send([[UInt8]("work")]))
        #expect(try poller.poll(timeoutMilliseconds: 5_000) == 1)
        #expect(poller.isReadable(socketIndex))
        #expect(!poller.isReadable(wakerIndex))
        #expect(try pull.receiveMultipart(dontWait: true) == [[UInt8]("work")])
    }

    @Test("A poll with nothing ready times out")
    func pollTimesOut() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://idle")
        let poller = ZMQPoller()
        let index = poller.add(pull)
        let start = ContinuousClock.now
        #expect(try poller.poll(timeoutMilliseconds: 50) == 0)
        #expect(ContinuousClock.now - start >= .milliseconds(40))
        #expect(poller.events(at: index).isEmpty)
    }

    @Test("Non-blocking receive on an empty socket returns nil; a timeout does too")
    func dontWaitReceive() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://empty")
        #expect(try pull.receiveMultipart(dontWait: true) == nil)
        var frame = ZMQMessage()
        #expect(try !pull.receive(into: &frame, dontWait: true))
        var message = ZMQMultipartMessage()
        #expect(try !pull.receive(into: &message, dontWait: true))
        let isEmpty = message.isEmpty  // #expect cannot capture a ~Copyable value
        #expect(isEmpty)

        try pull.setReceiveTimeout(milliseconds: 30)
        #expect(try pull.receiveMultipart() == nil)
    }

    @Test("Non-blocking send without a peer returns false")
    func dontWaitSend() throws {
        let context = try ZMQContext()
        let push = try ZMQSocket(context: context, type: .push)
        try push.bind("inproc://nobody")
        #expect(try !push.send([[UInt8]("lost")], dontWait: true))
    }
}
