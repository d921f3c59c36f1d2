#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Wire

/// Vectors from a NumPy `.npy` file (format versions 1.0, 2.0 and 3.0).
///
/// Accepted arrays: dtype `<f4` (read as is) or `<f8` (rounded to float32), C order, and
/// shape `(n, d)` — n vectors of dimension d — or `(d,)`, which is read as one vector, the
/// way `np.atleast_2d` reads it. Anything else (big-endian, other dtypes, Fortran order,
/// 0-D or 3-D and higher, empty arrays) is rejected with a message saying why. Every value
/// must be finite and, for `<f8`, within float32's range.
///
/// Rows are streamed from the file in chunks, so files larger than memory work.
public struct NPYSource: VectorSource {
    /// The element type of the array.
    public enum ElementType: String, Sendable, Hashable {
        /// Little-endian float32 (`<f4`).
        case float32 = "<f4"
        /// Little-endian float64 (`<f8`), converted to float32.
        case float64 = "<f8"

        var size: Int { self == .float32 ? 4 : 8 }
    }

    /// The parsed header of a `.npy` file.
    public struct Header: Sendable, Hashable {
        /// The format version (1, 2 or 3).
        public var majorVersion: Int
        /// The element type.
        public var elementType: ElementType
        /// The array's shape as written in the file.
        public var shape: [Int]
        /// The byte offset of the first element.
        public var dataOffset: Int
    }

    private let file: CFile
    private let path: String
    /// The file's header.
    public let header: Header
    /// The number of vectors in the file.
    public let count: Int
    /// The dimension of every vector.
    public let dimension: Int
    private var row = 0
    private var bytes: [UInt8] = []

    /// Opens and validates a `.npy` file.
    /// - Throws: ``ClientError`` `.io` if it cannot be read, `.unsupportedFormat` for a
    ///   header this reader rejects (the message says why), `.badInput` for a truncated file.
    public init(path: String) throws(ClientError) {
        let file = try CFile.open(path)
        self.file = file
        self.path = path
        var prefix = [UInt8](repeating: 0, count: 12)
        let got = fread(&prefix, 1, 12, file.pointer)
        let header: Header
        do throws(ClientError) {
            header = try Self.parseHeader(prefix: Array(prefix[0..<got])) { (length) throws(ClientError) -> [UInt8] in
                var text = [UInt8](repeating: 0, count: length)
                let n = fread(&text, 1, length, file.pointer)
                guard n == length else { throw ClientError(.badInput, "the header is truncated") }
                return text
            }
        } catch {
            throw ClientError(error.code, "\(path): \(error.message)")
        }
        self.header = header
        if header.shape.count == 1 {
            count = 1
            dimension = header.shape[0]
        } else {
            count = header.shape[0]
            dimension = header.shape[1]
        }
        guard count >= 1, dimension >= 1 else {
            throw ClientError(.badInput, "\(path): the array of shape \(Self.shapeText(header.shape)) holds no vectors")
        }
        let maxDimension = WireLimits().maxDimension
        guard dimension <= maxDimension else {
            throw ClientError(.unsupportedFormat, "\(path): dimension \(dimension) is above the protocol's limit of \(maxDimension)")
        }
        // Find a truncated file now rather than after some of it has been sent.
        var info = stat()
        if fstat(fileno(file.pointer), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            let (elements, o1) = count.multipliedReportingOverflow(by: dimension)
            let (payload, o2) = elements.multipliedReportingOverflow(by: header.elementType.size)
            let (needed, o3) = payload.addingReportingOverflow(header.dataOffset)
            guard !o1, !o2, !o3, Int(info.st_size) >= needed else {
                throw ClientError(.badInput, "\(path): \(info.st_size) bytes, but a \(Self.shapeText(header.shape)) array of \(header.elementType.rawValue) needs \(needed)")
            }
        }
        try seekToData()
    }

