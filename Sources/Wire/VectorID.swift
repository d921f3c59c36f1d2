/// The identity a producer attached to a vector: a 64-bit integer or a short UTF-8 string.
///
/// Ids are echoed back unchanged in assignments so a producer can join results to its inputs.
public enum VectorID: Sendable, Hashable, CustomStringConvertible {
    /// An integer id (`VB1I` ids frame, or a JSON integer).
    case int(Int64)
    /// A string id: 1…``maxStringBytes`` bytes of UTF-8 without a line feed.
    case string(String)

    /// The longest accepted string id, in UTF-8 bytes.
    public static let maxStringBytes = 64

    /// `7` or `"abc"`.
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .string(let s): return "\"\(s)\""
        }
    }

    /// Checks that a string id is acceptable on the wire.
    /// - Throws: ``WireError`` `.badIDs` (empty, or contains a line feed, which separates ids
    ///   in `VB1S` frames) or `.idTooLong`.
    public static func validate(_ string: String) throws(WireError) {
        let n = string.utf8.count
        if n == 0 { throw WireError(.badIDs, "empty string id") }
        if n > maxStringBytes { throw WireError(.idTooLong, "string id of \(n) bytes, at most \(maxStringBytes)") }
        if string.utf8.contains(0x0A) { throw WireError(.badIDs, "string id contains a line feed") }
    }
}

/// A column of optional vector ids stored compactly: one fixed-size slot per row and one
/// shared byte buffer for string ids.
///
/// Decoding a string id into this column copies its bytes and allocates no `String`, so a
/// reused ``VectorBatch`` decodes string-id batches without per-message allocation.
/// Reading an id back as a ``VectorID`` does allocate (for strings); the encoders copy the
/// bytes directly.
public struct VectorIDs: Sendable, Hashable {
    // kind: 0 none, 1 int, 2 string. value: the int id, or the string's offset in `stringBytes`.
    @usableFromInline struct Slot: Sendable, Hashable {
        var value: Int64
        var length: UInt8
        var kind: UInt8
    }

    @usableFromInline var slots: [Slot] = []
    @usableFromInline var stringBytes: [UInt8] = []
    @usableFromInline var intCount = 0
    @usableFromInline var stringCount = 0

    /// An empty column.
    public init() {}

    /// Builds a column from optional ids (a convenience for tests and producers).
    /// - Throws: ``WireError`` if a string id is empty, too long or contains a line feed.
    public init(_ ids: [VectorID?]) throws(WireError) {
        for id in ids { try append(id) }
    }

    /// The number of rows (with or without an id).
    public var count: Int { slots.count }

    /// Which kinds of ids the column holds; decides the assignments id encoding.
    public enum Kind: Sendable, Hashable {
        /// No row has an id (also the empty column).
        case none
        /// Every row has an integer id.
        case int
        /// Every row has a string id.
        case string
        /// Anything else: some rows without id, or both kinds.
        case mixed
    }

    /// The kinds of ids present.
    public var kind: Kind {
        if intCount == 0 && stringCount == 0 { return .none }
        if intCount == slots.count { return .int }
        if stringCount == slots.count { return .string }
        return .mixed
    }

    /// The id of row `index`, or nil if it has none. Allocates a `String` for string ids.
    public subscript(index: Int) -> VectorID? {
        let s = slots[index]
        switch s.kind {
        case 1: return .int(s.value)
        case 2:
            let start = Int(s.value)
            return .string(String(decoding: stringBytes[start..<start + Int(s.length)], as: UTF8.self))
        default: return nil
        }
    }

    /// The integer id of row `index`, or nil if it has none or a string id.
    public func intID(at index: Int) -> Int64? {
        let s = slots[index]
        return s.kind == 1 ? s.value : nil
    }

    /// The UTF-8 bytes of row `index`'s string id, or nil if it has none or an integer id.
    public func stringIDBytes(at index: Int) -> ArraySlice<UInt8>? {
        let s = slots[index]
        guard s.kind == 2 else { return nil }
        let start = Int(s.value)
        return stringBytes[start..<start + Int(s.length)]
    }

    /// Every id as an array (a convenience; allocates).
    public var all: [VectorID?] { (0..<count).map { self[$0] } }

    /// Appends a row's id.
    /// - Throws: ``WireError`` if a string id is empty, too long or contains a line feed.
    public mutating func append(_ id: VectorID?) throws(WireError) {
        switch id {
        case nil: appendNone()
        case .int(let v): appendInt(v)
        case .string(let s):
            try VectorID.validate(s)
            var s = s
            s.withUTF8 { appendStringUnchecked(UnsafeRawBufferPointer($0), 0..<$0.count) }
        }
    }

    /// Appends rows from another column (e.g. a predict request's ids into a reply).
    public mutating func append(contentsOf other: VectorIDs) {
        append(contentsOf: other, rows: 0..<other.count)
    }

    /// Appends rows `rows` of another column, copying their bytes: no `String` is made, so
    /// once capacity suffices this allocates nothing.
    public mutating func append(contentsOf other: VectorIDs, rows: Range<Int>) {
        for i in rows {
            let s = other.slots[i]
            switch s.kind {
            case 1: appendInt(s.value)
            case 2:
                let start = Int(s.value)
                other.stringBytes.withUnsafeBytes { appendStringUnchecked($0, start..<start + Int(s.length)) }
            default: appendNone()
            }
        }
    }

    /// Removes every row, keeping capacity.
    public mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        stringBytes.removeAll(keepingCapacity: true)
        intCount = 0
        stringCount = 0
    }

    /// Reserves room for `rows` rows and `stringBytes` bytes of string ids.
    public mutating func reserveCapacity(rows: Int, stringBytes bytes: Int = 0) {
        slots.reserveCapacity(rows)
        stringBytes.reserveCapacity(bytes)
    }

    @inline(__always)
    mutating func appendNone() { slots.append(Slot(value: 0, length: 0, kind: 0)) }

    @inline(__always)
    mutating func appendInt(_ v: Int64) {
        slots.append(Slot(value: v, length: 0, kind: 1))
        intCount += 1
    }

    /// Appends a string id whose bytes the caller has validated (length, UTF-8, no LF).
    @inline(__always)
    mutating func appendStringUnchecked(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) {
        slots.append(Slot(value: Int64(stringBytes.count), length: UInt8(range.count), kind: 2))
        stringBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[range]))
        stringCount += 1
    }

    /// Drops rows back to `rows` (rollback after a rejected message).
    mutating func truncate(rows: Int, stringBytes bytes: Int) {
        while slots.count > rows {
            let s = slots.removeLast()
            if s.kind == 1 { intCount -= 1 } else if s.kind == 2 { stringCount -= 1 }
        }
        stringBytes.removeSubrange(bytes...)
    }

    /// Two columns are equal when they hold the same ids row by row (storage layout aside).
    public static func == (a: VectorIDs, b: VectorIDs) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            let x = a.slots[i], y = b.slots[i]
            guard x.kind == y.kind else { return false }
            switch x.kind {
            case 1: if x.value != y.value { return false }
            case 2: if a.stringIDBytes(at: i)! != b.stringIDBytes(at: i)! { return false }
            default: break
            }
        }
        return true
    }

    /// Hashes the ids row by row, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for i in 0..<count {
            hasher.combine(slots[i].kind)
            if let v = intID(at: i) { hasher.combine(v) }
            if let b = stringIDBytes(at: i) { hasher.combine(b.count); for x in b { hasher.combine(x) } }
        }
    }
}
