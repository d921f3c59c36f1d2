@testable import Clustering
import Testing

/// The Gram matrix the embedding-scale seeding draws from, built in tiles on any number of
/// threads, and the seeding and warm-up passes that share those threads.
@Suite struct GramSeedingTests {
    /// Rows centered on their mean, and their squared lengths, as the seeding prepares them.
    static func centered(_ rows: [Float], count m: Int, dimension d: Int) -> (rows: [Float], norms: [Float]) {
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<m { for t in 0..<d { mean[t] += Double(rows[i * d + t]) / Double(m) } }
        var out = [Float](repeating: 0, count: m * d)
        var norms = [Float](repeating: 0, count: m)
        for i in 0..<m {
            var s: Float = 0
            for t in 0..<d {
                out[i * d + t] = rows[i * d + t] - Float(mean[t])
                s += out[i * d + t] * out[i * d + t]
            }
            norms[i] = s
        }
        return (out, norms)
    }

    /// Every entry of the tiled matrix, including the last partial band of tiles, is the
    /// squared distance of its two rows (against a float64 reference), the matrix is exactly
    /// symmetric with a zero diagonal, and three threads give the bits one thread gives.
    @Test(arguments: [(count: 600, offset: Float(0)), (count: 257, offset: 1e4), (count: 1, offset: 0)])
    func tiledGramHoldsEveryDistance(count m: Int, offset: Float) {
        let d = 130
        let blobs = TestBlobs(k: 6, d: d, perCluster: (m + 5) / 6, spread: 1, side: 10, seed: 4)
        let rows = Array(blobs.rows.prefix(m * d)).map { $0 + offset }
        let (x, norms) = Self.centered(rows, count: m, dimension: d)
        let serial = Seeding.gramDistances(centered: x, norms: norms, count: m, dimension: d, loop: SerialLoop())
        let threaded = Seeding.gramDistances(centered: x, norms: norms, count: m, dimension: d, loop: ThreadedLoop(width: 3))
        let ld = serial.ld
        #expect(ld >= m && ld % 16 == 0 && threaded.ld == ld)
        var worst = 0.0
        var asymmetric = 0, differing = 0
        for a in 0..<m {
            #expect(serial.distances[a * ld + a] == 0)
            for b in 0..<m {
                let got = serial.distances[a * ld + b]
                if got != serial.distances[b * ld + a] { asymmetric += 1 }
                if got.bitPattern != threaded.distances[a * ld + b].bitPattern { differing += 1 }
                guard a != b else { continue }
                let want = Reference.squaredDistance(rows[(a * d)..<((a + 1) * d)], rows[(b * d)..<((b + 1) * d)])
                // The expansion's rounding is on the scale of the centered rows' lengths.
                worst = max(worst, abs(Double(got) - want) / (Double(norms[a]) + Double(norms[b]) + 1))
            }
        }
        #expect(asymmetric == 0)
        #expect(differing == 0, "\(differing) entries differ between one thread and three")
        #expect(worst < 1e-5, "largest relative error \(worst)")
    }

    /// A seeded model (k-means++ through the Gram matrix, Lloyd steps and extra seedings, the
    /// automatic temperature) is the same whether its products ran on one thread or three.
    @Test func seededModelIsTheSameOnAnyLoop() {
        let k = 24, d = 160, count = 24 * 40
        let blobs = TestBlobs(k: k, d: d, perCluster: 40, spread: 2, side: 6, seed: 12)
        func seed(_ loop: some ParallelLoop) -> ModelState {
            blobs.rows.withUnsafeBufferPointer {
                ModelState.seeded(warmup: $0, count: count, dimension: d, k: k, seed: 5, iterations: 4, seedings: 2, loop: loop)
            }
        }
        let one = seed(SerialLoop()), three = seed(ThreadedLoop(width: 3))
        #expect(one.centers == three.centers)
        #expect(one.schedule.initial == three.schedule.initial && one.schedule.initial > 0)
        // The refinement ran and moved the centers off the rows k-means++ picked.
        let picked = (0..<k).filter { j in
            (0..<count).contains { i in blobs.rows[(i * d)..<((i + 1) * d)].elementsEqual(one.centers[(j * d)..<((j + 1) * d)]) }
        }
        #expect(picked.count < k)
    }

    /// Without Lloyd steps or extra seedings the centers stay rows, and the automatic starting
    /// temperature is read from the seeding's own matrix: it agrees with the pass that measures
    /// the distances again (the direct form), far from the origin too, and with one center
    /// (no gaps: the mean nearest distance).
    @Test(arguments: [(k: 20, offset: Float(0)), (k: 20, offset: 1e4), (k: 1, offset: 0)])
    func temperatureFromTheGramMatrixMatchesAMeasuredOne(k: Int, offset: Float) {
        let d = 144, count = 30 * max(k, 2)
        let blobs = TestBlobs(k: max(k, 2), d: d, perCluster: 30, spread: 1.5, side: 5, seed: 21)
        let rows = blobs.rows.map { $0 + offset }
        let model = rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: count, dimension: d, k: k, seed: 3, loop: ThreadedLoop(width: 2))
        }
        let measured = rows.withUnsafeBufferPointer {
            Seeding.automaticTemperature(rows: $0, count: count, dimension: d, centers: model.centers, k: k, heat: 1,
                                         distances: .direct)
        }
        #expect(measured > 0)
        #expect(abs(model.schedule.initial / measured - 1) < 1e-3, "from the Gram matrix \(model.schedule.initial), measured \(measured)")
    }
}
