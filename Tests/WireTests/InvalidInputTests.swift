import Testing

@testable import Wire

/// One malformed message per line, each with the reason it must be rejected for.
struct BadMessage: CustomTestStringConvertible, Sendable {
    var name: String
    var expected: WireError.Reason
    var frames: [[UInt8]]
    var query = false
    var decoder = VectorDecoder(expectedDimension: nil)
    var testDescription: String { "\(expected.rawValue): \(name)" }
}

private func json(_ text: String) -> [[UInt8]] { [bytes("v"), bytes("json"), bytes(text)] }

private let cosineDecoder: VectorDecoder = {
    var d = VectorDecoder()
    d.unitLength = true
    return d
}()

private let small = WireLimits(maxFrameBytes: 64, maxVectorsPerMessage: 4, maxDimension: 8, maxTopicBytes: 8, maxJSONBytes: 48, maxJSONDepth: 4)

let badMessages: [BadMessage] = [
    BadMessage(name: "topic only", expected: .frameCount, frames: [bytes("v")]),
    BadMessage(name: "five frames for VB1N", expected: .frameCount, frames: [bytes("v"), batchHeader("VB1N", count: 1), f32([1]), [], []]),
    BadMessage(name: "six frames", expected: .frameCount, frames: [bytes("v"), batchHeader("VW1I", count: 1), f32([1]), le64(1), f32([1]), []]),
    BadMessage(name: "VW1N without weights frame", expected: .frameCount, frames: [bytes("v"), batchHeader("VW1N", count: 1), f32([1])]),
    BadMessage(name: "zero weight", expected: .badWeights, frames: [bytes("v"), batchHeader("VW1N", count: 1), f32([1]), f32([0])]),
    BadMessage(name: "NaN weight", expected: .badWeights, frames: [bytes("v"), batchHeader("VW1N", count: 1), f32([1]), f32([.nan])]),
    BadMessage(name: "weights frame short", expected: .badWeights, frames: [bytes("v"), batchHeader("VW1N", count: 2), f32([1, 2]), f32([1])]),
    BadMessage(name: "negative JSON weight", expected: .badWeights, frames: json(#"{"vector":[1],"weight":-2}"#)),
    BadMessage(name: "VB1N with ids frame", expected: .frameCount, frames: [bytes("v"), batchHeader("VB1N", count: 1), f32([1]), le64(1)]),
    BadMessage(name: "VB1I without ids frame", expected: .frameCount, frames: [bytes("v"), batchHeader("VB1I", count: 1), f32([1])]),
    BadMessage(name: "json with extra frame", expected: .frameCount, frames: [bytes("v"), bytes("json"), bytes("{}"), []]),
    BadMessage(name: "empty topic", expected: .badTopic, frames: [[], f32([1])]),
    BadMessage(name: "long topic", expected: .badTopic, frames: [bytes("vectors/too-long"), f32([1])], decoder: VectorDecoder(limits: small)),
    BadMessage(name: "topic not UTF-8", expected: .invalidUTF8, frames: [[0x76, 0xC0, 0x80], f32([1])]),
    BadMessage(name: "oversized body", expected: .frameTooLarge, frames: [bytes("v"), f32(Array(repeating: 1, count: 17))], decoder: VectorDecoder(limits: small)),
    BadMessage(name: "oversized JSON", expected: .frameTooLarge, frames: json(#"{"vector":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}"#), decoder: VectorDecoder(limits: small)),
    BadMessage(name: "unknown magic", expected: .unknownFormat, frames: [bytes("v"), batchHeader("VB2N", count: 1), f32([1])]),
    BadMessage(name: "unknown selector", expected: .unknownFormat, frames: [bytes("v"), bytes("yaml"), bytes("a: 1")]),
    BadMessage(name: "short header", expected: .badHeader, frames: [bytes("v"), Array(batchHeader("VB1N", count: 1).prefix(12)), f32([1])]),
    BadMessage(name: "zero count", expected: .badHeader, frames: [bytes("v"), batchHeader("VB1N", count: 0), f32([1])]),
    BadMessage(name: "empty body", expected: .badBodyLength, frames: [bytes("v"), []]),
    BadMessage(name: "body of 7 bytes", expected: .badBodyLength, frames: [bytes("v"), Array(f32([1, 2]).prefix(7))]),
    BadMessage(name: "batch body of 6 bytes", expected: .badBodyLength, frames: [bytes("v"), batchHeader("VB1N", count: 1), Array(f32([1, 2]).prefix(6))]),
    BadMessage(name: "empty JSON vector", expected: .badBodyLength, frames: json(#"{"vector":[]}"#)),
    BadMessage(name: "empty JSON vectors", expected: .badBodyLength, frames: json(#"{"vectors":[]}"#)),
    BadMessage(name: "3 floats for 2 vectors", expected: .countMismatch, frames: [bytes("v"), batchHeader("VB1N", count: 2), f32([1, 2, 3])]),
    BadMessage(name: "single of wrong dimension", expected: .dimensionMismatch, frames: [bytes("v"), f32([1, 2])], decoder: VectorDecoder(expectedDimension: 3)),
    BadMessage(name: "batch of wrong dimension", expected: .dimensionMismatch, frames: [bytes("v"), batchHeader("VB1N", count: 2), f32([1, 2, 3, 4])], decoder: VectorDecoder(expectedDimension: 1)),
    BadMessage(name: "ragged JSON", expected: .dimensionMismatch, frames: json(#"{"vectors":[[1,2],[3]]}"#)),
    BadMessage(name: "JSON of wrong dimension", expected: .dimensionMismatch, frames: json(#"{"vector":[1,2]}"#), decoder: VectorDecoder(expectedDimension: 3)),
    BadMessage(name: "dimension 9 > 8", expected: .dimensionTooLarge, frames: [bytes("v"), f32(Array(repeating: 1, count: 9))], decoder: VectorDecoder(limits: small)),
    BadMessage(name: "JSON dimension 9 > 8", expected: .dimensionTooLarge, frames: json("{\"vector\":[1,1,1,1,1,1,1,1,1]}"), decoder: VectorDecoder(limits: WireLimits(maxDimension: 8))),
    BadMessage(name: "count 5 > 4", expected: .tooManyVectors, frames: [bytes("v"), batchHeader("VB1N", count: 5), f32([1, 2, 3, 4, 5])], decoder: VectorDecoder(limits: small)),
    BadMessage(name: "JSON 5 vectors > 4", expected: .tooManyVectors, frames: json(#"{"vectors":[[1],[2],[3],[4],[5]]}"#), decoder: VectorDecoder(limits: WireLimits(maxVectorsPerMessage: 4))),
    BadMessage(name: "NaN in single", expected: .nonFinite, frames: [bytes("v"), f32([1, .nan])]),
    BadMessage(name: "+Inf in batch", expected: .nonFinite, frames: [bytes("v"), batchHeader("VB1N", count: 2), f32([1, 2, 3, .infinity])]),
    BadMessage(name: "-Inf in batch", expected: .nonFinite, frames: [bytes("v"), batchHeader("VB1N", count: 1), f32([-.infinity])]),
    BadMessage(name: "signalling NaN bits", expected: .nonFinite, frames: [bytes("v"), le32(0x7F80_0001)]),
    BadMessage(name: "JSON number overflows Float", expected: .nonFinite, frames: json(#"{"vector":[1e39]}"#)),
    BadMessage(name: "eight values 1e30 in single", expected: .outOfRange, frames: [bytes("v"), f32(Array(repeating: 1e30, count: 8))]),
    BadMessage(name: "near Float.max in batch", expected: .outOfRange, frames: [bytes("v"), batchHeader("VB1N", count: 1), f32([-3.4e38, 1])]),
    BadMessage(name: "one huge among tiny", expected: .outOfRange, frames: [bytes("v"), batchHeader("VB1N", count: 2), f32([1e-40, 1e-30, 1e-45, 0x1p40])]),
    BadMessage(name: "one bad vector in a good batch", expected: .outOfRange, frames: [bytes("v"), batchHeader("VB1N", count: 3), f32([1, 2, 3, 4, -2e12, 6])]),
    BadMessage(name: "JSON 1e13", expected: .outOfRange, frames: json(#"{"vector":[1,1e13]}"#)),
    BadMessage(name: "predict with 1e30", expected: .outOfRange, frames: [bytes("predict"), batchHeader("VB1N", count: 1), f32([1e30])], query: true),
    BadMessage(name: "zero vector under the cosine metric", expected: .zeroNorm, frames: [bytes("v"), batchHeader("VB1N", count: 2), f32([1, 2, 0, 0])], decoder: cosineDecoder),
    BadMessage(name: "zero JSON vector under the cosine metric", expected: .zeroNorm, frames: json(#"{"vector":[0,0,0]}"#), decoder: cosineDecoder),
    BadMessage(name: "int ids frame short", expected: .badIDs, frames: [bytes("v"), batchHeader("VB1I", count: 2), f32([1, 2]), le64(1)]),
    BadMessage(name: "string ids: one missing", expected: .badIDs, frames: [bytes("v"), batchHeader("VB1S", count: 2), f32([1, 2]), bytes("a")]),
    BadMessage(name: "string ids: one extra", expected: .badIDs, frames: [bytes("v"), batchHeader("VB1S", count: 2), f32([1, 2]), bytes("a\nb\nc")]),
    BadMessage(name: "string ids: trailing newline", expected: .badIDs, frames: [bytes("v"), batchHeader("VB1S", count: 2), f32([1, 2]), bytes("a\nb\n")]),
    BadMessage(name: "string ids: empty id", expected: .badIDs, frames: [bytes("v"), batchHeader("VB1S", count: 2), f32([1, 2]), bytes("\nb")]),
    BadMessage(name: "JSON ids mixed", expected: .badIDs, frames: json(#"{"vectors":[[1],[2]],"ids":[1,"b"]}"#)),
    BadMessage(name: "JSON ids count", expected: .badIDs, frames: json(#"{"vectors":[[1],[2]],"ids":[1]}"#)),
    BadMessage(name: "JSON id fractional", expected: .badIDs, frames: json(#"{"vector":[1],"id":1.5}"#)),
    BadMessage(name: "JSON id bool", expected: .badIDs, frames: json(#"{"vector":[1],"id":true}"#)),
    BadMessage(name: "JSON id empty", expected: .badIDs, frames: json(#"{"vector":[1],"id":""}"#)),
    BadMessage(name: "JSON id with LF", expected: .badIDs, frames: json(#"{"vector":[1],"id":"a\nb"}"#)),
    BadMessage(name: "string id 65 bytes", expected: .idTooLong, frames: [bytes("v"), batchHeader("VB1S", count: 1), f32([1]), bytes(String(repeating: "x", count: 65))]),
    BadMessage(name: "JSON id 65 bytes", expected: .idTooLong, frames: json("{\"vector\":[1],\"id\":\"\(String(repeating: "é", count: 33))\"}")),
    BadMessage(name: "string id not UTF-8", expected: .invalidUTF8, frames: [bytes("v"), batchHeader("VB1S", count: 1), f32([1]), [0xED, 0xA0, 0x80]]),
    BadMessage(name: "JSON not UTF-8", expected: .invalidUTF8, frames: [bytes("v"), bytes("json"), bytes(#"{"vector":[1],"id":""#) + [0xFF] + bytes(#""}"#)]),
    BadMessage(name: "JSON not an object", expected: .badJSON, frames: json("[1,2]")),
    BadMessage(name: "JSON trailing comma", expected: .badJSON, frames: json(#"{"vector":[1,2,]}"#)),
    BadMessage(name: "JSON trailing object comma", expected: .badJSON, frames: json(#"{"vector":[1],}"#)),
    BadMessage(name: "JSON duplicate key", expected: .badJSON, frames: json(#"{"vector":[1],"vector":[2]}"#)),
    BadMessage(name: "JSON duplicate escaped key", expected: .badJSON, frames: json(#"{"vector":[1],"x":1,"\u0078":2}"#)),
    BadMessage(name: "JSON duplicate nested key", expected: .badJSON, frames: json(#"{"vector":[1],"x":{"a":1,"a":2}}"#)),
    BadMessage(name: "JSON object with 257 keys", expected: .badJSON, frames: json("{\"vector\":[1]" + (0..<256).map { ",\"k\($0)\":0" }.joined() + "}")),
    BadMessage(name: "JSON too deep", expected: .badJSON, frames: json(#"{"vector":[1],"x":[[[[1]]]]}"#), decoder: VectorDecoder(limits: WireLimits(maxJSONDepth: 4))),
    BadMessage(name: "JSON NaN literal", expected: .badJSON, frames: json(#"{"vector":[NaN]}"#)),
    BadMessage(name: "JSON leading zero", expected: .badJSON, frames: json(#"{"vector":[01]}"#)),
    BadMessage(name: "JSON bare dot", expected: .badJSON, frames: json(#"{"vector":[1.]}"#)),
    BadMessage(name: "JSON plus sign", expected: .badJSON, frames: json(#"{"vector":[+1]}"#)),
    BadMessage(name: "JSON string component", expected: .badJSON, frames: json(#"{"vector":["1"]}"#)),
    BadMessage(name: "JSON lone surrogate", expected: .badJSON, frames: json(#"{"vector":[1],"id":"\ud800"}"#)),
    BadMessage(name: "JSON control char", expected: .badJSON, frames: json("{\"vector\":[1],\"id\":\"a\u{01}\"}")),
    BadMessage(name: "JSON trailing text", expected: .badJSON, frames: json(#"{"vector":[1]} x"#)),
    BadMessage(name: "JSON truncated", expected: .badJSON, frames: json(#"{"vector":[1"#)),
    BadMessage(name: "JSON no vector", expected: .badJSON, frames: json(#"{"id":1}"#)),
    BadMessage(name: "JSON vector and vectors", expected: .badJSON, frames: json(#"{"vector":[1],"vectors":[[1]]}"#)),
    BadMessage(name: "JSON id with vectors", expected: .badJSON, frames: json(#"{"vectors":[[1]],"id":1}"#)),
    BadMessage(name: "JSON negative seq", expected: .badJSON, frames: json(#"{"vector":[1],"seq":-1}"#)),
    BadMessage(name: "JSON seq overflow", expected: .badJSON, frames: json(#"{"vector":[1],"seq":18446744073709551616}"#)),
    BadMessage(name: "unknown request", expected: .unknownRequest, frames: [bytes("train")], query: true),
    BadMessage(name: "snapshot with extra frame", expected: .frameCount, frames: [bytes("snapshot"), []], query: true),
    BadMessage(name: "predict without body", expected: .frameCount, frames: [bytes("predict"), batchHeader("VB1N", count: 1)], query: true),
    BadMessage(name: "predict with NaN", expected: .nonFinite, frames: [bytes("predict"), batchHeader("VB1N", count: 1), f32([.nan])], query: true),
]

@Suite("Invalid input")
struct InvalidInputTests {
    @Test("each malformed message is rejected for its reason", arguments: badMessages)
    func rejected(_ bad: BadMessage) {
        var batch = VectorBatch()
        let got = reason { () throws(WireError) in
            if bad.query {
                _ = try bad.decoder.decodeQuery(frames: bad.frames)
            } else {
                _ = try decodeUnaligned(bad.frames, decoder: bad.decoder, into: &batch)
            }
        }
        #expect(got == bad.expected)
        if !bad.query {
            // The same from aligned frames.
            var aligned = VectorBatch()
            #expect(reason { () throws(WireError) in _ = try decodeAligned(bad.frames, decoder: bad.decoder, into: &aligned) } == bad.expected)
            #expect(aligned.isEmpty)
        }
        #expect(batch.isEmpty)
    }

    @Test("the magnitude limit: just below 2^40 is accepted, 2^40 and above refused, and non-finite stays non_finite")
    func magnitudeBoundary() throws {
        let below = Float(0x1p40).nextDown
        var batch = VectorBatch()
        _ = try decodeUnaligned([bytes("v"), f32([below, -below, 0, .leastNonzeroMagnitude])], decoder: VectorDecoder(), into: &batch)
        #expect(batch.count == 1)
        #expect(WireLimits.accepts(below) && !WireLimits.accepts(0x1p40) && !WireLimits.accepts(-.greatestFiniteMagnitude))
        #expect(!WireLimits.accepts(.nan) && !WireLimits.accepts(.infinity))
        let d = 65_536
        // The bound's reason: squared distances between admissible vectors of the largest dimension stay finite with room to spare.
        let worst = Float(d) * (2 * below) * (2 * below)
        #expect(worst.isFinite && worst * 0x1p29 < .greatestFiniteMagnitude)
        var refused = VectorBatch()
        #expect(reason { () throws(WireError) in try refused.append([1, .infinity], id: nil) } == .nonFinite)
        #expect(reason { () throws(WireError) in try refused.append([1, 1e20], id: nil) } == .outOfRange)
        #expect(refused.isEmpty)
    }

    @Test("under the cosine metric vectors arrive at unit length")
    func unitLength() throws {
        var decoder = VectorDecoder()
        decoder.unitLength = true
        var batch = VectorBatch()
        _ = try decodeUnaligned([bytes("v"), batchHeader("VB1N", count: 2), f32([3, 4, 0, -2])], decoder: decoder, into: &batch)
        #expect(batch.values == [0.6, 0.8, 0, -1])
    }

    @Test("every reason is exercised by some test")
    func coverage() {
        var covered = Set(badMessages.map(\.expected))
        covered.insert(.badSupport)  // assignments decoding, see OutboundTests.invalidAssignments
        #expect(covered == Set(WireError.Reason.allCases))
    }

    @Test("reasons are stable snake_case labels")
    func labels() {
        for r in WireError.Reason.allCases {
            #expect(r.rawValue.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) })
        }
        #expect(WireError.Reason.dimensionMismatch.rawValue == "dimension_mismatch")
        #expect(WireError.Reason.nonFinite.rawValue == "non_finite")
        #expect(WireError.Reason.badJSON.rawValue == "bad_json")
    }
}
