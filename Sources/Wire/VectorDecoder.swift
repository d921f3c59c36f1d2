/// Which inbound form a vector message used.
public enum VectorMessageFormat: String, Sendable, Hashable {
    /// `[topic, body]`: one vector, no id, no sequence number.
    case single
    /// `[topic, header, body]`, `[topic, header, body, ids]`, and with a `VW1…` magic the same
    /// followed by a weights frame: a binary batch.
    case batch
    /// `[topic, "json", text]`: JSON.
    case json
}

/// What one decoded message contributed to a ``VectorBatch``.
public struct VectorMessageInfo: Sendable, Hashable {
    /// The form the message used.
    public var format: VectorMessageFormat
    /// The index in the batch of the message's first row.
    public var firstRow: Int
    /// The number of vectors the message carried (≥ 1).
    public var count: Int
    /// Their dimension.
    public var dimension: Int
    /// The producer's sequence number; 0 means unsequenced.
    public var sequence: UInt64

    /// Creates a value (decoders create these; public for tests and fakes).
    public init(format: VectorMessageFormat, firstRow: Int, count: Int, dimension: Int, sequence: UInt64) {
        self.format = format
        self.firstRow = firstRow
        self.count = count
        self.dimension = dimension
        self.sequence = sequence
    }
}

/// A decoded vector message with its topic (the allocating convenience result).
public struct DecodedVectorMessage: Sendable, Hashable {
    /// Frame 0, the producer's topic.
    public var topic: String
    /// What the message carried.
    public var info: VectorMessageInfo
    /// The vectors and ids.
    public var batch: VectorBatch
}

/// A decoded query request (the REQ/REP query socket).
public enum QueryRequest: Sendable, Hashable {
    /// `["snapshot"]`: reply with the centers (``CentersSnapshot/encodeBinary(topic:into:)`` with no topic).
    case snapshot
    /// `["stats"]`: reply with `[json]` (``encodeStatsReply(_:into:)``).
    case stats
    /// `["predict", header, body(, ids)]` or `["predict", "json", text]`: the vectors are in the
    /// batch passed to the decoder; reply with assignments (no topic).
    case predict(VectorMessageInfo)
}

/// Decodes protocol v1 vector messages and query requests from raw frames.
///
/// The decoder is a small immutable value; decoding allocates nothing in steady state when
/// the destination ``VectorBatch`` is reused (the JSON form allocates a little scratch, it is
/// for debugging and low rates). Frames are read in place with unaligned little-endian loads.
///
/// Every decode is all-or-nothing: on error it throws ``WireError`` and the batch is exactly
/// as it was before the call. Every value that lands in the batch is finite.
public struct VectorDecoder: Sendable {
    /// The dimension every vector must have; nil accepts any (but a non-empty batch still
    /// requires its own dimension).
    public var expectedDimension: Int?
    /// Size limits.
    public var limits: WireLimits
    /// Scale every vector to unit length (a model with the cosine metric); a vector of zero
    /// length is then refused as `zero_norm`.
    public var unitLength = false

    /// Creates a decoder.
    /// - Parameters:
    ///   - expectedDimension: the required dimension, or nil to accept any.
    ///   - limits: size limits for untrusted input.
    public init(expectedDimension: Int? = nil, limits: WireLimits = WireLimits()) {
        precondition(expectedDimension.map { $0 > 0 } ?? true, "expectedDimension must be positive")
        self.expectedDimension = expectedDimension
        self.limits = limits
    }

