// libFuzzer target: inbound vector messages, `VectorDecoder.decode(frames:into:)`.
//
// Input: an options byte, then frames (see WireFuzzSupport.swift): frame 0 is the topic.
// Options bit 6 switches to a differential test of the JSON number reader instead: the
// bytes after the options byte are one number's text, read by `JSONReader.readFloat()` and
// compared bit for bit with the standard library's correctly rounded `Float(_: String)`.
//
// Invariants: a decode either appends count × dimension finite values and one id per row
// after the untouched earlier rows, or throws and leaves the batch byte-identical.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVectors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    let options = WireFuzzOptions(raw[0])
    let rest = UnsafeRawBufferPointer(rebasing: raw[1...])
    if raw[0] & 0x40 != 0 {
        checkNumber(rest)
        return 0
    }
    let frames = splitFrames(rest, maxFrames: 6)
    let decoder = options.decoder
    var batch = options.initialBatch()
    let before = BatchSnapshot(batch)
    let beforeCount = batch.count
    let result = withExactFrames(frames) { views in
        Result { () throws(WireError) -> VectorMessageInfo in try decoder.decode(frames: views, into: &batch) }
    }
    switch result {
    case .success(let info):
        invariant(frames.count >= 2 && frames.count <= 4, "accepted \(frames.count) frames")
        invariant(!frames[0].isEmpty && frames[0].count <= decoder.limits.maxTopicBytes, "accepted a bad topic")
        invariant(String(validating: Array(frames[0]), as: UTF8.self) != nil, "accepted a non-UTF-8 topic")
        checkAppended(info, before: before, beforeCount: beforeCount, after: batch, decoder: decoder)
        checkBinaryPayload(info, payload: Array(frames.dropFirst()), after: batch)
    case .failure(let error):
        invariant(BatchSnapshot(batch) == before, "a rejected message (\(error)) changed the batch")
        invariant(!error.detail.isEmpty, "an error without detail")
    }
    if options.crossCheckConvenience {
        // The allocating API must agree with the pointer API on an empty batch.
        var fresh = VectorBatch()
        let direct = withExactFrames(frames) { views in
            Result { () throws(WireError) -> VectorMessageInfo in try decoder.decode(frames: views, into: &fresh) }
        }
        let convenient = Result { () throws(WireError) -> DecodedVectorMessage in
            try decoder.decode(frames: frames.map { Array($0) })
        }
        switch (direct, convenient) {
        case (.success(let info), .success(let message)):
            invariant(message.info == info && message.batch == fresh, "convenience decode differs")
            invariant(Array(message.topic.utf8) == Array(frames[0]), "convenience topic differs")
        case (.failure(let a), .failure(let b)):
            invariant(a == b, "convenience decode fails differently: \(a) vs \(b)")
        default:
            invariantFailure("convenience decode disagrees on success")
        }
    }
    return 0
}

/// The JSON number reader against the standard library.
func checkNumber(_ text: UnsafeRawBufferPointer) {
    // The reader skips leading whitespace (JSON allows it between tokens); the grammar check
    // below does not, so compare only texts that start with the number.
    if let c = text.first, [0x20, 0x09, 0x0A, 0x0D].contains(c) { return }
    var reader = JSONReader(text, maxDepth: 32)
    let got = Result { () throws(WireError) -> Float in try reader.readFloat() }
    // Only a number that spans the whole text is compared; trailing bytes are not part of it.
    guard reader.pos == text.count, let string = String(validating: Array(text), as: UTF8.self) else { return }
    let isJSONNumber = isJSONNumberGrammar(Array(text))
    switch got {
    case .success(let f):
        invariant(isJSONNumber, "readFloat accepted \(string), which is not a JSON number")
        guard let want = Float(string) else { invariantFailure("the standard library cannot read \(string)") }
        invariant(f.isFinite, "readFloat returned \(f) for \(string)")
        invariant(f.bitPattern == want.bitPattern, "readFloat(\(string)) = \(f), correctly rounded is \(want)")
    case .failure(let error):
        guard isJSONNumber else { return }
        let want = Float(string)
        invariant(error.reason == .nonFinite && want.map({ !$0.isFinite }) ?? false,
                     "readFloat rejected the JSON number \(string): \(error) (standard library: \(String(describing: want)))")
    }
}

/// RFC 8259's number grammar, written independently of the reader:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
func isJSONNumberGrammar(_ s: [UInt8]) -> Bool {
    var i = 0
    func isDigit(_ j: Int) -> Bool { j < s.count && s[j] >= 0x30 && s[j] <= 0x39 }
    if i < s.count && s[i] == UInt8(ascii: "-") { i += 1 }
    guard isDigit(i) else { return false }
    if s[i] == UInt8(ascii: "0") { i += 1 } else { while isDigit(i) { i += 1 } }
    if i < s.count && s[i] == UInt8(ascii: ".") {
        i += 1
        guard isDigit(i) else { return false }
        while isDigit(i) { i += 1 }
    }
    if i < s.count && (s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E")) {
        i += 1
        if i < s.count && (s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-")) { i += 1 }
        guard isDigit(i) else { return false }
        while isDigit(i) { i += 1 }
    }
    return i == s.count
}
