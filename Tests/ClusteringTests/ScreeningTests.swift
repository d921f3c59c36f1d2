import Clustering
import Testing

/// The screened distances (matrix product + rounding bound + direct form where it matters)
/// against the direct form alone: the same supports, weights and model to float32 rounding.
@Suite struct ScreeningTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var d: Int
        var k: Int
        var offset: Float
        var mode: ResponsibilityMode
        var ties = false
        var products = UpdateConfiguration.ProductPrecision.automatic
        /// Parts run on threads (batches of 192 rows then, 64 rows or more a part); from k·d 2¹⁷
        /// they share the passes over the centers too.
        var threads = 1
        /// Unit rows and centers, the cosine metric: what sentence embeddings look like.
        var cosine = false
        var testDescription: String {
            "d \(d) k \(k) offset \(offset) \(mode.rawValue)\(ties ? " ties" : "") \(products.rawValue)"
                + (threads > 1 ? " threads \(threads)" : "") + (cosine ? " cosine" : "")
        }

    }

    /// Every case with each precision of the product (bfloat16 where the processor has it, and
    /// float32), and the shapes only the bfloat16 kernel cuts differently: an odd dimension (a
    /// padded pair), k past a panel of 32 by a few, several blocks of panels (d 1537), and parts
    /// on threads that pack the centers sixteen at a time.
    static let cases: [Case] = shapes.flatMap { c in
        UpdateConfiguration.ProductPrecision.allCases.map { var c = c; c.products = $0; return c }
    }

    static let shapes: [Case] = [
        Case(d: 131, k: 37, offset: 1e4, mode: .entmax15),
        Case(d: 129, k: 17, offset: 0, mode: .hard, ties: true),
        Case(d: 1537, k: 200, offset: -3e3, mode: .entmax15),
        Case(d: 385, k: 350, offset: 0, mode: .entmax15, threads: 3),
        Case(d: 384, k: 343, offset: 1e4, mode: .hard, ties: true, threads: 3),
        Case(d: 384, k: 96, offset: 0, mode: .entmax15, cosine: true),
        Case(d: 768, k: 200, offset: 0, mode: .hard, threads: 2, cosine: true),
        Case(d: 130, k: 1, offset: 0, mode: .entmax15),
        Case(d: 130, k: 7, offset: 0, mode: .entmax15),
        Case(d: 200, k: 64, offset: 0, mode: .entmax15),
        Case(d: 200, k: 64, offset: 1e4, mode: .entmax15),
        Case(d: 384, k: 33, offset: -1e4, mode: .hard),
        Case(d: 200, k: 64, offset: 0, mode: .hard),
        Case(d: 160, k: 40, offset: 3e3, mode: .softmax),
        Case(d: 128, k: 32, offset: 0, mode: .entmax15, ties: true),
        Case(d: 128, k: 32, offset: 0, mode: .hard, ties: true),
        // Many centers around the origin: their mean is near it, and from the second batch the
        // screen takes the rows as they are instead of centering them.
        Case(d: 200, k: 160, offset: 0, mode: .entmax15),
        Case(d: 200, k: 160, offset: 0, mode: .hard),
        Case(d: 128, k: 140, offset: 0, mode: .hard, ties: true),
    ]

    /// Rows around `k` means, offset from the origin; with `ties`, pairs of identical centers
    /// and rows exactly between two of them.
    static func data(_ c: Case, seed: UInt64) -> (rows: [Float], count: Int, state: ModelState) {
        var random = RandomSource(seed: seed)
        let count = 512
        var centers = (0..<(c.k * c.d)).map { _ in Float(random.nextGaussian() * 3) + c.offset }
        if c.ties && c.k >= 2 {
            for t in 0..<c.d { centers[c.d + t] = centers[t] }  // centers 0 and 1 coincide
        }
        var rows = [Float](repeating: 0, count: count * c.d)
        for i in 0..<count {
            let j = Int(random.next() % UInt64(c.k))
            for t in 0..<c.d { rows[i * c.d + t] = centers[j * c.d + t] + Float(random.nextGaussian()) }
            if c.ties && c.k >= 3 && i % 16 == 0 {
                // Exactly between centers 0 (= 1) and 2: a near-tie the bound must keep exact.
                for t in 0..<c.d { rows[i * c.d + t] = (centers[t] + centers[2 * c.d + t]) / 2 }
            }
        }
        if c.cosine {
            // Rows a little off their cluster's direction, then everything onto the unit sphere;
            // the temperature on the scale of 2 − 2·cos.
            for i in 0..<(rows.count / c.d) { normalize(&rows, i, c.d) }
            for j in 0..<c.k { normalize(&centers, j, c.d) }
        }
        let schedule = TemperatureSchedule(kind: .exponential, initial: c.cosine ? 0.05 : 40, floor: c.cosine ? 5e-4 : 0.5,
                                           halfLife: 600)
        let state = ModelState(centers: centers, k: c.k, dimension: c.d, schedule: schedule, random: RandomSource(seed: seed ^ 1),
                               metric: c.cosine ? .cosine : .euclidean)
        return (rows, count, state)
    }

    static func normalize(_ v: inout [Float], _ i: Int, _ d: Int) {
        var s: Float = 0
        for t in 0..<d { s += v[i * d + t] * v[i * d + t] }
        let r = 1 / s.squareRoot()
        for t in 0..<d { v[i * d + t] *= r }
    }

    @Test(arguments: cases)
    func screenedMatchesDirect(_ c: Case) {
        let (rows, count, start) = Self.data(c, seed: UInt64(c.d * 31 + c.k))
        var states: [UpdateConfiguration.DistanceMethod: ModelState] = [:]
        var supports: [UpdateConfiguration.DistanceMethod: [[Int32]]] = [:]
        for method in [UpdateConfiguration.DistanceMethod.direct, .screened] {
            var config = UpdateConfiguration(mode: c.mode, separationInterval: 0)
            config.distances = method
            config.products = c.products
            config.deadCenterFraction = 0
            let updater = MiniBatchUpdater(configuration: config)
            let loop: any ParallelLoop = c.threads > 1 ? ThreadedLoop(width: c.threads) : SerialLoop()
            var state = start
            var seen: [[Int32]] = []
            rows.withUnsafeBufferPointer { all in
                for b in 0..<8 {
                    let n = c.threads > 1 ? 192 : 128
                    let lo = (b * n) % (count - n)
                    updater.update(&state, rows: UnsafeBufferPointer(rebasing: all[(lo * c.d)..<((lo + n) * c.d)]), count: n,
                                   loop: loop)
                    for i in 0..<n {
                        let s = updater.support(i)
                        seen.append(Array(s.indices))
                    }
                    if method == .screened {
                        #expect(updater.lastExactDistances >= n, "every row has at least its nearest computed exactly")
                        #expect(updater.lastExactDistances <= n * c.k)
                        #expect(updater.screensInBfloat16
                                == (c.products == .automatic && DistanceKernel.bfloat16Available && c.mode != .softmax))
                    }
                }
            }
            states[method] = state
            supports[method] = seen
        }
        let direct = states[.direct]!, screened = states[.screened]!
        #expect(supports[.direct] == supports[.screened], "supports differ")
        var worst: Float = 0
        for t in 0..<direct.centers.count {
            let a = direct.centers[t], b = screened.centers[t]
            worst = max(worst, abs(a - b) / max(1, abs(a)))
        }
        #expect(worst <= 1e-5, "centers differ by \(worst) relative")
        // The direct form sums in another order inside the screen than in the all-pairs kernel, so the
        // last bits differ; softmax spreads that over every weight.
        for j in 0..<direct.k { #expect(abs(direct.counts[j] - screened.counts[j]) <= 1e-5 * max(1, direct.counts[j])) }
    }

    /// Far from the origin the plain expansion cancels to nothing; centering keeps the screen
    /// useful: most centers are screened out rather than recomputed.
    /// Softmax weighs centers from the expanded distances, so its screen stays float32 also when
    /// a prediction asks for softmax of an updater configured otherwise.
    @Test func aSoftmaxPredictionScreensInFloat32() {
        let c = Case(d: 256, k: 40, offset: 0, mode: .entmax15)
        let (rows, _, state) = Self.data(c, seed: 9)
        var config = UpdateConfiguration(mode: .entmax15)
        config.distances = .screened
        let updater = MiniBatchUpdater(configuration: config)
        rows.withUnsafeBufferPointer { all in
            let some = UnsafeBufferPointer(rebasing: all[0..<(64 * c.d)])
            updater.predict(state, rows: some, count: 64)
            #expect(updater.screensInBfloat16 == DistanceKernel.bfloat16Available)
            updater.predict(state, rows: some, count: 64, mode: .softmax)
            #expect(!updater.screensInBfloat16)
        }
    }

    @Test(arguments: UpdateConfiguration.ProductPrecision.allCases)
    func centeringKeepsTheScreenSharpFarFromTheOrigin(_ products: UpdateConfiguration.ProductPrecision) {
        let c = Case(d: 256, k: 64, offset: 1e4, mode: .hard)
        let (rows, _, state) = Self.data(c, seed: 5)
        var config = UpdateConfiguration(mode: .hard)
        config.distances = .screened
        config.products = products
        let updater = MiniBatchUpdater(configuration: config)
        rows.withUnsafeBufferPointer { all in
            updater.predict(state, rows: UnsafeBufferPointer(rebasing: all[0..<(256 * c.d)]), count: 256)
        }
        #expect(updater.lastExactDistances < 256 * c.k / 4, "\(updater.lastExactDistances) of \(256 * c.k) recomputed")
    }
}

