import Clustering
import Testing

@Suite struct StateTests {
    static func trainedState() -> ModelState {
        let blobs = TestBlobs(k: 3, d: 4, perCluster: 50, spread: 1, side: 20, seed: 31)
        var s = blobs.rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 150, dimension: 4, k: 3, seed: 99)
        }
        let updater = MiniBatchUpdater()
        blobs.rows.withUnsafeBufferPointer { _ = updater.update(&s, rows: $0, count: 150) }
        return s
    }

    @Test func roundTripIsBitExact() throws {
        let s = Self.trainedState()
        let bytes = s.encoded()
        let back = try ModelState(encoded: bytes)
        #expect(back == s)
        #expect(back.encoded() == bytes)
        #expect(back.random == s.random)
        // A restored generator continues the same sequence.
        var a = s.random
        var b = back.random
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
    }

    @Test func checksumIsCastagnolisOnEveryPathAndLength() {
        // The standard check value of CRC-32C.
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { CRC32C.checksum($0) } == 0xE306_9283)
        #expect(check.withUnsafeBytes { CRC32C.checksum($0, hardware: false) } == 0xE306_9283)
        // A bitwise reference on lengths around the 8-byte steps of the fast paths.
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                crc ^= UInt32(b)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return crc ^ 0xFFFF_FFFF
        }
        var random = RandomSource(seed: 17)
        let bytes = (0..<300).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        for count in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 299] {
            for start in [0, 1, 3] where start + count <= bytes.count {
                let slice = bytes[start..<(start + count)]
                let expected = reference(slice)
                slice.withUnsafeBytes { raw in
                    #expect(CRC32C.checksum(raw) == expected, "length \(count) from \(start)")
                    #expect(CRC32C.checksum(raw, hardware: false) == expected, "length \(count) from \(start)")
                }
            }
        }
    }

    @Test func everySingleByteCorruptionIsRejected() {
        let bytes = Self.trainedState().encoded()
        for position in bytes.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = bytes
                damaged[position] ^= flip
                #expect(throws: ModelStateError.self, "byte \(position) ^ \(flip)") {
                    _ = try ModelState(encoded: damaged)
                }
            }
        }
    }

    @Test func truncatedForeignAndFutureBytesAreRejectedByCode() {
        let bytes = Self.trainedState().encoded()
        func code(_ b: [UInt8]) -> ModelStateError.Code? {
            do { _ = try ModelState(encoded: b); return nil } catch { return error.code }
        }
        #expect(code(Array(bytes.dropLast(1))) == .truncated)
        #expect(code(Array(bytes.prefix(20))) == .truncated)
        #expect(code([]) == .truncated)
        #expect(code(Array("PK\u{3}\u{4} this is a zip file, not a model at all, padded out to be long enough to pass the size check ....................................".utf8)) == .foreign)
        var future = bytes
        future[8] = 3
        #expect(code(future) == .unsupportedVersion)
        var damaged = bytes
        damaged[200] ^= 4
        #expect(code(damaged) == .checksumMismatch)
    }

    /// Reseals bytes with a fresh CRC-32C, as a writer of another version would.
    static func resealed(_ body: [UInt8]) -> [UInt8] {
        var c: UInt32 = 0xFFFF_FFFF
        for b in body {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return body + withUnsafeBytes(of: (c ^ 0xFFFF_FFFF).littleEndian) { Array($0) }
    }

    /// A version 1 file (no records) still loads; its added state starts where version 1 left it.
    @Test func versionOneCheckpointsStillLoad() throws {
        let state = Self.trainedState()
        let v2 = state.encoded()
        let base = 128 + 4 * state.k * state.dimension + 16 * state.k
        var v1 = Array(v2[0..<base])
        v1[8] = 1
        let size = UInt64(base + 4)
        for i in 0..<8 { v1[12 + i] = UInt8(truncatingIfNeeded: size >> (8 * UInt64(i))) }
        let read = try ModelState(encoded: Self.resealed(v1))
        #expect(read.centers == state.centers && read.counts == state.counts && read.batches == state.batches)
        #expect(read.scheduleClock == Double(state.vectorsSeen))
    }

    /// Records with tags this build does not know are skipped, so later builds can add state.
    @Test func unknownRecordsAreSkipped() throws {
        var state = Self.trainedState()
        state.scheduleClock += 0.5
        let bytes = state.encoded()
        var body = Array(bytes.dropLast(4))
        body += [0xEF, 0xBE, 0, 0, 3, 0, 0, 0, 1, 2, 3]
        let size = UInt64(body.count + 4)
        for i in 0..<8 { body[12 + i] = UInt8(truncatingIfNeeded: size >> (8 * UInt64(i))) }
        let read = try ModelState(encoded: Self.resealed(body))
        #expect(read == state)
        // A record that claims more bytes than remain is refused.
        body[body.count - 7] = 200
        #expect(throws: ModelStateError.self) { _ = try ModelState(encoded: Self.resealed(body)) }
    }

    /// Found by fuzzing: k and dimension are 32-bit fields whose product can overflow; a file
    /// with a valid checksum must still be refused, not trap.
    @Test func hugeKTimesDimensionIsRefusedNotATrap() {
        var bytes = Array("VORONOID".utf8) + [1, 0, 0, 0] + [132, 0, 0, 0, 0, 0, 0, 0] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        bytes += [UInt8](repeating: 0, count: 128 - bytes.count)
        let crc = bytes.withUnsafeBytes { raw -> UInt32 in
            var c: UInt32 = 0xFFFF_FFFF
            for b in raw {
                c ^= UInt32(b)
                for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            }
            return c ^ 0xFFFF_FFFF
        }
        bytes += withUnsafeBytes(of: crc.littleEndian) { Array($0) }
        #expect(bytes.count == 132)
        do {
            _ = try ModelState(encoded: bytes)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidField)
        }
    }

    @Test func anAutomaticFloorNeverUnderflowsToZero() {
        #expect(Seeding.floor(1e-320, ratio: 1e-3) > 0)
        #expect(Seeding.floor(1e-320, ratio: 1e-3) <= 1e-320)
        #expect(Seeding.floor(8, ratio: 1e-3) == 8e-3)
    }

    @Test func schedulesDecayToTheirFloor() {
        let e = TemperatureSchedule(kind: .exponential, initial: 8, floor: 0.5, halfLife: 100)
        #expect(e.temperature(after: 0) == 8)
        #expect(e.temperature(after: 100) == 4)
        #expect(e.temperature(after: 300) == 1)
        #expect(e.temperature(after: 10_000) == 0.5)
        let i = TemperatureSchedule(kind: .inverseTime, initial: 8, floor: 0.5, halfLife: 100)
        #expect(i.temperature(after: 100) == 4)
        #expect(i.temperature(after: 300) == 2)
        #expect(i.temperature(after: 1_000_000) == 0.5)
        #expect(TemperatureSchedule.constant(3).temperature(after: 1 << 40) == 3)
        #expect(TemperatureSchedule(kind: .exponential, initial: 1, floor: 2, halfLife: 1).validationError != nil)
        #expect(TemperatureSchedule(kind: .exponential, initial: .nan, floor: 1, halfLife: 1).validationError != nil)
    }

    @Test func automaticTemperatureScalesWithTheSquareOfTheData() {
        let blobs = TestBlobs(k: 4, d: 3, perCluster: 100, spread: 1, side: 20, seed: 8)
        let scaled = blobs.rows.map { $0 * 10 }
        let a = blobs.rows.withUnsafeBufferPointer { ModelState.seeded(warmup: $0, count: 400, dimension: 3, k: 4, seed: 1) }
        let b = scaled.withUnsafeBufferPointer { ModelState.seeded(warmup: $0, count: 400, dimension: 3, k: 4, seed: 1) }
        #expect(a.schedule.initial > 0 && a.schedule.floor == a.schedule.initial * 1e-3)
        #expect(abs(b.schedule.initial / a.schedule.initial - 100) < 0.01)
        // Degenerate data still give a usable temperature.
        let same = [Float](repeating: 2, count: 30)
        let c = same.withUnsafeBufferPointer { ModelState.seeded(warmup: $0, count: 10, dimension: 3, k: 4, seed: 1) }
        #expect(c.schedule.isValid)
    }

    @Test func kMeansPlusPlusIsSeededAndPicksDistinctClusters() {
        let blobs = TestBlobs(k: 5, d: 2, perCluster: 100, spread: 0.1, side: 100, seed: 2)
        var r1 = RandomSource(seed: 4)
        var r2 = RandomSource(seed: 4)
        let a = blobs.rows.withUnsafeBufferPointer { Seeding.kMeansPlusPlus(rows: $0, count: 500, dimension: 2, k: 5, random: &r1) }
        let b = blobs.rows.withUnsafeBufferPointer { Seeding.kMeansPlusPlus(rows: $0, count: 500, dimension: 2, k: 5, random: &r2) }
        #expect(a == b)
        // Each seed lies in a different blob.
        var hit = Set<Int>()
        for j in 0..<5 {
            let c = a[(j * 2)..<(j * 2 + 2)]
            let nearest = (0..<5).min { Reference.squaredDistance(c, blobs.means[($0 * 2)..<($0 * 2 + 2)]) < Reference.squaredDistance(c, blobs.means[($1 * 2)..<($1 * 2 + 2)]) }!
            hit.insert(nearest)
        }
        #expect(hit.count == 5)
    }

    /// The Gram-matrix seeding (d ≥ 128), here far from the origin and from a sample of the rows:
    /// reproducible, one seed in each well-separated blob, every seed one of the rows.
    @Test(arguments: [(offset: Float(0), limit: 8192), (offset: 1e4, limit: 8192), (offset: 0, limit: 300)])
    func gramSeedingPicksDistinctClusters(offset: Float, limit: Int) {
        let k = 12, d = 160
        let blobs = TestBlobs(k: k, d: d, perCluster: 60, spread: 0.5, side: 40, seed: 6)
        let rows = blobs.rows.map { $0 + offset }
        let means = blobs.means.map { $0 + offset }
        func seed() -> [Float] {
            var random = RandomSource(seed: 9)
            return rows.withUnsafeBufferPointer {
                Seeding.kMeansPlusPlus(rows: $0, count: k * 60, dimension: d, k: k, random: &random,
                                       distances: .screened, gramRows: limit)
            }
        }
        let a = seed()
        #expect(a == seed())
        var hit = Set<Int>()
        for j in 0..<k {
            let c = a[(j * d)..<((j + 1) * d)]
            let nearest = (0..<k).min {
                Reference.squaredDistance(c, means[($0 * d)..<(($0 + 1) * d)])
                    < Reference.squaredDistance(c, means[($1 * d)..<(($1 + 1) * d)])
            }!
            hit.insert(nearest)
            #expect((0..<(k * 60)).contains { i in rows[(i * d)..<((i + 1) * d)].elementsEqual(c) }, "seed \(j) is a row")
        }
        #expect(hit.count == k, "\(hit.count) of \(k) blobs seeded")
    }

    /// The starting temperature from the matrix product agrees with the direct form's.
    @Test func automaticTemperatureByProductsMatchesTheDirectForm() {
        let k = 16, d = 200
        let blobs = TestBlobs(k: k, d: d, perCluster: 40, spread: 1, side: 4, seed: 3)
        let rows = blobs.rows.map { $0 + 500 }
        var random = RandomSource(seed: 2)
        let centers = rows.withUnsafeBufferPointer {
            Seeding.kMeansPlusPlus(rows: $0, count: k * 40, dimension: d, k: k, random: &random, distances: .direct)
        }
        let t = [UpdateConfiguration.DistanceMethod.direct, .screened].map { method in
            rows.withUnsafeBufferPointer {
                Seeding.automaticTemperature(rows: $0, count: k * 40, dimension: d, centers: centers, k: k, heat: 1,
                                             distances: method)
            }
        }
        #expect(t[0] > 0)
        #expect(abs(t[1] / t[0] - 1) < 1e-3, "direct \(t[0]), products \(t[1])")
    }
}
