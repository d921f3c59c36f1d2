import Testing

@testable import Wire

@Suite("Inbound vector messages")
struct InboundTests {
    @Test("a single vector decodes from [topic, body]")
    func single() throws {
        let v: [Float] = [1, -2.5, 3.25e-7]
        let m = try VectorDecoder(expectedDimension: 3).decode(frames: [bytes("vectors/p-7"), f32(v)])
        #expect(m.topic == "vectors/p-7")
        #expect(m.info == VectorMessageInfo(format: .single, firstRow: 0, count: 1, dimension: 3, sequence: 0))
        #expect(m.batch.values == v)
        #expect(m.batch.ids.all == [nil])
    }

    @Test("hand-built batch frames decode", arguments: ["VB1N", "VB1I", "VB1S"])
    func handBuiltBatch(magic: String) throws {
        let rows: [[Float]] = [[1, 2], [3, 4], [5, 6]]
        var frames = [bytes("vectors"), batchHeader(magic, count: 3, seq: 42), f32(rows.flatMap { $0 })]
        var expected: [VectorID?] = [nil, nil, nil]
        if magic == "VB1I" {
            frames.append(le64(7) + le64(UInt64(bitPattern: -1)) + le64(UInt64(Int64.max)))
            expected = [.int(7), .int(-1), .int(.max)]
        } else if magic == "VB1S" {
            frames.append(bytes("a\nßé\n" + String(repeating: "x", count: 64)))
            expected = [.string("a"), .string("ßé"), .string(String(repeating: "x", count: 64))]
        }
        let m = try VectorDecoder().decode(frames: frames)
        #expect(m.info == VectorMessageInfo(format: .batch, firstRow: 0, count: 3, dimension: 2, sequence: 42))
        #expect(m.batch.rows == rows)
        #expect(m.batch.ids.all == expected)
    }

    @Test(
        "batch and JSON encoders round-trip",
        arguments: [0, 1, 2], [1, 3, 64]
    )
    func roundTrip(idKind: Int, dimension: Int) throws {
        for count in [1, 5] { try roundTrip(idKind: idKind, dimension: dimension, count: count) }
    }

    func roundTrip(idKind: Int, dimension: Int, count: Int) throws {
        var rng = SplitMix64(seed: UInt64(idKind * 1000 + dimension * 10 + count))
        let rows = (0..<count).map { _ in randomFloats(dimension, &rng) }
        let ids: [VectorID?] = (0..<count).map { i in
            switch idKind {
            case 1: return .int(Int64.random(in: .min ... .max, using: &rng))
            case 2: return .string("id-\(i)-\"q\"\\ü")
            default: return nil
            }
        }
        let batch = try VectorBatch(rows: rows, ids: ids)
        for json in [false, true] {
            for seq: UInt64 in [0, 9, .max] {
                var message = WireMessage()
                if json {
                    try VectorEncoder.encodeJSON(topic: "vectors", batch: batch, sequence: seq, into: &message)
                } else {
                    try VectorEncoder.encodeBatch(topic: "vectors", batch: batch, sequence: seq, into: &message)
                }
                let m = try VectorDecoder(expectedDimension: dimension).decode(frames: message.frames)
                #expect(m.batch == batch)
                #expect(m.info.sequence == seq)
                #expect(m.info.format == (json ? .json : .batch))
                // The same bytes at odd addresses decode identically.
                var unaligned = VectorBatch()
                _ = try decodeUnaligned(message.frames, into: &unaligned)
                #expect(unaligned == batch)
            }
        }
    }

    @Test("single-vector encoder round-trips, also unaligned")
    func singleRoundTrip() throws {
        var rng = SplitMix64(seed: 5)
        let v = randomFloats(17, &rng)
        var message = WireMessage()
        VectorEncoder.encodeSingle(topic: "vectors", vector: v, into: &message)
        var batch = VectorBatch()
        let info = try decodeUnaligned(message.frames, into: &batch)
        #expect(info.format == .single)
        #expect(batch.values == v)
    }

    @Test("a batch decodes to the same values from aligned and unaligned frames, and a refused value is refused alike")
    func alignedAndUnalignedAgree() throws {
        var rng = SplitMix64(seed: 11)
        let v = randomFloats(3 * 37, &rng)
        let frames = [bytes("vectors"), batchHeader("VB1N", count: 3), f32(v)]
        var aligned = VectorBatch(), unaligned = VectorBatch()
        _ = try decodeAligned(frames, into: &aligned)
        _ = try decodeUnaligned(frames, into: &unaligned)
        #expect(aligned.values == v && unaligned.values == v)
        // A batch that already holds rows keeps them when the next message is refused.
        for bad in [Float.nan, .infinity, 0x1p41] {
            var values = v
            values[50] = bad
            let refused = [bytes("vectors"), batchHeader("VB1N", count: 3), f32(values)]
            let a = reason { () throws(WireError) in _ = try decodeAligned(refused, into: &aligned) }
            let u = reason { () throws(WireError) in _ = try decodeUnaligned(refused, into: &unaligned) }
            #expect(a != nil && a == u)
            #expect(aligned.values == v && unaligned.values == v)
        }
    }

