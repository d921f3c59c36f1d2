/// The model's centers as published on `centers.bin` / `centers.json` and returned by the
/// `snapshot` query.
///
/// Binary layout (little-endian): `[topic, header, centers, counts]` where header is
/// `struct.pack("<4sIIQQQQd", b"VCT1", k, d, start_epoch, seq, model_epoch, model_version,
/// temperature)` (52 bytes), centers is `k × d` float32 row-major and counts is `k` float64.
public struct CentersSnapshot: Sendable, Hashable {
    /// The number of centers.
    public var k: Int
    /// Their dimension.
    public var dimension: Int
    /// Identifies the daemon run that published this; with ``sequence`` it detects gaps and restarts.
    public var startEpoch: UInt64
    /// The publish sequence number on this topic within ``startEpoch``.
    public var sequence: UInt64
    /// The model's epoch (bumped when the model is re-initialised).
    public var modelEpoch: UInt64
    /// The model's version (bumped on every update).
    public var modelVersion: UInt64
    /// The responsibility temperature the model was at.
    public var temperature: Double
    /// `k × dimension` values, row-major.
    public var centers: [Float]
    /// `k` soft counts.
    public var counts: [Double]
    /// `k` cluster spreads (mean squared distance to the center of the vectors it is nearest
    /// to), or nil. Carried by the JSON form only (`"spreads"`, with `"shares"`, each count over
    /// their total); the binary form's frames stay as they were.
    public var spreads: [Double]?

    /// The binary header's length in bytes (`struct.calcsize("<4sIIQQQQd")`).
    public static let binaryHeaderBytes = 52

    /// Creates a snapshot.
    /// - Precondition: `centers.count == k * dimension` and `counts.count == k`.
    public init(
        k: Int, dimension: Int, startEpoch: UInt64, sequence: UInt64, modelEpoch: UInt64,
        modelVersion: UInt64, temperature: Double, centers: [Float], counts: [Double]
    ) {
        precondition(k >= 0 && dimension >= 0 && k <= Int(UInt32.max) && dimension <= Int(UInt32.max), "CentersSnapshot: bad k or dimension")
        precondition(centers.count == k * dimension, "CentersSnapshot: centers has \(centers.count) values, k×d = \(k * dimension)")
        precondition(counts.count == k, "CentersSnapshot: counts has \(counts.count) values, k = \(k)")
        self.k = k
        self.dimension = dimension
        self.startEpoch = startEpoch
        self.sequence = sequence
        self.modelEpoch = modelEpoch
        self.modelVersion = modelVersion
        self.temperature = temperature
        self.centers = centers
        self.counts = counts
    }

    /// Appends `[topic, header, centers, counts]` to `message`.
    /// - Parameters:
    ///   - topic: frame 0; nil omits it (the `snapshot` query reply).
    ///   - message: the reusable output.
    /// - Complexity: O(k × d); one copy of the values on little-endian hosts.
    public func encodeBinary(topic: String? = WireTopic.centersBinary, into message: inout WireMessage) {
        precondition(centers.count == k * dimension && counts.count == k, "CentersSnapshot: inconsistent sizes")
        if let topic { message.appendFrame(topic) }
        message.appendASCII("VCT1")
        message.appendU32(UInt32(k))
        message.appendU32(UInt32(dimension))
        message.appendU64(startEpoch)
        message.appendU64(sequence)
        message.appendU64(modelEpoch)
        message.appendU64(modelVersion)
        message.appendF64(temperature)
        message.endFrame()
        message.appendLittleEndian(centers)
        message.endFrame()
        message.appendLittleEndian(counts)
        message.endFrame()
    }