    /// Decodes one inbound vector message and appends its vectors and ids to `batch`.
    ///
    /// Frame 0 is the topic; the decoder checks it is 1…``WireLimits/maxTopicBytes`` bytes
    /// of UTF-8 but does not copy it, so a caller tracking sequence numbers per topic can look
    /// it up by bytes without building a `String` for every message.
    ///
    /// - Parameters:
    ///   - frames: the message's frames (2 to 5), as raw views valid for the call.
    ///   - batch: the sink; rows are appended after any already there.
    /// - Returns: where the rows landed, their count and dimension, and the sequence number.
    /// - Throws: ``WireError``; the batch is unchanged.
    /// - Complexity: O(total frame bytes).
    public func decode<Frames: RandomAccessCollection>(
        frames: Frames,
        into batch: inout VectorBatch
    ) throws(WireError) -> VectorMessageInfo where Frames.Element == UnsafeRawBufferPointer {
        let n = frames.count
        guard n >= 2 && n <= 5 else {
            throw WireError(.frameCount, "\(n) frames; a vector message has 2 to 5")
        }
        var i = frames.startIndex
        let topic = frames[i]
        frames.formIndex(after: &i)
        let p0 = frames[i]
        frames.formIndex(after: &i)
        let p1: UnsafeRawBufferPointer? = n > 2 ? frames[i] : nil
        if n > 2 { frames.formIndex(after: &i) }
        let p2: UnsafeRawBufferPointer? = n > 3 ? frames[i] : nil
        if n > 3 { frames.formIndex(after: &i) }
        let p3: UnsafeRawBufferPointer? = n > 4 ? frames[i] : nil
        try checkTopic(topic)
        return try decodePayload(count: n - 1, p0, p1, p2, p3, into: &batch)
    }

    /// Decodes one inbound vector message from byte arrays (a convenience; allocates).
    /// - Throws: ``WireError``.
    public func decode(frames: [[UInt8]]) throws(WireError) -> DecodedVectorMessage {
        var batch = VectorBatch()
        let info = try withRawFrames(frames) { (raws) throws(WireError) in
            try decode(frames: raws, into: &batch)
        }
        return DecodedVectorMessage(topic: String(decoding: frames[0], as: UTF8.self), info: info, batch: batch)
    }

    /// Decodes a query request; for `predict` the vectors are appended to `batch`.
    ///
    /// - Parameters:
    ///   - frames: the request's frames (no topic: the first frame names the request).
    ///   - batch: the sink for a predict request's vectors.
    /// - Throws: ``WireError`` (`.unknownRequest` for an unknown name); the batch is unchanged.
    public func decodeQuery<Frames: RandomAccessCollection>(
        frames: Frames,
        into batch: inout VectorBatch
    ) throws(WireError) -> QueryRequest where Frames.Element == UnsafeRawBufferPointer {
        let n = frames.count
        guard n >= 1 else { throw WireError(.frameCount, "empty request") }
        var i = frames.startIndex
        let name = frames[i]
        if name.equals("snapshot") || name.equals("stats") {
            guard n == 1 else { throw WireError(.frameCount, "\(n) frames; this request has 1") }
            return name.equals("stats") ? .stats : .snapshot
        }
        guard name.equals("predict") else {
            let shown = String(decoding: name.prefix(32), as: UTF8.self)
            throw WireError(.unknownRequest, "unknown request \"\(shown)\"")
        }
        guard n >= 3 && n <= 5 else {
            throw WireError(.frameCount, "\(n) frames; predict has 3 to 5")
        }
        frames.formIndex(after: &i)
        let p0 = frames[i]
        frames.formIndex(after: &i)
        let p1 = frames[i]
        frames.formIndex(after: &i)
        let p2: UnsafeRawBufferPointer? = n > 3 ? frames[i] : nil
        if n > 3 { frames.formIndex(after: &i) }
        let p3: UnsafeRawBufferPointer? = n > 4 ? frames[i] : nil
        try checkSize(name)
        return .predict(try decodePayload(count: n - 1, p0, p1, p2, p3, into: &batch))
    }

    /// Decodes a query request from byte arrays (a convenience; allocates).
    public func decodeQuery(frames: [[UInt8]]) throws(WireError) -> (request: QueryRequest, batch: VectorBatch) {
        var batch = VectorBatch()
        let request = try withRawFrames(frames) { (raws) throws(WireError) in
            try decodeQuery(frames: raws, into: &batch)
        }
        return (request, batch)
    }

    // MARK: Validation steps

    func checkSize(_ frame: UnsafeRawBufferPointer) throws(WireError) {
        if frame.count > limits.maxFrameBytes {
            throw WireError(.frameTooLarge, "frame of \(frame.count) bytes, limit \(limits.maxFrameBytes)")
        }
    }

