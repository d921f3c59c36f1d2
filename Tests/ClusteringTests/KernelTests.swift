import Clustering
import Foundation
import Testing

/// Fast kernels against slow references over many seeded random cases.
@Suite struct KernelTests {
    /// Every build of the C kernels (baseline, AVX2 + FMA, AVX-512) against a double-precision
    /// loop, and against each other. The level is process-wide: other tests running meanwhile
    /// only see correct kernels at another level.
    @Test func distanceKernelMatchesDoubleLoopAtEveryLevel() {
        let available = Kernels.setLevel(.avx512)
        defer { Kernels.setLevel(.avx512) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if cpuinfo.contains(" avx2") && cpuinfo.contains(" fma") {
            #expect(available.rawValue >= Kernels.Level.avx2.rawValue, "the processor has AVX2 and FMA, the kernels must use them")
        }
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy({ cpuinfo.contains(" \($0)") }) {
            #expect(available == .avx512, "the processor has AVX-512, the kernels must use it")
        }
        var results: [Kernels.Level: [Float]] = [:]
        for level in [Kernels.Level.baseline, .avx2, .avx512] where level.rawValue <= available.rawValue {
            #expect(Kernels.setLevel(level) == level)
            var all: [Float] = []
            for d in [1, 3, 4, 7, 8, 9, 17, 64, 130] {
                var random = RandomSource(seed: UInt64(d))
                for k in [1, 2, 3, 4, 5, 8, 13] {
                    let rows = 9
                    let x = (0..<(rows * d)).map { _ in Float(random.nextGaussian() * 10 + 100) }
                    let c = (0..<(k * d)).map { _ in Float(random.nextGaussian() * 10 + 100) }
                    var out = [Float](repeating: -1, count: rows * k)
                    x.withUnsafeBufferPointer { xp in
                        c.withUnsafeBufferPointer { cp in
                            out.withUnsafeMutableBufferPointer { op in
                                DistanceKernel.squaredDistances(
                                    rows: xp.baseAddress!, count: rows, centers: cp.baseAddress!, k: k, dimension: d,
                                    into: op.baseAddress!)
                            }
                        }
                    }
                    for i in 0..<rows {
                        for j in 0..<k {
                            let ref = Reference.squaredDistance(x[(i * d)..<((i + 1) * d)], c[(j * d)..<((j + 1) * d)])
                            #expect(abs(Double(out[i * k + j]) - ref) <= 1e-5 * ref + 1e-6, "row \(i) center \(j) d \(d) \(level)")
                        }
                    }
                    all += out
                }
            }
            results[level] = all
        }
        for fast in [Kernels.Level.avx2, .avx512] {
            if let base = results[.baseline], let other = results[fast] {
                for (a, b) in zip(base, other) { #expect(abs(a - b) <= 2e-5 * max(a, b) + 1e-6, "\(fast)") }
            }
        }
    }

    /// Runs the fast entmax on a row of distances and returns the dense output.
    static func fastEntmax(_ distances: [Float], temperature: Double) -> [Double] {
        let k = distances.count
        var idx = [Int32](repeating: -1, count: k)
        var w = [Float](repeating: -1, count: k)
        var scratch = [Double](repeating: 0, count: 2 * k)
        let s = distances.withUnsafeBufferPointer { dp in
            let (best, dMin) = ResponsibilityKernel.argmin(dp.baseAddress!, count: k)
            return ResponsibilityKernel.entmax15(
                dp.baseAddress!, count: k, best: best, dMin: dMin, temperature: temperature,
                indices: &idx, weights: &w, scratch: &scratch)
        }
        var dense = [Double](repeating: 0, count: k)
        for e in 0..<s { dense[Int(idx[e])] += Double(w[e]) }
        return dense
    }

    @Test func entmaxMatchesBisectionOnRandomRows() {
        var random = RandomSource(seed: 42)
        for trial in 0..<3000 {
            let k = 1 + Int(random.next() % 70)
            let scale = [1e-3, 1, 1e3, 1e6][trial % 4]
            let distances = (0..<k).map { _ in Float(random.nextUnit() * scale) }
            let temperature = scale * [0.001, 0.05, 0.3, 1, 10][Int(random.next() % 5)]
            let fast = Self.fastEntmax(distances, temperature: temperature)
            let dd = distances.map(Double.init)
            let m = dd.min()!
            let ref = Reference.entmax15(dd.map { -($0 - m) / temperature })
            #expect(abs(fast.reduce(0, +) - 1) < 1e-5)
            #expect(maxAbsDifference(fast, ref) < 2e-5, "trial \(trial) k \(k) T \(temperature)")
            // Exactly sparse: what the reference zeroes, the fast path leaves out.
            for j in 0..<k where ref[j] == 0 { #expect(fast[j] == 0) }
        }
    }

    /// Hot rows with hundreds of candidates take the heap path: the same weights as the
    /// reference, heaviest first, the nearest center (lowest index on ties) first.
    @Test func entmaxWithManyCandidatesMatchesBisection() {
        var random = RandomSource(seed: 7)
        for trial in 0..<200 {
            let k = 200 + Int(random.next() % 1000)
            // Integer distances on odd trials: many exact ties.
            let distances = (0..<k).map { _ in
                trial % 2 == 1 ? Float(random.next() % 40) : Float(random.nextUnit() * 100)
            }
            let temperature = [20.0, 50, 200][trial % 3]
            var idx = [Int32](repeating: -1, count: k)
            var w = [Float](repeating: -1, count: k)
            var scratch = [Double](repeating: 0, count: 2 * k)
            let (best, dMin) = distances.withUnsafeBufferPointer { ResponsibilityKernel.argmin($0.baseAddress!, count: k) }
            let s = distances.withUnsafeBufferPointer {
                ResponsibilityKernel.entmax15($0.baseAddress!, count: k, best: best, dMin: dMin, temperature: temperature,
                                             indices: &idx, weights: &w, scratch: &scratch)
            }
            let candidates = distances.filter { Double($0) - Double(dMin) < 2 * temperature }.count
            #expect(candidates > 48, "trial \(trial): \(candidates) candidates do not reach the heap")
            #expect(Int(idx[0]) == best, "trial \(trial): nearest first")
            for e in 1..<s { #expect(w[e] <= w[e - 1], "trial \(trial): weights in decreasing order") }
            var dense = [Double](repeating: 0, count: k)
            for e in 0..<s { dense[Int(idx[e])] += Double(w[e]) }
            let dd = distances.map(Double.init)
            let m = dd.min()!
            let ref = Reference.entmax15(dd.map { -($0 - m) / temperature })
            #expect(maxAbsDifference(dense, ref) < 2e-5, "trial \(trial) k \(k) T \(temperature)")
            for j in 0..<k where ref[j] == 0 { #expect(dense[j] == 0) }
        }
    }

    /// The threshold alone (what the screen narrows its window with) solves Σ (u − τ)₊² = 1, for
    /// few candidates (sorted) and many (narrowed by Newton steps, then a heap).
    @Test func entmaxThresholdSolvesItsEquation() {
        var random = RandomSource(seed: 21)
        for trial in 0..<300 {
            let k = [5, 40, 300, 1100][trial % 4]
            let distances = (0..<k).map { _ in Float(random.nextUnit() * 100) }
            let temperature = [1.0, 20, 200][trial % 3]
            var scratch = [Double](repeating: 0, count: 2 * k)
            let dMin = distances.min()!
            let tau = distances.withUnsafeBufferPointer {
                ResponsibilityKernel.entmax15Threshold($0.baseAddress!, count: k, dMin: dMin, temperature: temperature,
                                                       scratch: &scratch)
            }
            #expect(tau >= -1 && tau < 0)
            let total = distances.reduce(0.0) { sum, d in
                let u = -(Double(d) - Double(dMin)) / (2 * temperature)
                return sum + max(0, u - tau) * max(0, u - tau)
            }
            #expect(abs(total - 1) < 1e-9, "trial \(trial) k \(k) T \(temperature): Σ = \(total)")
            // The screen's cheaper lower bound never passes the threshold, and is close to it.
            let bound = distances.withUnsafeBufferPointer {
                ResponsibilityKernel.entmax15Threshold($0.baseAddress!, count: k, dMin: dMin, temperature: temperature,
                                                       scratch: &scratch, lowerBound: true)
            }
            #expect(bound <= tau && bound >= -1, "trial \(trial): bound \(bound) above τ \(tau)")
            #expect(tau - bound < 0.05, "trial \(trial): bound \(bound) far below τ \(tau)")
        }
    }

    @Test(arguments: [1e-320, 1e-30, 1e-20, 1e-10, 1, 1e10, 1e30])
    func entmaxStaysFiniteAtExtremes(temperature: Double) {
        var random = RandomSource(seed: 9)
        let rows: [[Float]] = [
            [1e30, 0, 5e29, 1e30],
            [1e30, 1e30, 1e30],
            [0, 0, 0, 0, 0, 0, 0, 0, 0],
            [7],
            (0..<33).map { _ in Float(random.nextUnit() * 1e30) },
            [Float.greatestFiniteMagnitude, 0, 1],
            [3, 3, 3 + 1e-6, 1e-30],
        ]
        for row in rows {
            let r = Self.fastEntmax(row, temperature: temperature)
            #expect(r.allSatisfy { $0.isFinite && $0 >= 0 })
            #expect(abs(r.reduce(0, +) - 1) < 1e-5)
            let best = row.firstIndex(of: row.min()!)!
            #expect(r[best] == r.max()!, "the nearest center has the largest responsibility")
        }
    }

    @Test func entmaxTiesShareEquallyAndGapOfTwoTIsOneHot() {
        // All centers equal: uniform.
        let tie = Self.fastEntmax([5, 5, 5, 5], temperature: 1)
        for v in tie { #expect(abs(v - 0.25) < 1e-6) }
        // Runner-up exactly 2T behind: one-hot. Just inside: shared.
        #expect(Self.fastEntmax([0, 2, 9], temperature: 1) == [1, 0, 0])
        let shared = Self.fastEntmax([0, 1.99, 9], temperature: 1)
        #expect(shared[1] > 0 && shared[0] > shared[1])
    }

    /// Four centers tied at the minimum put τ at exactly −1/2, where centers at distance T sit:
    /// in exact arithmetic those get weight zero, and rounding must not publish them at ~1e-32.
    @Test func entmaxLeavesOutCentersExactlyOnTheThreshold() {
        let row: [Float] = [0, 0, 1, 4, 4, 4, 1, 0, 2, 1, 4, 2, 3, 2, 4, 1, 2, 4, 1, 2, 0, 3, 3, 3, 1, 3, 4]
        let r = Self.fastEntmax(row, temperature: 1)
        for j in row.indices {
            #expect(r[j] == (row[j] == 0 ? 0.25 : 0), "center \(j): \(r[j])")
        }
    }

    @Test func softmaxMatchesReferenceAndStaysFinite() {
        var random = RandomSource(seed: 5)
        for _ in 0..<500 {
            let k = 1 + Int(random.next() % 40)
            let distances = (0..<k).map { _ in Float(random.nextUnit() * 100) }
            let temperature = [1e-30, 0.5, 10, 1e6][Int(random.next() % 4)]
            var idx = [Int32](repeating: 0, count: k)
            var w = [Float](repeating: 0, count: k)
            let s = distances.withUnsafeBufferPointer { dp in
                let (best, dMin) = ResponsibilityKernel.argmin(dp.baseAddress!, count: k)
                return ResponsibilityKernel.softmax(
                    dp.baseAddress!, count: k, best: best, dMin: dMin, temperature: temperature, indices: &idx, weights: &w)
            }
            var dense = [Double](repeating: 0, count: k)
            for e in 0..<s { dense[Int(idx[e])] = Double(w[e]) }
            let ref = Reference.softmax(distances: distances.map(Double.init), temperature: temperature)
            #expect(dense.allSatisfy { $0.isFinite })
            #expect(maxAbsDifference(dense, ref) < 1e-5)
        }
    }

    /// Without a given argmin, entmax puts the nearest center first, lowest index on ties.
    @Test func entmaxReportsTheArgminFirst() {
        var random = RandomSource(seed: 12)
        for trial in 0..<2000 {
            let k = 1 + Int(random.next() % 70)
            var row = (0..<k).map { _ in Float(Int(random.next() % 20)) }   // many ties
            if trial % 7 == 0 { row = row.map { _ in 3 } }
            let temperature = [1e-3, 0.4, 5, 1e30][trial % 4]
            var idx = [Int32](repeating: -1, count: k)
            var w = [Float](repeating: 0, count: k)
            var scratch = [Double](repeating: 0, count: 2 * k)
            row.withUnsafeBufferPointer { p in
                let m = ResponsibilityKernel.minimum(p.baseAddress!, count: k)
                #expect(m == row.min()!)
                _ = ResponsibilityKernel.entmax15(p.baseAddress!, count: k, dMin: m, temperature: temperature,
                                                  indices: &idx, weights: &w, scratch: &scratch)
            }
            #expect(Int(idx[0]) == row.firstIndex(of: row.min()!)!, "trial \(trial)")
        }
    }

    @Test func theRowsFormAgreesWithOneRowAtATime() {
        var random = RandomSource(seed: 21)
        let rows = 50, k = 19
        let d = (0..<(rows * k)).map { _ in Float(random.nextUnit() * 10) }
        var idx = [Int32](repeating: -1, count: rows * k)
        var w = [Float](repeating: 0, count: rows * k)
        var sup = [Int32](repeating: 0, count: rows)
        var scratch = [Double](repeating: 0, count: 2 * k)
        let total = d.withUnsafeBufferPointer { dp in
            ResponsibilityKernel.entmax15(rows: dp.baseAddress!, count: rows, k: k, temperature: 1.5,
                                          indices: &idx, weights: &w, supports: &sup, scratch: &scratch)
        }
        #expect(total == sup.reduce(0) { $0 + Int($1) })
        for i in 0..<rows {
            let one = Self.fastEntmax(Array(d[(i * k)..<((i + 1) * k)]), temperature: 1.5)
            var dense = [Double](repeating: 0, count: k)
            for e in 0..<Int(sup[i]) { dense[Int(idx[i * k + e])] = Double(w[i * k + e]) }
            #expect(maxAbsDifference(dense, one) < 1e-6, "row \(i)")
        }
    }

    @Test func argminTakesTheLowestIndexOnTies() {
        for k in 1..<40 {
            var row = [Float](repeating: 10, count: k)
            let a = k / 2
            row[a] = 1
            if k > 2 { row[k - 1] = 1 }
            row.withUnsafeBufferPointer { p in
                let (i, v) = ResponsibilityKernel.argmin(p.baseAddress!, count: k)
                #expect(i == a && v == 1, "k \(k)")
            }
        }
    }
}
