/// A saved model state that cannot be trusted.
public struct ModelStateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, as a stable code (cases may be added).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Shorter than the format's fixed parts, or than its own header says.
        public static let truncated = Code(rawValue: "truncated")
        /// Not a voronoid model at all (wrong magic).
        public static let foreign = Code(rawValue: "foreign")
        /// A voronoid model in a format version this build does not read.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
        /// The bytes were damaged: the checksum does not match.
        public static let checksumMismatch = Code(rawValue: "checksum_mismatch")
        /// Checksum fine, but a field holds a value no model can have.
        public static let invalidField = Code(rawValue: "invalid_field")
    }

    /// What is wrong.
    public let code: Code
    /// A sentence for operators.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}

/// The binary model-state format, version 2. All integers and floats are little-endian.
///
/// ```
/// offset  size      field
/// 0       8         magic "VORONOID"
/// 8       2         format version (2; version 1 is still read)
/// 10      2         reserved (0)
/// 12      8         total length in bytes, checksum included
/// 20      4, 4      k, dimension
/// 28      1, 1, 2   schedule kind, metric (0 Euclidean, 1 cosine), reserved
/// 32      8 × 3     schedule initial, floor, half-life (float64)
/// 56      8 × 5     vectors seen, batches, epoch, reseeds, separations
/// 96      8 × 4     random state
/// 128     4·k·d     centers (float32, row-major)
/// …       8·k       soft counts (float64)
/// …       8·k       seeded-at (uint64)
/// …       …         version 2 only: records, each tag (uint32), length (uint32), payload
/// end−4   4         CRC-32C of every byte before it
/// ```
///
/// Records carry state added after version 1; a reader skips tags it does not know, so adding
/// one needs no new version. A version 1 file (no records) reads as a model whose added state
/// is at its starting value. Tags:
///
/// | tag | payload | field |
/// | --- | --- | --- |
/// | 1 | float64 | ``scheduleClock`` (version 1: ``vectorsSeen``) |
/// | 2 | k × float64 | ``received`` (version 1: 1 each, a fresh window) |
/// | 3 | 4 × float64 | ``drift``: statistic, reference, variance, weight learned (version 1: a fresh test) |
/// | 4 | 2k × float64 | ``spreadSums`` then ``spreadMass`` (version 1: 0, no spread yet) |
/// | 5 | n × 3 × uint64 | ``mergedEpochs``: worker, incarnation, last sequence, by worker (written only when n > 0) |
/// | 6 | uint64 | ``lineage`` (without it: the file's epoch) |
extension ModelState {
    static let magic: [UInt8] = Array("VORONOID".utf8)
    /// The format version this build writes.
    public static let formatVersion: UInt16 = 2
    static let headerSize = 128
    /// The largest `k · dimension` accepted from a file (1 GiB of centers): a guard against
    /// a damaged length making the reader allocate without bound.
    public static let maximumElements = 1 << 28

    /// The size of a version 1 file, which is also the size of a version 2 file without records.
    static func encodedSize(k: Int, dimension: Int) -> Int {
        headerSize + 4 * k * dimension + 16 * k + 4
    }

    /// The state's records (version 2), in tag order.
    func records() -> [(tag: UInt32, payload: [UInt8])] {
        var clock = [UInt8]()
        clock.appendLE(scheduleClock.bitPattern)
        var received = [UInt8]()
        received.appendLE(contentsOf: self.received)
        var drift = [UInt8]()
        for v in [self.drift.statistic, self.drift.reference, self.drift.variance, self.drift.learned] { drift.appendLE(v.bitPattern) }
        var spread = [UInt8]()
        spread.reserveCapacity(16 * k)
        spread.appendLE(contentsOf: spreadSums)
        spread.appendLE(contentsOf: spreadMass)
        var lineage = [UInt8]()
        lineage.appendLE(self.lineage)
        var records: [(tag: UInt32, payload: [UInt8])] = [(1, clock), (2, received), (3, drift), (4, spread)]
        if !mergedEpochs.positions.isEmpty {
            var ledger = [UInt8]()
            for (worker, p) in mergedEpochs.positions.sorted(by: { $0.key < $1.key }) {
                for v in [worker, p.incarnation, p.sequence] { ledger.appendLE(v) }
            }
            records.append((5, ledger))
        }
        records.append((6, lineage))
        return records
    }

