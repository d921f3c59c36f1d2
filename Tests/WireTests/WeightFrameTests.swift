import Testing

@testable import Wire

@Suite("Sample weights on inbound batches")
struct WeightFrameTests {
    @Test("VW1 magics carry a float32 weights frame after the ids", arguments: ["VW1N", "VW1I", "VW1S"])
    func weightedBatch(magic: String) throws {
        let rows: [[Float]] = [[1, 2], [3, 4], [5, 6]]
        var frames = [bytes("vectors"), batchHeader(magic, count: 3, seq: 9), f32(rows.flatMap { $0 })]
        if magic == "VW1I" { frames.append(le64(7) + le64(8) + le64(9)) }
        if magic == "VW1S" { frames.append(bytes("a\nb\nc")) }
        frames.append(f32([0.5, 3, 1e-3]))
        let m = try VectorDecoder().decode(frames: frames)
        #expect(m.info == VectorMessageInfo(format: .batch, firstRow: 0, count: 3, dimension: 2, sequence: 9))
        #expect(m.batch.rows == rows)
        #expect(m.batch.weights == [0.5, 3, 1e-3])
        #expect(m.batch.ids.count == 3)
    }

    @Test("an unweighted batch stores no weights")
    func unweightedStoresNothing() throws {
        let m = try VectorDecoder().decode(frames: [bytes("vectors"), batchHeader("VB1N", count: 2), f32([1, 2, 3, 4])])
        #expect(!m.batch.isWeighted)
        #expect(m.batch.weights.isEmpty)
    }

    @Test("weighted and unweighted messages share a batch; unweighted rows weigh 1")
    func mixedMessagesInOneBatch() throws {
        let decoder = VectorDecoder()
        var batch = VectorBatch()
        func decode(_ frames: [[UInt8]]) throws(WireError) {
            _ = try withRawFrames(frames) { (raws) throws(WireError) in try decoder.decode(frames: raws, into: &batch) }
        }
        try decode([bytes("vectors"), f32([1, 1])])
        try decode([bytes("vectors"), batchHeader("VW1N", count: 2), f32([2, 2, 3, 3]), f32([4, 5])])
        try decode([bytes("vectors"), batchHeader("VB1N", count: 1), f32([6, 6])])
        try decode([bytes("vectors"), bytes("json"), bytes(#"{"vectors":[[7,7],[8,8]],"weights":[0.25,2]}"#)])
        try decode([bytes("vectors"), bytes("json"), bytes(#"{"vector":[9,9],"weight":6}"#)])
        #expect(batch.count == 7)
        #expect(batch.weights == [1, 4, 5, 1, 0.25, 2, 6])
        // A rejected weighted message leaves the batch as it was.
        #expect(throws: WireError.self) {
            try decode([bytes("vectors"), batchHeader("VW1N", count: 2), f32([2, 2, 3, 3]), f32([1, -1])])
        }
        #expect(batch.count == 7 && batch.weights.count == 7)
    }

    @Test("bad weights are rejected as bad_weights", arguments: [Float(0), -1, .nan, .infinity, -.infinity, -0.0])
    func badWeight(w: Float) {
        let frames = [bytes("vectors"), batchHeader("VW1N", count: 2), f32([1, 2, 3, 4]), f32([1, w])]
        #expect(reason { () throws(WireError) in try VectorDecoder().decode(frames: frames) } == .badWeights)
        let text = #"{"vectors":[[1,2],[3,4]],"weights":[1,\#(w.isFinite ? "\(w)" : "1e39")]}"#
        #expect(reason { () throws(WireError) in try VectorDecoder().decode(frames: [bytes("vectors"), bytes("json"), bytes(text)]) } == .badWeights)
    }

    @Test("a weights frame of the wrong size, or a missing one, is rejected")
    func wrongFrames() {
        let d = VectorDecoder()
        let body = f32([1, 2, 3, 4])
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), batchHeader("VW1N", count: 2), body, f32([1])]) } == .badWeights)
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), batchHeader("VW1N", count: 2), body]) } == .frameCount)
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), batchHeader("VW1I", count: 2), body, le64(1) + le64(2)]) } == .frameCount)
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), batchHeader("VB1N", count: 2), body, f32([1, 1])]) } == .frameCount)
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), batchHeader("VW2N", count: 2), body, f32([1, 1])]) } == .unknownFormat)
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), bytes("json"), bytes(#"{"vectors":[[1],[2]],"weights":[1]}"#)]) } == .badWeights)
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), bytes("json"), bytes(#"{"vector":[1],"weights":[1]}"#)]) } == .badJSON)
        #expect(reason { () throws(WireError) in try d.decode(frames: [bytes("v"), bytes("json"), bytes(#"{"vector":[1],"weight":"x"}"#)]) } == .badWeights)
    }

    @Test("the encoders write what the decoder reads", arguments: [1, 4])
    func roundTrip(count: Int) throws {
        var batch = try VectorBatch(rows: (0..<count).map { [Float($0), 1] }, ids: (0..<count).map { .int(Int64($0)) })
        try batch.setWeights((0..<count).map { Float($0) + 0.5 })
        var binary = WireMessage()
        try VectorEncoder.encodeBatch(topic: "vectors", batch: batch, sequence: 3, into: &binary)
        var json = WireMessage()
        try VectorEncoder.encodeJSON(topic: "vectors", batch: batch, into: &json)
        for message in [binary, json] {
            let m = try VectorDecoder().decode(frames: message.frames)
            #expect(m.batch.weights == batch.weights)
            #expect(m.batch.values == batch.values)
        }
    }
}