    /// Parses the magic, version and header dictionary of a `.npy` file.
    ///
    /// - Parameters:
    ///   - prefix: the file's first 12 bytes (or fewer if the file is shorter).
    ///   - readHeader: reads the next `length` bytes after the fixed prefix of this version.
    /// - Throws: ``ClientError`` `.unsupportedFormat` or `.badInput`.
    static func parseHeader(prefix: [UInt8], readHeader: (Int) throws(ClientError) -> [UInt8]) throws(ClientError) -> Header {
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard prefix.count >= 10, Array(prefix[0..<6]) == magic else {
            throw ClientError(.unsupportedFormat, "not a .npy file (the magic \\x93NUMPY is missing)")
        }
        let major = Int(prefix[6])
        let headerLength: Int
        let fixed: Int
        switch major {
        case 1:
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8
            fixed = 10
        case 2, 3:
            guard prefix.count >= 12 else { throw ClientError(.badInput, "the .npy header is truncated") }
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8 | Int(prefix[10]) << 16 | Int(prefix[11]) << 24
            fixed = 12
        default:
            throw ClientError(.unsupportedFormat, ".npy format version \(major).\(prefix[7]) is not supported (1, 2 or 3)")
        }
        guard headerLength <= 1 << 20 else { throw ClientError(.unsupportedFormat, ".npy header of \(headerLength) bytes is implausibly large") }
        // The prefix read may have taken bytes that belong to a v1 header: keep them.
        let already = Array(prefix[min(fixed, prefix.count)...])
        let rest = headerLength > already.count ? try readHeader(headerLength - already.count) : []
        let text = String(decoding: (already + rest).prefix(headerLength), as: UTF8.self)
        var dictionary = try NPYDictionary.parse(text)
        guard let descr = dictionary.removeValue(forKey: "descr"), case .string(let dtype) = descr else {
            throw ClientError(.unsupportedFormat, ".npy header lacks 'descr'")
        }
        guard let order = dictionary.removeValue(forKey: "fortran_order"), case .bool(let fortran) = order else {
            throw ClientError(.unsupportedFormat, ".npy header lacks 'fortran_order'")
        }
        guard let shapeValue = dictionary.removeValue(forKey: "shape"), case .tuple(let shape) = shapeValue else {
            throw ClientError(.unsupportedFormat, ".npy header lacks 'shape'")
        }
        let element: ElementType
        switch dtype {
        case "<f4": element = .float32
        case "<f8": element = .float64
        case ">f4", ">f8":
            throw ClientError(.unsupportedFormat, "dtype '\(dtype)' is big-endian; convert with a.astype('<f4')")
        default:
            throw ClientError(.unsupportedFormat, "dtype '\(dtype)' is not supported; use '<f4' or '<f8' (a.astype('<f4'))")
        }
        guard !fortran else {
            throw ClientError(.unsupportedFormat, "the array is in Fortran order; save np.ascontiguousarray(a) instead")
        }
        guard shape.count == 1 || shape.count == 2 else {
            throw ClientError(.unsupportedFormat, "shape \(shapeText(shape)) is \(shape.count)-D; expected (n, d) or (d,)")
        }
        return Header(majorVersion: major, elementType: element, shape: shape, dataOffset: fixed + headerLength)
    }