    /// The state's bytes in format version 2.
    public func encoded() -> [UInt8] {
        let records = records()
        let size = Self.encodedSize(k: k, dimension: dimension) + records.reduce(0) { $0 + 8 + $1.payload.count }
        var out = [UInt8]()
        out.reserveCapacity(size)
        out.append(contentsOf: Self.magic)
        out.appendLE(Self.formatVersion)
        out.appendLE(UInt16(0))
        out.appendLE(UInt64(size))
        out.appendLE(UInt32(k))
        out.appendLE(UInt32(dimension))
        out.append(schedule.kind.code)
        out.append(metric.code)
        out.append(contentsOf: [0, 0])
        out.appendLE(schedule.initial.bitPattern)
        out.appendLE(schedule.floor.bitPattern)
        out.appendLE(schedule.halfLife.bitPattern)
        for v in [vectorsSeen, batches, epoch, reseeds, separations] { out.appendLE(v) }
        let s = random.state
        for v in [s.0, s.1, s.2, s.3] { out.appendLE(v) }
        out.appendLE(contentsOf: centers)
        out.appendLE(contentsOf: counts)
        out.appendLE(contentsOf: seededAt)
        for r in records {
            out.appendLE(r.tag)
            out.appendLE(UInt32(r.payload.count))
            out.append(contentsOf: r.payload)
        }
        let crc = out.withUnsafeBytes { CRC32C.checksum($0) }
        out.appendLE(crc)
        precondition(out.count == size, "ModelState.encoded: size bookkeeping is wrong")
        return out
    }

    /// Reads a state written by ``encoded()``.
    ///
    /// The checksum is verified before any field is interpreted, so damaged bytes can never be
    /// half-read; then every field is range-checked.
    /// - Throws: ``ModelStateError`` naming what is wrong.
    public init(encoded bytes: some Collection<UInt8>) throws(ModelStateError) {
        // Read in place when the bytes are contiguous (a received frame, an array): a model at
        // k·d 786 432 is 3 MB, which each worker decodes for every version.
        let decoded = bytes.withContiguousStorageIfAvailable { Self.decoded(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { Self.decoded($0) }
        self = try decoded.get()
    }

    private static func decoded(_ b: UnsafeRawBufferPointer) -> Result<ModelState, ModelStateError> {
        do throws(ModelStateError) {
            return .success(try ModelState(raw: b))
        } catch {
            return .failure(error)
        }
    }

    private init(raw b: UnsafeRawBufferPointer) throws(ModelStateError) {
        guard b.count >= Self.headerSize + 4 else {
            throw ModelStateError(.truncated, "\(b.count) bytes is shorter than the \(Self.headerSize + 4)-byte minimum")
        }
        guard Array(b[0..<8]) == Self.magic else {
            throw ModelStateError(.foreign, "missing the VORONOID magic")
        }
        let r = LEReader(b)
        let version: UInt16 = r.read(8)
        guard version == 1 || version == 2 else {
            throw ModelStateError(.unsupportedVersion, "format version \(version), this build reads 1 and 2")
        }
        let declared: UInt64 = r.read(12)
        guard declared == UInt64(b.count) else {
            throw ModelStateError(declared > UInt64(b.count) ? .truncated : .invalidField,
                                  "header says \(declared) bytes, found \(b.count)")
        }
        let stored: UInt32 = r.read(b.count - 4)
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 4)]))
        guard stored == actual else {
            throw ModelStateError(.checksumMismatch, "checksum \(hex(actual)) does not match the stored \(hex(stored))")
        }
        let reserved: UInt16 = r.read(10)
        let k = Int(r.read(20) as UInt32)
        let d = Int(r.read(24) as UInt32)
        guard reserved == 0, b[30] == 0, b[31] == 0 else {
            throw ModelStateError(.invalidField, "reserved bytes are not zero")
        }
        guard let metric = Metric(code: b[29]) else {
            throw ModelStateError(.invalidField, "unknown metric \(b[29])")
        }
        // Divide rather than multiply: two 32-bit fields can overflow a product.
        guard k >= 1, d >= 1, k <= Self.maximumElements / d else {
            throw ModelStateError(.invalidField, "k = \(k), dimension = \(d) out of range")
        }
        let baseSize = Self.encodedSize(k: k, dimension: d)
        guard version == 1 ? baseSize == b.count : baseSize <= b.count else {
            throw ModelStateError(.invalidField, "k = \(k) and dimension = \(d) need \(baseSize) bytes, found \(b.count)")
        }
        guard let kind = TemperatureSchedule.Kind(code: b[28]) else {
            throw ModelStateError(.invalidField, "unknown schedule kind \(b[28])")
        }
        let schedule = TemperatureSchedule(
            kind: kind, initial: Double(bitPattern: r.read(32)), floor: Double(bitPattern: r.read(40)),
            halfLife: Double(bitPattern: r.read(48)))
        if let why = schedule.validationError { throw ModelStateError(.invalidField, why) }
        let words: [UInt64] = (0..<9).map { r.read(56 + 8 * $0) }
        guard words[5] | words[6] | words[7] | words[8] != 0 else {
            throw ModelStateError(.invalidField, "random state is all zero")
        }
        var offset = Self.headerSize
        let centers: [Float] = r.readArray(offset, count: k * d)
        offset += 4 * k * d
        if !allFinite(centers), let v = centers.first(where: { !$0.isFinite }) {
            throw ModelStateError(.invalidField, "a center holds \(v)")
        }
        let counts: [Double] = r.readArray(offset, count: k)
        offset += 8 * k
        if let v = counts.first(where: { !($0.isFinite && $0 >= 0) }) {
            throw ModelStateError(.invalidField, "a soft count holds \(v)")
        }
        let seededAt: [UInt64] = r.readArray(offset, count: k)
        offset += 8 * k
        self.init(centers: centers, k: k, dimension: d, schedule: schedule,
                  random: RandomSource(state: (words[5], words[6], words[7], words[8])), epoch: words[2],
                  metric: metric)
        self.counts = counts
        self.seededAt = seededAt
        self.vectorsSeen = words[0]
        self.scheduleClock = Double(words[0])
        self.batches = words[1]
        self.reseeds = words[3]
        self.separations = words[4]
        try readRecords(r, from: offset, to: b.count - 4)
    }

    /// Reads version 2 records in `lo..<hi`, skipping unknown tags.
    private mutating func readRecords(_ r: LEReader, from lo: Int, to hi: Int) throws(ModelStateError) {
        var offset = lo
        while offset < hi {
            guard hi - offset >= 8 else { throw ModelStateError(.invalidField, "a record header is cut short") }
            let tag: UInt32 = r.read(offset)
            let length = Int(r.read(offset + 4) as UInt32)
            offset += 8
            guard length <= hi - offset else { throw ModelStateError(.invalidField, "record \(tag) of \(length) bytes runs past the end") }
            try readRecord(tag: tag, r, at: offset, length: length)
            offset += length
        }
    }

    private mutating func readRecord(tag: UInt32, _ r: LEReader, at offset: Int, length: Int) throws(ModelStateError) {
        switch tag {
        case 1:
            guard length == 8 else { throw ModelStateError(.invalidField, "clock record of \(length) bytes") }
            let v = Double(bitPattern: r.read(offset))
            guard v.isFinite, v >= 0 else { throw ModelStateError(.invalidField, "weight seen holds \(v)") }
            scheduleClock = v
        case 2:
            guard length == 8 * k else { throw ModelStateError(.invalidField, "received-mass record of \(length) bytes for k = \(k)") }
            let values: [Double] = r.readArray(offset, count: k)
            if let v = values.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw ModelStateError(.invalidField, "a received mass holds \(v)")
            }
            received = values
        case 3:
            guard length == 32 else { throw ModelStateError(.invalidField, "drift record of \(length) bytes") }
            let v = (0..<4).map { Double(bitPattern: r.read(offset + 8 * $0)) }
            guard v.allSatisfy(\.isFinite), v[0] >= 0, v[2] >= 0, v[3] >= 0 else {
                throw ModelStateError(.invalidField, "drift record holds \(v)")
            }
            drift = DriftDetector(statistic: v[0], reference: v[1], variance: v[2], learned: v[3])
        case 4:
            guard length == 16 * k else { throw ModelStateError(.invalidField, "spread record of \(length) bytes for k = \(k)") }
            let values: [Double] = r.readArray(offset, count: 2 * k)
            if let v = values.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw ModelStateError(.invalidField, "a spread holds \(v)")
            }
            spreadSums = Array(values[..<k])
            spreadMass = Array(values[k...])
        case 5:
            guard length % 24 == 0 else { throw ModelStateError(.invalidField, "merged-epochs record of \(length) bytes") }
            var positions: [UInt64: EpochLedger.Position] = [:]
            for o in stride(from: offset, to: offset + length, by: 24) {
                let worker: UInt64 = r.read(o)
                guard positions[worker] == nil else {
                    throw ModelStateError(.invalidField, "worker \(worker) listed twice in the merged-epochs record")
                }
                positions[worker] = EpochLedger.Position(incarnation: r.read(o + 8), sequence: r.read(o + 16))
            }
            mergedEpochs = EpochLedger(positions: positions)
        case 6:
            guard length == 8 else { throw ModelStateError(.invalidField, "lineage record of \(length) bytes") }
            lineage = r.read(offset)
        default:
            break
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

