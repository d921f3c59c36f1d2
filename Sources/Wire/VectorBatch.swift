/// A reusable sink of decoded vectors: rows of one dimension in a flat row-major `[Float]`,
/// plus one optional id per row.
///
/// Decoders append to a batch; clear it with ``removeAll()`` (which keeps capacity) and the
/// next decode into it allocates nothing once capacity suffices. Several messages may be
/// appended to one batch (to form a training mini-batch); they must share a dimension.
/// Every value in a batch is finite and within ``WireLimits/maxAbsoluteValue``: decoders reject a
/// message before any of its rows land.
public struct VectorBatch: Sendable, Hashable {
    /// The row-major values: row `i` is `values[i*dimension ..< (i+1)*dimension]`.
    public private(set) var values: [Float] = []
    /// One id slot per row.
    public private(set) var ids = VectorIDs()
    /// The dimension of the rows; nil while the batch is empty.
    public private(set) var dimension: Int?
    /// Sample weights, one per row once any message carried them; empty means every row weighs
    /// 1 (the common case costs nothing). Every stored weight is finite and > 0.
    public private(set) var weights: [Float] = []

    /// An empty batch with room for `rows` rows of `dimension` values.
    public init(reservingRows rows: Int = 0, dimension: Int = 0) {
        values.reserveCapacity(rows * dimension)
        ids.reserveCapacity(rows: rows)
    }

    /// Builds a batch from rows (a convenience for tests and producers).
    /// - Throws: ``WireError`` `.dimensionMismatch` for ragged rows, `.badBodyLength` for an
    ///   empty row, `.nonFinite`, `.badIDs` if `ids` is non-nil and of another length, or the
    ///   string-id errors of ``VectorID/validate(_:)``.
    public init(rows: [[Float]], ids: [VectorID?]? = nil) throws(WireError) {
        if let ids, ids.count != rows.count {
            throw WireError(.badIDs, "\(ids.count) ids for \(rows.count) rows")
        }
        for (i, row) in rows.enumerated() {
            try append(row, id: ids?[i] ?? nil)
        }
    }

    /// The number of rows.
    public var count: Int { ids.count }

    /// Whether the batch has no rows.
    public var isEmpty: Bool { ids.count == 0 }

    /// Row `index`'s values.
    public subscript(row index: Int) -> ArraySlice<Float> {
        let d = dimension ?? 0
        return values[index * d..<(index + 1) * d]
    }

    /// Every row as its own array (a convenience; allocates).
    public var rows: [[Float]] { (0..<count).map { Array(self[row: $0]) } }

    /// Appends one row.
    /// - Throws: ``WireError`` `.badBodyLength` (empty row), `.dimensionMismatch`, `.nonFinite`,
    ///   or the string-id errors of ``VectorID/validate(_:)``. On error the batch is unchanged.
    public mutating func append(_ row: [Float], id: VectorID?) throws(WireError) {
        if row.isEmpty { throw WireError(.badBodyLength, "empty vector") }
        if let d = dimension, !isEmpty, d != row.count {
            throw WireError(.dimensionMismatch, "row of dimension \(row.count), batch has \(d)")
        }
        if let bad = row.firstIndex(where: { !WireLimits.accepts($0) }) {
            throw WireLimits.rejection(row[bad], at: "at component \(bad)")
        }
        try ids.append(id)
        values.append(contentsOf: row)
        dimension = row.count
    }

    /// Removes every row, keeping capacity, so the next decode reuses the storage.
    public mutating func removeAll() {
        values.removeAll(keepingCapacity: true)
        ids.removeAll()
        weights.removeAll(keepingCapacity: true)
        dimension = nil
    }

    /// Whether some row carries a weight other than the implicit 1.
    public var isWeighted: Bool { !weights.isEmpty }

    /// Sets row weights: `weights` must have one finite, positive value per row.
    /// - Throws: ``WireError`` `.badWeights`; the batch is then unchanged.
    public mutating func setWeights(_ weights: [Float]) throws(WireError) {
        guard weights.count == count else { throw WireError(.badWeights, "\(weights.count) weights for \(count) rows") }
        if let bad = weights.firstIndex(where: { !VectorBatch.acceptsWeight($0) }) {
            throw WireError(.badWeights, "weight \(weights[bad]) of row \(bad); weights must be finite and > 0")
        }
        self.weights = weights
    }

    /// Whether `w` can be a sample weight: finite and > 0.
    @inline(__always)
    static func acceptsWeight(_ w: Float) -> Bool { w.isFinite && w > 0 }

    /// Reserves room for `rows` more rows of `dimension` values.
    public mutating func reserveCapacity(rows: Int, dimension: Int) {
        values.reserveCapacity(values.count + rows * dimension)
        ids.reserveCapacity(rows: ids.count + rows)
    }

