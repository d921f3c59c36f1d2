// A small, strict pull parser for RFC 8259 JSON over a raw buffer.
//
// Foundation's JSONSerialization builds a tree of boxed objects; the decoders here instead
// walk the text once and write numbers straight into their destination. Strictness is the
// point: no comments, no trailing commas, no NaN/Infinity literals, no duplicate keys, no
// lone surrogates, and a nesting bound so skipping an unknown value cannot recurse without end.

/// A JSON number as read from the text, kept exact so it can be rounded once to its target type.
struct JSONNumber {
    var negative = false
    /// The first (up to) 19 significant digits.
    var significand: UInt64 = 0
    /// value = significand × 10^exponent (when nothing non-zero was truncated).
    var exponent = 0
    /// A non-zero digit beyond the 19th was dropped; `significand` is then inexact.
    var truncated = false
    /// No fraction and no exponent part.
    var isIntegerLiteral = true
    /// The number's text, for the slow conversion path and for messages.
    var range: Range<Int> = 0..<0
}

struct JSONReader {
    let text: UnsafeRawBufferPointer
    var pos = 0
    var depth = 0
    let maxDepth: Int
    /// Decoded keys of every open object, back to back, so duplicates can be detected even
    /// when a key is written with escapes.
    var keyBytes: [UInt8] = []
    var keyEnds: [Int] = []
    /// Scratch for decoded string values.
    var scratch: [UInt8] = []

    /// The most keys one object may have.
    static let maxObjectKeys = 256

    init(_ text: UnsafeRawBufferPointer, maxDepth: Int) {
        self.text = text
        self.maxDepth = maxDepth
    }

    func fail(_ what: String) -> WireError {
        WireError(.badJSON, "\(what) at byte \(pos)")
    }