/// The cosine metric: spherical k-means against a float64 reference, and a model that knows its metric.
@Suite struct CosineTests {
    @Test func oneHardBatchMatchesAFloat64Reference() {
        var random = RandomSource(seed: 3)
        let k = 3, d = 5, n = 64
        func unit(_ v: [Double]) -> [Double] { let s = v.reduce(0) { $0 + $1 * $1 }.squareRoot(); return v.map { $0 / s } }
        let centers = (0..<k).flatMap { _ in unit((0..<d).map { _ in random.nextGaussian() }) }
        let rows = (0..<n).flatMap { _ in unit((0..<d).map { _ in random.nextGaussian() }) }
        var state = ModelState(centers: centers.map(Float.init), k: k, dimension: d, schedule: .constant(1e-9),
                               random: RandomSource(seed: 1), metric: .cosine)
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(mode: .hard, countHalfLife: .infinity,
                                                                          deadCenterFraction: 0, separationInterval: 0))
        let floats = rows.map(Float.init)
        floats.withUnsafeBufferPointer { updater.update(&state, rows: $0, count: n) }
        // Reference: nearest by cosine, the mean step, back onto the sphere.
        var sums = [Double](repeating: 0, count: k * d), counts = [Double](repeating: 0, count: k)
        func dot(_ x: [Double], _ j: Int) -> Double {
            var s = 0.0
            for t in 0..<d { s += x[t] * centers[j * d + t] }
            return s
        }
        for i in 0..<n {
            let x = Array(rows[(i * d)..<((i + 1) * d)])
            var best = 0
            for j in 1..<k where dot(x, j) > dot(x, best) { best = j }
            #expect(Int(updater.bestCenter(i)) == best)
            let cosine = dot(x, best)
            #expect(abs(Double(updater.squaredDistance(i)) - (2 - 2 * cosine)) <= 1e-5, "the published distance is 2 − 2·cos")
            for t in 0..<d { sums[best * d + t] += x[t] - centers[best * d + t] }
            counts[best] += 1
        }
        for j in 0..<k {
            var c = (0..<d).map { centers[j * d + $0] + (counts[j] > 0 ? sums[j * d + $0] / counts[j] : 0) }
            c = unit(c)
            for t in 0..<d { #expect(abs(Double(state.centers[j * d + t]) - c[t]) <= 1e-5, "center \(j)") }
            let norm = (0..<d).map { Double(state.centers[j * d + $0]) }.reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) <= 1e-5, "centers stay on the unit sphere")
        }
    }

    @Test func theMetricSurvivesACheckpointAndIsChecked() throws {
        let state = ModelState(centers: [1, 0, 0, 1], k: 2, dimension: 2, schedule: .constant(1), random: RandomSource(seed: 2),
                               metric: .cosine)
        let back = try ModelState(encoded: state.encoded())
        #expect(back.metric == .cosine && back == state)
        var bytes = state.encoded()
        bytes[29] = 7
        #expect(throws: ModelStateError.self) { try ModelState(encoded: bytes) }
    }
}

