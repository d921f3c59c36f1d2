import Testing

@testable import Wire

@Suite("Outbound messages and query replies")
struct OutboundTests {
    func snapshot(k: Int, d: Int, seed: UInt64) -> CentersSnapshot {
        var rng = SplitMix64(seed: seed)
        return CentersSnapshot(
            k: k, dimension: d, startEpoch: 1_700_000_000_123, sequence: 42, modelEpoch: 3, modelVersion: .max,
            temperature: 0.1 + Double(seed), centers: randomFloats(k * d, &rng),
            counts: (0..<k).map { _ in Double.random(in: 0...1e6, using: &rng) })
    }

    @Test("centers round-trip through binary and JSON", arguments: [(0, 0), (1, 1), (3, 5), (16, 64)])
    func centers(k: Int, d: Int) throws {
        let s = snapshot(k: k, d: d, seed: UInt64(k * 100 + d))
        var m = WireMessage()
        s.encodeBinary(into: &m)
        #expect(m.frameCount == 4)
        #expect(m.frames[0] == bytes("centers.bin"))
        #expect(m.frames[1].count == 52)
        #expect(try CentersSnapshot.decodeBinary(frames: m.frames) == s)
        m.removeAll()
        s.encodeBinary(topic: nil, into: &m)  // the snapshot query reply
        #expect(try CentersSnapshot.decodeBinary(frames: m.frames, hasTopic: false) == s)
        m.removeAll()
        try s.encodeJSON(into: &m)
        #expect(m.frames[0] == bytes("centers.json"))
        #expect(try CentersSnapshot.decodeJSON(frames: m.frames) == s)
    }

    @Test("the centers header matches struct.pack(\"<4sIIQQQQd\", …)")
    func centersHeaderLayout() {
        let s = CentersSnapshot(k: 2, dimension: 1, startEpoch: 5, sequence: 6, modelEpoch: 7, modelVersion: 8, temperature: 0.5, centers: [1, 2], counts: [3, 4])
        var m = WireMessage()
        s.encodeBinary(topic: nil, into: &m)
        let expected = bytes("VCT1") + le32(2) + le32(1) + le64(5) + le64(6) + le64(7) + le64(8) + le64(0.5.bitPattern)
        #expect(m.frames == [expected, f32([1, 2]), le64(3.0.bitPattern) + le64(4.0.bitPattern)])
    }

    @Test("JSON encoders refuse non-finite values and leave the message unchanged")
    func nonFiniteJSON() {
        var m = WireMessage()
        m.appendFrame("keep")
        let s = CentersSnapshot(k: 1, dimension: 1, startEpoch: 0, sequence: 0, modelEpoch: 0, modelVersion: 0, temperature: 1, centers: [.nan], counts: [1])
        #expect(reason { () throws(WireError) in try s.encodeJSON(into: &m) } == .nonFinite)
        var h = Heartbeat(startEpoch: 0, sequence: 0, timeUnixMilliseconds: 0, vectorsIn: 0, vectorsAccepted: 0, dropped: 0, modelVersion: 0, temperature: .infinity)
        #expect(reason { () throws(WireError) in try h.encodeJSON(into: &m) } == .nonFinite)
        h.temperature = 1
        let e = WireEvent(startEpoch: 0, sequence: 0, timeUnixMilliseconds: 0, event: "x", fields: ["v": .double(.nan)])
        #expect(reason { () throws(WireError) in try e.encodeJSON(into: &m) } == .nonFinite)
        #expect(reason { () throws(WireError) in try encodeStatsReply(["v": .double(-.infinity)], into: &m) } == .nonFinite)
        #expect(m.frames == [bytes("keep")])
    }

    func assignments(ids: [VectorID?]?, seed: UInt64) throws -> Assignments {
        var rng = SplitMix64(seed: seed)
        let k = 7
        var a = Assignments(k: k, startEpoch: 9, sequence: 10, modelVersion: 11)
        for i in 0..<(ids?.count ?? 4) {
            let n = Int.random(in: 1...3, using: &rng)
            let centers = Array((0..<k).shuffled(using: &rng).prefix(n))
            let raw = centers.map { _ in Float.random(in: 0.01...1, using: &rng) }
            let total = raw.reduce(0, +)
            try a.appendRow(
                id: ids?[i] ?? nil, best: centers[0], distance: Float.random(in: 0...100, using: &rng),
                support: zip(centers, raw).map { ($0, $1 / total) })
        }
        return a
    }

    static let idColumns: [[VectorID?]?] = [
        nil,
        [.int(1), .int(-2), .int(.max)],
        [.string("a"), .string("ü\"\\"), .string(String(repeating: "z", count: 64))],
        [nil, .int(5), .string("s"), nil],
        [],
    ]

    @Test("assignments round-trip through binary and JSON", arguments: idColumns)
    func assignmentsRoundTrip(ids: [VectorID?]?) throws {
        let a = try assignments(ids: ids, seed: UInt64(ids?.count ?? 99))
        try a.validate()
        var m = WireMessage()
        a.encodeBinary(into: &m)
        let magic = String(decoding: m.frames[1].prefix(4), as: UTF8.self)
        switch a.ids.kind {
        case .none: #expect(magic == "VASN" && m.frameCount == 7)
        case .int: #expect(magic == "VASI" && m.frameCount == 8)
        case .string: #expect(magic == "VASS" && m.frameCount == 8)
        case .mixed: #expect(magic == "VASM" && m.frameCount == 8)
        }
        #expect(try Assignments.decodeBinary(frames: m.frames) == a)
        m.removeAll()
        a.encodeBinary(topic: nil, into: &m)
        #expect(try Assignments.decodeBinary(frames: m.frames, hasTopic: false) == a)
        m.removeAll()
        try a.encodeJSON(into: &m)
        #expect(try Assignments.decodeJSON(frames: m.frames) == a)
    }

