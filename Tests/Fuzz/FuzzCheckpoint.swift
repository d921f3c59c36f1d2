// libFuzzer target: checkpoint files, `ModelState(encoded:)`.
//
// Input: an options byte, then the file's bytes. With options bit 0 set, the harness first
// "repairs" the file as a writer would: it stores the file's real length at offset 12 and the
// CRC-32C of everything before the last 4 bytes into them, so mutations reach the field checks
// behind the checksum. With bit 0 clear the bytes are decoded as they are.
//
// Invariants: a decoded state re-encodes, in the current format, to bytes that decode to an equal
// state and re-encode to themselves (older formats and unknown records are read, not kept), has
// only finite centers, finite non-negative counts, a valid schedule and a non-zero random
// state; decoding its encoding again gives an equal state. A repaired file is never rejected
// for its checksum.

import Clustering

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let raw = UnsafeBufferPointer(start: data, count: size)
    var bytes = Array(raw[1...])
    let repair = raw[0] & 1 != 0 && bytes.count >= 132
    if repair {
        let n = UInt64(bytes.count)
        for j in 0..<8 { bytes[12 + j] = UInt8(truncatingIfNeeded: n >> (8 * j)) }
        let crc = crc32c(bytes[..<(bytes.count - 4)])
        for j in 0..<4 { bytes[bytes.count - 4 + j] = UInt8(truncatingIfNeeded: crc >> (8 * j)) }
    }
    let result = Result { () throws(ModelStateError) -> ModelState in try ModelState(encoded: bytes) }
    switch result {
    case .success(let state):
        invariant(state.k >= 1 && state.dimension >= 1, "k = \(state.k), dimension = \(state.dimension)")
        invariant(state.centers.count == state.k * state.dimension, "center count disagrees with k × dimension")
        invariant(state.centers.allSatisfy(\.isFinite), "a non-finite center was accepted")
        invariant(state.counts.count == state.k && state.counts.allSatisfy { $0.isFinite && $0 >= 0 }, "bad soft counts accepted")
        invariant(state.seededAt.count == state.k, "seededAt count disagrees with k")
        invariant(state.schedule.validationError == nil, "an invalid schedule was accepted: \(state.schedule)")
        invariant(state.random.state != (0, 0, 0, 0), "the all-zero random state was accepted")
        // An older format, or records of tags this build does not know, re-encode in the
        // current format without them: the encoding is canonical from the first re-encoding on.
        let again = state.encoded()
        let reread = Result { () throws(ModelStateError) -> ModelState in try ModelState(encoded: again) }
        invariant(reread == .success(state), "the re-encoded state does not decode to itself")
        if case .success(let second) = reread {
            invariant(second.encoded() == again, "a re-encoded state does not re-encode to itself")
        }

    case .failure(let error):
        invariant(!error.detail.isEmpty, "an error without detail")
        if repair {
            invariant(error.code != .checksumMismatch, "a repaired file failed its checksum: \(error)")
        }
        if bytes.count >= 8 && Array(bytes[0..<8]) != Array("VORONOID".utf8) {
            invariant(error.code == .foreign || error.code == .truncated, "a foreign file reported as \(error.code)")
        }
    }
    return 0
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: written independently
/// of the codec's table-driven one so the repair step does not borrow the code under test.
func crc32c(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
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
