import Testing

@testable import Wire

// Builders that spell messages out byte by byte, the way a Python producer would with
// `struct.pack` and `numpy.tobytes`, so the tests do not only check the encoders against
// themselves.

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func f32(_ values: [Float]) -> [UInt8] { values.flatMap { le32($0.bitPattern) } }

/// `struct.pack("<4sIQ", magic, count, seq)`
func batchHeader(_ magic: String, count: UInt32, seq: UInt64 = 0) -> [UInt8] {
    bytes(magic) + le32(count) + le64(seq)
}

/// A small deterministic generator (SplitMix64) so every random test is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomFloats(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
    (0..<n).map { _ in
        // Mix ordinary values with extreme but admissible ones (subnormals up to just below
        // the 2^40 magnitude limit) so text round trips are exercised.
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return Float(bitPattern: UInt32.random(in: 0...0x537F_FFFF, using: &rng)) * (Bool.random(using: &rng) ? 1 : -1)
        case 1: return .leastNonzeroMagnitude
        case 2: return -WireLimits.maxAbsoluteValue.nextDown
        default: return Float.random(in: -10...10, using: &rng)
        }
    }
}

/// The reason a throwing expression failed with, or nil if it succeeded.
func reason<T>(_ body: () throws(WireError) -> T) -> WireError.Reason? {
    do {
        _ = try body()
        return nil
    } catch {
        return error.reason
    }
}

/// Decodes byte-array frames with the pointer API, each frame copied to an odd address so
/// every multi-byte load is misaligned.
func decodeUnaligned(_ frames: [[UInt8]], decoder: VectorDecoder = VectorDecoder(), into batch: inout VectorBatch) throws(WireError) -> VectorMessageInfo {
    let total = frames.reduce(0) { $0 + $1.count + 1 } + 1
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 16)
    defer { storage.deallocate() }
    var views: [UnsafeRawBufferPointer] = []
    var offset = 1
    for f in frames {
        let dst = UnsafeMutableRawBufferPointer(rebasing: storage[offset..<offset + f.count])
        f.withUnsafeBytes { dst.copyMemory(from: $0) }
        views.append(UnsafeRawBufferPointer(dst))
        offset += f.count + 1
    }
    return try decoder.decode(frames: views, into: &batch)
}

/// Decodes `frames` from copies that each start on a 16-byte boundary, as libzmq's own buffers
/// do (``decodeUnaligned`` puts every frame at an odd address).
func decodeAligned(_ frames: [[UInt8]], decoder: VectorDecoder = VectorDecoder(), into batch: inout VectorBatch) throws(WireError) -> VectorMessageInfo {
    let copies = frames.map { f -> UnsafeMutableRawBufferPointer in
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, f.count), alignment: 16)
        f.withUnsafeBytes { p.copyMemory(from: $0) }
        return p
    }
    defer { for p in copies { p.deallocate() } }
    let views = zip(copies, frames).map { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[0..<$1.count]) }
    return try decoder.decode(frames: views, into: &batch)
}