    // MARK: Decoder support (all-or-nothing appends)

    struct Mark {
        var values: Int
        var rows: Int
        var stringBytes: Int
        var dimension: Int?
        var weights: Int
    }

    func mark() -> Mark {
        Mark(values: values.count, rows: ids.count, stringBytes: ids.stringBytes.count, dimension: dimension,
             weights: weights.count)
    }

    /// Undoes everything appended since `mark`: a rejected message leaves no partial rows.
    mutating func rollback(to m: Mark) {
        values.removeSubrange(m.values...)
        ids.truncate(rows: m.rows, stringBytes: m.stringBytes)
        weights.removeSubrange(m.weights...)
        dimension = m.dimension
    }

    /// Before a message's first weight: rows already in the batch without one weigh 1.
    mutating func beginWeights(firstRow: Int) {
        if weights.count < firstRow { weights.append(contentsOf: repeatElement(1, count: firstRow - weights.count)) }
    }

    /// After a message without weights: if earlier rows carry weights, its rows weigh 1.
    mutating func padWeights() {
        if !weights.isEmpty, weights.count < count { weights.append(contentsOf: repeatElement(1, count: count - weights.count)) }
    }

    /// Appends one weight (after ``beginWeights(firstRow:)``); false if it is not finite and > 0.
    mutating func appendWeight(_ w: Float) -> Bool {
        guard VectorBatch.acceptsWeight(w) else { return false }
        weights.append(w)
        return true
    }

    /// Appends `n` little-endian float32 weights from a raw frame; returns the first refused
    /// index and value (the caller rolls the message back), or nil.
    mutating func appendLittleEndianWeights(_ frame: UnsafeRawBufferPointer, count n: Int) -> (index: Int, value: Float)? {
        weights.reserveCapacity(weights.count + n)
        for i in 0..<n {
            let w = Float(bitPattern: frame.u32LE(i &* 4))
            guard VectorBatch.acceptsWeight(w) else { return (i, w) }
            weights.append(w)
        }
        return nil
    }

    /// The dimension a new message must have: the caller's, else the batch's own if it has rows.
    func requiredDimension(_ expected: Int?) -> Int? {
        expected ?? (isEmpty ? nil : dimension)
    }

    /// Appends `rows × d` little-endian float32 values from a raw frame, checking that each is
    /// finite and within ``WireLimits/maxAbsoluteValue``. Does not touch ids. Returns the first
    /// refused value and its index (batch unchanged), or nil.
    mutating func appendLittleEndianFloats(_ body: UnsafeRawBufferPointer, dimension d: Int) -> (index: Int, value: Float)? {
        let n = body.count / 4
        let start = values.count
        // Grow once (a memset), then fill in place: no per-element append bookkeeping.
        values.append(contentsOf: repeatElement(0, count: n))
        var firstBad: (index: Int, value: Float)?
        values.withUnsafeMutableBufferPointer { out in
            var refused: UInt32 = 0
            for i in 0..<n {
                let bits = body.u32LE(i &* 4)
                out[start &+ i] = Float(bitPattern: bits)
                // Out of range or non-finite iff the exponent field reaches the limit's (NaN and
                // infinity have it all ones); OR-ing a flag keeps the loop branch-free so it
                // vectorizes.
                refused |= (bits & 0x7F80_0000 >= WireLimits.outOfRangeExponentBits) ? 1 : 0
            }
            if refused != 0, let i = (0..<n).first(where: { !WireLimits.accepts(out[start + $0]) }) {
                firstBad = (i, out[start + i])
            }
        }
        if let firstBad {
            values.removeSubrange(start...)
            return firstBad
        }
        dimension = d
        return nil
    }

    /// Scales rows `first ..< first + count` to unit length; returns the first row of zero
    /// length (rows before it already scaled: the caller rolls the message back), or nil.
    mutating func normalizeRows(from first: Int, count: Int, dimension d: Int) -> Int? {
        values.withUnsafeMutableBufferPointer { v in
            for i in first..<(first + count) {
                let row = v.baseAddress! + i * d
                var sum: Double = 0
                for t in 0..<d { sum += Double(row[t]) * Double(row[t]) }
                guard sum > 0 else { return i }
                let scale = Float(1 / sum.squareRoot())
                for t in 0..<d { row[t] *= scale }
            }
            return nil
        }
    }

    mutating func appendValue(_ v: Float) { values.append(v) }
    mutating func setDimension(_ d: Int) { dimension = d }
    mutating func appendIDNone() { ids.appendNone() }
    mutating func appendIDInt(_ v: Int64) { ids.appendInt(v) }
    mutating func appendIDString(_ raw: UnsafeRawBufferPointer, _ r: Range<Int>) { ids.appendStringUnchecked(raw, r) }
    var valueCount: Int { values.count }
    var idCount: Int { ids.count }
}
