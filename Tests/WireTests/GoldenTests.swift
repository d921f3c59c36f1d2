import Foundation
import Testing

@testable import Wire

// Real messages captured from the daemon (Tests/golden, see its README.md for the file format
// and how they were made), decoded with the Wire decoders and checked against fields read by
// hand from the bytes. The Python client's tests check the same files and the same fields.

/// Why a golden file could not be read as frames.
struct GoldenFileError: Error, CustomStringConvertible {
    let description: String
}

/// The frames of `Tests/golden/<name>`: each stored as a u32 little-endian length, then its bytes.
func goldenFrames(_ name: String) throws -> [[UInt8]] {
    let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("golden")
        .appendingPathComponent(name)
    let data = [UInt8](try Data(contentsOf: url))
    var frames: [[UInt8]] = []
    var position = 0
    while position < data.count {
        guard position + 4 <= data.count else {
            throw GoldenFileError(description: "\(name): truncated length at byte \(position)")
        }
        var length = 0
        for i in 0..<4 { length |= Int(data[position + i]) << (8 * i) }
        position += 4
        guard position + length <= data.count else {
            throw GoldenFileError(description: "\(name): frame of \(length) bytes runs past the end")
        }
        frames.append(Array(data[position..<position + length]))
        position += length
    }
    return frames
}

/// Every golden message comes from one daemon run.
let goldenStartEpoch: UInt64 = 1_796_037_972_841

@Suite("Golden messages captured from the daemon")
struct GoldenTests {
    /// The centers of the golden run, as bit patterns read from the centers frame.
    let centerBits: [UInt32] = [0x4122_2642, 0x3D08_BE4C, 0x3E36_A810, 0x4120_43AA, 0x3D92_5352, 0x3CEA_E199]
    let countBits: [UInt64] = [0x402D_ED8F_352C_7A95, 0x402C_07E6_523A_FA9D, 0x4030_FB12_96F7_8286]

    func checkCenters(_ s: CentersSnapshot, sequence: UInt64) {
        #expect(s.k == 3)
        #expect(s.dimension == 2)
        #expect(s.startEpoch == goldenStartEpoch)
        #expect(s.sequence == sequence)
        #expect(s.modelEpoch == 1_796_037_973_849)
        #expect(s.modelVersion == 5)
        #expect(s.temperature.bitPattern == 0x4046_96C6_05DE_C889)
        #expect(s.centers.map { $0.bitPattern } == centerBits)
        #expect(s.counts.map { $0.bitPattern } == countBits)
    }

    @Test("centers.bin")
    func centers() throws {
        let frames = try goldenFrames("centers.bin")
        #expect(frames.count == 4)
        #expect(frames[0] == bytes("centers.bin"))
        #expect(frames[1].count == CentersSnapshot.binaryHeaderBytes)
        let s = try CentersSnapshot.decodeBinary(frames: frames)
        checkCenters(s, sequence: 5)
    }

    @Test("the snapshot reply is centers.bin without topic, with seq 0")
    func snapshotReply() throws {
        let frames = try goldenFrames("snapshot-reply.bin")
        #expect(frames.count == 3)
        let s = try CentersSnapshot.decodeBinary(frames: frames, hasTopic: false)
        checkCenters(s, sequence: 0)
    }

    @Test("assignments.bin with int64 ids (VASI)")
    func intIDs() throws {
        let frames = try goldenFrames("assignments-int.bin")
        #expect(frames.count == 8)
        #expect(Array(frames[1][0..<4]) == bytes("VASI"))
        let a = try Assignments.decodeBinary(frames: frames)
        #expect(a.count == 5)
        #expect(a.k == 3)
        #expect(a.startEpoch == goldenStartEpoch)
        #expect(a.sequence == 2)
        #expect(a.modelVersion == 2)
        #expect(a.ids.kind == VectorIDs.Kind.int)
        let expected: [VectorID?] = [VectorID.int(101), VectorID.int(102), VectorID.int(103), VectorID.int(104), VectorID.int(105)]
        #expect(a.ids.all == expected)
        #expect(a.best == [2, 0, 1, 2, 0])
        #expect(a.offsets == [0, 1, 2, 3, 4, 6])
        #expect(a.indices == [2, 0, 1, 2, 0, 2])
        #expect(a.weights.map { $0.bitPattern } == [0x3F80_0000, 0x3F80_0000, 0x3F80_0000, 0x3F80_0000, 0x3F7F_E65F, 0x39CD_09B4])
    }

    @Test("assignments.bin with string ids (VASS)")
    func stringIDs() throws {
        let frames = try goldenFrames("assignments-string.bin")
        #expect(frames.count == 8)
        #expect(Array(frames[1][0..<4]) == bytes("VASS"))
        let a = try Assignments.decodeBinary(frames: frames)
        #expect(a.count == 4)
        #expect(a.k == 3)
        #expect(a.startEpoch == goldenStartEpoch)
        #expect(a.sequence == 3)
        #expect(a.modelVersion == 3)
        #expect(a.ids.kind == VectorIDs.Kind.string)
        let expected: [VectorID?] = [VectorID.string("a-1"), VectorID.string("b-2"), VectorID.string("c-3"), VectorID.string("d-4")]
        #expect(a.ids.all == expected)
        #expect(a.best == [2, 0, 1, 2])
        #expect(a.offsets == [0, 1, 2, 3, 4])
        #expect(a.indices == [2, 0, 1, 2])
        #expect(a.weights == [1, 1, 1, 1])
    }

