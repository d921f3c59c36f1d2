// Shared by FuzzVectors.swift and FuzzQuery.swift (compiled into both, together with
// Sources/Wire/*.swift, so the checks below can read the batch's internal storage).
//
// Input layout of both wire targets:
//
//   byte 0        options (see `WireFuzzOptions`)
//   then frames   each frame is a 2-byte little-endian length `n` followed by `n` bytes; a
//                 length that runs past the end of the input takes whatever is left. At most
//                 `maxFrames` frames are read; bytes after the last one are ignored.
//
// A broken invariant calls `invariant` (a `precondition` that keeps its message), which traps,
// so libFuzzer reports the input.

/// The options byte: what the decoder is configured with and what the batch holds before.
struct WireFuzzOptions {
    /// bits 0–1: the decoder's expected dimension: nil, 2, 3 or 8.
    var expectedDimension: Int?
    /// bits 2–3: rows already in the batch: none, one row without id, two rows with string
    /// ids, one row with an int id (so rollback is tested on top of earlier messages).
    var prefill: Int
    /// bit 4: tight limits (small numbers, so limit paths are reachable with small inputs).
    var tightLimits: Bool
    /// bit 5: also decode through the allocating `[[UInt8]]` convenience API and compare.
    var crossCheckConvenience: Bool

    init(_ byte: UInt8) {
        expectedDimension = [nil, 2, 3, 8][Int(byte & 3)]
        prefill = Int(byte >> 2 & 3)
        tightLimits = byte & 0x10 != 0
        crossCheckConvenience = byte & 0x20 != 0
    }

    var limits: WireLimits {
        tightLimits
            ? WireLimits(maxFrameBytes: 512, maxVectorsPerMessage: 4, maxDimension: 8, maxTopicBytes: 8,
                         maxJSONBytes: 256, maxJSONDepth: 3)
            : WireLimits()
    }

    var decoder: VectorDecoder { VectorDecoder(expectedDimension: expectedDimension, limits: limits) }

    /// A batch holding the prefill rows (of the expected dimension, or 3).
    func initialBatch() -> VectorBatch {
        let d = expectedDimension ?? 3
        let row = (0..<d).map { Float($0) * 0.5 - 1 }
        var batch = VectorBatch()
        do {
            switch prefill {
            case 1: try batch.append(row, id: nil)
            case 2:
                try batch.append(row, id: .string("first"))
                try batch.append(row.map { -$0 }, id: .string("é-second"))
            case 3: try batch.append(row, id: .int(-7))
            default: break
            }
        } catch {
            invariantFailure("prefill rows are valid: \(error)")
        }
        return batch
    }
}

/// Splits the fuzzer's bytes after the options byte into at most `maxFrames` frames.
func splitFrames(_ data: UnsafeRawBufferPointer, maxFrames: Int) -> [ArraySlice<UInt8>] {
    var frames: [ArraySlice<UInt8>] = []
    let bytes = Array(data)
    var i = 0
    while i < bytes.count && frames.count < maxFrames {
        guard i + 2 <= bytes.count else {
            frames.append(bytes[i...])
            break
        }
        let n = Int(bytes[i]) | Int(bytes[i + 1]) << 8
        let start = i + 2
        let end = min(start + n, bytes.count)
        frames.append(bytes[start..<end])
        i = end
    }
    return frames
}

/// Runs `body` with each frame copied into its own exactly-sized allocation, so AddressSanitizer
/// catches a read one byte past any frame (slices of one array would hide it).
func withExactFrames<R>(_ frames: [ArraySlice<UInt8>], _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
    let buffers = frames.map { f -> UnsafeMutableRawBufferPointer in
        // A zero-byte frame still gets a distinct 1-byte allocation, viewed as empty.
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(f.count, 1), alignment: 1)
        f.withUnsafeBytes { src in if src.count > 0 { p.copyMemory(from: src) } }
        return p
    }
    defer { for b in buffers { b.deallocate() } }
    let views = zip(buffers, frames).map { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0.0)[0..<$0.1.count]) }
    return body(views)
}

/// Every stored byte of a batch: values by bit pattern, id slots, string bytes, counters and
/// dimension. Two equal snapshots mean the batch is byte-identical (capacity aside).
struct BatchSnapshot: Equatable {
    var valueBits: [UInt32]
    var slots: [VectorIDs.Slot]
    var stringBytes: [UInt8]
    var intCount: Int
    var stringCount: Int
    var dimension: Int?

    init(_ b: VectorBatch) {
        valueBits = b.values.map(\.bitPattern)
        slots = b.ids.slots
        stringBytes = b.ids.stringBytes
        intCount = b.ids.intCount
        stringCount = b.ids.stringCount
        dimension = b.dimension
    }
}