    func checkTopic(_ topic: UnsafeRawBufferPointer) throws(WireError) {
        if topic.isEmpty { throw WireError(.badTopic, "empty topic") }
        if topic.count > limits.maxTopicBytes {
            throw WireError(.badTopic, "topic of \(topic.count) bytes, limit \(limits.maxTopicBytes)")
        }
        if !isValidUTF8(topic, 0..<topic.count) { throw WireError(.invalidUTF8, "topic is not UTF-8") }
    }

    func checkDimension(_ d: Int, _ batch: VectorBatch) throws(WireError) {
        if d > limits.maxDimension {
            throw WireError(.dimensionTooLarge, "dimension \(d), limit \(limits.maxDimension)")
        }
        if let want = batch.requiredDimension(expectedDimension), want != d {
            throw WireError(.dimensionMismatch, "dimension \(d), expected \(want)")
        }
    }

    /// The part shared by inbound messages and predict requests: the frames after the first.
    func decodePayload(
        count: Int,
        _ p0: UnsafeRawBufferPointer,
        _ p1: UnsafeRawBufferPointer?,
        _ p2: UnsafeRawBufferPointer?,
        _ p3: UnsafeRawBufferPointer?,
        into batch: inout VectorBatch
    ) throws(WireError) -> VectorMessageInfo {
        try checkSize(p0)
        if let p1 { try checkSize(p1) }
        if let p2 { try checkSize(p2) }
        if let p3 { try checkSize(p3) }
        let mark = batch.mark()
        do throws(WireError) {
            let info: VectorMessageInfo
            switch count {
            case 1:
                info = try decodeSingle(p0, into: &batch)
            case 2 where p0.equals("json"):
                info = try decodeJSON(p1!, into: &batch)
            case _ where p0.equals("json"):
                throw WireError(.frameCount, "a JSON message has exactly one text frame")
            default:
                info = try decodeBinaryBatch(header: p0, body: p1!, rest: p2, p3, into: &batch)
            }
            // Rows of a message without weights weigh 1 once any earlier row carries one.
            batch.padWeights()
            if unitLength, let zero = batch.normalizeRows(from: info.firstRow, count: info.count, dimension: info.dimension) {
                throw WireError(.zeroNorm, "vector \(zero - info.firstRow) has length zero; the cosine metric needs a direction")
            }
            return info
        } catch {
            batch.rollback(to: mark)
            throw error
        }
    }

    func decodeSingle(_ body: UnsafeRawBufferPointer, into batch: inout VectorBatch) throws(WireError) -> VectorMessageInfo {
        guard !body.isEmpty, body.count % 4 == 0 else {
            throw WireError(.badBodyLength, "body of \(body.count) bytes; need a positive multiple of 4")
        }
        let d = body.count / 4
        try checkDimension(d, batch)
        let first = batch.count
        if let bad = batch.appendLittleEndianFloats(body, dimension: d) {
            throw WireLimits.rejection(bad.value, at: "at component \(bad.index)")
        }
        batch.appendIDNone()
        return VectorMessageInfo(format: .single, firstRow: first, count: 1, dimension: d, sequence: 0)
    }

