@testable import Clustering
import Testing

/// The rows form of entmax (four rows per SIMD lane group where it can) against the bisection
/// reference and the one-row kernel, on batches that mix rows it takes and rows it hands back.
@Suite struct EntmaxRowsTests {
    /// A row shaped like one kind of real (or hostile) input.
    static func row(style: Int, k: Int, random: inout RandomSource) -> [Float] {
        switch style {
        case 0:   // near one center, a few others close: the four-row path's usual case
            var r = (0..<k).map { _ in Float(10 + 90 * random.nextUnit()) }
            for _ in 0..<Int(random.next() % 4) { r[Int(random.next() % UInt64(k))] = Float(random.nextUnit() * 2) }
            return r
        case 1:   // uniform: many candidates at a high temperature
            return (0..<k).map { _ in Float(random.nextUnit() * 3) }
        case 2:   // small integers: ties everywhere, including at the minimum
            return (0..<k).map { _ in Float(Int(random.next() % 5)) }
        case 3:   // every center at the same distance
            return [Float](repeating: 2.5, count: k)
        case 4:   // far from the origin: the minimum's float neighbourhood is coarse
            return (0..<k).map { _ in Float(1e6 + random.nextUnit() * 4) }
        default:  // overflowed distances next to ordinary ones
            return (0..<k).map { j in j % 3 == 0 ? Float.greatestFiniteMagnitude : Float(random.nextUnit() * 1e30) }
        }
    }

    /// Runs the rows form; returns each row's sparse output.
    static func rowsForm(_ d: [Float], rows: Int, k: Int, temperature: Double)
        -> (indices: [Int32], weights: [Float], supports: [Int32], total: Int) {
        var idx = [Int32](repeating: -1, count: rows * k)
        var w = [Float](repeating: -1, count: rows * k)
        var sup = [Int32](repeating: -1, count: rows)
        var scratch = [Double](repeating: 0, count: 2 * k)
        let total = d.withUnsafeBufferPointer { dp in
            ResponsibilityKernel.entmax15(rows: dp.baseAddress!, count: rows, k: k, temperature: temperature,
                                          indices: &idx, weights: &w, supports: &sup, scratch: &scratch)
        }
        return (idx, w, sup, total)
    }