    @Test("JSON forms: ids, nulls, unknown keys, whitespace, escapes")
    func jsonForms() throws {
        let d = VectorDecoder()
        func decode(_ text: String) throws(WireError) -> DecodedVectorMessage {
            try d.decode(frames: [bytes("v"), bytes("json"), bytes(text)])
        }
        var m = try decode(#" { "vector" : [1, 2.5, -3e2, 0.1e-1, -0] , "id" : 7 , "seq" : 3 } "#)
        #expect(m.batch.values == [1, 2.5, -300, 0.01, 0])
        #expect(m.batch.ids.all == [.int(7)])
        #expect(m.info.sequence == 3)
        m = try decode(#"{"vectors":[[1],[2]],"ids":["a","\u00e9x"],"extra":{"x":[1,{"y":null}],"z":true}}"#)
        #expect(m.batch.ids.all == [.string("a"), .string("éx")])
        m = try decode(#"{"vectors":[[1],[2]],"ids":null,"seq":null,"id_hint":"ignored"}"#)
        #expect(m.batch.ids.all == [nil, nil])
        #expect(m.info.sequence == 0)
        m = try decode(#"{"vector":[1],"id":null}"#)
        #expect(m.batch.ids.all == [nil])
        m = try decode(#"{"vector":[1],"id":"\ud83d\ude00"}"#)
        #expect(m.batch.ids.all == [.string("😀")])
        m = try decode(#"{"vector":[1],"seq":18446744073709551615,"id":-9223372036854775808}"#)
        #expect(m.info.sequence == .max)
        #expect(m.batch.ids.all == [.int(.min)])
    }

    @Test("decoding appends to a batch and rolls back on error")
    func appendAndRollback() throws {
        let d = VectorDecoder()
        var batch = VectorBatch(reservingRows: 16, dimension: 2)
        _ = try decodeUnaligned([bytes("t"), f32([1, 2])], decoder: d, into: &batch)
        let info = try decodeUnaligned(
            [bytes("t"), batchHeader("VB1I", count: 2, seq: 1), f32([3, 4, 5, 6]), le64(1) + le64(2)], decoder: d, into: &batch)
        #expect(info.firstRow == 1)
        #expect(batch.rows == [[1, 2], [3, 4], [5, 6]])
        #expect(batch.ids.all == [nil, .int(1), .int(2)])
        let before = batch
        // Fails after floats were appended (bad ids) and after ids were appended (JSON).
        let bad: [[[UInt8]]] = [
            [bytes("t"), batchHeader("VB1S", count: 2), f32([7, 8, 9, 10]), bytes("ok\n")],
            [bytes("t"), bytes("json"), bytes(#"{"vectors":[[1,2],[3,4]],"ids":[1,2],"seq":-1}"#)],
            [bytes("t"), bytes("json"), bytes(#"{"ids":["a","b"],"vectors":[[1,2],[3,"x"]]}"#)],
            [bytes("t"), f32([1, 2, 3])],
            [bytes("t"), batchHeader("VB1N", count: 2), f32([1, 2, 3, .nan])],
        ]
        for frames in bad {
            #expect(reason { () throws(WireError) in try decodeUnaligned(frames, decoder: d, into: &batch) } != nil)
            #expect(batch == before)
        }
        // A reused batch keeps its storage: clearing and decoding again does not reallocate.
        batch.removeAll()
        let capacity = batch.values.capacity
        _ = try decodeUnaligned([bytes("t"), f32([1, 2, 3])], decoder: d, into: &batch)
        #expect(batch.values.capacity == capacity)
        #expect(batch.dimension == 3)
    }

    @Test("query requests decode")
    func queries() throws {
        let d = VectorDecoder(expectedDimension: 2)
        #expect(try d.decodeQuery(frames: [bytes("snapshot")]).request == .snapshot)
        #expect(try d.decodeQuery(frames: [bytes("stats")]).request == .stats)
        let batch = try VectorBatch(rows: [[1, 2], [3, 4]], ids: [.string("a"), .string("b")])
        var message = WireMessage()
        try VectorEncoder.encodePredictRequest(batch: batch, into: &message)
        let (request, decoded) = try d.decodeQuery(frames: message.frames)
        #expect(request == .predict(VectorMessageInfo(format: .batch, firstRow: 0, count: 2, dimension: 2, sequence: 0)))
        #expect(decoded == batch)
        let (jsonRequest, jsonBatch) = try d.decodeQuery(frames: [bytes("predict"), bytes("json"), bytes(#"{"vector":[1,2]}"#)])
        #expect(jsonRequest == .predict(VectorMessageInfo(format: .json, firstRow: 0, count: 1, dimension: 2, sequence: 0)))
        #expect(jsonBatch.values == [1, 2])
        message.removeAll()
        VectorEncoder.encodeSnapshotRequest(into: &message)
        VectorEncoder.encodeStatsRequest(into: &message)
        #expect(message.frames == [bytes("snapshot"), bytes("stats")])
    }
}
