/// Per-vector results as published on `assignments.bin` / `assignments.json` and returned by
/// the `predict` query: each row's best center, its squared distance, and its sparse
/// responsibilities (the entmax support) in CSR form.
///
/// The daemon keeps one value, clears it with ``removeAll()`` and fills the arrays for every
/// batch, so publishing allocates nothing in steady state.
public struct Assignments: Sendable, Hashable {
    /// The number of centers of the model that produced these rows.
    public var k: Int
    /// Identifies the daemon run.
    public var startEpoch: UInt64
    /// The publish sequence number on this topic within ``startEpoch``.
    public var sequence: UInt64
    /// The model version the rows were computed with.
    public var modelVersion: UInt64
    /// One id slot per row, or empty when no row has an id.
    public var ids: VectorIDs
    /// Row `i`'s nearest center.
    public var best: [Int32]
    /// Row `i`'s squared distance to center `best[i]`.
    public var distances: [Float]
    /// `count + 1` offsets: row `i`'s support is `indices/weights[offsets[i] ..< offsets[i+1]]`.
    public var offsets: [UInt32]
    /// Center indices of the supports.
    public var indices: [UInt32]
    /// Responsibilities (each row's sum to 1).
    public var weights: [Float]

    /// The binary header's length in bytes (`struct.calcsize("<4sIIQQQ")`).
    public static let binaryHeaderBytes = 36

    /// An empty set of rows.
    public init(k: Int, startEpoch: UInt64 = 0, sequence: UInt64 = 0, modelVersion: UInt64 = 0) {
        self.k = k
        self.startEpoch = startEpoch
        self.sequence = sequence
        self.modelVersion = modelVersion
        self.ids = VectorIDs()
        self.best = []
        self.distances = []
        self.offsets = [0]
        self.indices = []
        self.weights = []
    }

    /// The number of rows.
    public var count: Int { best.count }

    /// Row `row`'s support as (center, weight) pairs (a convenience; allocates).
    public func support(row: Int) -> [(center: Int, weight: Float)] {
        (Int(offsets[row])..<Int(offsets[row + 1])).map { (Int(indices[$0]), weights[$0]) }
    }

    /// Appends one row.
    /// - Parameters:
    ///   - id: the row's id; if any row has one, ``ids`` must have a slot for every row.
    ///   - best: the nearest center.
    ///   - distance: the squared distance to it.
    ///   - support: (center, responsibility) pairs.
    public mutating func appendRow(id: VectorID? = nil, best: Int, distance: Float, support: [(center: Int, weight: Float)]) throws(WireError) {
        if id != nil || ids.count > 0 {
            // Back-fill id-less slots for earlier rows the first time an id shows up.
            while ids.count < count { ids.appendNone() }
            try ids.append(id)
        }
        self.best.append(Int32(best))
        distances.append(distance)
        for (c, w) in support {
            indices.append(UInt32(c))
            weights.append(w)
        }
        offsets.append(UInt32(indices.count))
    }

    /// Removes every row, keeping capacity and the header fields.
    public mutating func removeAll() {
        ids.removeAll()
        best.removeAll(keepingCapacity: true)
        distances.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        offsets.append(0)
        indices.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
    }

    /// Checks the arrays agree with each other and with ``k``, and every value is finite.
    /// - Throws: ``WireError`` `.countMismatch`, `.badSupport`, `.badIDs` or `.nonFinite`.
    public func validate() throws(WireError) {
        let n = count
        guard distances.count == n, offsets.count == n + 1 else {
            throw WireError(.countMismatch, "\(n) rows but \(distances.count) distances and \(offsets.count) offsets")
        }
        guard ids.count == 0 || ids.count == n else { throw WireError(.badIDs, "\(ids.count) ids for \(n) rows") }
        guard indices.count == weights.count, offsets[0] == 0, Int(offsets[n]) == indices.count else {
            throw WireError(.badSupport, "offsets do not span the \(indices.count) support entries")
        }
        for i in 0..<n {
            guard offsets[i] <= offsets[i + 1] else { throw WireError(.badSupport, "offsets decrease at row \(i)") }
            guard best[i] >= 0, Int(best[i]) < k else { throw WireError(.badSupport, "best center \(best[i]) of row \(i) not below k=\(k)") }
            guard distances[i].isFinite else { throw WireError(.nonFinite, "distance of row \(i)") }
        }
        for j in 0..<indices.count {
            guard Int(indices[j]) < k else { throw WireError(.badSupport, "support index \(indices[j]) not below k=\(k)") }
            guard weights[j].isFinite else { throw WireError(.nonFinite, "weight \(j)") }
        }
    }

    // MARK: Binary

