import Clients
import Testing
import TestSupport
import Transport
import Wire

func centers(epoch: UInt64, seq: UInt64, version: UInt64 = 1, counts: [Double] = [3, 1, 0, 4]) -> CentersSnapshot {
    CentersSnapshot(
        k: counts.count, dimension: 1, startEpoch: epoch, sequence: seq, modelEpoch: 1, modelVersion: version,
        temperature: 0.25, centers: counts.indices.map(Float.init), counts: counts)
}

func heartbeat(epoch: UInt64, seq: UInt64, ms: Int64, vectorsIn: UInt64) -> Heartbeat {
    Heartbeat(startEpoch: epoch, sequence: seq, timeUnixMilliseconds: ms, vectorsIn: vectorsIn,
              vectorsAccepted: vectorsIn, dropped: 0, modelVersion: 9, temperature: 0.5)
}

func assignments(epoch: UInt64, seq: UInt64, rows: Int) throws -> Assignments {
    var a = Assignments(k: 4, startEpoch: epoch, sequence: seq, modelVersion: 9)
    for _ in 0..<rows { try a.appendRow(best: 0, distance: 1, support: [(0, 1)]) }
    return a
}

@Suite("Watch state")
struct WatchStateTests {
    @Test("sequence jumps are gaps per topic; repeats are duplicates")
    func gaps() throws {
        var state = WatchState()
        state.apply(.centers(centers(epoch: 1, seq: 4)), now: 0)
        state.apply(.centers(centers(epoch: 1, seq: 5)), now: 0)
        state.apply(.centers(centers(epoch: 1, seq: 8)), now: 0)   // 6 and 7 missed
        state.apply(.centers(centers(epoch: 1, seq: 8)), now: 0)   // re-sent to a new subscriber
        state.apply(.assignments(try assignments(epoch: 1, seq: 10, rows: 2)), now: 0)
        state.apply(.assignments(try assignments(epoch: 1, seq: 11, rows: 2)), now: 0)
        state.apply(.assignments(try assignments(epoch: 1, seq: 15, rows: 2)), now: 0)  // 12–14 missed
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 1, ms: 0, vectorsIn: 0)), now: 0)
        #expect(state.gaps[WireTopic.centersBinary] == 2)
        #expect(state.gaps[WireTopic.assignmentsBinary] == 3)
        #expect(state.gaps[WireTopic.heartbeat] == nil)
        #expect(state.totalGaps == 5)
        #expect(state.duplicates[WireTopic.centersBinary] == 1)
        #expect(state.restarts == 0)
        #expect(state.assignmentRows == 6)
    }

    @Test("a new start epoch is a restart and resets sequence tracking")
    func restarts() {
        var state = WatchState()
        state.apply(.centers(centers(epoch: 1, seq: 40)), now: 0)
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 7, ms: 1000, vectorsIn: 100)), now: 0)
        state.apply(.centers(centers(epoch: 2, seq: 1)), now: 0)    // not a duplicate of 40, not a gap
        state.apply(.heartbeat(heartbeat(epoch: 2, seq: 1, ms: 2000, vectorsIn: 5)), now: 0)
        state.apply(.centers(centers(epoch: 2, seq: 2)), now: 0)
        #expect(state.restarts == 1)
        #expect(state.startEpoch == 2)
        #expect(state.totalGaps == 0)
        #expect(state.duplicates.isEmpty)
        // No rate across a restart: the counters started over.
        #expect(state.heartbeatVectorsPerSecond == nil)
        state.apply(.centers(centers(epoch: 3, seq: 1)), now: 0)
        #expect(state.restarts == 2)
    }

    @Test("cluster shares are soft counts over their total")
    func shares() {
        var state = WatchState()
        #expect(state.shares.isEmpty)
        state.apply(.centers(centers(epoch: 1, seq: 1, counts: [3, 1, 0, 4])), now: 0)
        let shares = state.shares
        #expect(shares.map(\.center) == [0, 1, 2, 3])
        #expect(shares.map(\.share) == [0.375, 0.125, 0, 0.5])
        state.apply(.centers(centers(epoch: 1, seq: 2, counts: [0, 0])), now: 0)
        #expect(state.shares.map(\.share) == [0, 0])
        let view = WatchView.render(state, endpoint: "tcp://x", elapsed: 1)
        #expect(view.contains("k 2  d 1"))
    }

    @Test("rates from heartbeats and from assignment rows")
    func rates() throws {
        var state = WatchState()
        state.sampleRates(now: 10)
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 1, ms: 1_000, vectorsIn: 100)), now: 10)
        #expect(state.vectorsPerSecond == nil)
        state.apply(.assignments(try assignments(epoch: 1, seq: 1, rows: 300)), now: 10.5)
        state.sampleRates(now: 12)
        #expect(state.assignmentRowsPerSecond == 150)
        #expect(state.vectorsPerSecond == 150)   // no heartbeat rate yet: rows stand in
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 2, ms: 3_000, vectorsIn: 1_100)), now: 12)
        #expect(state.heartbeatVectorsPerSecond == 500)
        #expect(state.vectorsPerSecond == 500)
    }

    @Test("a state is stale once heartbeats stop for three intervals, at least 3 s")
    func staleness() {
        var state = WatchState()
        state.sampleRates(now: 100)
        #expect(!state.isStale)                       // nothing heard yet: nothing to call stale
        #expect(state.staleAfterSeconds == 3)
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 1, ms: 10_000, vectorsIn: 0)), now: 100)
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 2, ms: 12_000, vectorsIn: 4_000)), now: 102)
        #expect(state.heartbeatIntervalSeconds == 2)
        #expect(state.staleAfterSeconds == 6)          // three intervals of 2 s
        state.sampleRates(now: 107.9)
        #expect(!state.isStale)
        #expect(state.vectorsPerSecond == 2_000)
        state.sampleRates(now: 108.1)
        #expect(state.isStale)
        #expect(state.heartbeatSilence(now: 108.1)! > 6)
        #expect(state.vectorsPerSecond == nil)         // no live rate from a silent daemon
        #expect(state.heartbeatVectorsPerSecond == 2_000)   // kept, as history
        // A heartbeat brings it back.
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 3, ms: 20_000, vectorsIn: 4_000)), now: 109)
        state.sampleRates(now: 109.5)
        #expect(!state.isStale)
        // A fast heartbeat does not make the threshold shorter than 3 s.
        var fast = WatchState()
        fast.apply(.heartbeat(heartbeat(epoch: 1, seq: 1, ms: 0, vectorsIn: 0)), now: 0)
        fast.apply(.heartbeat(heartbeat(epoch: 1, seq: 2, ms: 100, vectorsIn: 10)), now: 0.1)
        #expect(fast.staleAfterSeconds == 3)
        #expect(!fast.isStale(now: 3.0) && fast.isStale(now: 3.2))
    }

    @Test("views mark a stale state and show no live rate")
    func staleViews() {
        var state = WatchState()
        state.apply(.centers(centers(epoch: 1, seq: 1)), now: 0)
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 1, ms: 1_000, vectorsIn: 0)), now: 0)
        state.apply(.heartbeat(heartbeat(epoch: 1, seq: 2, ms: 2_000, vectorsIn: 12_345)), now: 1)
        state.sampleRates(now: 1.5)
        let live = WatchView.render(state, endpoint: "tcp://x", elapsed: 1.5)
        #expect(!live.contains("STALE"))
        #expect(live.contains("12,345 vectors/s (heartbeat)"))
        state.sampleRates(now: 9)
        let stale = WatchView.render(state, endpoint: "tcp://x", elapsed: 9)
        #expect(stale.hasPrefix("voronoid watch  tcp://x  (9 s)  STALE\n"))
        #expect(stale.contains("STALE    no heartbeat for 8.0 s"))
        #expect(stale.contains("rate     – vectors/s (stale; last heartbeat rate 12,345 vectors/s)"))
        #expect(!stale.contains("(heartbeat)"))
        let block = WatchView.renderCompact(state, elapsed: 9)
        #expect(block.hasPrefix("[9.0 s] STALE    no heartbeat for 8.0 s"))
        #expect(block.contains("– vectors/s (stale"))
    }

    @Test("views show each center's first coordinates")
    func centerCoordinates() {
        var state = WatchState()
        let snapshot = CentersSnapshot(
            k: 2, dimension: 5, startEpoch: 1, sequence: 1, modelEpoch: 1, modelVersion: 3, temperature: 0.5,
            centers: [1.234, -5.678, 0, 9.999, 7, 12_345.6, 2, 3, 4, 5], counts: [3, 1])
        state.apply(.centers(snapshot), now: 0)
        #expect(state.coordinates(of: 1, first: 2) == [12_345.6, 2])
        #expect(state.coordinates(of: 2, first: 2).isEmpty)
        let view = WatchView.render(state, endpoint: "tcp://x", elapsed: 1, maxCoordinates: 4)
        #expect(view.contains("clusters  (center: first 4 of 5 coordinates)"))
        #expect(view.contains("75.0%  (1.23, -5.68, 0.00, 10.00, …)"))
        #expect(view.contains("25.0%  (1.23e+04, 2.00, 3.00, 4.00, …)"))
        let block = WatchView.renderCompact(state, elapsed: 1, maxCenters: 1, maxCoordinates: 2)
        #expect(block.contains("  centers 0:(1.23, -5.68, …) … 1 more"))
    }

    @Test("only the last few events are kept, and views show them")
    func events() {
        var state = WatchState(eventCapacity: 2)
        for (i, name) in ["start", "reseed", "separate"].enumerated() {
            state.apply(.event(WireEvent(startEpoch: 1, sequence: UInt64(i + 1), timeUnixMilliseconds: 3_723_004, event: name,
                                         fields: ["center": .int(3)])), now: 0)
        }
        #expect(state.recentEvents.map(\.event) == ["reseed", "separate"])
        let view = WatchView.render(state, endpoint: "tcp://x", elapsed: 1)
        #expect(view.contains("01:02:03.004Z separate center=3"))
        #expect(!view.contains("Z start"))
        let block = WatchView.renderCompact(state, elapsed: 1)
        #expect(block.contains("last event 01:02:03.004Z separate center=3"))
    }
}