/// The bfloat16 product alone, against float64 sums of the same rounded values: the kernel's
/// packing, tiles and edges (rows past a tile of 12; centers past a panel of 32 and past its
/// first half; dimensions odd and past a 32-float step by more than 16; several blocks of panels).
@Suite(.enabled(if: DistanceKernel.bfloat16Available, "the processor lacks AVX-512 BF16"))
struct BFloat16ProductTests {
    /// Round to nearest, ties to even, to bfloat16's 8 significant bits; below float32's
    /// normal range to zero, as the instructions do.
    static func rounded(_ v: Float) -> Double {
        if v.magnitude < Float.leastNormalMagnitude { return 0 }
        let bits = v.bitPattern
        let lower = bits & 0xFFFF, kept = bits & 0xFFFF_0000
        let up = lower > 0x8000 || (lower == 0x8000 && (bits >> 16) & 1 == 1)
        return Double(Float(bitPattern: up ? kept &+ 0x10000 : kept))
    }

    @Test(arguments: [(n: 1, k: 1, d: 1), (n: 13, k: 33, d: 3), (n: 25, k: 64, d: 131), (n: 12, k: 47, d: 768),
                      (n: 30, k: 200, d: 1537), (n: 13, k: 49, d: 49), (n: 25, k: 50, d: 147), (n: 7, k: 20, d: 19)])
    func matchesSumsOfTheRoundedValues(_ shape: (n: Int, k: Int, d: Int)) {
        let (n, k, d) = shape
        var random = RandomSource(seed: UInt64(n * 1000 + k * 10 + d))
        // Magnitudes from 2⁻¹³⁰ to 2⁴⁰: the rounding of every exponent, and inputs flushed to zero.
        func value() -> Float {
            let scale = Float(sign: .plus, exponent: Int(random.next() % 170) - 130, significand: 1)
            return Float(random.nextGaussian()) * (random.next() % 4 == 0 ? scale : 1)
        }
        let x = (0..<(n * d)).map { _ in value() }
        let c = (0..<(k * d)).map { _ in value() }
        var out = [Float](repeating: .nan, count: n * k)
        let product = BFloat16Product(k: k, dimension: d, rowCapacity: n)
        c.withUnsafeBufferPointer { product.setCenters($0.baseAddress!) }
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { product.products(rows: xp.baseAddress!, count: n, into: $0.baseAddress!) }
        }
        var worst = 0.0
        for i in 0..<n {
            for j in 0..<k {
                var exact = 0.0, magnitude = 0.0
                for t in 0..<d {
                    let p = Self.rounded(x[i * d + t]) * Self.rounded(c[j * d + t])
                    exact += p
                    magnitude += abs(p)
                }
                // float32 sums of d products: at most d·2⁻²⁴ of their magnitudes, plus what
                // falls below float32's normal range.
                let allowed = Double(d + 2) * 0x1p-24 * magnitude + Double(2 * d) * 0x1p-126
                worst = max(worst, abs(Double(out[i * k + j]) - exact) / allowed)
            }
        }
        #expect(worst <= 1, "an inner product is \(worst)× its float32 rounding allowance from the sum of the rounded values")
    }
}