    /// `rest` holds the frames after the body: the ids frame if the magic has one, then the
    /// weights frame if the magic is a `VW1…` one.
    func decodeBinaryBatch(
        header: UnsafeRawBufferPointer,
        body: UnsafeRawBufferPointer,
        rest r0: UnsafeRawBufferPointer?, _ r1: UnsafeRawBufferPointer?,
        into batch: inout VectorBatch
    ) throws(WireError) -> VectorMessageInfo {
        guard header.count == 16 else {
            if header.count == 4 {
                throw WireError(.unknownFormat, "unknown format selector \"\(String(decoding: header, as: UTF8.self))\"")
            }
            throw WireError(.badHeader, "header of \(header.count) bytes; expected 16")
        }
        // Bytes 0–1 say whether a weights frame follows ("VB" no, "VW" yes), byte 3 how ids
        // are carried: 0 none, 1 int64, 2 strings.
        let magic = UnsafeRawBufferPointer(rebasing: header[0..<4])
        let weighted: Bool
        if header[0] == UInt8(ascii: "V"), header[2] == UInt8(ascii: "1"),
           header[1] == UInt8(ascii: "B") || header[1] == UInt8(ascii: "W") {
            weighted = header[1] == UInt8(ascii: "W")
        } else {
            throw WireError(.unknownFormat, "unknown batch magic \(Array(magic))")
        }
        let idKind: Int
        switch header[3] {
        case UInt8(ascii: "N"): idKind = 0
        case UInt8(ascii: "I"): idKind = 1
        case UInt8(ascii: "S"): idKind = 2
        default: throw WireError(.unknownFormat, "unknown batch magic \(Array(magic))")
        }
        let expectedFrames = (idKind == 0 ? 0 : 1) + (weighted ? 1 : 0)
        let presentFrames = (r0 == nil ? 0 : 1) + (r1 == nil ? 0 : 1)
        if expectedFrames != presentFrames {
            let name = String(decoding: magic, as: UTF8.self)
            throw WireError(.frameCount, "\(name) message with \(presentFrames) frames after the body; it has \(expectedFrames)")
        }
        let ids: UnsafeRawBufferPointer? = idKind == 0 ? nil : r0
        let weightFrame: UnsafeRawBufferPointer? = weighted ? (idKind == 0 ? r0 : r1) : nil
        let count = Int(header.u32LE(4))
        let sequence = header.u64LE(8)
        if count == 0 { throw WireError(.badHeader, "count is 0") }
        if count > limits.maxVectorsPerMessage {
            throw WireError(.tooManyVectors, "\(count) vectors, limit \(limits.maxVectorsPerMessage)")
        }
        guard !body.isEmpty, body.count % 4 == 0 else {
            throw WireError(.badBodyLength, "body of \(body.count) bytes; need a positive multiple of 4")
        }
        let floats = body.count / 4
        guard floats % count == 0 else {
            throw WireError(.countMismatch, "\(floats) floats do not divide into \(count) vectors")
        }
        let d = floats / count
        try checkDimension(d, batch)
        let first = batch.count
        if let bad = batch.appendLittleEndianFloats(body, dimension: d) {
            throw WireLimits.rejection(bad.value, at: "in vector \(bad.index / d) at component \(bad.index % d)")
        }
        switch idKind {
        case 0:
            for _ in 0..<count { batch.appendIDNone() }
        case 1:
            let ids = ids!
            guard ids.count == 8 * count else {
                throw WireError(.badIDs, "ids frame of \(ids.count) bytes; expected \(8 * count) for \(count) int64 ids")
            }
            for i in 0..<count { batch.appendIDInt(Int64(bitPattern: ids.u64LE(8 * i))) }
        default:
            try appendStringIDs(ids!, count: count, into: &batch)
        }
        if let weightFrame {
            guard weightFrame.count == 4 * count else {
                throw WireError(.badWeights, "weights frame of \(weightFrame.count) bytes; expected \(4 * count) for \(count) float32 weights")
            }
            batch.beginWeights(firstRow: first)
            if let bad = batch.appendLittleEndianWeights(weightFrame, count: count) {
                throw WireError(.badWeights, "weight \(bad.value) of vector \(bad.index); weights must be finite and > 0")
            }
        }
        return VectorMessageInfo(format: .batch, firstRow: first, count: count, dimension: d, sequence: sequence)
    }

    /// Splits a `VB1S` ids frame on line feeds: exactly `count` ids, each 1…64 bytes of UTF-8.
    func appendStringIDs(_ ids: UnsafeRawBufferPointer, count: Int, into batch: inout VectorBatch) throws(WireError) {
        var start = 0
        var found = 0
        var i = 0
        while i <= ids.count {
            if i == ids.count || ids[i] == 0x0A {
                let r = start..<i
                found += 1
                if found > count { throw WireError(.badIDs, "more than \(count) string ids") }
                if r.isEmpty { throw WireError(.badIDs, "empty string id (number \(found))") }
                if r.count > VectorID.maxStringBytes {
                    throw WireError(.idTooLong, "string id number \(found) has \(r.count) bytes, at most \(VectorID.maxStringBytes)")
                }
                if !isValidUTF8(ids, r) { throw WireError(.invalidUTF8, "string id number \(found) is not UTF-8") }
                batch.appendIDString(ids, r)
                start = i + 1
            }
            i += 1
        }
        if found != count { throw WireError(.badIDs, "\(found) string ids for \(count) vectors") }
    }
}
