/// A reusable outbound multipart message: every frame's bytes back to back in one buffer,
/// plus the frame boundaries.
///
/// Encoders append frames to a message; the publisher sends frame `i` from
/// ``withFrame(_:_:)`` (or iterates ``forEachFrame(_:)``) and then calls ``removeAll()``,
/// which keeps the capacity, so steady-state publishing allocates nothing.
public struct WireMessage: Sendable, Hashable {
    /// The bytes of all frames, concatenated.
    public private(set) var bytes: [UInt8] = []
    /// `frameEnds[i]` is the end offset of frame `i` in ``bytes``.
    public private(set) var frameEnds: [Int] = []

    /// An empty message with room for `capacity` bytes.
    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
        frameEnds.reserveCapacity(8)
    }

    /// The number of frames.
    public var frameCount: Int { frameEnds.count }

    /// The byte range of frame `index` in ``bytes``.
    public func frameRange(_ index: Int) -> Range<Int> {
        (index == 0 ? 0 : frameEnds[index - 1])..<frameEnds[index]
    }

    /// Calls `body` with a raw view of frame `index` (valid only inside `body`).
    public func withFrame<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let r = frameRange(index)
        return try bytes.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[r])) }
    }

    /// Calls `body` for every frame in order with its index and a raw view of its bytes.
    public func forEachFrame(_ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { raw in
            var start = 0
            for (i, end) in frameEnds.enumerated() {
                try body(i, UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                start = end
            }
        }
    }

    /// Every frame as its own array (a convenience for tests and clients; allocates).
    public var frames: [[UInt8]] { (0..<frameCount).map { Array(bytes[frameRange($0)]) } }

    /// Removes every frame, keeping capacity.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        frameEnds.removeAll(keepingCapacity: true)
    }

    // MARK: Building (internal)

    /// Ends the frame being written (the bytes appended since the previous `endFrame`).
    mutating func endFrame() { frameEnds.append(bytes.count) }

    /// Appends a frame holding `text` as UTF-8.
    public mutating func appendFrame(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
        endFrame()
    }

    /// Appends a frame holding a copy of `raw`.
    public mutating func appendFrame(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
        endFrame()
    }

    /// Appends bytes to the frame being written.
    mutating func appendFrameBytes(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }

    mutating func appendASCII(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    mutating func appendByte(_ b: UInt8) { bytes.append(b) }

    mutating func appendU32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func appendU64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func appendF64(_ v: Double) { appendU64(v.bitPattern) }

    /// Appends values as little-endian bit patterns: one copy on little-endian hosts.
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ values: UnsafeBufferPointer<T>) {
        #if _endian(little)
        bytes.append(contentsOf: UnsafeRawBufferPointer(values))
        #else
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        #endif
    }

    mutating func appendLittleEndian(_ values: [Float]) {
        values.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: UInt32.self) { appendLittleEndian($0) }
        }
    }

    mutating func appendLittleEndian(_ values: [Double]) {
        values.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: UInt64.self) { appendLittleEndian($0) }
        }
    }

    mutating func appendLittleEndian(_ values: [UInt32]) {
        values.withUnsafeBufferPointer { appendLittleEndian($0) }
    }

    mutating func appendLittleEndian(_ values: [Int32]) {
        values.withUnsafeBufferPointer { appendLittleEndian($0) }
    }

    // MARK: JSON output

    /// Appends a JSON string literal, escaping `"`, `\` and control characters.
    mutating func appendJSONString(_ s: String) {
        var s = s
        s.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0)) }
    }

    mutating func appendJSONString(_ raw: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        for b in raw {
            switch b {
            case UInt8(ascii: "\""): appendASCII("\\\"")
            case UInt8(ascii: "\\"): appendASCII("\\\\")
            case 0x0A: appendASCII("\\n")
            case 0x0D: appendASCII("\\r")
            case 0x09: appendASCII("\\t")
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                appendASCII("\\u00")
                bytes.append(hex.utf8Start[Int(b >> 4)])
                bytes.append(hex.utf8Start[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func appendJSONInteger<T: BinaryInteger>(_ v: T) {
        // `description` of an integer fits a small (inline) string: no heap allocation.
        var s = v.description
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends a finite float; `description` is the shortest text that round-trips, and
    /// every form it produces (`1.0`, `1e-05`, `3.4028235e+38`) is valid JSON.
    mutating func appendJSONNumber(_ v: Float, _ what: @autoclosure () -> String) throws(WireError) {
        guard v.isFinite else { throw WireError(.nonFinite, "\(what()) is \(v); JSON cannot carry it") }
        var s = v.description
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func appendJSONFiniteNumber(_ v: Float) {
        precondition(v.isFinite, "WireMessage: non-finite value where the type guarantees finiteness")
        var s = v.description
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func appendJSONNumber(_ v: Double, _ what: @autoclosure () -> String) throws(WireError) {
        guard v.isFinite else { throw WireError(.nonFinite, "\(what()) is \(v); JSON cannot carry it") }
        var s = v.description
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends `"key":` (keys are ASCII literals that need no escaping).
    mutating func appendKey(_ key: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        appendASCII(key)
        appendASCII("\":")
    }

    /// Truncates back to `byteCount` bytes and `frames` frames (rollback after a failed encode).
    mutating func truncate(bytes byteCount: Int, frames: Int) {
        bytes.removeSubrange(byteCount...)
        frameEnds.removeSubrange(frames...)
    }
}