    // MARK: Lexing

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < text.count {
            switch text[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos &+= 1
            default: return
            }
        }
    }

    @inline(__always)
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return pos < text.count ? text[pos] : nil
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(WireError) {
        guard peek() == byte else { throw fail("expected \(what)") }
        pos &+= 1
    }

    mutating func expectEnd() throws(WireError) {
        if peek() != nil { throw fail("trailing characters") }
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard pos + n <= text.count else { return false }
        let p = word.utf8Start
        for i in 0..<n where text[pos + i] != p[i] { return false }
        pos += n
        return true
    }

    /// Consumes `null` if it is next.
    mutating func readNull() -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        return literal("null")
    }

    // MARK: Containers

    struct ObjectState {
        var firstKey: Int
        var keyBytesStart: Int
        var first = true
    }

    struct ArrayState {
        var first = true
    }

    mutating func enter() throws(WireError) {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than \(maxDepth)") }
    }

    mutating func beginObject() throws(WireError) -> ObjectState {
        try expect(UInt8(ascii: "{"), "'{'")
        try enter()
        return ObjectState(firstKey: keyEnds.count, keyBytesStart: keyBytes.count)
    }

    /// Reads the next key (and its colon) or the closing brace. Returns the key's decoded
    /// bytes as a range of `keyBytes`, valid until the object closes; nil at the end.
    mutating func nextKey(_ o: inout ObjectState) throws(WireError) -> Range<Int>? {
        guard let c = peek() else { throw fail("unterminated object") }
        if c == UInt8(ascii: "}") {
            pos += 1
            keyEnds.removeSubrange(o.firstKey...)
            keyBytes.removeSubrange(o.keyBytesStart...)
            depth -= 1
            return nil
        }
        if !o.first {
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or '}'") }
            pos += 1
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key") }
        } else if c != UInt8(ascii: "\"") {
            throw fail("expected a key or '}'")
        }
        o.first = false
        // The duplicate check below is quadratic in an object's key count; cap the count so a
        // hostile object of a million keys costs nothing.
        if keyEnds.count - o.firstKey >= JSONReader.maxObjectKeys {
            throw fail("more than \(JSONReader.maxObjectKeys) keys in one object")
        }
        let start = keyBytes.count
        try readString(into: \.keyBytes)
        let key = start..<keyBytes.count
        // Compare with this object's earlier keys; objects we accept have a handful of keys,
        // and a hostile one is bounded by the text size limit.
        var prevStart = o.keyBytesStart
        for i in o.firstKey..<keyEnds.count {
            let prev = prevStart..<keyEnds[i]
            if prev.count == key.count && keyBytes[prev].elementsEqual(keyBytes[key]) {
                throw fail("duplicate key \"\(String(decoding: keyBytes[key], as: UTF8.self))\"")
            }
            prevStart = keyEnds[i]
        }
        keyEnds.append(keyBytes.count)
        try expect(UInt8(ascii: ":"), "':'")
        return key
    }

    func key(_ r: Range<Int>, is name: StaticString) -> Bool {
        guard r.count == name.utf8CodeUnitCount else { return false }
        let p = name.utf8Start
        for (i, j) in r.enumerated() where keyBytes[j] != p[i] { return false }
        return true
    }

    mutating func beginArray() throws(WireError) -> ArrayState {
        try expect(UInt8(ascii: "["), "'['")
        try enter()
        return ArrayState()
    }

    /// Moves to the next element; false (and the array closed) at `]`.
    mutating func nextElement(_ a: inout ArrayState) throws(WireError) -> Bool {
        guard let c = peek() else { throw fail("unterminated array") }
        if c == UInt8(ascii: "]") {
            pos += 1
            depth -= 1
            return false
        }
        if !a.first {
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or ']'") }
            pos += 1
            // `[1,]` is not JSON.
            if peek() == UInt8(ascii: "]") { throw fail("trailing comma") }
        }
        a.first = false
        return true
    }

    /// Skips any value, checking its syntax (and duplicate keys in nested objects).
    mutating func skipValue() throws(WireError) {
        guard let c = peek() else { throw fail("expected a value") }
        switch c {
        case UInt8(ascii: "{"):
            var o = try beginObject()
            while try nextKey(&o) != nil { try skipValue() }
        case UInt8(ascii: "["):
            var a = try beginArray()
            while try nextElement(&a) { try skipValue() }
        case UInt8(ascii: "\""):
            scratch.removeAll(keepingCapacity: true)
            try readString(into: \.scratch)
        case UInt8(ascii: "t"):
            if !literal("true") { throw fail("bad literal") }
        case UInt8(ascii: "f"):
            if !literal("false") { throw fail("bad literal") }
        case UInt8(ascii: "n"):
            if !literal("null") { throw fail("bad literal") }
        default:
            _ = try readNumber()
        }
    }

    // MARK: Strings

    /// Reads a string, appending its decoded UTF-8 bytes to one of the reader's buffers.
    mutating func readString(into buffer: WritableKeyPath<JSONReader, [UInt8]>) throws(WireError) {
        // Move the buffer out (no copy) so it can be mutated while `self` is.
        var out: [UInt8] = []
        swap(&out, &self[keyPath: buffer])
        defer { swap(&out, &self[keyPath: buffer]) }
        try readString(appendingTo: &out)
    }

    /// Reads a string, appending its decoded UTF-8 bytes to `out`. The caller has validated
    /// the whole text as UTF-8, so only escapes and control characters need checks here.
    mutating func readString(appendingTo out: inout [UInt8]) throws(WireError) {
        try expect(UInt8(ascii: "\""), "a string")
        while true {
            guard pos < text.count else { throw fail("unterminated string") }
            let b = text[pos]
            pos += 1
            switch b {
            case UInt8(ascii: "\""):
                return
            case UInt8(ascii: "\\"):
                guard pos < text.count else { throw fail("unterminated escape") }
                let e = text[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard literal("\\u") else { throw fail("lone high surrogate") }
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("bad low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("lone low surrogate")
                    }
                    appendUTF8(scalar, to: &out)
                default:
                    throw fail("bad escape")
                }
            case 0..<0x20:
                throw fail("control character in string")
            default:
                out.append(b)
            }
        }
    }

    mutating func hex4() throws(WireError) -> UInt32 {
        guard pos + 4 <= text.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = text[pos]
            pos += 1
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail("bad hex digit")
            }
            v = v << 4 | UInt32(digit)
        }
        return v
    }

    // MARK: Numbers

    /// Reads a number per the JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func readNumber() throws(WireError) -> JSONNumber {
        skipWhitespace()
        var n = JSONNumber()
        let start = pos
        @inline(__always) func digit() -> UInt8? {
            guard pos < text.count else { return nil }
            let c = text[pos] &- UInt8(ascii: "0")
            return c < 10 ? c : nil
        }
        var kept = 0  // significant digits kept in `significand`
        @inline(__always) func take(_ d: UInt8, fraction: Bool) {
            if kept == 0 && d == 0 {
                // Leading zeros carry no information (but a fraction's shift the exponent).
                if fraction { n.exponent -= 1 }
                return
            }
            if kept < 19 {
                n.significand = n.significand &* 10 &+ UInt64(d)
                kept += 1
                if fraction { n.exponent -= 1 }
            } else {
                if d != 0 { n.truncated = true }
                if !fraction { n.exponent += 1 }
            }
        }
        if pos < text.count && text[pos] == UInt8(ascii: "-") {
            n.negative = true
            pos += 1
        }
        guard let first = digit() else { throw fail("expected a value") }
        pos += 1
        if first != 0 {
            take(first, fraction: false)
            while let d = digit() {
                take(d, fraction: false)
                pos += 1
            }
        }
        if pos < text.count && text[pos] == UInt8(ascii: ".") {
            n.isIntegerLiteral = false
            pos += 1
            guard digit() != nil else { throw fail("expected a digit after '.'") }
            while let d = digit() {
                take(d, fraction: true)
                pos += 1
            }
        }
        if pos < text.count && (text[pos] | 0x20) == UInt8(ascii: "e") {
            n.isIntegerLiteral = false
            pos += 1
            var expNegative = false
            if pos < text.count && (text[pos] == UInt8(ascii: "+") || text[pos] == UInt8(ascii: "-")) {
                expNegative = text[pos] == UInt8(ascii: "-")
                pos += 1
            }
            guard digit() != nil else { throw fail("expected an exponent digit") }
            var e = 0
            while let d = digit() {
                // Saturate: anything this large is out of every target's range anyway.
                if e < 1_000_000 { e = e * 10 + Int(d) }
                pos += 1
            }
            n.exponent += expNegative ? -e : e
        }
        if kept == 0 { n.exponent = 0 }
        n.range = start..<pos
        return n
    }

    func numberText(_ n: JSONNumber) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: text[n.range]), as: UTF8.self)
    }

    /// The number rounded once to the nearest `Float`; throws `.nonFinite` if it overflows.
    mutating func readFloat() throws(WireError) -> Float {
        let n = try readNumber()
        if let f = n.fastFloat() { return f }
        // Rare: many digits, a large exponent, or a value next to a rounding boundary.
        // The standard library parses correctly rounded (it is the test oracle, too).
        guard let f = Float(numberText(n)) else { throw fail("unparsable number") }
        guard f.isFinite else { throw WireError(.nonFinite, "number \(numberText(n)) overflows Float") }
        return f
    }

    /// The number rounded once to the nearest `Double`; throws `.nonFinite` if it overflows.
    mutating func readDouble() throws(WireError) -> Double {
        let n = try readNumber()
        if let d = n.fastDouble() { return d }
        guard let d = Double(numberText(n)) else { throw fail("unparsable number") }
        guard d.isFinite else { throw WireError(.nonFinite, "number \(numberText(n)) overflows Double") }
        return d
    }

    /// The magnitude of an integer literal (no fraction, no exponent), exactly; nil if it
    /// does not fit in 64 bits. Re-reads the digits because `significand` keeps only 19.
    mutating func readIntegerMagnitude(_ what: String) throws(WireError) -> (negative: Bool, magnitude: UInt64) {
        let n = try readNumber()
        guard n.isIntegerLiteral else { throw fail("\(what) must be an integer") }
        var m: UInt64 = 0
        for i in n.range where text[i] != UInt8(ascii: "-") {
            let (a, o1) = m.multipliedReportingOverflow(by: 10)
            let (b, o2) = a.addingReportingOverflow(UInt64(text[i] - UInt8(ascii: "0")))
            if o1 || o2 { throw fail("\(what) out of range") }
            m = b
        }
        return (n.negative, m)
    }

    /// An integer literal in `Int64`.
    mutating func readInt64(_ what: String) throws(WireError) -> Int64 {
        let (negative, m) = try readIntegerMagnitude(what)
        if negative {
            guard m <= UInt64(Int64.max) + 1 else { throw fail("\(what) out of range") }
            return m == UInt64(Int64.max) + 1 ? Int64.min : -Int64(m)
        }
        guard m <= UInt64(Int64.max) else { throw fail("\(what) out of range") }
        return Int64(m)
    }

    /// A non-negative integer literal in `UInt64`.
    mutating func readUInt64(_ what: String) throws(WireError) -> UInt64 {
        let (negative, m) = try readIntegerMagnitude(what)
        if negative && m != 0 { throw fail("\(what) must not be negative") }
        return m
    }
}

