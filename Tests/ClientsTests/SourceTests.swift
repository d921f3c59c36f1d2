import Clients
import Testing
import TestSupport

@Suite("CSV source")
struct CSVSourceTests {
    @Test("a header of non-numbers, comments and blank lines are skipped")
    func headerSkipped() throws {
        var source = try CSVSource(text: "# saved by numpy\nx, y ,z\n\n1,2,3\r\n 4.5 , -5e-1, 6\n")
        #expect(source.dimension == 3)
        var rows: [Float] = []
        #expect(try source.next(into: &rows, maxRows: 10) == 2)
        #expect(rows == [1, 2, 3, 4.5, -0.5, 6])
        #expect(try source.next(into: &rows, maxRows: 10) == 0)
    }

    @Test("chunks respect maxRows and rewind restarts after the header")
    func chunksAndRewind() throws {
        var source = try CSVSource(text: "a,b\n1,2\n3,4\n5,6")
        var rows: [Float] = []
        #expect(try source.next(into: &rows, maxRows: 2) == 2)
        #expect(rows == [1, 2, 3, 4])
        #expect(try source.next(into: &rows, maxRows: 2) == 1)
        #expect(rows == [5, 6])
        #expect(source.canRewind)
        try source.rewind()
        #expect(try source.next(into: &rows, maxRows: 1) == 1)
        #expect(rows == [1, 2])
    }

    @Test("a bad line is an error naming its line number")
    func badLine() throws {
        var source = try CSVSource(text: "x,y\n1,2\n\n3,oops\n")
        var rows: [Float] = []
        let error = try #require(throws: ClientError.self) { try source.next(into: &rows, maxRows: 10) }
        #expect(error.code == .badInput)
        #expect(error.line == 4)
        #expect(error.description.contains("line 4"))
        #expect(error.description.contains("oops"))
    }

    @Test("a first line mixing numbers and text is an error, not a header")
    func mixedFirstLine() throws {
        let error = try #require(throws: ClientError.self) { try CSVSource(text: "1,x\n2,3\n") }
        #expect(error.line == 1)
    }

    @Test("ragged rows are an error naming the line")
    func raggedRows() throws {
        var source = try CSVSource(text: "1,2,3\n4,5,6\n7,8\n")
        var rows: [Float] = []
        let error = try #require(throws: ClientError.self) { try source.next(into: &rows, maxRows: 10) }
        #expect(error.line == 3)
        #expect(error.message.contains("2 values, expected 3"))
    }

    @Test("non-finite and out-of-range values are rejected", arguments: ["nan", "inf", "-infinity", "1e39"])
    func nonFinite(value: String) throws {
        let error = try #require(throws: ClientError.self) { try CSVSource(text: "1,\(value)\n") }
        #expect(error.code == .badInput)
        #expect(error.line == 1)
    }

    @Test("empty fields and empty input are rejected")
    func emptyFields() throws {
        #expect(throws: ClientError.self) { try CSVSource(text: "1,,3\n") }
        #expect(throws: ClientError.self) { try CSVSource(text: "x,y\n\n") }
        #expect(throws: ClientError.self) { try CSVSource(text: "") }
    }

    @Test("files are read from disk")
    func fromFile() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("v.csv", Array("a,b\n1,2\n3,4\n".utf8))
        var source = try CSVSource(path: path)
        var rows: [Float] = []
        #expect(try source.next(into: &rows, maxRows: 8) == 2)
        #expect(rows == [1, 2, 3, 4])
        try source.rewind()
        #expect(try source.next(into: &rows, maxRows: 8) == 2)
        let missing = try #require(throws: ClientError.self) { try CSVSource(path: directory.path + "/missing.csv") }
        #expect(missing.code == .io)
    }

    @Test("--vector text parses like a CSV line")
    func parseVector() throws {
        #expect(try CSVSource.parseVector(" 1, 2.5 ,-3") == [1, 2.5, -3])
        #expect(throws: ClientError.self) { try CSVSource.parseVector("1,a") }
        #expect(throws: ClientError.self) { try CSVSource.parseVector("") }
    }
}

@Suite("NPY source")
struct NPYSourceTests {
    @Test("<f4 and <f8, 2-D, format v1 and v2", arguments: [UInt8(1), 2], [true, false])
    func twoDimensional(major: UInt8, float32: Bool) throws {
        let values: [Float] = [1, 2, 3, -4, 5.5, 6]
        let payload = float32 ? littleEndianBytes(values) : littleEndianBytes(values.map(Double.init))
        let directory = try TemporaryDirectory()
        let path = try directory.write("a.npy", npyFile(major: major, descr: float32 ? "<f4" : "<f8", shape: "(3, 2)", payload: payload))
        var source = try NPYSource(path: path)
        #expect(source.dimension == 2)
        #expect(source.count == 3)
        #expect(source.header.majorVersion == Int(major))
        var rows: [Float] = []
        #expect(try source.next(into: &rows, maxRows: 2) == 2)
        #expect(rows == [1, 2, 3, -4])
        #expect(try source.next(into: &rows, maxRows: 2) == 1)
        #expect(rows == [5.5, 6])
        #expect(try source.next(into: &rows, maxRows: 2) == 0)
        try source.rewind()
        #expect(try source.next(into: &rows, maxRows: 9) == 3)
        #expect(rows == values)
    }