    /// Appends `[topic, json]` with the same fields by name.
    /// - Throws: ``WireError`` `.nonFinite` if a value is NaN or infinite (JSON cannot carry
    ///   it); `message` is then unchanged.
    public func encodeJSON(topic: String = WireTopic.centersJSON, into message: inout WireMessage) throws(WireError) {
        precondition(centers.count == k * dimension && counts.count == k, "CentersSnapshot: inconsistent sizes")
        let (bytes, frames) = (message.bytes.count, message.frameCount)
        do {
            message.appendFrame(topic)
            message.appendASCII("{")
            message.appendKey("k", first: true)
            message.appendJSONInteger(k)
            message.appendKey("d")
            message.appendJSONInteger(dimension)
            message.appendKey("start_epoch")
            message.appendJSONInteger(startEpoch)
            message.appendKey("seq")
            message.appendJSONInteger(sequence)
            message.appendKey("model_epoch")
            message.appendJSONInteger(modelEpoch)
            message.appendKey("model_version")
            message.appendJSONInteger(modelVersion)
            message.appendKey("temperature")
            try message.appendJSONNumber(temperature, "temperature")
            message.appendKey("centers")
            message.appendASCII("[")
            for c in 0..<k {
                message.appendASCII(c == 0 ? "[" : ",[")
                for j in 0..<dimension {
                    if j > 0 { message.appendASCII(",") }
                    try message.appendJSONNumber(centers[c * dimension + j], "center \(c) component \(j)")
                }
                message.appendASCII("]")
            }
            message.appendASCII("]")
            message.appendKey("counts")
            message.appendASCII("[")
            for c in 0..<k {
                if c > 0 { message.appendASCII(",") }
                try message.appendJSONNumber(counts[c], "count \(c)")
            }
            message.appendASCII("]")
            if let spreads, spreads.count == k {
                message.appendKey("spreads")
                message.appendASCII("[")
                for c in 0..<k {
                    if c > 0 { message.appendASCII(",") }
                    try message.appendJSONNumber(spreads[c], "spread \(c)")
                }
                message.appendASCII("]")
                var total = 0.0
                for c in 0..<k { total += counts[c] }
                message.appendKey("shares")
                message.appendASCII("[")
                for c in 0..<k {
                    if c > 0 { message.appendASCII(",") }
                    try message.appendJSONNumber(total > 0 ? counts[c] / total : 0, "share \(c)")
                }
                message.appendASCII("]")
            }
            message.appendASCII("}")
            message.endFrame()
        } catch {
            message.truncate(bytes: bytes, frames: frames)
            throw error
        }
    }

    /// Decodes `centers.bin` frames (or a `snapshot` reply).
    /// - Parameters:
    ///   - frames: the message's frames.
    ///   - hasTopic: whether frame 0 is a topic (false for a query reply).
    /// - Throws: ``WireError`` on a malformed message or a non-finite value.
    public static func decodeBinary(frames: [[UInt8]], hasTopic: Bool = true) throws(WireError) -> CentersSnapshot {
        let skip = hasTopic ? 1 : 0
        guard frames.count == 3 + skip else { throw WireError(.frameCount, "\(frames.count) frames; expected \(3 + skip)") }
        return try withRawFrames(Array(frames[skip...])) { (f) throws(WireError) -> CentersSnapshot in
            let h = f[0]
            guard h.count == binaryHeaderBytes else { throw WireError(.badHeader, "header of \(h.count) bytes; expected \(binaryHeaderBytes)") }
            guard UnsafeRawBufferPointer(rebasing: h[0..<4]).equals("VCT1") else { throw WireError(.unknownFormat, "bad centers magic") }
            let k = Int(h.u32LE(4)), d = Int(h.u32LE(8))
            guard f[1].count == 4 * k * d else { throw WireError(.countMismatch, "centers frame of \(f[1].count) bytes for k=\(k) d=\(d)") }
            guard f[2].count == 8 * k else { throw WireError(.countMismatch, "counts frame of \(f[2].count) bytes for k=\(k)") }
            let centers = try readFloats(f[1])
            let counts = (0..<k).map { f[2].f64LE(8 * $0) }
            let temperature = h.f64LE(44)
            guard temperature.isFinite, counts.allSatisfy(\.isFinite) else { throw WireError(.nonFinite, "non-finite temperature or count") }
            return CentersSnapshot(
                k: k, dimension: d, startEpoch: h.u64LE(12), sequence: h.u64LE(20), modelEpoch: h.u64LE(28),
                modelVersion: h.u64LE(36), temperature: temperature, centers: centers, counts: counts)
        }
    }

