import Clients
import COpenBLAS
import Clustering
import Daemon

/// Throughput of the pure core: the whole update step and entmax alone.
///
/// Every case runs on seeded Gaussian blobs with the same centers the update starts from, warms
/// up, then repeats for a fixed wall-clock budget and reports the best of several rounds (the
/// least disturbed by other work on the machine).
public struct CoreBenchmark {
    /// One measured case.
    public struct Result: Sendable {
        public var bench: String
        public var mode: ResponsibilityMode
        public var d: Int
        public var k: Int
        public var batch: Int
        public var threads: Int
        public var perSecond: Double
        public var unit: String
        public var meanSupport: Double
        /// A plain sgemm of the shape's distance product, in rows per second, timed in rounds
        /// alternating with this case's (so a busy machine slows both alike); nil where not measured.
        public var productPerSecond: Double? = nil
        /// Direct-form distances per row that the screen computed (the update cases); nil where
        /// distances were not screened.
        public var exactPerRow: Double? = nil
    }

    public var seconds: Double
    public var threadCounts: [Int]
    /// Only cases whose name ("update" or "entmax") contains this run, when set; "embedding"
    /// runs the embedding shapes alone, "seeding" the k-means++ seeding at those shapes.
    public var only: String?

    /// How the update computes distances.
    public var distances: UpdateConfiguration.DistanceMethod = .automatic
    /// The precision of the screen's product.
    public var products: UpdateConfiguration.ProductPrecision = .automatic

    public init(seconds: Double = 0.5, threadCounts: [Int] = [1, 2], only: String? = nil) {
        self.seconds = seconds
        self.threadCounts = threadCounts
        self.only = only
    }

    /// The update cases of the issue: (d, k, batch).
    public static let updateShapes: [(d: Int, k: Int, batch: Int)] = [(64, 64, 1024), (128, 256, 1024), (784, 10, 1024)]
    /// Embedding-sized update cases, each measured beside a plain matrix product of its shape.
    public static let embeddingShapes: [(d: Int, k: Int, batch: Int)] = [(384, 256, 1024), (768, 1024, 1024), (1536, 4096, 1024)]
    /// The entmax-alone cases: K.
    public static let entmaxSizes = [16, 64, 256, 1024]

    /// Runs every case, handing each result to `report` as soon as it is measured.
    public func run(report: (Result) -> Void) {
        let wantUpdate = only.map { "update".contains($0) } ?? true
        if wantUpdate {
            // The same step written the obvious way (double precision, a full sort per row), run
            // in this process first, so the table's speed-up is against the same machine state.
            report(measureReference(d: 64, k: 64, batch: 1024))
        }
        let wantEntmax = only.map { "entmax".contains($0) } ?? true
        for shape in Self.updateShapes where wantUpdate {
            for mode in ResponsibilityMode.allCases {
                for threads in threadCounts {
                    report(measureUpdate(d: shape.d, k: shape.k, batch: shape.batch, mode: mode, threads: threads))
                }
            }
        }
        for shape in Self.embeddingShapes where wantUpdate || only == "embedding" {
            report(measureProduct(d: shape.d, k: shape.k, batch: shape.batch))
            if let half = measureBFloat16Product(d: shape.d, k: shape.k, batch: shape.batch) { report(half) }
            for mode in [ResponsibilityMode.entmax15, .hard] {
                for threads in threadCounts {
                    report(measureUpdate(d: shape.d, k: shape.k, batch: shape.batch, mode: mode, threads: threads,
                                         besideProduct: true))
                }
            }
        }
        if only == "seeding" {
            for shape in Self.embeddingShapes {
                // The direct form at the largest shape takes minutes; it is measured where it
                // finishes in seconds, beside the product in the same run.
                if shape.k <= 1024 { report(measureSeeding(d: shape.d, k: shape.k, distances: .direct, threads: 1)) }
                for threads in threadCounts {
                    report(measureSeeding(d: shape.d, k: shape.k, distances: .screened, threads: threads))
                }
            }
        }
        for k in Self.entmaxSizes where wantEntmax {
            let (oneRow, rowsForm) = measureEntmax(k: k)
            report(oneRow)
            report(rowsForm)
        }
    }