extension JSONNumber {
    // Exact powers of ten: 10^k is exact in Float for k ≤ 10 and in Double for k ≤ 22.
    private static let floatPowers: [Float] = (0...10).map { k in (0..<k).reduce(Float(1)) { a, _ in a * 10 } }
    private static let doublePowers: [Double] = (0...22).map { k in (0..<k).reduce(Double(1)) { a, _ in a * 10 } }

    /// Correctly rounded `Float`, or nil when the cheap methods cannot guarantee it.
    func fastFloat() -> Float? {
        if significand == 0 { return truncated ? nil : (negative ? -0.0 : 0.0) }
        if truncated { return nil }
        var result: Float
        if significand <= 1 << 24 && (-10...10).contains(exponent) {
            // Clinger's fast path: both operands exact, one correctly rounded operation.
            let m = Float(significand)
            result = exponent >= 0 ? m * Self.floatPowers[exponent] : m / Self.floatPowers[-exponent]
        } else if (-22...22).contains(exponent) {
            // Through Double: at most two roundings, so `d` is within ~2 Double ulps of the
            // true value. Rounding `d` to Float then matches rounding the true value unless a
            // Float rounding boundary (a tie point) lies that close; detect that and bail out.
            let m = Double(significand)
            let d = exponent >= 0 ? m * Self.doublePowers[exponent] : m / Self.doublePowers[-exponent]
            guard d >= Double(Float.leastNormalMagnitude), d < Double(Float.greatestFiniteMagnitude) else { return nil }
            // A Float keeps 24 of Double's 53 significand bits; the 29 dropped bits equal
            // 1 << 28 exactly at a tie point.
            let dropped = Int64(d.bitPattern & ((1 << 29) - 1))
            if abs(dropped - (1 << 28)) <= 16 { return nil }
            result = Float(d)
        } else {
            return nil
        }
        return negative ? -result : result
    }

    /// Correctly rounded `Double`, or nil when Clinger's fast path does not apply.
    func fastDouble() -> Double? {
        if significand == 0 { return truncated ? nil : (negative ? -0.0 : 0.0) }
        guard !truncated, significand <= 1 << 53, (-22...22).contains(exponent) else { return nil }
        let m = Double(significand)
        let d = exponent >= 0 ? m * Self.doublePowers[exponent] : m / Self.doublePowers[-exponent]
        return negative ? -d : d
    }
}

/// Appends a Unicode scalar value (not a surrogate) as UTF-8.
func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
    switch v {
    case 0..<0x80:
        out.append(UInt8(v))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | v >> 6))
        out.append(UInt8(0x80 | v & 0x3F))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | v >> 12))
        out.append(UInt8(0x80 | v >> 6 & 0x3F))
        out.append(UInt8(0x80 | v & 0x3F))
    default:
        out.append(UInt8(0xF0 | v >> 18))
        out.append(UInt8(0x80 | v >> 12 & 0x3F))
        out.append(UInt8(0x80 | v >> 6 & 0x3F))
        out.append(UInt8(0x80 | v & 0x3F))
    }
}