    /// Decodes `centers.json` frames `[topic, json]` (or `[json]` with `hasTopic: false`).
    /// - Throws: ``WireError`` on malformed JSON, a missing field, or inconsistent sizes.
    public static func decodeJSON(frames: [[UInt8]], hasTopic: Bool = true, limits: WireLimits = WireLimits()) throws(WireError) -> CentersSnapshot {
        try withJSONFrame(frames, hasTopic: hasTopic, limits: limits) { (r) throws(WireError) -> CentersSnapshot in
            var o = try r.beginObject()
            var k: UInt64?, d: UInt64?, startEpoch: UInt64?, seq: UInt64?, modelEpoch: UInt64?, modelVersion: UInt64?
            var temperature: Double?
            var centers: [Float]?, rows = 0, counts: [Double]?, spreads: [Double]?
            while let key = try r.nextKey(&o) {
                if r.key(key, is: "k") { k = try r.readUInt64("k") }
                else if r.key(key, is: "d") { d = try r.readUInt64("d") }
                else if r.key(key, is: "start_epoch") { startEpoch = try r.readUInt64("start_epoch") }
                else if r.key(key, is: "seq") { seq = try r.readUInt64("seq") }
                else if r.key(key, is: "model_epoch") { modelEpoch = try r.readUInt64("model_epoch") }
                else if r.key(key, is: "model_version") { modelVersion = try r.readUInt64("model_version") }
                else if r.key(key, is: "temperature") { temperature = try r.readDouble() }
                else if r.key(key, is: "centers") {
                    var values: [Float] = []
                    var rowLength: Int?
                    var a = try r.beginArray()
                    while try r.nextElement(&a) {
                        let before = values.count
                        try r.readFloatArray(into: &values)
                        if let rowLength, values.count - before != rowLength {
                            throw WireError(.dimensionMismatch, "ragged centers")
                        }
                        rowLength = values.count - before
                        rows += 1
                    }
                    centers = values
                } else if r.key(key, is: "counts") {
                    var values: [Double] = []
                    var a = try r.beginArray()
                    while try r.nextElement(&a) { values.append(try r.readDouble()) }
                    counts = values
                } else if r.key(key, is: "spreads") {
                    var values: [Double] = []
                    var a = try r.beginArray()
                    while try r.nextElement(&a) { values.append(try r.readDouble()) }
                    spreads = values
                } else { try r.skipValue() }
            }
            guard let k, let d, let startEpoch, let seq, let modelEpoch, let modelVersion, let temperature, let centers, let counts else {
                throw WireError(.badJSON, "centers JSON lacks a required field")
            }
            guard k <= UInt64(UInt32.max), d <= UInt64(UInt32.max), rows == Int(k), centers.count == Int(k) * Int(d), counts.count == Int(k) else {
                throw WireError(.countMismatch, "centers JSON sizes disagree with k=\(k) d=\(d)")
            }
            if let spreads, spreads.count != Int(k) {
                throw WireError(.countMismatch, "centers JSON has \(spreads.count) spreads for k=\(k)")
            }
            var snapshot = CentersSnapshot(
                k: Int(k), dimension: Int(d), startEpoch: startEpoch, sequence: seq, modelEpoch: modelEpoch,
                modelVersion: modelVersion, temperature: temperature, centers: centers, counts: counts)
            snapshot.spreads = spreads
            return snapshot
        }
    }
}

// MARK: Shared decoding helpers for outbound messages (consumer side)

/// Reads little-endian float32 values, rejecting non-finite ones.
func readFloats(_ raw: UnsafeRawBufferPointer) throws(WireError) -> [Float] {
    let n = raw.count / 4
    var out = [Float](repeating: 0, count: n)
    for i in 0..<n {
        let v = raw.f32LE(4 * i)
        guard v.isFinite else { throw WireError(.nonFinite, "non-finite value at index \(i)") }
        out[i] = v
    }
    return out
}

/// Runs `body` with a reader over the JSON frame of `[topic, json]` (or `[json]`).
func withJSONFrame<R>(
    _ frames: [[UInt8]], hasTopic: Bool, limits: WireLimits,
    _ body: (inout JSONReader) throws(WireError) -> R
) throws(WireError) -> R {
    let skip = hasTopic ? 1 : 0
    guard frames.count == 1 + skip else { throw WireError(.frameCount, "\(frames.count) frames; expected \(1 + skip)") }
    let text = frames[skip]
    if text.count > limits.maxJSONBytes { throw WireError(.frameTooLarge, "JSON of \(text.count) bytes") }
    return try withRawFrames([text]) { (f) throws(WireError) -> R in
        guard isValidUTF8(f[0], 0..<f[0].count) else { throw WireError(.invalidUTF8, "JSON text is not UTF-8") }
        var r = JSONReader(f[0], maxDepth: limits.maxJSONDepth)
        guard r.peek() == UInt8(ascii: "{") else { throw r.fail("expected an object") }
        let result = try body(&r)
        try r.expectEnd()
        return result
    }
}

extension JSONReader {
    /// Reads `[x, y, …]` appending each number as a `Float`.
    mutating func readFloatArray(into out: inout [Float]) throws(WireError) {
        var a = try beginArray()
        while try nextElement(&a) { out.append(try readFloat()) }
    }

    /// Reads a string value as a Swift `String`.
    mutating func readStringValue() throws(WireError) -> String {
        scratch.removeAll(keepingCapacity: true)
        try readString(into: \.scratch)
        return String(decoding: scratch, as: UTF8.self)
    }
}