/// The batch's own invariants, whatever happened before.
func checkBatchWellFormed(_ b: VectorBatch) {
    let ids = b.ids
    invariant(b.count == ids.slots.count, "row count and id slots disagree")
    if b.isEmpty {
        invariant(b.values.isEmpty, "an empty batch holds values")
    } else {
        guard let d = b.dimension else { invariantFailure("a non-empty batch without a dimension") }
        invariant(d >= 1, "dimension \(d) < 1")
        invariant(b.values.count == b.count * d, "\(b.values.count) values for \(b.count) rows of \(d)")
    }
    invariant(b.values.allSatisfy(\.isFinite), "a non-finite value landed in the batch")
    var ints = 0, strings = 0, expectedOffset = 0
    for s in ids.slots {
        switch s.kind {
        case 0: invariant(s.value == 0 && s.length == 0, "a no-id slot carries data")
        case 1: ints += 1
        case 2:
            strings += 1
            invariant(Int(s.value) == expectedOffset, "string ids are not back to back")
            let r = Int(s.value)..<Int(s.value) + Int(s.length)
            invariant(r.count >= 1 && r.count <= VectorID.maxStringBytes, "string id of \(r.count) bytes")
            invariant(r.upperBound <= ids.stringBytes.count, "string id past the end of its storage")
            let bytes = Array(ids.stringBytes[r])
            invariant(!bytes.contains(0x0A), "string id with a line feed")
            invariant(String(validating: bytes, as: UTF8.self) != nil, "string id is not UTF-8")
            expectedOffset = r.upperBound
        default: invariantFailure("unknown id kind \(s.kind)")
        }
    }
    invariant(expectedOffset == ids.stringBytes.count, "unreferenced string id bytes")
    invariant(ints == ids.intCount && strings == ids.stringCount, "id counters disagree with the slots")
}

/// Checks a successful decode of one message's payload against the batch before and after.
func checkAppended(
    _ info: VectorMessageInfo, before: BatchSnapshot, beforeCount: Int, after b: VectorBatch,
    decoder: VectorDecoder
) {
    checkBatchWellFormed(b)
    invariant(info.count >= 1, "success with \(info.count) vectors")
    invariant(info.count <= decoder.limits.maxVectorsPerMessage, "more vectors than the limit")
    invariant(info.dimension >= 1 && info.dimension <= decoder.limits.maxDimension, "dimension \(info.dimension) outside the limits")
    if let want = decoder.expectedDimension { invariant(info.dimension == want, "dimension \(info.dimension), expected \(want)") }
    if beforeCount > 0 { invariant(info.dimension == before.dimension, "appended rows of another dimension") }
    invariant(info.firstRow == beforeCount, "firstRow \(info.firstRow), batch had \(beforeCount) rows")
    invariant(b.count == beforeCount + info.count, "\(b.count - beforeCount) rows appended, info says \(info.count)")
    invariant(b.dimension == info.dimension, "batch dimension \(String(describing: b.dimension)), info \(info.dimension)")
    let after = BatchSnapshot(b)
    // What was there before is untouched.
    invariant(after.valueBits.starts(with: before.valueBits), "earlier values changed")
    invariant(after.slots.starts(with: before.slots), "earlier ids changed")
    invariant(after.stringBytes.starts(with: before.stringBytes), "earlier string ids changed")
    if info.format == .single { invariant(info.count == 1 && info.sequence == 0, "single form with count or sequence") }
}

/// The binary forms carry their values verbatim: the appended rows must be the body's bits,
/// and `VB1I` ids the ids frame's integers.
func checkBinaryPayload(_ info: VectorMessageInfo, payload: [ArraySlice<UInt8>], after b: VectorBatch) {
    guard info.format != .json else { return }
    let body = info.format == .single ? payload[0] : payload[1]
    let first = info.firstRow * info.dimension
    invariant(body.count == 4 * info.count * info.dimension, "body length disagrees with count × dimension")
    let bodyBytes = Array(body)
    for i in 0..<(info.count * info.dimension) {
        let bits = UInt32(bodyBytes[4 * i]) | UInt32(bodyBytes[4 * i + 1]) << 8
            | UInt32(bodyBytes[4 * i + 2]) << 16 | UInt32(bodyBytes[4 * i + 3]) << 24
        invariant(b.values[first + i].bitPattern == bits, "value \(i) is not the body's")
    }
    if info.format == .batch {
        let header = Array(payload[0])
        invariant(header.count == 16, "batch accepted with a \(header.count)-byte header")
        var count = 0, seq: UInt64 = 0
        for j in 0..<4 { count |= Int(header[4 + j]) << (8 * j) }
        for j in 0..<8 { seq |= UInt64(header[8 + j]) << (8 * j) }
        invariant(count == info.count && seq == info.sequence, "header count/seq not reported")
        let magic = String(decoding: header[0..<4], as: UTF8.self)
        for row in info.firstRow..<(info.firstRow + info.count) {
            switch magic {
            case "VB1N": invariant(b.ids[row] == nil, "VB1N row with an id")
            case "VB1I":
                let ids = Array(payload[2])
                var v: UInt64 = 0
                let o = 8 * (row - info.firstRow)
                for j in 0..<8 { v |= UInt64(ids[o + j]) << (8 * j) }
                invariant(b.ids.intID(at: row) == Int64(bitPattern: v), "VB1I id not the frame's")
            case "VB1S": invariant(b.ids.stringIDBytes(at: row) != nil, "VB1S row without a string id")
            default: invariantFailure("accepted unknown magic \(magic)")
            }
        }
        if magic == "VB1S" {
            // The ids joined by line feeds are exactly the ids frame.
            var joined: [UInt8] = []
            for row in info.firstRow..<(info.firstRow + info.count) {
                if row > info.firstRow { joined.append(0x0A) }
                joined += b.ids.stringIDBytes(at: row)!
            }
            invariant(joined == Array(payload[2]), "VB1S ids are not the frame's")
        }
    } else {
        invariant(b.ids[info.firstRow] == nil, "single form with an id")
    }
}

/// `precondition` that keeps its message in an optimized build: a broken invariant traps, so
/// libFuzzer saves the input, and the message says which invariant broke.
@inline(__always)
func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { invariantFailure(message()) }
}

func invariantFailure(_ message: String) -> Never {
    fatalError("fuzz invariant broken: \(message)")
}
