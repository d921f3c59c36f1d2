// Internal helpers for little-endian loads and UTF-8 checks on raw frames.
//
// Frames come straight from libzmq and carry no alignment guarantee, so every multi-byte
// load is `loadUnaligned` followed by a little-endian conversion (a no-op on x86 and arm64).

extension UnsafeRawBufferPointer {
    @inline(__always)
    func u32LE(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func u64LE(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    func f32LE(_ offset: Int) -> Float {
        Float(bitPattern: u32LE(offset))
    }

    @inline(__always)
    func f64LE(_ offset: Int) -> Double {
        Double(bitPattern: u64LE(offset))
    }

    /// Whether the bytes equal an ASCII literal; used for magics and request names.
    @inline(__always)
    func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        let p = literal.utf8Start
        for i in 0..<count where self[i] != p[i] { return false }
        return true
    }
}

/// Whether `bytes[range]` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
///
/// Hand-written rather than `String(validating:)` so that checking a string id or a topic
/// allocates nothing.
func isValidUTF8(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
    var i = range.lowerBound
    let end = range.upperBound
    while i < end {
        let b0 = bytes[i]
        if b0 < 0x80 {
            i &+= 1
            continue
        }
        @inline(__always) func cont(_ j: Int) -> Bool { j < end && bytes[j] & 0xC0 == 0x80 }
        switch b0 {
        case 0xC2...0xDF:
            guard cont(i + 1) else { return false }
            i &+= 2
        case 0xE0...0xEF:
            guard i + 1 < end else { return false }
            let b1 = bytes[i + 1]
            let ok1: Bool
            switch b0 {
            case 0xE0: ok1 = (0xA0...0xBF).contains(b1)  // no overlongs
            case 0xED: ok1 = (0x80...0x9F).contains(b1)  // no surrogates
            default: ok1 = b1 & 0xC0 == 0x80
            }
            guard ok1, cont(i + 2) else { return false }
            i &+= 3
        case 0xF0...0xF4:
            guard i + 1 < end else { return false }
            let b1 = bytes[i + 1]
            let ok1: Bool
            switch b0 {
            case 0xF0: ok1 = (0x90...0xBF).contains(b1)
            case 0xF4: ok1 = (0x80...0x8F).contains(b1)  // nothing above U+10FFFF
            default: ok1 = b1 & 0xC0 == 0x80
            }
            guard ok1, cont(i + 2), cont(i + 3) else { return false }
            i &+= 4
        default:
            return false
        }
    }
    return true
}

/// Runs `body` with raw views of byte-array frames (the convenience APIs' bridge to the
/// pointer-based decoders). Recursion keeps every `withUnsafeBytes` scope open at once.
func withRawFrames<R>(
    _ frames: [[UInt8]],
    _ body: ([UnsafeRawBufferPointer]) throws(WireError) -> R
) throws(WireError) -> R {
    var raws: [UnsafeRawBufferPointer] = []
    raws.reserveCapacity(frames.count)
    func step(_ i: Int) -> Result<R, WireError> {
        if i == frames.count {
            return Result { () throws(WireError) -> R in try body(raws) }
        }
        return frames[i].withUnsafeBytes { raw in
            raws.append(raw)
            return step(i + 1)
        }
    }
    return try step(0).get()
}