    func timeBest(rounds: Int = 5, _ body: () -> Int) -> Double {
        var best = 0.0
        for _ in 0..<rounds { best = max(best, timeRound(seconds / Double(rounds), body)) }
        return best
    }

    /// Two bodies measured in alternating rounds, so drifts in the machine's speed hit both.
    func timeBest(rounds: Int = 5, _ first: () -> Int, _ second: () -> Int) -> (Double, Double) {
        var best = (0.0, 0.0)
        for _ in 0..<rounds {
            best.0 = max(best.0, timeRound(seconds / Double(2 * rounds), first))
            best.1 = max(best.1, timeRound(seconds / Double(2 * rounds), second))
        }
        return best
    }

    /// Items per second of `body` repeated for `budget` seconds.
    func timeRound(_ budget: Double, _ body: () -> Int) -> Double {
        let clock = ContinuousClock()
        var items = 0
        let start = clock.now
        var elapsed = 0.0
        repeat {
            items += body()
            let e = clock.now - start
            elapsed = Double(e.components.seconds) + Double(e.components.attoseconds) * 1e-18
        } while elapsed < budget
        return Double(items) / elapsed
    }

    /// A plain single-threaded `sgemm` of the shape's distance product (batch × d times d × k),
    /// in rows per second: what the update's distance work would cost at the library's full
    /// speed, measured in the same run.
    public func measureProduct(d: Int, k: Int, batch: Int) -> Result {
        let product = ProductCase(d: d, k: k, batch: batch)
        let rate = timeBest { product.run() }
        return Result(bench: "sgemm", mode: .hard, d: d, k: k, batch: batch, threads: 1,
                      perSecond: rate, unit: "rows_per_second", meanSupport: 0)
    }

    /// The same product in bfloat16 (``BFloat16Product``: the rows' rounding and the product,
    /// with the centers' packing that the updater does once a batch), timed in rounds alternating
    /// with sgemm's, as the screen runs it where ``products`` allows and the processor has it;
    /// nil otherwise.
    public func measureBFloat16Product(d: Int, k: Int, batch: Int) -> Result? {
        guard products == .automatic, DistanceKernel.bfloat16Available else { return nil }
        let product = ProductCase(d: d, k: k, batch: batch)
        let half = BFloat16Product(k: k, dimension: d, rowCapacity: batch)
        let (rate, sgemmRate) = timeBest({
            half.setCenters(product.b.baseAddress!)
            half.products(rows: product.a.baseAddress!, count: batch, into: product.out)
            return batch
        }, { product.run() })
        return Result(bench: "bf16", mode: .hard, d: d, k: k, batch: batch, threads: 1,
                      perSecond: rate, unit: "rows_per_second", meanSupport: 0, productPerSecond: sgemmRate)
    }

    /// One single-threaded sgemm of a `batch × d` by `d × k` shape, on buffers of its own.
    final class ProductCase {
        let d: Int, k: Int, batch: Int
        let a: UnsafeMutableBufferPointer<Float>, b: UnsafeMutableBufferPointer<Float>, out: UnsafeMutablePointer<Float>

        init(d: Int, k: Int, batch: Int) {
            (self.d, self.k, self.batch) = (d, k, batch)
            a = .allocate(capacity: batch * d)
            _ = a.initialize(from: syntheticRows(k: 8, dimension: d, count: batch, seed: 3))
            b = .allocate(capacity: k * d)
            _ = b.initialize(from: syntheticRows(k: 8, dimension: d, count: k, seed: 4))
            out = .allocate(capacity: batch * k)
            useOneBLASThread()
        }