    @Test func rowsMatchTheBisectionReference() {
        var random = RandomSource(seed: 77)
        for trial in 0..<600 {
            let k = 1 + Int(random.next() % 70)
            let rows = 1 + Int(random.next() % 23)
            // Mostly one style per batch (so whole groups of four take the fast path), sometimes mixed.
            let batchStyle = Int(random.next() % 6)
            var d = [Float]()
            for _ in 0..<rows {
                let style = trial % 3 == 0 ? Int(random.next() % 6) : batchStyle
                d += Self.row(style: style, k: k, random: &random)
            }
            let temperature = [1e-3, 0.05, 0.3, 1, 4, 1e30][Int(random.next() % 6)]
            let out = Self.rowsForm(d, rows: rows, k: k, temperature: temperature)
            #expect(out.total == out.supports.reduce(0) { $0 + Int($1) })
            for i in 0..<rows {
                let row = Array(d[(i * k)..<((i + 1) * k)])
                let s = Int(out.supports[i])
                #expect(s >= 1 && s <= k, "trial \(trial) row \(i)")
                guard s >= 1 && s <= k else { continue }
                let idx = Array(out.indices[(i * k)..<(i * k + s)])
                let w = Array(out.weights[(i * k)..<(i * k + s)])
                // The nearest center first, lowest index on ties; weights heaviest first, all positive.
                #expect(Int(idx[0]) == row.firstIndex(of: row.min()!)!, "trial \(trial) row \(i)")
                #expect(zip(w, w.dropFirst()).allSatisfy { $0 >= $1 }, "trial \(trial) row \(i): \(w)")
                #expect(w.allSatisfy { $0 > 0 && $0.isFinite })
                #expect(Set(idx).count == s, "each center once")
                var dense = [Double](repeating: 0, count: k)
                for e in 0..<s { dense[Int(idx[e])] = Double(w[e]) }
                #expect(abs(dense.reduce(0, +) - 1) < 1e-5)
                let dd = row.map(Double.init)
                let m = dd.min()!
                guard m.isFinite, m < Double(Float.greatestFiniteMagnitude) else { continue }
                let ref = Reference.entmax15(dd.map { -($0 - m) / temperature })
                #expect(maxAbsDifference(dense, ref) < 2e-5, "trial \(trial) row \(i) k \(k) T \(temperature)")
                for j in 0..<k where ref[j] == 0 { #expect(dense[j] == 0, "exactly sparse: trial \(trial) row \(i) T \(temperature)") }
            }
        }
    }

    @Test func rowsAgreeWithTheOneRowKernel() {
        var random = RandomSource(seed: 78)
        for trial in 0..<300 {
            // Up to 64 centers in one mask; beyond, the four-row path reads several blocks.
            let k = 4 + Int(random.next() % 197)
            let rows = 4 * (1 + Int(random.next() % 6)) + Int(random.next() % 4)
            var d = [Float]()
            for _ in 0..<rows { d += Self.row(style: trial % 5 == 0 ? 2 : 0, k: k, random: &random) }
            let temperature = [0.2, 1, 2.5][trial % 3]
            let out = Self.rowsForm(d, rows: rows, k: k, temperature: temperature)
            for i in 0..<rows {
                let one = KernelTests.fastEntmax(Array(d[(i * k)..<((i + 1) * k)]), temperature: temperature)
                var dense = [Double](repeating: 0, count: k)
                for e in 0..<Int(out.supports[i]) { dense[Int(out.indices[i * k + e])] = Double(out.weights[i * k + e]) }
                #expect(maxAbsDifference(dense, one) < 1e-6, "trial \(trial) row \(i)")
                #expect(dense.map { $0 > 0 } == one.map { $0 > 0 }, "the same support, trial \(trial) row \(i)")
            }
        }
    }

    /// Runs the four-row path on four rows of `k`; returns what it wrote and handed back.
    static func fourRows(_ d: [Float], k: Int)
        -> (indices: [Int32], weights: [Float], supports: [Int32], total: Int, handedBack: UInt8) {
        var idx = [Int32](repeating: -1, count: 4 * k)
        var w = [Float](repeating: -1, count: 4 * k)
        var sup = [Int32](repeating: -1, count: 4)
        let group = d.withUnsafeBufferPointer { dp in
            ResponsibilityKernel.fourRows(dp.baseAddress!, k: k, twoT: 2, inverseTwoT: 0.5,
                                          indices: &idx, weights: &w, supports: &sup)
        }
        return (idx, w, sup, group.support, group.handedBack)
    }

    /// Row `i` of a four-row result against the bisection reference (T = 1).
    static func expectMatchesReference(_ out: (indices: [Int32], weights: [Float], supports: [Int32], total: Int, handedBack: UInt8),
                                       _ d: [Float], k: Int, row i: Int) {
        let row = Array(d[(i * k)..<((i + 1) * k)])
        let ref = Reference.entmax15(row.map { -(Double($0) - Double(row.min()!)) })
        var dense = [Double](repeating: 0, count: k)
        for e in 0..<max(0, Int(out.supports[i])) { dense[Int(out.indices[i * k + e])] = Double(out.weights[i * k + e]) }
        #expect(maxAbsDifference(dense, ref) < 1e-6, "row \(i)")
        #expect(Int(out.indices[i * k]) == row.firstIndex(of: row.min()!)!, "row \(i): the nearest first")
    }

    /// The four-row path takes rows with up to four candidates, ties included; a row with more
    /// is handed back alone, and three such rows hand back the group before any work.
    @Test func fourRowsTakesFewCandidatesAndHandsBackTheRest() {
        let k = 8
        // 1, 2, 3 and 4 candidates within 2T = 2 of each row's minimum.
        let few: [Float] = [0, 9, 9, 9, 9, 9, 9, 9,
                            9, 0.5, 9, 9, 9, 9, 0, 9,
                            1, 9, 1.5, 9, 0.2, 9, 9, 9,
                            9, 1, 9, 1, 9, 1, 9, 1]
        let out = Self.fourRows(few, k: k)
        #expect(out.handedBack == 0 && out.supports == [1, 2, 3, 4] && out.total == 10)
        for i in 0..<4 { Self.expectMatchesReference(out, few, k: k, row: i) }
        // Row 3: four centers tied at the minimum share equally, in index order.
        #expect(Array(out.indices[(3 * k)..<(3 * k + 4)]) == [1, 3, 5, 7])

        // Row 3 with five candidates: only it goes back.
        var five = few
        five.replaceSubrange((3 * k)..<(4 * k), with: [0, 1, 0, 1, 0, 9, 9, 9] as [Float])
        let one = Self.fourRows(five, k: k)
        #expect(one.handedBack == 0b1000 && one.supports[0..<3] == [1, 2, 3] && one.total == 6)
        for i in 0..<3 { Self.expectMatchesReference(one, five, k: k, row: i) }

        // A row with no finite minimum goes back too.
        var infinite = few
        infinite.replaceSubrange((2 * k)..<(3 * k), with: [Float](repeating: .infinity, count: k))
        let inf = Self.fourRows(infinite, k: k)
        #expect(inf.handedBack == 0b0100 && inf.supports[0] == 1 && inf.supports[1] == 2 && inf.supports[3] == 4)
        for i in [0, 1, 3] { Self.expectMatchesReference(inf, infinite, k: k, row: i) }

        // Rows 0, 1 and 3 with five: all four go back, nothing written.
        var many = five
        for i in 0..<2 { many.replaceSubrange((i * k)..<((i + 1) * k), with: [0, 1, 0, 1, 0, 9, 9, 9] as [Float]) }
        let all = Self.fourRows(many, k: k)
        #expect(all.handedBack == 0b1111 && all.total == 0)
        #expect(all.indices.allSatisfy { $0 == -1 } && all.supports.allSatisfy { $0 == -1 }, "nothing written")
    }

    /// Past 64 centers the candidates are gathered block by block, wherever they fall.
    @Test func fourRowsGathersCandidatesAcrossBlocks() {
        let k = 150
        var d = [Float](repeating: 50, count: 4 * k)
        let near: [[(Int, Float)]] = [[(3, 0.4)], [(10, 0), (70, 1)], [(63, 0.5), (64, 0), (149, 1.5)],
                                      [(0, 1), (65, 1), (128, 1), (129, 1)]]
        for (i, row) in near.enumerated() { for (j, v) in row { d[i * k + j] = v } }
        let out = Self.fourRows(d, k: k)
        #expect(out.handedBack == 0 && out.supports == [1, 2, 3, 4] && out.total == 10)
        for i in 0..<4 { Self.expectMatchesReference(out, d, k: k, row: i) }
        #expect(Array(out.indices[(3 * k)..<(3 * k + 4)]) == [0, 65, 128, 129], "ties in index order")
        // A fifth candidate in a later block hands that row back.
        d[3 * k + 140] = 1
        let back = Self.fourRows(d, k: k)
        #expect(back.handedBack == 0b1000 && back.supports[0..<3] == [1, 2, 3])
        for i in 0..<3 { Self.expectMatchesReference(back, d, k: k, row: i) }
    }
}
