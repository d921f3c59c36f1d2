/// Vectors from comma-separated text: one vector per line, numbers separated by commas.
///
/// - Blank lines and lines starting with `#` (NumPy's `savetxt` header style) are skipped.
/// - The first other line is skipped as a header when none of its fields is a number;
///   a line mixing numbers and other text is an error, not a header.
/// - Every row must have the dimension of the first; values must be finite float32 numbers
///   (a number beyond float32's range is rejected rather than sent as infinity).
///
/// Errors name the 1-based line number (``ClientError/line``). Reading is streamed line by
/// line, so standard input and large files work; the first data row is read at creation to
/// learn the dimension.
public struct CSVSource: VectorSource {
    private let reader: LineReader
    private let name: String
    /// The dimension, learned from the first data row.
    public private(set) var dimension: Int
    /// A data row read ahead (at creation, to learn the dimension) and not yet returned.
    private var pending: [Float]?
    private var scratch: [Float] = []

    /// Opens a file, or standard input for `"-"`.
    /// - Throws: ``ClientError`` `.io` if the file cannot be read, `.badInput` for a bad first
    ///   data line or for input without any data row.
    public init(path: String) throws(ClientError) {
        let file = try CFile.open(path)
        try self.init(reader: LineReader(file: file, name: path == "-" ? "standard input" : path),
                      name: path == "-" ? "standard input" : path)
    }

    /// Reads text in memory (tests, `--vector` options).
    /// - Throws: ``ClientError`` `.badInput` as ``init(path:)``.
    public init(text: String) throws(ClientError) {
        try self.init(reader: LineReader(text: text), name: "text")
    }

    private init(reader: LineReader, name: String) throws(ClientError) {
        self.reader = reader
        self.name = name
        self.dimension = 0
        var first: [Float] = []
        guard try Self.readRow(reader, into: &first, dimension: nil, allowHeader: true) else {
            throw ClientError(.badInput, "\(name) holds no vectors")
        }
        self.dimension = first.count
        self.pending = first
    }

    /// Reads the next data row into `row` (replacing its contents); false at the end.
    private static func readRow(_ reader: LineReader, into row: inout [Float], dimension: Int?, allowHeader: Bool) throws(ClientError) -> Bool {
        var headerAllowed = allowHeader
        while let line = try reader.nextLine() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.first == "#" { continue }
            row.removeAll(keepingCapacity: true)
            let isHeader = try parseRow(Substring(trimmed), into: &row, line: reader.lineNumber, headerAllowed: headerAllowed)
            headerAllowed = false
            if isHeader { continue }
            if let dimension, row.count != dimension {
                throw ClientError(.badInput, "\(row.count) values, expected \(dimension) like the first row", line: reader.lineNumber)
            }
            return true
        }
        return false
    }

    /// Parses one comma-separated line of numbers, appending to `row`.
    /// - Returns: true if the line is a header (no field is a number) and `headerAllowed`.
    /// - Throws: ``ClientError`` `.badInput` naming the line and field.
    static func parseRow(_ text: Substring, into row: inout [Float], line: Int, headerAllowed: Bool) throws(ClientError) -> Bool {
        var bad: (field: Int, text: Substring)?
        var numbers = 0
        var fields = 0
        for (i, raw) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            fields += 1
            let field = raw.trimmingSpaces()
            if let v = Float(field) {
                guard v.isFinite else {
                    throw ClientError(.badInput, "field \(i + 1) (\(field)) is not a finite float32 value", line: line)
                }
                row.append(v)
                numbers += 1
            } else if bad == nil {
                bad = (i + 1, field)
            }
        }
        if let bad {
            if numbers == 0 && headerAllowed { return true }
            let shown = bad.text.isEmpty ? "an empty field" : "\"\(bad.text.prefix(40))\""
            throw ClientError(.badInput, "field \(bad.field) is \(shown), not a number", line: line)
        }
        precondition(fields == numbers, "CSVSource: every field parsed")
        return false
    }

    /// Parses one line of comma-separated numbers (a `--vector 1,2,3` option).
    /// - Throws: ``ClientError`` `.badInput` if a field is not a finite number or the line is empty.
    public static func parseVector(_ text: String) throws(ClientError) -> [Float] {
        var row: [Float] = []
        let trimmed = Substring(text).trimmingSpaces()
        guard !trimmed.isEmpty else { throw ClientError(.badInput, "empty vector") }
        _ = try parseRow(trimmed, into: &row, line: 1, headerAllowed: false)
        return row
    }

    /// Reads up to `maxRows` rows.
    /// - Throws: ``ClientError`` `.badInput` naming the line of a bad or ragged row.
    public mutating func next(into rows: inout [Float], maxRows: Int) throws(ClientError) -> Int {
        precondition(maxRows >= 1, "CSVSource: maxRows must be ≥ 1")
        rows.removeAll(keepingCapacity: true)
        var n = 0
        if let first = pending {
            rows.append(contentsOf: first)
            pending = nil
            n = 1
        }
        while n < maxRows {
            guard try Self.readRow(reader, into: &scratch, dimension: dimension, allowHeader: false) else { break }
            rows.append(contentsOf: scratch)
            n += 1
        }
        return n
    }

    /// Whether the input can restart (not standard input).
    public var canRewind: Bool { reader.canRewind }

    /// Restarts at the first data row (skipping the header again).
    /// - Throws: ``ClientError`` `.unsupported` for standard input, `.io`, or `.badInput` if
    ///   the file changed and now has no data row.
    public mutating func rewind() throws(ClientError) {
        try reader.rewind()
        var first: [Float] = []
        guard try Self.readRow(reader, into: &first, dimension: dimension, allowHeader: true) else {
            throw ClientError(.badInput, "\(name) holds no vectors")
        }
        pending = first
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