        deinit { a.deallocate(); b.deallocate(); out.deallocate() }

        /// Rows multiplied.
        func run() -> Int {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(k), Int32(d),
                        1, a.baseAddress, Int32(d), b.baseAddress, Int32(d), 0, out, Int32(k))
            return batch
        }
    }

    /// The update step (responsibilities + center update) at the shape's natural temperature:
    /// the automatic starting temperature, where entmax is soft for about half the rows, after
    /// the daemon's own seeding (k-means++ on its default warm-up of `max(4k, batch)` rows).
    /// With `besideProduct`, a plain sgemm of the shape is timed in alternating rounds and
    /// reported with the result.
    public func measureUpdate(
        d: Int, k: Int, batch: Int, mode: ResponsibilityMode, threads: Int, besideProduct: Bool = false
    ) -> Result {
        let count = max(batch * 8, 4 * k)
        let data = (rows: syntheticRows(k: k, dimension: d, count: count, seed: 7), count: count)
        var state = data.rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: max(4 * k, batch), dimension: d, k: k, seed: 11, heat: 1)
        }
        // Keep the temperature where the warm-up put it: a decayed one would flatter entmax.
        state.schedule = .constant(state.schedule.initial)
        var configuration = UpdateConfiguration(mode: mode, deadCenterFraction: 0)
        configuration.distances = distances
        configuration.products = products
        let updater = MiniBatchUpdater(configuration: configuration)
        let loop = PartPool(width: threads)
        var offset = 0
        var supportSum = 0.0
        var batches = 0
        var exact = 0
        let product = besideProduct ? ProductCase(d: d, k: k, batch: batch) : nil
        let (rate, productRate) = data.rows.withUnsafeBufferPointer { rows in
            let step = {
                let slice = UnsafeBufferPointer(rebasing: rows[(offset * d)..<((offset + batch) * d)])
                let r = updater.update(&state, rows: slice, count: batch, loop: loop)
                supportSum += r.meanSupportSize
                exact += updater.lastExactDistances
                batches += 1
                offset = (offset + batch) % (data.count - batch + 1)
                return batch
            }
            if let product {
                let (a, b) = timeBest(step, { product.run() })
                return (a, Optional(b))
            }
            return (timeBest(step), nil)
        }
        return Result(bench: "update", mode: mode, d: d, k: k, batch: batch, threads: threads,
                      perSecond: rate, unit: "vectors_per_second", meanSupport: supportSum / Double(max(batches, 1)),
                      productPerSecond: productRate,
                      exactPerRow: exact > 0 ? Double(exact) / Double(batches * batch) : nil)
    }

    /// A new model's seeding on the daemon's default warm-up (`max(4k, min(32k, 4096))` rows), in
    /// warm-up rows per second: `seed-gemm` is the daemon's own ``ModelState/seeded(warmup:count:dimension:k:seed:schedule:heat:floorRatio:autoKind:autoHalfLife:epoch:metric:iterations:seedings:loop:)``
    /// (greedy k-means++ through the rows' Gram matrix), `seed-direct` the same steps by the
    /// direct form, one distance at a time. Both include the automatic starting temperature and
    /// the daemon's default extra seedings and Lloyd steps (10 steps, 5 seedings) as far as ``Seeding/refinementPlan(count:dimension:k:iterations:seedings:budget:)``
    /// lets them run at the shape; the matrix products share `threads` threads, as the daemon's
    /// `model.threads` do.
    public func measureSeeding(d: Int, k: Int, distances: UpdateConfiguration.DistanceMethod, threads: Int) -> Result {
        let count = max(4 * k, min(32 * k, 4096))
        let rows = syntheticRows(k: k, dimension: d, count: count, seed: 7)
        let plan = Seeding.refinementPlan(count: count, dimension: d, k: k, iterations: 10, seedings: 5)
        let loop = PartPool(width: threads)
        func seedOnce(_ x: UnsafeBufferPointer<Float>) {
            guard distances == .direct else {
                // The daemon's own call.
                _ = ModelState.seeded(warmup: x, count: count, dimension: d, k: k, seed: 11, iterations: 10, seedings: 5,
                                      loop: loop)
                return
            }
            var random = RandomSource(seed: 11)
            var centers: [Float] = []
            for _ in 0..<plan.seedings {
                centers = Seeding.kMeansPlusPlus(rows: x, count: count, dimension: d, k: k, random: &random,
                                                 distances: distances, loop: loop)
                if plan.iterations > 0 {
                    Seeding.refine(centers: &centers, rows: x, count: count, dimension: d, k: k,
                                   iterations: plan.iterations, distances: distances, loop: loop)
                }
            }
            _ = Seeding.automaticTemperature(rows: x, count: count, dimension: d, centers: centers, k: k, heat: 1,
                                             distances: distances, loop: loop)
        }
        // The matrix-product seeding's best of three, each from scratch (its buffers fresh, as in
        // a new daemon); the direct form once (seconds each).
        let clock = ContinuousClock()
        var elapsed = Double.infinity
        for _ in 0..<(distances == .direct ? 1 : 3) {
            let start = clock.now
            rows.withUnsafeBufferPointer { seedOnce($0) }
            let e = clock.now - start
            elapsed = min(elapsed, Double(e.components.seconds) + Double(e.components.attoseconds) * 1e-18)
        }
        return Result(bench: distances == .direct ? "seed-direct" : "seed-gemm", mode: .hard, d: d, k: k, batch: count,
                      threads: threads, perSecond: Double(count) / elapsed, unit: "warmup_rows_per_second", meanSupport: 0)
    }

    /// The update step as a straightforward per-vector loop: the comparison for the fast path.
    public func measureReference(d: Int, k: Int, batch: Int) -> Result {
        let data = (rows: syntheticRows(k: k, dimension: d, count: batch * 8, seed: 7), count: batch * 8)
        let state = data.rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: max(batch, k), dimension: d, k: k, seed: 11, heat: 1)
        }
        var centers = state.centers.map(Double.init)
        var counts = [Double](repeating: 0, count: k)
        let temperature = state.schedule.initial
        var offset = 0
        var supportSum = 0
        var rows = 0
        let rate = timeBest(rounds: 3) {
            var mass = [Double](repeating: 0, count: k)
            var delta = [Double](repeating: 0, count: k * d)
            for i in offset..<(offset + batch) {
                var dist = [Double](repeating: 0, count: k)
                for j in 0..<k {
                    var s = 0.0
                    for t in 0..<d { let e = Double(data.rows[i * d + t]) - centers[j * d + t]; s += e * e }
                    dist[j] = s
                }
                let m = dist.min()!
                let z = dist.map { -($0 - m) / (2 * temperature) }
                let sorted = z.sorted(by: >)
                var sum = 0.0, squares = 0.0, tau = 0.0
                for (r, v) in sorted.enumerated() {
                    sum += v
                    squares += v * v
                    let rho = Double(r + 1)
                    let mean = sum / rho
                    let t = mean - max(0, (1 - (squares - rho * mean * mean)) / rho).squareRoot()
                    if t <= v { tau = t }
                }
                var p = z.map { max(0, $0 - tau) * max(0, $0 - tau) }
                let total = p.reduce(0, +)
                p = p.map { $0 / total }
                for j in 0..<k where p[j] > 0 {
                    supportSum += 1
                    mass[j] += p[j]
                    for t in 0..<d { delta[j * d + t] += p[j] * (Double(data.rows[i * d + t]) - centers[j * d + t]) }
                }
            }
            for j in 0..<k where mass[j] > 0 {
                counts[j] = 0.9 * counts[j] + mass[j]
                for t in 0..<d { centers[j * d + t] += delta[j * d + t] / counts[j] }
            }
            rows += batch
            offset = (offset + batch) % (data.count - batch + 1)
            return batch
        }
        return Result(bench: "reference", mode: .entmax15, d: d, k: k, batch: batch, threads: 1,
                      perSecond: rate, unit: "vectors_per_second", meanSupport: Double(supportSum) / Double(max(rows, 1)))
    }

    /// Entmax-1.5 alone on rows of K distances with a realistic few-candidate support: the one-row
    /// kernel called for each row (bench `entmax-row`) and the rows form the updater runs
    /// (bench `entmax`), measured in alternating rounds on the same rows.
    public func measureEntmax(k: Int) -> (oneRow: Result, rows: Result) {
        let rows = 4096
        var random = RandomSource(seed: 3)
        // Distances like a point near one center: one small, a few close, the rest far.
        var distances = [Float](repeating: 0, count: rows * k)
        for i in 0..<rows {
            for j in 0..<k { distances[i * k + j] = Float(10 + 90 * random.nextUnit()) }
            for _ in 0..<3 { distances[i * k + Int(random.next() % UInt64(k))] = Float(random.nextUnit() * 2) }
        }
        let temperature = 1.0
        // Output room for every row, as the updater has: k slots per row.
        var indices = [Int32](repeating: 0, count: rows * k)
        var weights = [Float](repeating: 0, count: rows * k)
        var supports = [Int32](repeating: 0, count: rows)
        var scratch = [Double](repeating: 0, count: 2 * k)
        var supportTotal = (0, 0)
        var calls = (0, 0)
        let rates = distances.withUnsafeBufferPointer { dist in
            indices.withUnsafeMutableBufferPointer { idx in
                weights.withUnsafeMutableBufferPointer { w in
                    supports.withUnsafeMutableBufferPointer { sup in
                        scratch.withUnsafeMutableBufferPointer { s in
                            timeBest({
                                var total = 0
                                for i in 0..<rows {
                                    let row = dist.baseAddress! + i * k
                                    total += ResponsibilityKernel.entmax15(
                                        row, count: k, dMin: ResponsibilityKernel.minimum(row, count: k),
                                        temperature: temperature, indices: idx.baseAddress! + i * k,
                                        weights: w.baseAddress! + i * k, scratch: s.baseAddress!)
                                }
                                supportTotal.0 += total
                                calls.0 += rows
                                return rows
                            }, {
                                supportTotal.1 += ResponsibilityKernel.entmax15(
                                    rows: dist.baseAddress!, count: rows, k: k, temperature: temperature,
                                    indices: idx.baseAddress!, weights: w.baseAddress!, supports: sup.baseAddress!,
                                    scratch: s.baseAddress!)
                                calls.1 += rows
                                return rows
                            })
                        }
                    }
                }
            }
        }
        return (Result(bench: "entmax-row", mode: .entmax15, d: 0, k: k, batch: rows, threads: 1, perSecond: rates.0,
                       unit: "rows_per_second", meanSupport: Double(supportTotal.0) / Double(max(calls.0, 1))),
                Result(bench: "entmax", mode: .entmax15, d: 0, k: k, batch: rows, threads: 1, perSecond: rates.1,
                       unit: "rows_per_second", meanSupport: Double(supportTotal.1) / Double(max(calls.1, 1))))
    }
}

/// Rows drawn from the clients' synthetic source (the stream `voronoid produce` and `demo`
/// send), so benchmarks measure the data the daemon is shown with.
func syntheticRows(k: Int, dimension: Int, count: Int, seed: UInt64) -> [Float] {
    var rows: [Float] = []
    // Valid arguments: k, dimension and count are the benchmark's own positive constants.
    guard var source = try? SyntheticSource(k: k, dimension: dimension, spread: 1, separation: 4, seed: seed),
          (try? source.next(into: &rows, maxRows: count)) != nil else {
        preconditionFailure("synthetic source refused k = \(k), dimension = \(dimension), count = \(count)")
    }
    return rows
}
