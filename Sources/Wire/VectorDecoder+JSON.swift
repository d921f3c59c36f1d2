// The inbound JSON form: `{"vector": [..], "id": 7, "seq": 3}` or
// `{"vectors": [[..], ..], "ids": [..], "seq": 3}`. Numbers are written straight into the
// batch as they are read; the caller (`decodePayload`) rolls the batch back on error.

extension VectorDecoder {
    func decodeJSON(_ text: UnsafeRawBufferPointer, into batch: inout VectorBatch) throws(WireError) -> VectorMessageInfo {
        if text.count > limits.maxJSONBytes {
            throw WireError(.frameTooLarge, "JSON of \(text.count) bytes, limit \(limits.maxJSONBytes)")
        }
        if !isValidUTF8(text, 0..<text.count) { throw WireError(.invalidUTF8, "JSON text is not UTF-8") }
        var r = JSONReader(text, maxDepth: limits.maxJSONDepth)
        guard r.peek() == UInt8(ascii: "{") else { throw r.fail("expected an object") }
        var object = try r.beginObject()

        let first = batch.count
        let idsBefore = batch.idCount
        var dimension = batch.requiredDimension(expectedDimension)
        var rows = 0
        var sawVector = false, sawVectors = false, sawID = false, sawIDs = false
        var idKind = 0  // 0 none yet, 1 int, 2 string
        var sequence: UInt64 = 0
        var sawWeight = false, sawWeights = false
        var weightCount = 0

        while let key = try r.nextKey(&object) {
            if r.key(key, is: "vector") {
                if sawVectors { throw r.fail("both \"vector\" and \"vectors\"") }
                sawVector = true
                dimension = try readRow(&r, dimension: dimension, into: &batch)
                rows = 1
            } else if r.key(key, is: "vectors") {
                if sawVector { throw r.fail("both \"vector\" and \"vectors\"") }
                sawVectors = true
                var array = try r.beginArray()
                while try r.nextElement(&array) {
                    if rows == limits.maxVectorsPerMessage {
                        throw WireError(.tooManyVectors, "more than \(limits.maxVectorsPerMessage) vectors")
                    }
                    dimension = try readRow(&r, dimension: dimension, into: &batch)
                    rows += 1
                }
                if rows == 0 { throw WireError(.badBodyLength, "\"vectors\" is empty") }
            } else if r.key(key, is: "id") {
                if !r.readNull() {
                    sawID = true
                    try readID(&r, kind: &idKind, into: &batch)
                }
            } else if r.key(key, is: "ids") {
                if !r.readNull() {
                    sawIDs = true
                    guard r.peek() == UInt8(ascii: "[") else { throw WireError(.badIDs, "\"ids\" must be an array") }
                    var array = try r.beginArray()
                    while try r.nextElement(&array) {
                        if batch.idCount - idsBefore == limits.maxVectorsPerMessage {
                            throw WireError(.tooManyVectors, "more than \(limits.maxVectorsPerMessage) ids")
                        }
                        try readID(&r, kind: &idKind, into: &batch)
                    }
                }
            } else if r.key(key, is: "weight") {
                if !r.readNull() {
                    sawWeight = true
                    batch.beginWeights(firstRow: first)
                    try readWeight(&r, into: &batch)
                    weightCount = 1
                }
            } else if r.key(key, is: "weights") {
                if !r.readNull() {
                    sawWeights = true
                    guard r.peek() == UInt8(ascii: "[") else { throw WireError(.badWeights, "\"weights\" must be an array") }
                    batch.beginWeights(firstRow: first)
                    var array = try r.beginArray()
                    while try r.nextElement(&array) {
                        if weightCount == limits.maxVectorsPerMessage {
                            throw WireError(.tooManyVectors, "more than \(limits.maxVectorsPerMessage) weights")
                        }
                        try readWeight(&r, into: &batch)
                        weightCount += 1
                    }
                }
            } else if r.key(key, is: "seq") {
                if !r.readNull() { sequence = try r.readUInt64("\"seq\"") }
            } else {
                // Unknown keys are ignored so producers can add fields; they are still parsed
                // strictly so malformed text is never accepted.
                try r.skipValue()
            }
        }
        try r.expectEnd()

        guard sawVector || sawVectors else { throw WireError(.badJSON, "neither \"vector\" nor \"vectors\"") }
        if sawVector && sawIDs { throw WireError(.badJSON, "\"ids\" goes with \"vectors\"; use \"id\" with \"vector\"") }
        if sawVectors && sawID { throw WireError(.badJSON, "\"id\" goes with \"vector\"; use \"ids\" with \"vectors\"") }
        if sawVector && sawWeights { throw WireError(.badJSON, "\"weights\" goes with \"vectors\"; use \"weight\" with \"vector\"") }
        if sawVectors && sawWeight { throw WireError(.badJSON, "\"weight\" goes with \"vector\"; use \"weights\" with \"vectors\"") }
        if (sawWeight || sawWeights) && weightCount != rows { throw WireError(.badWeights, "\(weightCount) weights for \(rows) vectors") }
        let ids = batch.idCount - idsBefore
        if sawIDs && ids != rows { throw WireError(.badIDs, "\(ids) ids for \(rows) vectors") }
        if ids == 0 {
            for _ in 0..<rows { batch.appendIDNone() }
        }
        let d = dimension!
        batch.setDimension(d)
        return VectorMessageInfo(format: .json, firstRow: first, count: rows, dimension: d, sequence: sequence)
    }