    /// The id encoding of the binary form, chosen from ``ids``'s kind.
    enum IDScheme: Int {
        case none = 0, int = 1, string = 2, mixed = 3
    }

    var idScheme: IDScheme {
        guard ids.count > 0 else { return .none }
        switch ids.kind {
        case .none: return .none
        case .int: return .int
        case .string: return .string
        case .mixed: return .mixed
        }
    }

    /// Appends `[topic, header, ids?, best, dist, offsets, indices, weights]` to `message`.
    ///
    /// The magic names the id encoding: `VASN` no ids frame; `VASI` n × int64; `VASS` n
    /// UTF-8 ids joined by `\n`; `VASM` (some rows without id, or both kinds) one record per
    /// row: tag byte 0 (no id), 1 + int64, or 2 + length byte + UTF-8 bytes.
    /// - Parameters:
    ///   - topic: frame 0; nil omits it (the `predict` query reply).
    ///   - message: the reusable output.
    /// - Precondition: the arrays are consistent (``validate()`` does not throw `.countMismatch`).
    public func encodeBinary(topic: String? = WireTopic.assignmentsBinary, into message: inout WireMessage) {
        let n = count
        precondition(distances.count == n && offsets.count == n + 1 && indices.count == weights.count && (ids.count == 0 || ids.count == n),
            "Assignments: inconsistent arrays")
        if let topic { message.appendFrame(topic) }
        let scheme = idScheme
        switch scheme {
        case .none: message.appendASCII("VASN")
        case .int: message.appendASCII("VASI")
        case .string: message.appendASCII("VASS")
        case .mixed: message.appendASCII("VASM")
        }
        message.appendU32(UInt32(n))
        message.appendU32(UInt32(k))
        message.appendU64(startEpoch)
        message.appendU64(sequence)
        message.appendU64(modelVersion)
        message.endFrame()
        switch scheme {
        case .none:
            break
        case .int:
            for i in 0..<n { message.appendU64(UInt64(bitPattern: ids.intID(at: i)!)) }
            message.endFrame()
        case .string:
            for i in 0..<n {
                if i > 0 { message.appendByte(0x0A) }
                ids.stringIDBytes(at: i)!.withUnsafeBytes { message.appendFrameBytes($0) }
            }
            message.endFrame()
        case .mixed:
            for i in 0..<n {
                if let v = ids.intID(at: i) {
                    message.appendByte(1)
                    message.appendU64(UInt64(bitPattern: v))
                } else if let s = ids.stringIDBytes(at: i) {
                    message.appendByte(2)
                    message.appendByte(UInt8(s.count))
                    s.withUnsafeBytes { message.appendFrameBytes($0) }
                } else {
                    message.appendByte(0)
                }
            }
            message.endFrame()
        }
        message.appendLittleEndian(best)
        message.endFrame()
        message.appendLittleEndian(distances)
        message.endFrame()
        message.appendLittleEndian(offsets)
        message.endFrame()
        message.appendLittleEndian(indices)
        message.endFrame()
        message.appendLittleEndian(weights)
        message.endFrame()
    }

    /// Decodes `assignments.bin` frames (or a `predict` reply with `hasTopic: false`).
    /// - Throws: ``WireError`` on a malformed message (the result passes ``validate()``).
    public static func decodeBinary(frames: [[UInt8]], hasTopic: Bool = true) throws(WireError) -> Assignments {
        let skip = hasTopic ? 1 : 0
        guard frames.count == 6 + skip || frames.count == 7 + skip else {
            throw WireError(.frameCount, "\(frames.count) frames; expected \(6 + skip) or \(7 + skip)")
        }
        return try withRawFrames(Array(frames[skip...])) { (f) throws(WireError) -> Assignments in
            let h = f[0]
            guard h.count == binaryHeaderBytes else { throw WireError(.badHeader, "header of \(h.count) bytes; expected \(binaryHeaderBytes)") }
            let magic = UnsafeRawBufferPointer(rebasing: h[0..<4])
            let scheme: IDScheme
            if magic.equals("VASN") { scheme = .none }
            else if magic.equals("VASI") { scheme = .int }
            else if magic.equals("VASS") { scheme = .string }
            else if magic.equals("VASM") { scheme = .mixed }
            else { throw WireError(.unknownFormat, "bad assignments magic") }
            guard (scheme == .none) == (f.count == 6) else { throw WireError(.frameCount, "ids frame presence does not match the magic") }
            let n = Int(h.u32LE(4))
            var a = Assignments(k: Int(h.u32LE(8)), startEpoch: h.u64LE(12), sequence: h.u64LE(20), modelVersion: h.u64LE(28))
            var next = 1
            if scheme != .none {
                try a.decodeIDs(f[1], scheme: scheme, count: n)
                next = 2
            }
            let best = f[next], dist = f[next + 1], offsets = f[next + 2], indices = f[next + 3], weights = f[next + 4]
            guard best.count == 4 * n, dist.count == 4 * n, offsets.count == 4 * (n + 1) else {
                throw WireError(.countMismatch, "best/dist/offsets frames do not match n=\(n)")
            }
            guard indices.count == weights.count, indices.count % 4 == 0 else {
                throw WireError(.badSupport, "indices and weights frames differ in size")
            }
            a.best = (0..<n).map { Int32(bitPattern: best.u32LE(4 * $0)) }
            a.distances = (0..<n).map { dist.f32LE(4 * $0) }
            a.offsets = (0...n).map { offsets.u32LE(4 * $0) }
            a.indices = (0..<indices.count / 4).map { indices.u32LE(4 * $0) }
            a.weights = (0..<weights.count / 4).map { weights.f32LE(4 * $0) }
            try a.validate()
            return a
        }
    }

