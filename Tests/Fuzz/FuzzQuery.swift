// libFuzzer target: query requests, `VectorDecoder.decodeQuery(frames:into:)`.
//
// Input: an options byte, then frames (see WireFuzzSupport.swift); there is no topic: frame 0
// names the request (`snapshot`, `stats` or `predict`).
//
// Invariants: `snapshot` and `stats` are accepted only as one frame and leave the batch as it
// was; `predict` appends exactly as an inbound message would; any failure leaves the batch
// byte-identical.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzQuery(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    let options = WireFuzzOptions(raw[0])
    let frames = splitFrames(UnsafeRawBufferPointer(rebasing: raw[1...]), maxFrames: 6)
    let decoder = options.decoder
    var batch = options.initialBatch()
    let before = BatchSnapshot(batch)
    let beforeCount = batch.count
    let result = withExactFrames(frames) { views in
        Result { () throws(WireError) -> QueryRequest in try decoder.decodeQuery(frames: views, into: &batch) }
    }
    let name = frames.first.map { String(decoding: $0, as: UTF8.self) }
    switch result {
    case .success(.snapshot), .success(.stats):
        invariant(frames.count == 1, "\(name ?? "") accepted with \(frames.count) frames")
        invariant(result == .success(name == "stats" ? .stats : .snapshot), "request \(String(describing: name)) misread")
        invariant(BatchSnapshot(batch) == before, "a \(name ?? "") request changed the batch")
    case .success(.predict(let info)):
        invariant(name == "predict", "predict accepted under the name \(String(describing: name))")
        invariant(frames.count == 3 || frames.count == 4, "predict accepted with \(frames.count) frames")
        checkAppended(info, before: before, beforeCount: beforeCount, after: batch, decoder: decoder)
        checkBinaryPayload(info, payload: Array(frames.dropFirst()), after: batch)
        invariant(info.format != .single, "predict decoded as the single-vector form")
        // A predict payload is decoded exactly like an inbound message's: same rows, same info.
        var inbound = options.initialBatch()
        var asMessage = [ArraySlice<UInt8>([0x76])]  // topic "v"
        asMessage += frames.dropFirst()
        let message = withExactFrames(asMessage) { views in
            Result { () throws(WireError) -> VectorMessageInfo in try decoder.decode(frames: views, into: &inbound) }
        }
        invariant(message == .success(info) && BatchSnapshot(inbound) == BatchSnapshot(batch),
                     "predict and the inbound decoder disagree")
    case .failure(let error):
        invariant(BatchSnapshot(batch) == before, "a rejected request (\(error)) changed the batch")
        invariant(!error.detail.isEmpty, "an error without detail")
    }
    if options.crossCheckConvenience {
        let convenient = Result { () throws(WireError) -> (request: QueryRequest, batch: VectorBatch) in
            try decoder.decodeQuery(frames: frames.map { Array($0) })
        }
        var fresh = VectorBatch()
        let direct = withExactFrames(frames) { views in
            Result { () throws(WireError) -> QueryRequest in try decoder.decodeQuery(frames: views, into: &fresh) }
        }
        switch (direct, convenient) {
        case (.success(let a), .success(let b)):
            invariant(a == b.request && fresh == b.batch, "convenience decodeQuery differs")
        case (.failure(let a), .failure(let b)):
            invariant(a == b, "convenience decodeQuery fails differently: \(a) vs \(b)")
        default:
            invariantFailure("convenience decodeQuery disagrees on success")
        }
    }
    return 0
}
