import Wire
/// Reads `model.initial_centers`: k lines of d comma-separated numbers (blank and `#` lines skipped).
enum InitialCenters {
    /// The centers, row-major, and their dimension.
    /// - Throws: ``ConfigurationError`` naming the key, the file, the line and what is wrong.
    static func load(path: String, k: Int, dimension: Int) throws(ConfigurationError) -> (centers: [Float], dimension: Int) {
        let key = "model.initial_centers"
        let bytes: [UInt8]
        do {
            bytes = try LocalFile.read(path)
        } catch {
            throw ConfigurationError(key: key, reason: "cannot read \(path): \(error)")
        }
        var rows: [[Float]] = []
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmed
            if text.isEmpty || text.hasPrefix("#") { continue }
            var row: [Float] = []
            for field in text.split(separator: ",") {
                guard let v = Float(field.trimmed), v.isFinite else {
                    throw ConfigurationError(key: key, reason: "\(path):\(number + 1): \(field.trimmed) is not a finite number")
                }
                guard WireLimits.accepts(v) else {
                    throw ConfigurationError(key: key, reason: "\(path):\(number + 1): \(field.trimmed) exceeds the magnitude limit 2^40 that every input obeys")
                }
                row.append(v)
            }
            if let first = rows.first, first.count != row.count {
                throw ConfigurationError(key: key, reason: "\(path):\(number + 1): \(row.count) values, earlier rows have \(first.count)")
            }
            rows.append(row)
        }
        guard rows.count == k else {
            throw ConfigurationError(key: key, reason: "\(path) has \(rows.count) centers, model.k is \(k)")
        }
        let d = rows[0].count
        guard dimension == 0 || dimension == d else {
            throw ConfigurationError(key: key, reason: "\(path) has dimension \(d), model.dimension is \(dimension)")
        }
        return (rows.flatMap { $0 }, d)
    }
}
