import Testing

@testable import Wire

@Suite("Robustness")
struct RobustnessTests {
    /// Valid messages of every inbound form, as mutation seeds.
    static func seeds() throws -> [[[UInt8]]] {
        var out: [[[UInt8]]] = [[bytes("vectors"), f32([1, 2, 3])]]
        for ids in [nil, [VectorID.int(1), .int(2)], [VectorID.string("a"), .string("bc")]] as [[VectorID?]?] {
            let batch = try VectorBatch(rows: [[1, 2, 3], [4, 5, 6]], ids: ids)
            var m = WireMessage()
            try VectorEncoder.encodeBatch(topic: "vectors/p", batch: batch, sequence: 3, into: &m)
            out.append(m.frames)
            m.removeAll()
            try VectorEncoder.encodeJSON(topic: "vectors/p", batch: batch, sequence: 3, into: &m)
            out.append(m.frames)
        }
        return out
    }

    static func mutate(_ frames: [[UInt8]], _ rng: inout SplitMix64) -> [[UInt8]] {
        var frames = frames
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let f = Int.random(in: 0..<frames.count, using: &rng)
            let interesting: [UInt8] = [0, 0x0A, 0x22, 0x2C, 0x5B, 0x5D, 0x7B, 0x7D, 0x7F, 0x80, 0xC0, 0xFF, 0x2D, 0x65, 0x5C]
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !frames[f].isEmpty:  // flip a bit
                let i = Int.random(in: 0..<frames[f].count, using: &rng)
                frames[f][i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !frames[f].isEmpty:  // an interesting byte
                let i = Int.random(in: 0..<frames[f].count, using: &rng)
                frames[f][i] = interesting.randomElement(using: &rng)!
            case 2 where !frames[f].isEmpty:  // truncate
                frames[f].removeLast(Int.random(in: 1...frames[f].count, using: &rng))
            case 3:  // insert bytes
                let i = Int.random(in: 0...frames[f].count, using: &rng)
                frames[f].insert(contentsOf: (0..<Int.random(in: 1...5, using: &rng)).map { _ in interesting.randomElement(using: &rng)! }, at: i)
            case 4 where frames.count > 1:  // drop a frame
                frames.remove(at: f)
            case 5:  // duplicate a frame
                frames.insert(frames[f], at: f)
            case 6 where frames[f].count >= 4:  // plant a NaN/Inf bit pattern
                let i = Int.random(in: 0...(frames[f].count - 4), using: &rng)
                frames[f].replaceSubrange(i..<i + 4, with: le32(Bool.random(using: &rng) ? 0x7FC0_0000 : 0xFF80_0000))
            default:  // random byte
                if !frames[f].isEmpty {
                    frames[f][Int.random(in: 0..<frames[f].count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
        }
        return frames
    }

    @Test("mutated messages decode or throw WireError, never crash; decoded values are finite", arguments: [1, 2, 3, 4] as [UInt64])
    func fuzz(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let seeds = try Self.seeds()
        let decoder = VectorDecoder(limits: WireLimits(maxVectorsPerMessage: 1000, maxDimension: 1000))
        var batch = VectorBatch()
        var accepted = 0, rejected = 0
        for _ in 0..<5_000 {
            let frames = Self.mutate(seeds.randomElement(using: &rng)!, &rng)
            if batch.count > 1000 { batch.removeAll() }
            let before = batch
            do {
                let info = try decodeUnaligned(frames, decoder: decoder, into: &batch)
                accepted += 1
                #expect(info.firstRow == before.count)
                #expect(batch.count == before.count + info.count)
                #expect(batch.values.count == batch.count * info.dimension)
                #expect(batch.values.allSatisfy { $0.isFinite })
                #expect(batch.dimension == info.dimension)
            } catch {
                rejected += 1
                #expect(batch == before)  // all-or-nothing
            }
            // The query decoder and the outbound decoders get the same treatment.
            _ = try? decoder.decodeQuery(frames: [bytes("predict")] + frames.dropFirst())
            _ = try? CentersSnapshot.decodeJSON(frames: frames.count >= 3 ? [frames[0], frames[2]] : frames)
            _ = try? Assignments.decodeBinary(frames: frames)
        }
        #expect(accepted > 0 && rejected > 0)
    }

    @Test("mutated outbound messages decode or throw WireError")
    func fuzzOutbound() throws {
        var rng = SplitMix64(seed: 77)
        var m = WireMessage()
        let s = CentersSnapshot(k: 2, dimension: 2, startEpoch: 1, sequence: 2, modelEpoch: 3, modelVersion: 4, temperature: 0.5, centers: [1, 2, 3, 4], counts: [1, 2])
        s.encodeBinary(into: &m)
        let bin = m.frames
        m.removeAll()
        try s.encodeJSON(into: &m)
        let json = m.frames
        var a = Assignments(k: 3)
        try a.appendRow(id: .string("x"), best: 1, distance: 1, support: [(1, 0.5), (2, 0.5)])
        try a.appendRow(id: nil, best: 0, distance: 2, support: [(0, 1)])
        m.removeAll()
        a.encodeBinary(into: &m)
        let abin = m.frames
        m.removeAll()
        try a.encodeJSON(into: &m)
        let ajson = m.frames
        for _ in 0..<3_000 {
            if let c = try? CentersSnapshot.decodeBinary(frames: Self.mutate(bin, &rng)) {
                #expect(c.centers.allSatisfy { $0.isFinite } && c.centers.count == c.k * c.dimension)
            }
            _ = try? CentersSnapshot.decodeJSON(frames: Self.mutate(json, &rng))
            if let d = try? Assignments.decodeBinary(frames: Self.mutate(abin, &rng)) {
                #expect((try? d.validate()) != nil)
            }
            _ = try? Assignments.decodeJSON(frames: Self.mutate(ajson, &rng))
        }
    }
}

@Suite("Numbers and text")
struct NumberTests {
    func parseFloat(_ text: String) throws(WireError) -> Float {
        try Array(text.utf8).withUnsafeBytes { raw in
            Result { () throws(WireError) -> Float in
                var r = JSONReader(raw, maxDepth: 4)
                let f = try r.readFloat()
                try r.expectEnd()
                return f
            }
        }.get()
    }

    @Test("JSON floats match the standard library's correctly rounded parse")
    func floatsAgainstStdlib() throws {
        var rng = SplitMix64(seed: 2024)
        for i in 0..<50_000 {
            let text: String
            switch i % 4 {
            case 0:  // a random float's shortest text (what our encoders emit)
                text = Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng)).description
            case 1:  // a random double's text (what Python's json emits for float32 values)
                text = Double(Float.random(in: 0...1e6, using: &rng)).description
            case 2:  // random digits and exponent
                let digits = String((0..<Int.random(in: 1...25, using: &rng)).map { _ in "0123456789".randomElement(using: &rng)! })
                let dot = Int.random(in: 0...digits.count, using: &rng)
                // JSON forbids leading zeros, so the integer part starts with 1.
                let mantissa = dot == digits.count ? "1" + digits : "1" + String(digits.prefix(dot)) + "." + String(digits.dropFirst(dot))
                text = mantissa + "e" + String(Int.random(in: -45...38, using: &rng))
            default:  // a Float halfway point written with enough digits to be exact-ish
                let f = Float(bitPattern: UInt32.random(in: 0x0080_0000...0x7F00_0000, using: &rng))
                text = ((Double(f) + Double(f.nextUp)) / 2).description
            }
            let expected = Float(text)!
            if !expected.isFinite {
                #expect(reason { () throws(WireError) in try parseFloat(text) } == .nonFinite)
                continue
            }
            let got = try parseFloat(text)
            #expect(got.bitPattern == expected.bitPattern, "\(text)")
            let negative = try parseFloat("-" + text)
            #expect(negative.bitPattern == (-expected).bitPattern, "-\(text)")
        }
    }

    @Test("JSON floats round-trip through the encoder bit-exactly")
    func floatTextRoundTrip() throws {
        var rng = SplitMix64(seed: 11)
        var m = WireMessage()
        for _ in 0..<20_000 {
            let f = Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng))
            m.removeAll()
            try m.appendJSONNumber(f, "f")
            let text = String(decoding: m.bytes, as: UTF8.self)
            #expect(try parseFloat(text).bitPattern == f.bitPattern, "\(text)")
        }
    }

    @Test("UTF-8 validation agrees with the standard library")
    func utf8() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20_000 {
            let b = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                Bool.random(using: &rng) ? UInt8.random(in: 0x80...0xFF, using: &rng) : UInt8.random(in: 0...0xFF, using: &rng)
            }
            let ours = b.withUnsafeBytes { isValidUTF8($0, 0..<b.count) }
            let theirs = String(validating: b, as: UTF8.self) != nil
            #expect(ours == theirs, "\(b)")
        }
    }
}
