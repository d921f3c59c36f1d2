/// A supply of float32 vectors of one dimension, read in chunks into a caller-owned buffer.
///
/// The producer asks for at most one message's worth of rows at a time and reuses the same
/// buffer for every message, so a source that fills it in place allocates nothing in steady
/// state.
public protocol VectorSource {
    /// The dimension of every row (≥ 1).
    var dimension: Int { get }

    /// Replaces the contents of `rows` with up to `maxRows` rows, row-major.
    ///
    /// - Parameters:
    ///   - rows: the reusable buffer; on return it holds `n × dimension` values.
    ///   - maxRows: the most rows to read (≥ 1).
    /// - Returns: the number of rows read; 0 means the source is exhausted.
    /// - Throws: ``ClientError`` for unusable input (the error names the line or row).
    mutating func next(into rows: inout [Float], maxRows: Int) throws(ClientError) -> Int

    /// Whether ``rewind()`` can restart the source (false for standard input).
    var canRewind: Bool { get }

    /// Restarts the source from its first row (used by `--loop`).
    /// - Throws: ``ClientError`` `.unsupported` if the source cannot restart, or `.io`.
    mutating func rewind() throws(ClientError)
}

extension VectorSource {
    /// Sources are not rewindable unless they say so.
    public var canRewind: Bool { false }

    /// Throws ``ClientError/Code/unsupported``: override in sources that can restart.
    public mutating func rewind() throws(ClientError) {
        throw ClientError(.unsupported, "this source cannot be rewound")
    }
}