    static func shapeText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    private func seekToData() throws(ClientError) {
        guard fseek(file.pointer, header.dataOffset, SEEK_SET) == 0 else {
            throw ClientError(.io, "cannot seek in \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Reads up to `maxRows` rows.
    /// - Throws: ``ClientError`` `.badInput` for a non-finite (or, from `<f8`, out-of-range)
    ///   value, naming its row and component, or for a file that ends early; `.io`.
    public mutating func next(into rows: inout [Float], maxRows: Int) throws(ClientError) -> Int {
        precondition(maxRows >= 1, "NPYSource: maxRows must be ≥ 1")
        rows.removeAll(keepingCapacity: true)
        let n = min(maxRows, count - row)
        guard n > 0 else { return 0 }
        let size = header.elementType.size
        let want = n * dimension * size
        if bytes.count < want { bytes = [UInt8](repeating: 0, count: want) }
        let got = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, want, file.pointer) }
        guard got == want else {
            if ferror(file.pointer) != 0 { throw ClientError(.io, "cannot read \(path): \(String(cString: strerror(errno)))") }
            throw ClientError(.badInput, "\(path) ends inside row \(row + got / (dimension * size)) of \(count)")
        }
        rows.reserveCapacity(n * dimension)
        let first = row
        let converted: Result<Void, ClientError> = bytes.withUnsafeBytes { raw in
            Result { () throws(ClientError) in
                for i in 0..<(n * dimension) {
                    let v: Float
                    if header.elementType == .float32 {
                        v = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    } else {
                        v = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                    }
                    guard v.isFinite else {
                        throw ClientError(.badInput, "\(path): row \(first + i / dimension), component \(i % dimension) is not a finite float32 value")
                    }
                    rows.append(v)
                }
            }
        }
        try converted.get()
        row += n
        return n
    }

    /// Files can always restart.
    public var canRewind: Bool { !file.isStandardInput }

    /// Restarts at the first row.
    /// - Throws: ``ClientError`` `.io` if seeking fails.
    public mutating func rewind() throws(ClientError) {
        try seekToData()
        row = 0
    }
}

/// The Python dictionary literal of a `.npy` header: `{'descr': '<f4', 'fortran_order':
/// False, 'shape': (3, 4), }`, with only the value kinds NumPy writes there.
enum NPYDictionary {
    enum Value: Hashable {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    static func parse(_ text: String) throws(ClientError) -> [String: Value] {
        var s = Substring(text)
        func fail(_ what: String) -> ClientError {
            ClientError(.unsupportedFormat, "malformed .npy header (\(what)): \(text.prefix(120))")
        }
        func skipSpace() { while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s = s.dropFirst() } }
        func expect(_ c: Character) throws(ClientError) {
            skipSpace()
            guard s.first == c else { throw fail("expected '\(c)'") }
            s = s.dropFirst()
        }
        func string() throws(ClientError) -> String {
            skipSpace()
            guard let q = s.first, q == "'" || q == "\"" else { throw fail("expected a string") }
            s = s.dropFirst()
            guard let end = s.firstIndex(of: q) else { throw fail("unterminated string") }
            let value = String(s[..<end])
            s = s[s.index(after: end)...]
            return value
        }
        func integer() throws(ClientError) -> Int {
            skipSpace()
            let digits = s.prefix { $0.isASCII && $0.isNumber }
            // NumPy writes Python ints, which may carry an L suffix in files from Python 2.
            guard !digits.isEmpty, let v = Int(digits) else { throw fail("expected a non-negative integer") }
            s = s.dropFirst(digits.count)
            if s.first == "L" { s = s.dropFirst() }
            return v
        }
        func value() throws(ClientError) -> Value {
            skipSpace()
            if s.hasPrefix("True") { s = s.dropFirst(4); return .bool(true) }
            if s.hasPrefix("False") { s = s.dropFirst(5); return .bool(false) }
            if s.first == "[" { throw ClientError(.unsupportedFormat, "structured dtypes are not supported; use a plain '<f4' or '<f8' array") }
            if s.first == "(" {
                s = s.dropFirst()
                var items: [Int] = []
                while true {
                    skipSpace()
                    if s.first == ")" { s = s.dropFirst(); break }
                    items.append(try integer())
                    skipSpace()
                    if s.first == "," { s = s.dropFirst() } else if s.first != ")" { throw fail("expected ',' or ')' in the shape") }
                }
                return .tuple(items)
            }
            return .string(try string())
        }
        var result: [String: Value] = [:]
        try expect("{")
        while true {
            skipSpace()
            if s.first == "}" { break }
            let key = try string()
            try expect(":")
            let v = try value()
            guard result.updateValue(v, forKey: key) == nil else { throw fail("duplicate key '\(key)'") }
            skipSpace()
            if s.first == "," { s = s.dropFirst() } else if s.first != "}" { throw fail("expected ',' or '}'") }
        }
        return result
    }
}