    private mutating func decodeIDs(_ raw: UnsafeRawBufferPointer, scheme: IDScheme, count n: Int) throws(WireError) {
        switch scheme {
        case .none:
            return
        case .int:
            guard raw.count == 8 * n else { throw WireError(.badIDs, "ids frame of \(raw.count) bytes for \(n) int64 ids") }
            for i in 0..<n { ids.appendInt(Int64(bitPattern: raw.u64LE(8 * i))) }
        case .string:
            var batch = VectorBatch()
            try VectorDecoder().appendStringIDs(raw, count: n, into: &batch)
            ids = batch.ids
        case .mixed:
            var p = 0
            for i in 0..<n {
                guard p < raw.count else { throw WireError(.badIDs, "ids frame ends at row \(i)") }
                let tag = raw[p]
                p += 1
                switch tag {
                case 0:
                    ids.appendNone()
                case 1:
                    guard p + 8 <= raw.count else { throw WireError(.badIDs, "truncated int id at row \(i)") }
                    ids.appendInt(Int64(bitPattern: raw.u64LE(p)))
                    p += 8
                case 2:
                    guard p < raw.count else { throw WireError(.badIDs, "truncated string id at row \(i)") }
                    let len = Int(raw[p])
                    p += 1
                    guard len > 0, p + len <= raw.count else { throw WireError(.badIDs, "bad string id at row \(i)") }
                    guard len <= VectorID.maxStringBytes else { throw WireError(.idTooLong, "string id of \(len) bytes at row \(i)") }
                    guard isValidUTF8(raw, p..<p + len) else { throw WireError(.invalidUTF8, "string id at row \(i)") }
                    guard !raw[p..<p + len].contains(0x0A) else { throw WireError(.badIDs, "string id with a line feed at row \(i)") }
                    ids.appendStringUnchecked(raw, p..<p + len)
                    p += len
                default:
                    throw WireError(.badIDs, "unknown id tag \(tag) at row \(i)")
                }
            }
            guard p == raw.count else { throw WireError(.badIDs, "trailing bytes in ids frame") }
        }
    }

    // MARK: JSON

    /// Appends `[topic, json]`: `{"k","start_epoch","seq","model_version","rows":[{"id","best",
    /// "dist","support":[[center,weight],…]},…]}`; a row without id has no `"id"` key.
    /// - Throws: ``WireError`` `.nonFinite` for a NaN/infinite distance or weight; `message`
    ///   is then unchanged.
    public func encodeJSON(topic: String = WireTopic.assignmentsJSON, into message: inout WireMessage) throws(WireError) {
        let n = count
        precondition(distances.count == n && offsets.count == n + 1 && indices.count == weights.count && (ids.count == 0 || ids.count == n),
            "Assignments: inconsistent arrays")
        let (bytes, frames) = (message.bytes.count, message.frameCount)
        do {
            message.appendFrame(topic)
            message.appendASCII("{")
            message.appendKey("k", first: true)
            message.appendJSONInteger(k)
            message.appendKey("start_epoch")
            message.appendJSONInteger(startEpoch)
            message.appendKey("seq")
            message.appendJSONInteger(sequence)
            message.appendKey("model_version")
            message.appendJSONInteger(modelVersion)
            message.appendKey("rows")
            message.appendASCII("[")
            for i in 0..<n {
                message.appendASCII(i == 0 ? "{" : ",{")
                var first = true
                if ids.count > 0 {
                    if let v = ids.intID(at: i) {
                        message.appendKey("id", first: true)
                        message.appendJSONInteger(v)
                        first = false
                    } else if let s = ids.stringIDBytes(at: i) {
                        message.appendKey("id", first: true)
                        s.withUnsafeBytes { message.appendJSONString($0) }
                        first = false
                    }
                }
                message.appendKey("best", first: first)
                message.appendJSONInteger(best[i])
                message.appendKey("dist")
                try message.appendJSONNumber(distances[i], "distance of row \(i)")
                message.appendKey("support")
                message.appendASCII("[")
                for j in Int(offsets[i])..<Int(offsets[i + 1]) {
                    message.appendASCII(j == Int(offsets[i]) ? "[" : ",[")
                    message.appendJSONInteger(indices[j])
                    message.appendASCII(",")
                    try message.appendJSONNumber(weights[j], "weight \(j)")
                    message.appendASCII("]")
                }
                message.appendASCII("]}")
            }
            message.appendASCII("]}")
            message.endFrame()
        } catch {
            message.truncate(bytes: bytes, frames: frames)
            throw error
        }
    }