    /// Reads one `[x, y, …]` row into the batch; returns its dimension.
    private func readRow(_ r: inout JSONReader, dimension: Int?, into batch: inout VectorBatch) throws(WireError) -> Int {
        guard r.peek() == UInt8(ascii: "[") else { throw r.fail("a vector must be an array of numbers") }
        var array = try r.beginArray()
        var n = 0
        while try r.nextElement(&array) {
            if n == limits.maxDimension {
                throw WireError(.dimensionTooLarge, "dimension above \(limits.maxDimension)")
            }
            let c = r.peek()
            guard c == UInt8(ascii: "-") || (c.map { $0 &- UInt8(ascii: "0") < 10 } ?? false) else {
                throw r.fail("a vector component must be a number")
            }
            let value = try r.readFloat()
            guard WireLimits.accepts(value) else { throw WireLimits.rejection(value, at: "at component \(n)") }
            batch.appendValue(value)
            n += 1
        }
        if n == 0 { throw WireError(.badBodyLength, "empty vector") }
        if let dimension, n != dimension {
            throw WireError(.dimensionMismatch, "vector of dimension \(n), expected \(dimension)")
        }
        return n
    }

    /// Reads one weight: a JSON number, finite and > 0 once rounded to float32.
    private func readWeight(_ r: inout JSONReader, into batch: inout VectorBatch) throws(WireError) {
        let c = r.peek()
        guard c == UInt8(ascii: "-") || (c.map { $0 &- UInt8(ascii: "0") < 10 } ?? false) else {
            throw WireError(.badWeights, "a weight must be a number")
        }
        let value: Float
        do {
            value = try r.readFloat()
        } catch where error.reason == .nonFinite {
            throw WireError(.badWeights, error.detail)
        }
        guard batch.appendWeight(value) else {
            throw WireError(.badWeights, "weight \(value); weights must be finite and > 0")
        }
    }

    /// Reads one id: all ids of a message are integers or all are strings.
    private func readID(_ r: inout JSONReader, kind: inout Int, into batch: inout VectorBatch) throws(WireError) {
        guard let c = r.peek() else { throw r.fail("expected an id") }
        if c == UInt8(ascii: "\"") {
            if kind == 1 { throw WireError(.badIDs, "ids mix integers and strings") }
            kind = 2
            r.scratch.removeAll(keepingCapacity: true)
            try r.readString(into: \.scratch)
            let n = r.scratch.count
            if n == 0 { throw WireError(.badIDs, "empty string id") }
            if n > VectorID.maxStringBytes {
                throw WireError(.idTooLong, "string id of \(n) bytes, at most \(VectorID.maxStringBytes)")
            }
            if r.scratch.contains(0x0A) { throw WireError(.badIDs, "string id contains a line feed") }
            r.scratch.withUnsafeBytes { batch.appendIDString($0, 0..<n) }
        } else if c == UInt8(ascii: "-") || c &- UInt8(ascii: "0") < 10 {
            if kind == 2 { throw WireError(.badIDs, "ids mix integers and strings") }
            kind = 1
            do {
                batch.appendIDInt(try r.readInt64("id"))
            } catch {
                throw WireError(.badIDs, error.detail)
            }
        } else {
            throw WireError(.badIDs, "an id must be an integer or a string")
        }
    }
}