    @Test("assignments.bin without ids (VASN)")
    func noIDs() throws {
        let frames = try goldenFrames("assignments-none.bin")
        #expect(frames.count == 7)
        #expect(Array(frames[1][0..<4]) == bytes("VASN"))
        let a = try Assignments.decodeBinary(frames: frames)
        #expect(a.count == 3)
        #expect(a.k == 3)
        #expect(a.startEpoch == goldenStartEpoch)
        #expect(a.sequence == 4)
        #expect(a.modelVersion == 4)
        #expect(a.ids.count == 0)
        #expect(a.best == [2, 0, 1])
        #expect(a.offsets == [0, 1, 2, 3])
        #expect(a.indices == [2, 0, 1])
    }

    @Test("assignments.bin of a batch that combined messages with and without ids (VASM)")
    func mixedIDs() throws {
        let frames = try goldenFrames("assignments-mixed.bin")
        #expect(frames.count == 8)
        #expect(Array(frames[1][0..<4]) == bytes("VASM"))
        let a = try Assignments.decodeBinary(frames: frames)
        #expect(a.count == 4)
        #expect(a.k == 3)
        #expect(a.startEpoch == goldenStartEpoch)
        #expect(a.sequence == 5)
        #expect(a.modelVersion == 5)
        #expect(a.ids.kind == VectorIDs.Kind.mixed)
        let expected: [VectorID?] = [VectorID.int(201), VectorID.int(202), nil, VectorID.string("z-9")]
        #expect(a.ids.all == expected)
        #expect(a.best == [2, 0, 1, 2])
        #expect(a.offsets == [0, 1, 2, 3, 4])
    }

    @Test("the predict reply for the three group means")
    func predictReply() throws {
        let frames = try goldenFrames("predict-reply.bin")
        #expect(frames.count == 6)
        let a = try Assignments.decodeBinary(frames: frames, hasTopic: false)
        #expect(a.count == 3)
        #expect(a.k == 3)
        #expect(a.startEpoch == goldenStartEpoch)
        #expect(a.sequence == 0)
        #expect(a.modelVersion == 5)
        #expect(a.ids.count == 0)
        #expect(a.best == [2, 0, 1])
        #expect(a.distances.map { $0.bitPattern } == [0x3BC2_366F, 0x3C9C_F94D, 0x3D03_718C])
        // Each distance is its mean's squared distance to that center of the snapshot.
        let snapshot = try CentersSnapshot.decodeBinary(frames: try goldenFrames("snapshot-reply.bin"), hasTopic: false)
        let means: [(Double, Double)] = [(0, 0), (10, 0), (0, 10)]
        for row in 0..<3 {
            let c = Int(a.best[row])
            let dx = means[row].0 - Double(snapshot.centers[2 * c])
            let dy = means[row].1 - Double(snapshot.centers[2 * c + 1])
            #expect(abs(Double(a.distances[row]) - (dx * dx + dy * dy)) < 1e-6)
        }
    }

    @Test("heartbeat")
    func heartbeat() throws {
        let frames = try goldenFrames("heartbeat.bin")
        #expect(frames.count == 2)
        #expect(frames[0] == bytes("heartbeat"))
        let h = try Heartbeat.decodeJSON(frames: frames)
        #expect(h.startEpoch == goldenStartEpoch)
        #expect(h.sequence == 7)
        #expect(h.timeUnixMilliseconds == 1_796_037_974_044)
        #expect(h.vectorsIn == 30)
        #expect(h.vectorsAccepted == 30)
        #expect(h.dropped == 0)
        #expect(h.modelVersion == 1)
        #expect(h.temperature == 45.20297708470642)
    }

    @Test("the seeded event")
    func event() throws {
        let frames = try goldenFrames("event.bin")
        #expect(frames.count == 2)
        #expect(frames[0] == bytes("events"))
        let e = try WireEvent.decodeJSON(frames: frames)
        #expect(e.startEpoch == goldenStartEpoch)
        #expect(e.sequence == 2)
        #expect(e.timeUnixMilliseconds == 1_796_037_973_850)
        #expect(e.event == "seeded")
        let expected: [String: WireScalar] = [
            "temperature": WireScalar.double(45.25),
            "temperature_floor": WireScalar.double(0.04525),
            "vectors": WireScalar.int(30),
        ]
        #expect(e.fields == expected)
    }

    @Test("the not_ready error reply")
    func notReady() throws {
        let frames = try goldenFrames("error-not-ready.bin")
        let reply = WireError.decodeReply(frames: frames)
        #expect(reply?.reason == "not_ready")
        #expect(reply?.detail == "no model yet: warming up, 0 of 30 vectors")
    }

    @Test("the stats reply")
    func stats() throws {
        let frames = try goldenFrames("stats-reply.bin")
        let s = try decodeStatsReply(frames: frames)
        #expect(s["k"] == WireScalar.int(3))
        #expect(s["dimension"] == WireScalar.int(2))
        #expect(s["vectors_accepted"] == WireScalar.int(46))
        #expect(s["model_version"] == WireScalar.int(5))
        #expect(s["sequence_gaps"] == WireScalar.int(0))
        #expect(s["mode"] == WireScalar.string("entmax15"))
    }
}