@Suite("Watcher socket", .timeLimit(.minutes(1)))
struct WatcherTests {
    @Test("decodes each subscribed topic and ignores others")
    func receive() throws {
        let context = try ZMQContext()
        let pub = try ZMQSocket(context: context, type: .pub)
        try pub.bind("tcp://127.0.0.1:*")
        let watcher = try Watcher(context: context, endpoint: try pub.lastEndpoint)

        var message = WireMessage()
        centers(epoch: 1, seq: 1).encodeBinary(into: &message)
        // Slow joiner: publish until the subscription has arrived (bounded).
        var first: WatchMessage?
        let joined = try eventually {
            _ = try pub.send(message.frames)
            first = try watcher.next(timeoutMilliseconds: 50)
            return first != nil
        }
        #expect(joined)
        #expect(first == .centers(centers(epoch: 1, seq: 1)))
        while try watcher.next(timeoutMilliseconds: 50) != nil {}

        var outgoing: [WireMessage] = []
        message.removeAll()
        try heartbeat(epoch: 1, seq: 1, ms: 5, vectorsIn: 10).encodeJSON(into: &message)
        outgoing.append(message)
        message.removeAll()
        try WireEvent(startEpoch: 1, sequence: 1, timeUnixMilliseconds: 5, event: "start").encodeJSON(into: &message)
        outgoing.append(message)
        message.removeAll()
        try assignments(epoch: 1, seq: 1, rows: 3).encodeBinary(into: &message)
        outgoing.append(message)
        outgoing.append(try {
            var m = WireMessage()
            try centers(epoch: 1, seq: 2).encodeJSON(into: &m)   // centers.json: not subscribed
            return m
        }())
        for m in outgoing { try pub.send(m.frames) }
        try pub.send([Array(WireTopic.centersBinary.utf8), [1, 2, 3]])   // malformed

        var got: [WatchMessage] = []
        _ = try eventually {
            // A probe of the join loop above that arrives late is no part of what is counted.
            if let m = try watcher.next(timeoutMilliseconds: 50), m != .centers(centers(epoch: 1, seq: 1)) { got.append(m) }
            return got.count == 4
        }
        #expect(got.count == 4)
        guard got.count == 4 else { return }
        #expect(got[0] == .heartbeat(heartbeat(epoch: 1, seq: 1, ms: 5, vectorsIn: 10)))
        #expect(got[1].topic == WireTopic.events)
        if case .assignments(let a) = got[2] { #expect(a.count == 3) } else { Issue.record("expected assignments, got \(got[2])") }
        if case .undecodable(let topic, _) = got[3] { #expect(topic == WireTopic.centersBinary) } else { Issue.record("expected undecodable, got \(got[3])") }
    }
}
