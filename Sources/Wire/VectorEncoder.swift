/// Encodes inbound vector messages and query requests: the producer's and query client's
/// side of protocol v1 (used by `voronoid produce`, `voronoid query` and the tests).
public enum VectorEncoder {
    /// Appends `[topic, body]`: one vector without id or sequence number.
    /// - Precondition: `vector` is non-empty.
    public static func encodeSingle(topic: String, vector: [Float], into message: inout WireMessage) {
        precondition(!vector.isEmpty, "VectorEncoder: empty vector")
        message.appendFrame(topic)
        message.appendLittleEndian(vector)
        message.endFrame()
    }

    /// Appends `[topic, header, body]` or `[topic, header, body, ids]` for a whole batch.
    ///
    /// The magic follows the batch's ids: `VB1N` when no row has an id, `VB1I` when every
    /// row has an integer id, `VB1S` when every row has a string id; a weighted batch
    /// (``VectorBatch/isWeighted``) uses `VW1N`, `VW1I` or `VW1S` and ends with a frame of
    /// `count` float32 weights.
    /// - Parameters:
    ///   - topic: frame 0 (`"predict"` makes this a predict request).
    ///   - batch: a non-empty batch.
    ///   - sequence: the producer's sequence number, 0 for unsequenced.
    /// - Throws: ``WireError`` `.badIDs` if some rows have ids and others not, or kinds mix
    ///   (the inbound format cannot carry that); `message` is then unchanged.
    public static func encodeBatch(topic: String, batch: VectorBatch, sequence: UInt64 = 0, into message: inout WireMessage) throws(WireError) {
        precondition(!batch.isEmpty, "VectorEncoder: empty batch")
        let kind = batch.ids.kind
        if kind == .mixed { throw WireError(.badIDs, "a batch message's ids must be all integers or all strings") }
        message.appendFrame(topic)
        message.appendASCII(batch.isWeighted ? "VW1" : "VB1")
        switch kind {
        case .none: message.appendASCII("N")
        case .int: message.appendASCII("I")
        default: message.appendASCII("S")
        }
        message.appendU32(UInt32(batch.count))
        message.appendU64(sequence)
        message.endFrame()
        message.appendLittleEndian(batch.values)
        message.endFrame()
        switch kind {
        case .int:
            for i in 0..<batch.count { message.appendU64(UInt64(bitPattern: batch.ids.intID(at: i)!)) }
            message.endFrame()
        case .string:
            for i in 0..<batch.count {
                if i > 0 { message.appendByte(0x0A) }
                batch.ids.stringIDBytes(at: i)!.withUnsafeBytes { message.appendFrameBytes($0) }
            }
            message.endFrame()
        default:
            break
        }
        if batch.isWeighted {
            message.appendLittleEndian(batch.weights)
            message.endFrame()
        }
    }