extension [UInt8] {
    @inline(__always)
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    /// Appends each value's bytes, least significant first: one copy of the whole array on a
    /// little-endian machine (a model's centers are megabytes, encoded at every step).
    mutating func appendLE<T: BitwiseCopyable>(contentsOf values: [T]) {
        #if _endian(little)
        values.withUnsafeBytes { append(contentsOf: $0) }
        #else
        for v in values { Swift.withUnsafeBytes(of: v) { append(contentsOf: $0.reversed()) } }
        #endif
    }
}

/// Reads little-endian values at byte offsets of bytes that outlive it (the decoder's own
/// scope); bounds checked by the caller's length checks.
struct LEReader {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func read<T: FixedWidthInteger>(_ offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count, "LEReader: read past the end")
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// `count` values written by `appendLE(contentsOf:)` from `offset` on.
    func readArray<T: BitwiseCopyable>(_ offset: Int, count: Int) -> [T] {
        let size = MemoryLayout<T>.size
        precondition(offset >= 0 && count >= 0 && offset + size * count <= bytes.count, "LEReader: read past the end")
        return [T](unsafeUninitializedCapacity: count) { out, initialized in
            let raw = UnsafeMutableRawBufferPointer(out)
            raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + size * count)]))
            #if !_endian(little)
            for i in 0..<count { raw[(i * size)..<((i + 1) * size)].reverse() }
            #endif
            initialized = count
        }
    }
}