    @Test("a 1-D array is one vector")
    func oneDimensional() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("v.npy", npyFile(descr: "<f4", shape: "(4,)", payload: littleEndianBytes([Float](arrayLiteral: 1, 2, 3, 4))))
        var source = try NPYSource(path: path)
        #expect(source.dimension == 4)
        #expect(source.count == 1)
        var rows: [Float] = []
        #expect(try source.next(into: &rows, maxRows: 5) == 1)
        #expect(rows == [1, 2, 3, 4])
    }

    @Test("unsupported layouts are rejected with a reason", arguments: [
        ("big-endian", ">f4", false, "(2, 2)"),
        ("Fortran order", "<f4", true, "(2, 2)"),
        ("3-D", "<f4", false, "(1, 2, 2)"),
        ("integer dtype", "<i4", false, "(2, 2)"),
        ("0-D", "<f4", false, "()"),
    ])
    func rejected(reason: String, descr: String, fortran: Bool, shape: String) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("bad.npy", npyFile(descr: descr, fortran: fortran, shape: shape, payload: [UInt8](repeating: 0, count: 16)))
        let error = try #require(throws: ClientError.self) { try NPYSource(path: path) }
        #expect(error.code == .unsupportedFormat, "\(reason): \(error)")
        let words = ["big-endian": "big-endian", "Fortran order": "Fortran", "3-D": "3-D", "integer dtype": "<i4", "0-D": "0-D"]
        #expect(error.message.contains(words[reason]!), "\(error.message)")
    }

    @Test("truncated data, non-finite values and non-npy files are rejected")
    func damaged() throws {
        let directory = try TemporaryDirectory()
        let short = try directory.write("short.npy", npyFile(descr: "<f4", shape: "(3, 2)", payload: littleEndianBytes([Float](arrayLiteral: 1, 2, 3))))
        #expect(throws: ClientError.self) { try NPYSource(path: short) }
        let nan = try directory.write("nan.npy", npyFile(descr: "<f8", shape: "(2, 1)", payload: littleEndianBytes([1.0, Double.nan])))
        var source = try NPYSource(path: nan)
        var rows: [Float] = []
        let error = try #require(throws: ClientError.self) { try source.next(into: &rows, maxRows: 2) }
        #expect(error.message.contains("row 1"))
        let huge = try directory.write("huge.npy", npyFile(descr: "<f8", shape: "(1, 1)", payload: littleEndianBytes([1e300])))
        var hugeSource = try NPYSource(path: huge)
        #expect(throws: ClientError.self) { try hugeSource.next(into: &rows, maxRows: 1) }
        let text = try directory.write("text.npy", Array("not numpy at all".utf8))
        #expect(throws: ClientError.self) { try NPYSource(path: text) }
    }
}

@Suite("Synthetic source")
struct SyntheticSourceTests {
    @Test("the stream is a function of the seed, however it is chunked")
    func determinism() throws {
        var a = try SyntheticSource(k: 4, dimension: 3, seed: 42)
        var b = try SyntheticSource(k: 4, dimension: 3, seed: 42)
        var c = try SyntheticSource(k: 4, dimension: 3, seed: 43)
        var rowsA: [Float] = [], rowsB: [Float] = [], chunk: [Float] = [], rowsC: [Float] = []
        _ = try a.next(into: &rowsA, maxRows: 10)
        for _ in 0..<5 {
            _ = try b.next(into: &chunk, maxRows: 2)
            rowsB += chunk
        }
        _ = try c.next(into: &rowsC, maxRows: 10)
        #expect(a.initialCenters == b.initialCenters)
        #expect(rowsA == rowsB)
        #expect(rowsA != rowsC)
        #expect(rowsA.count == 30)
    }

    @Test("rows lie near their labelled center")
    func groundTruth() throws {
        var source = try SyntheticSource(k: 3, dimension: 8, spread: 0.1, separation: 50, seed: 7)
        var rows: [Float] = []
        _ = try source.next(into: &rows, maxRows: 200)
        let centers = source.centers
        for (i, label) in source.lastLabels.enumerated() {
            var nearest = 0
            var best = Float.infinity
            for c in 0..<3 {
                var d2: Float = 0
                for j in 0..<8 { let t = rows[i * 8 + j] - centers[c * 8 + j]; d2 += t * t }
                if d2 < best { best = d2; nearest = c }
            }
            #expect(nearest == label)
        }
        #expect(Set(source.lastLabels).count == 3)
    }

    @Test("drift moves each center by drift per 1000 vectors")
    func drift() throws {
        var moving = try SyntheticSource(k: 2, dimension: 5, drift: 3, seed: 9)
        var still = try SyntheticSource(k: 2, dimension: 5, drift: 0, seed: 9)
        var rows: [Float] = []
        _ = try moving.next(into: &rows, maxRows: 2000)
        _ = try still.next(into: &rows, maxRows: 2000)
        #expect(still.centers == still.initialCenters)
        let now = moving.centers
        for c in 0..<2 {
            var d2: Double = 0
            for j in 0..<5 { let t = Double(now[c * 5 + j] - moving.initialCenters[c * 5 + j]); d2 += t * t }
            #expect(abs(d2.squareRoot() - 6) < 1e-3, "center \(c) moved \(d2.squareRoot())")
        }
    }

    @Test("parameters out of range are rejected")
    func badParameters() {
        #expect(throws: ClientError.self) { try SyntheticSource(k: 0) }
        #expect(throws: ClientError.self) { try SyntheticSource(dimension: 0) }
        #expect(throws: ClientError.self) { try SyntheticSource(spread: -1) }
        #expect(throws: ClientError.self) { try SyntheticSource(drift: .nan) }
    }
}