    /// Appends `[topic, "json", text]`: `{"vector":[…],"id":…,"seq":…}` for one row, else
    /// `{"vectors":[[…],…],"ids":[…],"seq":…}`; `id`/`ids` only when rows have ids,
    /// `weight`/`weights` only when the batch is weighted, `seq` only when non-zero.
    /// - Throws: ``WireError`` `.badIDs` for mixed ids; `message` is then unchanged.
    public static func encodeJSON(topic: String, batch: VectorBatch, sequence: UInt64 = 0, into message: inout WireMessage) throws(WireError) {
        precondition(!batch.isEmpty, "VectorEncoder: empty batch")
        let kind = batch.ids.kind
        if kind == .mixed { throw WireError(.badIDs, "a message's ids must be all integers or all strings") }
        let d = batch.dimension!
        message.appendFrame(topic)
        message.appendASCII("json")
        message.endFrame()
        func appendID(_ i: Int) {
            if let v = batch.ids.intID(at: i) {
                message.appendJSONInteger(v)
            } else if let s = batch.ids.stringIDBytes(at: i) {
                s.withUnsafeBytes { message.appendJSONString($0) }
            }
        }
        func appendRow(_ r: Int) {
            message.appendASCII("[")
            for j in 0..<d {
                if j > 0 { message.appendASCII(",") }
                // Batch values are finite by construction (VectorBatch rejects the rest).
                message.appendJSONFiniteNumber(batch.values[r * d + j])
            }
            message.appendASCII("]")
        }
        message.appendASCII("{")
        if batch.count == 1 {
            message.appendKey("vector", first: true)
            appendRow(0)
            if kind != .none {
                message.appendKey("id")
                appendID(0)
            }
        } else {
            message.appendKey("vectors", first: true)
            message.appendASCII("[")
            for r in 0..<batch.count {
                if r > 0 { message.appendASCII(",") }
                appendRow(r)
            }
            message.appendASCII("]")
            if kind != .none {
                message.appendKey("ids")
                message.appendASCII("[")
                for r in 0..<batch.count {
                    if r > 0 { message.appendASCII(",") }
                    appendID(r)
                }
                message.appendASCII("]")
            }
        }
        if batch.isWeighted {
            message.appendKey(batch.count == 1 ? "weight" : "weights")
            if batch.count > 1 { message.appendASCII("[") }
            for r in 0..<batch.count {
                if r > 0 { message.appendASCII(",") }
                message.appendJSONFiniteNumber(batch.weights[r])
            }
            if batch.count > 1 { message.appendASCII("]") }
        }
        if sequence != 0 {
            message.appendKey("seq")
            message.appendJSONInteger(sequence)
        }
        message.appendASCII("}")
        message.endFrame()
    }

    /// Appends the `["snapshot"]` request.
    public static func encodeSnapshotRequest(into message: inout WireMessage) {
        message.appendFrame("snapshot")
    }

    /// Appends the `["stats"]` request.
    public static func encodeStatsRequest(into message: inout WireMessage) {
        message.appendFrame("stats")
    }

    /// Appends a `["predict", header, body(, ids)]` request.
    /// - Throws: as ``encodeBatch(topic:batch:sequence:into:)``.
    public static func encodePredictRequest(batch: VectorBatch, into message: inout WireMessage) throws(WireError) {
        try encodeBatch(topic: "predict", batch: batch, into: &message)
    }
}

// MARK: Query replies

/// Appends the `stats` reply `[json]`: one flat object, keys sorted.
/// - Throws: ``WireError`` `.nonFinite` for a NaN/infinite double; `message` is then unchanged.
public func encodeStatsReply(_ stats: [String: WireScalar], into message: inout WireMessage) throws(WireError) {
    let (bytes, frames) = (message.bytes.count, message.frameCount)
    do {
        try message.appendJSONObject(stats)
        message.endFrame()
    } catch {
        message.truncate(bytes: bytes, frames: frames)
        throw error
    }
}

/// Decodes the `stats` reply `[json]`.
/// - Throws: ``WireError`` on malformed JSON or a value that is not a string or a number.
public func decodeStatsReply(frames: [[UInt8]], limits: WireLimits = WireLimits()) throws(WireError) -> [String: WireScalar] {
    try withJSONFrame(frames, hasTopic: false, limits: limits) { (r) throws(WireError) in try r.readScalarObject() }
}

extension WireError {
    /// Appends the error reply `["error", reason, detail]` of the query socket.
    public func encodeReply(into message: inout WireMessage) {
        message.appendFrame("error")
        message.appendFrame(reason.rawValue)
        message.appendFrame(detail)
    }

    /// If `frames` is an error reply `["error", reason, detail]`, its reason and detail.
    ///
    /// The reason is returned as text so a client keeps working when a newer daemon adds
    /// reasons; compare it with ``Reason/rawValue``.
    public static func decodeReply(frames: [[UInt8]]) -> (reason: String, detail: String)? {
        guard frames.count == 3, frames[0] == Array("error".utf8) else { return nil }
        return (String(decoding: frames[1], as: UTF8.self), String(decoding: frames[2], as: UTF8.self))
    }
}