    /// Decodes `assignments.json` frames `[topic, json]`.
    /// - Throws: ``WireError`` on malformed JSON or inconsistent rows (the result passes ``validate()``).
    public static func decodeJSON(frames: [[UInt8]], hasTopic: Bool = true, limits: WireLimits = WireLimits()) throws(WireError) -> Assignments {
        try withJSONFrame(frames, hasTopic: hasTopic, limits: limits) { (r) throws(WireError) -> Assignments in
            var o = try r.beginObject()
            var k: UInt64?, startEpoch: UInt64?, seq: UInt64?, modelVersion: UInt64?
            var rows: [(id: VectorID?, best: Int, dist: Float, support: [(center: Int, weight: Float)])]?
            while let key = try r.nextKey(&o) {
                if r.key(key, is: "k") { k = try r.readUInt64("k") }
                else if r.key(key, is: "start_epoch") { startEpoch = try r.readUInt64("start_epoch") }
                else if r.key(key, is: "seq") { seq = try r.readUInt64("seq") }
                else if r.key(key, is: "model_version") { modelVersion = try r.readUInt64("model_version") }
                else if r.key(key, is: "rows") {
                    var list: [(id: VectorID?, best: Int, dist: Float, support: [(center: Int, weight: Float)])] = []
                    var a = try r.beginArray()
                    while try r.nextElement(&a) { list.append(try readRow(&r)) }
                    rows = list
                } else { try r.skipValue() }
            }
            guard let k, let startEpoch, let seq, let modelVersion, let rows, k <= UInt64(UInt32.max) else {
                throw WireError(.badJSON, "assignments JSON lacks a required field")
            }
            var out = Assignments(k: Int(k), startEpoch: startEpoch, sequence: seq, modelVersion: modelVersion)
            for row in rows {
                try out.appendRow(id: row.id, best: row.best, distance: row.dist, support: row.support)
            }
            if out.ids.count > 0 { while out.ids.count < out.count { out.ids.appendNone() } }
            try out.validate()
            return out
        }
    }

    private static func readRow(_ r: inout JSONReader) throws(WireError) -> (id: VectorID?, best: Int, dist: Float, support: [(center: Int, weight: Float)]) {
        var o = try r.beginObject()
        var id: VectorID?, best: Int64?, dist: Float?, support: [(center: Int, weight: Float)]?
        while let key = try r.nextKey(&o) {
            if r.key(key, is: "id") {
                if r.readNull() { continue }
                if r.peek() == UInt8(ascii: "\"") {
                    let s = try r.readStringValue()
                    try VectorID.validate(s)
                    id = .string(s)
                } else {
                    id = .int(try r.readInt64("id"))
                }
            } else if r.key(key, is: "best") {
                best = try r.readInt64("best")
            } else if r.key(key, is: "dist") {
                dist = try r.readFloat()
            } else if r.key(key, is: "support") {
                var pairs: [(center: Int, weight: Float)] = []
                var a = try r.beginArray()
                while try r.nextElement(&a) {
                    var p = try r.beginArray()
                    guard try r.nextElement(&p) else { throw r.fail("support pair is empty") }
                    let c = try r.readUInt64("support index")
                    guard try r.nextElement(&p) else { throw r.fail("support pair lacks a weight") }
                    let w = try r.readFloat()
                    guard try !r.nextElement(&p) else { throw r.fail("support pair has more than 2 elements") }
                    guard c <= UInt64(UInt32.max) else { throw WireError(.badSupport, "support index \(c)") }
                    pairs.append((Int(c), w))
                }
                support = pairs
            } else {
                try r.skipValue()
            }
        }
        guard let best, let dist, let support else { throw WireError(.badJSON, "assignment row lacks best, dist or support") }
        guard (0...Int64(Int32.max)).contains(best) else { throw WireError(.badSupport, "best center \(best)") }
        return (id, Int(best), dist, support)
    }
}