    @Test("the assignments layout matches the documented frames")
    func assignmentsLayout() throws {
        var a = Assignments(k: 3, startEpoch: 1, sequence: 2, modelVersion: 3)
        try a.appendRow(id: .int(70), best: 2, distance: 0.5, support: [(2, 0.75), (0, 0.25)])
        try a.appendRow(id: .int(71), best: 1, distance: 1.5, support: [(1, 1)])
        var m = WireMessage()
        a.encodeBinary(into: &m)
        #expect(m.frames == [
            bytes("assignments.bin"),
            bytes("VASI") + le32(2) + le32(3) + le64(1) + le64(2) + le64(3),
            le64(70) + le64(71),
            le32(2) + le32(1),
            f32([0.5, 1.5]),
            le32(0) + le32(2) + le32(3),
            le32(2) + le32(0) + le32(1),
            f32([0.75, 0.25, 1]),
        ])
        m.removeAll()
        try a.encodeJSON(into: &m)
        #expect(String(decoding: m.frames[1], as: UTF8.self) == #"{"k":3,"start_epoch":1,"seq":2,"model_version":3,"rows":[{"id":70,"best":2,"dist":0.5,"support":[[2,0.75],[0,0.25]]},{"id":71,"best":1,"dist":1.5,"support":[[1,1.0]]}]}"#)
    }

    @Test("inconsistent assignments are rejected")
    func invalidAssignments() throws {
        let a = try assignments(ids: nil, seed: 1)
        var m = WireMessage()
        a.encodeBinary(into: &m)
        var frames = m.frames
        frames[5] = le32(0) + le32(5) + le32(1) + le32(2) + le32(3)  // offsets decrease
        #expect(reason { () throws(WireError) in try Assignments.decodeBinary(frames: frames) } == .badSupport)
        frames = m.frames
        frames[2] = le32(7) + Array(frames[2].dropFirst(4))  // best == k
        #expect(reason { () throws(WireError) in try Assignments.decodeBinary(frames: frames) } == .badSupport)
        frames = m.frames
        frames[3] = Array(frames[3].dropLast(4))
        #expect(reason { () throws(WireError) in try Assignments.decodeBinary(frames: frames) } == .countMismatch)
        frames = m.frames
        frames[1] = bytes("VASX") + Array(frames[1].dropFirst(4))
        #expect(reason { () throws(WireError) in try Assignments.decodeBinary(frames: frames) } == .unknownFormat)
    }

    @Test("heartbeat and events round-trip")
    func heartbeatAndEvents() throws {
        let h = Heartbeat(startEpoch: 1, sequence: 2, timeUnixMilliseconds: 1_760_000_000_000, vectorsIn: 100, vectorsAccepted: 98, dropped: 2, modelVersion: 7, temperature: 0.25)
        var m = WireMessage()
        try h.encodeJSON(into: &m)
        #expect(m.frames[0] == bytes("heartbeat"))
        #expect(String(decoding: m.frames[1], as: UTF8.self) == #"{"start_epoch":1,"seq":2,"time_unix_ms":1760000000000,"vectors_in":100,"vectors_accepted":98,"dropped":2,"model_version":7,"temperature":0.25}"#)
        #expect(try Heartbeat.decodeJSON(frames: m.frames) == h)
        let e = WireEvent(
            startEpoch: 1, sequence: 3, timeUnixMilliseconds: -5, event: "reseed",
            fields: ["center": .int(3), "reason": .string("dead \"center\""), "mass": .double(1e-30), "whole": .double(2)])
        m.removeAll()
        try e.encodeJSON(into: &m)
        #expect(m.frames[0] == bytes("events"))
        #expect(try WireEvent.decodeJSON(frames: m.frames) == e)
    }

    @Test("stats and error replies round-trip")
    func replies() throws {
        let stats: [String: WireScalar] = ["vectors_in": .int(12), "k": .int(8), "temperature": .double(0.5), "mode": .string("entmax15")]
        var m = WireMessage()
        try encodeStatsReply(stats, into: &m)
        #expect(m.frameCount == 1)
        #expect(try decodeStatsReply(frames: m.frames) == stats)
        m.removeAll()
        WireError(.dimensionMismatch, "dimension 3, expected 4").encodeReply(into: &m)
        #expect(m.frames == [bytes("error"), bytes("dimension_mismatch"), bytes("dimension 3, expected 4")])
        let decoded = WireError.decodeReply(frames: m.frames)
        #expect(decoded?.reason == "dimension_mismatch")
        #expect(WireError.decodeReply(frames: [bytes("VCT1")]) == nil)
    }

    @Test("outbound topics are not prefixes of each other")
    func topics() {
        for a in WireTopic.all {
            for b in WireTopic.all where a != b {
                #expect(!b.hasPrefix(a))
            }
        }
    }

    @Test("a reused message keeps its storage")
    func reuse() throws {
        let s = snapshot(k: 4, d: 8, seed: 1)
        var m = WireMessage(reservingCapacity: 4096)
        s.encodeBinary(into: &m)
        let capacity = m.bytes.capacity
        for _ in 0..<10 {
            m.removeAll()
            s.encodeBinary(into: &m)
        }
        #expect(m.bytes.capacity == capacity)
        var seen = 0
        m.forEachFrame { i, raw in
            seen += raw.count
            #expect(raw.count == m.frameRange(i).count)
        }
        #expect(seen == m.bytes.count)
    }
}
