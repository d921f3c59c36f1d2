import COpenBLAS
import CKernelShims
/// Applies mini-batches to a ``ModelState`` and keeps each batch's assignments for publishing.
///
/// For a batch `B` with sample weights `w_i`, responsibilities `r_ik` at the schedule's current
/// temperature and a forgetting factor `γ = 2^(−|B|/h)`:
///
/// ```
/// S_k  = Σ_i w_i r_ik                         N_k ← γ N_k + S_k
/// c_k ← c_k + Σ_i w_i r_ik (x_i − c_k) / N_k  (only where S_k > 0)
/// ```
///
/// which is the gradient step on the RBF objective with `η_k = 1/(2N_k)` (arXiv 2603.04625);
/// with one-hot responsibilities and `h = ∞` it is mini-batch K-Means (Sculley 2010).
///
/// The updater owns every scratch buffer; they grow when a larger batch, `k` or dimension
/// arrives and are reused otherwise, so steady-state batches allocate nothing. It is not
/// thread-safe: one owner calls it (it may fan the batch out through a ``ParallelLoop``).
public final class MiniBatchUpdater {
    /// How batches move the centers; may be changed between batches.
    public var configuration: UpdateConfiguration

    private var rowCapacity = 0
    private var shapeK = 0
    private var shapeD = 0
    private var partCapacity = 0
    private var distances = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var bestIndex = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var minDistance = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var supportCount = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var supportIndex = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var supportWeight = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Per part: k soft masses, k·d deltas, 2k scratch doubles.
    private var partMass = UnsafeMutablePointer<Double>.allocate(capacity: 1)
    private var partDelta = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var partScratch = UnsafeMutablePointer<Double>.allocate(capacity: 1)
    private var partStats = [PartStats]()
    /// Screening: the batch's rows minus the centers' mean, their squared norms; the centers
    /// minus their mean, their squared norms and norms; the mean.
    private var centeredRows = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var rowNorms = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var centeredCenters = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var centerNorms = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var centerRoots = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var centerMean = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// The bfloat16 screen's operands: the batch's rows (centered where `centersRows`), rows of
    /// `d` rounded up to even; the centered centers packed by `voronoid_bfloat16_pack_centers`
    /// (which centers them itself: the float32 centered copies are the float32 screen's alone).
    private var packedRows = UnsafeMutablePointer<UInt16>.allocate(capacity: 1)
    private var packedCenters = UnsafeMutablePointer<UInt16>.allocate(capacity: 1)
    private var packedCapacity = (rows: 0, k: 0, d: 0)
    /// Whether the last screened batch or prediction multiplied in bfloat16 (see
    /// ``UpdateConfiguration/ProductPrecision``).
    public private(set) var screensInBfloat16 = false
    /// Whether this batch's screen centers the rows (see ``prepareScreening(rows:centers:k:dimension:mode:sharesPasses:)``),
    /// and whether `centerNorms` hold a previous batch's norms to decide it by.
    private var centersRows = true
    private var centerNormsKnown = false
    /// For the coincidence check: ``separationDirections`` fixed unit directions (`d` each),
    /// each center's projections on them (`k` per direction), the centers' order by the first
    /// and a mark per center, sized for `separationShape`.
    private var separationDirection = UnsafeMutablePointer<Double>.allocate(capacity: 1)
    private var separationKey = UnsafeMutablePointer<Double>.allocate(capacity: 1)
    private var separationOrder = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    private var separationMark = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
    private var separationShape = (k: 0, d: 0)
    /// Per part, one row of upper bounds of screened distances (`k` floats).
    private var partBounded = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var screenCapacity = (rows: 0, k: 0, d: 0)
    /// Direct-form distances computed by the last batch's screening (0 when not screened).
    public private(set) var lastExactDistances = 0
    private var exactDistances = [Int]()
    private var lastRows = 0
    private var lastK = 0

    /// The last batch's statistics, reused between batches.
    private var batchStatistics = SufficientStatistics(uncheckedK: 0, dimension: 0, baseVersion: 0)

    /// Events of the last ``update(_:rows:count:weights:loop:)`` or ``apply(_:to:)``; reused
    /// between batches.
    public private(set) var events: [CenterEvent] = []

    struct PartStats {
        var inertia = 0.0
        var weight = 0.0
        var support = 0
        var oneHot = 0
    }

    /// `k · d` from which the passes over the sums and centers are shared among the parts:
    /// below it a pass costs less than handing it out (tens of microseconds).
    static let sharedPassSize = 1 << 17

    /// Creates an updater.
    public init(configuration: UpdateConfiguration = UpdateConfiguration()) {
        precondition(configuration.validationError == nil, "UpdateConfiguration: \(configuration.validationError ?? "")")
        self.configuration = configuration
        // Parallelism belongs to the caller's ParallelLoop, one part per core: OpenBLAS
        // threads of its own would oversubscribe them.
        useOneBLASThread()
    }

    deinit {
        let buffers: [UnsafeMutableRawPointer] = [
            UnsafeMutableRawPointer(distances), UnsafeMutableRawPointer(bestIndex), UnsafeMutableRawPointer(minDistance),
            UnsafeMutableRawPointer(supportCount), UnsafeMutableRawPointer(supportIndex), UnsafeMutableRawPointer(supportWeight),
            UnsafeMutableRawPointer(partMass), UnsafeMutableRawPointer(partDelta), UnsafeMutableRawPointer(partScratch),
            UnsafeMutableRawPointer(centeredRows), UnsafeMutableRawPointer(rowNorms),
            UnsafeMutableRawPointer(centeredCenters), UnsafeMutableRawPointer(centerNorms),
            UnsafeMutableRawPointer(centerRoots), UnsafeMutableRawPointer(centerMean), UnsafeMutableRawPointer(partBounded),
            UnsafeMutableRawPointer(packedRows), UnsafeMutableRawPointer(packedCenters),
        ]
        let separation: [UnsafeMutableRawPointer] = [
            UnsafeMutableRawPointer(separationDirection), UnsafeMutableRawPointer(separationKey),
            UnsafeMutableRawPointer(separationOrder), UnsafeMutableRawPointer(separationMark),
        ]
        for p in buffers + separation {
            p.deallocate()
        }
    }

    /// Adds entries `lo..<hi` of parts `1..<parts`' sums (`stride` apart from `deltas`) into
    /// `own`, in part order, zeroing each as it is added.
    private static func addParts(
        _ parts: Int, _ deltas: UnsafeMutablePointer<Float>, stride: Int, into own: UnsafeMutablePointer<Float>,
        from lo: Int, to hi: Int
    ) {
        for p in 1..<parts {
            let delta = deltas + p * stride
            var t = lo
            while t < hi { own[t] += delta[t]; delta[t] = 0; t += 1 }
        }
    }

    /// Makes room for `rows × k` in `parts` parts; allocates only when something grew.
    private func reserve(rows: Int, k: Int, dimension d: Int, parts: Int) {
        if rows > rowCapacity || k != shapeK {
            let cap = max(rows, rowCapacity)
            distances.deallocate(); distances = LargeBuffer.allocate(Float.self, capacity: cap * k)
            supportIndex.deallocate(); supportIndex = LargeBuffer.allocate(Int32.self, capacity: cap * k)
            supportWeight.deallocate(); supportWeight = LargeBuffer.allocate(Float.self, capacity: cap * k)
            bestIndex.deallocate(); bestIndex = .allocate(capacity: cap)
            minDistance.deallocate(); minDistance = .allocate(capacity: cap)
            supportCount.deallocate(); supportCount = .allocate(capacity: cap)
            rowCapacity = cap
        }
        if k != shapeK || d != shapeD || parts > partCapacity {
            let p = max(parts, partCapacity)
            partMass.deallocate(); partMass = .allocate(capacity: p * k)
            partDelta.deallocate(); partDelta = LargeBuffer.allocate(Float.self, capacity: p * k * d)
            // Zero from the start: adding the parts' sums up zeroes them again.
            partDelta.initialize(repeating: 0, count: p * k * d)
            partScratch.deallocate(); partScratch = .allocate(capacity: p * 2 * k)
            partBounded.deallocate(); partBounded = .allocate(capacity: p * k)
            partCapacity = p
            partStats = Array(repeating: PartStats(), count: p)
            exactDistances = Array(repeating: 0, count: p)
            events.reserveCapacity(2 * k)
        }
        shapeK = k
        shapeD = d
    }

    // MARK: - Distances

    /// Whether this batch's distances go through the screened matrix product.
    private func screens(k: Int, dimension d: Int) -> Bool {
        configuration.distances.usesMatrixProduct(k: k, dimension: d)
    }

    /// Once per batch before screening: the centers' mean, the centers minus it, their squared
    /// norms and norms. Centering keeps the expansion's cancellation, and so its error bound,
    /// on the scale of the data's spread rather than its distance from the origin.
    /// With `sharesPasses` the centering itself is left to ``centerCenters(_:from:to:k:dimension:)``,
    /// a range per part.
    private func prepareScreening(
        rows: Int, centers c: UnsafePointer<Float>, k: Int, dimension d: Int, mode: ResponsibilityMode, sharesPasses: Bool
    ) {
        // Softmax weighs every center, the ones beyond its window too, from the distances the
        // screen leaves expanded: those stay float32's.
        screensInBfloat16 = configuration.products == .automatic && DistanceKernel.bfloat16Available && mode != .softmax
        if screensInBfloat16 { reservePacked(rows: rows, k: k, dimension: d) }
        if rows > screenCapacity.rows || d != screenCapacity.d {
            centeredRows.deallocate(); centeredRows = LargeBuffer.allocate(Float.self, capacity: max(rows, screenCapacity.rows) * d)
            rowNorms.deallocate(); rowNorms = .allocate(capacity: max(rows, screenCapacity.rows))
            screenCapacity.rows = max(rows, screenCapacity.rows)
        }
        if k != screenCapacity.k || d != screenCapacity.d {
            centeredCenters.deallocate(); centeredCenters = LargeBuffer.allocate(Float.self, capacity: k * d)
            centerNorms.deallocate(); centerNorms = .allocate(capacity: k)
            centerRoots.deallocate(); centerRoots = .allocate(capacity: k)
            centerMean.deallocate(); centerMean = .allocate(capacity: d)
            screenCapacity.k = k
            screenCapacity.d = d
            centerNormsKnown = false
        }
        for t in 0..<d { centerMean[t] = 0 }
        for j in 0..<k { voronoid_add_scaled(centerMean, c + j * d, 1 / Float(k), d) }
        // Centering keeps the expansion's rounding on the scale of the data's spread, not of its
        // offset from the origin. Where the centers' mean is already near the origin (squared,
        // under 1/65 of the centers' mean squared norm last batch) it buys nothing, and copying
        // every row minus the mean cost a twelfth of the step at d 384, k 256: the rows then go
        // to the product as they are, with their own norms in the bound. Either way the bound is
        // the one of the norms used, so the centers compared directly and the result are the same.
        var meanNorm: Float = 0
        for t in 0..<d { meanNorm += centerMean[t] * centerMean[t] }
        var spread: Float = 0
        if centerNormsKnown { for j in 0..<k { spread += centerNorms[j] } }
        centersRows = !(centerNormsKnown && 65 * meanNorm * Float(k) <= spread)
        if !centersRows { for t in 0..<d { centerMean[t] = 0 } }
        centerNormsKnown = true
        if !sharesPasses { centerCenters(c, from: 0, to: k, k: k, dimension: d) }
    }

    /// Makes room for the bfloat16 screen's operands; allocates only when something grew. The
    /// packed centers start zero, so a panel's lanes past `k` add nothing.
    private func reservePacked(rows: Int, k: Int, dimension d: Int) {
        if rows > packedCapacity.rows || d != packedCapacity.d {
            let cap = max(rows, packedCapacity.rows)
            packedRows.deallocate()
            packedRows = LargeBuffer.allocate(UInt16.self, capacity: cap * BFloat16Product.rowStride(dimension: d))
            packedCapacity.rows = cap
        }
        if k != packedCapacity.k || d != packedCapacity.d {
            let count = BFloat16Product.packedCount(k: k, dimension: d)
            packedCenters.deallocate(); packedCenters = LargeBuffer.allocate(UInt16.self, capacity: count)
            packedCenters.initialize(repeating: 0, count: count)
            packedCapacity.k = k
        }
        packedCapacity.d = d
    }

    /// The first center of part `q` of `parts` in the shared passes over the centers: a multiple
    /// of 16, as the bfloat16 packing takes centers sixteen at a time.
    static func centerSplit(_ k: Int, part q: Int, of parts: Int) -> Int {
        q >= parts ? k : Swift.min(k, (k * q / parts + 15) & ~15)
    }

    /// Centers `lo..<hi` minus the centers' mean, their squared norms and norms (after
    /// ``prepareScreening(rows:centers:k:dimension:mode:sharesPasses:)``), and for the bfloat16 screen
    /// packed; `lo` a multiple of 16, and `hi` too unless it is `k`.
    private func centerCenters(_ c: UnsafePointer<Float>, from lo: Int, to hi: Int, k: Int, dimension d: Int) {
        guard hi > lo else { return }
        guard screensInBfloat16 else {
            voronoid_center_rows(c + lo * d, hi - lo, d, centerMean, centeredCenters + lo * d, centerNorms + lo)
            for j in lo..<hi { centerRoots[j] = centerNorms[j].squareRoot() }
            return
        }
        voronoid_bfloat16_pack_centers(c, centerMean, lo, hi, k, d, packedCenters, centerNorms)
        // The bfloat16 bound's absolute part (see `screenedDistances`) rides on the norms it
        // multiplies: γ·(‖x‖ + ‖c‖ + 2⁻⁴⁸)² ≥ γ·2⁻⁹⁶ covers every underflow the product flushes.
        for j in lo..<hi { centerRoots[j] = centerNorms[j].squareRoot() + 0x1p-48 }
    }

    /// Squared distances of rows `lo..<hi` through the matrix product, exact (direct form)
    /// wherever they can matter within `window` of each row's nearest center.
    private func screenedDistances(
        rows x: UnsafePointer<Float>, range lo: Int, _ hi: Int, centers c: UnsafePointer<Float>,
        k: Int, dimension d: Int, window: Float, entmaxTemperature: Double?, scratch: UnsafeMutablePointer<Double>,
        part p: Int
    ) {
        let n = hi - lo
        let g = distances + lo * k
        let gamma: Float
        if screensInBfloat16 {
            let stride = BFloat16Product.rowStride(dimension: d)
            voronoid_bfloat16_rows(x + lo * d, n, d, centersRows ? UnsafePointer(centerMean) : nil,
                                   packedRows + lo * stride, rowNorms + lo)
            voronoid_bfloat16_products_into(packedRows + lo * stride, n, packedCenters, k, d, g)
            // Rounding x and c to bfloat16 (unit roundoff u = 2⁻⁸) moves x·c by at most
            // (2u + u²)·‖x‖‖c‖, so the distance by at most (2⁻⁸ + 2⁻¹⁷)·(‖x‖ + ‖c‖)²; the float32
            // sum of the rounded products errs as the float32 product's does, larger by a factor
            // (1 + u)² at most: 5 in place of 4 below covers that and, with part of the 2⁻¹²,
            // the 2⁻¹⁷. The rest of the 2⁻¹² covers the inputs flushed from below 2⁻¹²⁶
            // (2⁻¹²⁵·√d·(‖x‖ + ‖c‖), under 2⁻¹³·(‖x‖ + ‖c‖)² + d·2⁻²³⁵), and the centers' norms'
            // lift of 2⁻⁴⁸ that remainder and the products and sums flushed to zero (at most
            // (4d + 8)·2⁻¹²⁶).
            gamma = 0x1p-8 + 0x1p-12 + 5 * Float(d + 6) * 0x1p-24
        } else {
            let xc: UnsafePointer<Float>
            if centersRows {
                voronoid_center_rows(x + lo * d, n, d, centerMean, centeredRows + lo * d, rowNorms + lo)
                xc = UnsafePointer(centeredRows + lo * d)
            } else {
                voronoid_row_norms(x + lo * d, n, d, rowNorms + lo)
                xc = x + lo * d
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(k), Int32(d),
                         1, xc, Int32(d), centeredCenters, Int32(d), 0, g, Int32(k))
            // Inner products, norms and their sums in float32 err by at most about (d + 6)·2⁻²⁴
            // times (‖x‖ + ‖c‖)² (centering's own rounding included); four times that also covers
            // the direct form's rounding of the distances it is compared with.
            gamma = 4 * Float(d + 6) * 0x1p-24
        }
        guard let temperature = entmaxTemperature, temperature > 0 else {
            exactDistances[p] = voronoid_screen_distances(
                x + lo * d, c, n, k, d, rowNorms + lo, centerNorms, centerRoots, gamma, window, g)
            return
        }
        // Entmax: the support ends at the threshold τ, which rises with every logit −d/2T. Taken
        // over every distance's upper bound, it is a lower bound of the true threshold, so only
        // the centers that may lie below that bound's distance need the direct form — on a hot
        // row, the support and its margin rather than everything within 2T.
        let bounded = partBounded + p * k
        var exact = 0
        for i in 0..<n {
            let row = g + i * k
            let norm = rowNorms[lo + i]
            let upper = voronoid_screen_expand(norm, centerNorms, centerRoots, k, gamma, row, bounded)
            let tau = ResponsibilityKernel.entmax15Threshold(
                bounded, count: k, dMin: upper, temperature: temperature, scratch: scratch, lowerBound: true)
            // Outward by a few units in the last place of the limit and of the window, for the
            // threshold's own rounding.
            let limit = Float(Double(upper) - 2 * temperature * tau * (1 + 0x1p-20)).nextUp.nextUp
            exact += voronoid_screen_exact(x + (lo + i) * d, c, k, d, norm, centerRoots, gamma, Swift.min(limit, upper + window), row)
        }
        exactDistances[p] = exact
    }

    // MARK: - Responsibilities

    /// Distances, argmins and responsibilities for rows `lo..<hi`, into the shared row buffers.
    private func assign(
        rows x: UnsafePointer<Float>, range lo: Int, _ hi: Int, centers: UnsafePointer<Float>,
        k: Int, dimension d: Int, temperature: Double, mode: ResponsibilityMode, scratch: UnsafeMutablePointer<Double>,
        screened: Bool, part: Int
    ) {
        guard hi > lo else { return }
        if screened {
            // Entmax's support lies within 2T of the nearest; softmax weights beyond 30T are
            // below e⁻³⁰ of the nearest's; hard assignment needs the nearest alone.
            let window: Float = switch mode {
            case .entmax15: Float(2 * temperature)
            case .softmax: Float(30 * temperature)
            case .hard: 0
            }
            screenedDistances(rows: x, range: lo, hi, centers: centers, k: k, dimension: d, window: window,
                              entmaxTemperature: mode == .entmax15 ? temperature : nil, scratch: scratch, part: part)
        } else {
            DistanceKernel.squaredDistances(
                rows: x + lo * d, count: hi - lo, centers: centers, k: k, dimension: d, into: distances + lo * k)
        }
        if mode == .entmax15 {
            // Entmax finds each row's nearest center among its candidates and puts it first.
            ResponsibilityKernel.entmax15(
                rows: distances + lo * k, count: hi - lo, k: k, temperature: temperature,
                indices: supportIndex + lo * k, weights: supportWeight + lo * k, supports: supportCount + lo,
                scratch: scratch)
            for i in lo..<hi {
                let best = supportIndex[i * k]
                bestIndex[i] = best
                minDistance[i] = distances[i * k + Int(best)]
            }
            return
        }
        for i in lo..<hi {
            let row = distances + i * k
            let idx = supportIndex + i * k
            let w = supportWeight + i * k
            let s: Int
            let (best, dMin) = ResponsibilityKernel.argmin(row, count: k)
            bestIndex[i] = Int32(truncatingIfNeeded: best)
            minDistance[i] = dMin
            switch mode {
            case .entmax15:
                preconditionFailure("entmax15 rows are assigned above")
            case .softmax:
                s = ResponsibilityKernel.softmax(
                    row, count: k, best: best, dMin: dMin, temperature: temperature, indices: idx, weights: w)
            case .hard:
                idx[0] = Int32(truncatingIfNeeded: best)
                w[0] = 1
                s = 1
            }
            supportCount[i] = Int32(truncatingIfNeeded: s)
        }
    }

    /// Computes responsibilities of `count` rows against `state` without changing it.
    ///
    /// The results are read through ``bestCenter(_:)``, ``squaredDistance(_:)`` and
    /// ``support(_:)`` until the next call.
    /// - Parameter temperature: defaults to the model's current temperature.
    public func predict(
        _ state: ModelState, rows: UnsafeBufferPointer<Float>, count: Int,
        mode: ResponsibilityMode? = nil, temperature: Double? = nil
    ) {
        let k = state.k
        let d = state.dimension
        precondition(rows.count >= count * d, "predict: \(rows.count) floats cannot hold \(count) rows of \(d)")
        reserve(rows: count, k: k, dimension: d, parts: 1)
        lastRows = count
        lastK = k
        guard count > 0, let base = rows.baseAddress else { return }
        let screened = screens(k: k, dimension: d)
        let mode = mode ?? configuration.mode
        state.centers.withUnsafeBufferPointer { c in
            if screened { prepareScreening(rows: count, centers: c.baseAddress!, k: k, dimension: d, mode: mode, sharesPasses: false) }
            assign(rows: base, range: 0, count, centers: c.baseAddress!, k: k, dimension: d,
                   temperature: temperature ?? state.temperature, mode: mode, scratch: partScratch,
                   screened: screened, part: 0)
        }
        lastExactDistances = screened ? exactDistances[0] : 0
    }

    // MARK: - Reading the last batch

    /// Rows in the last batch or prediction.
    public var rowCount: Int { lastRows }

    /// The nearest center of row `i` of the last batch (before the step).
    public func bestCenter(_ i: Int) -> Int {
        precondition(i >= 0 && i < lastRows, "row \(i) out of range")
        return Int(bestIndex[i])
    }

    /// The squared distance from row `i` to its nearest center (before the step).
    public func squaredDistance(_ i: Int) -> Float {
        precondition(i >= 0 && i < lastRows, "row \(i) out of range")
        return minDistance[i]
    }

    /// Row `i`'s sparse responsibilities: center indices and weights, heaviest first for entmax.
    /// The buffers are valid until the next batch.
    public func support(_ i: Int) -> (indices: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) {
        precondition(i >= 0 && i < lastRows, "row \(i) out of range")
        let s = Int(supportCount[i])
        return (UnsafeBufferPointer(start: supportIndex + i * lastK, count: s),
                UnsafeBufferPointer(start: supportWeight + i * lastK, count: s))
    }

    // MARK: - Update

    /// Applies one batch: responsibilities, center step, dead-center and coincidence checks.
    ///
    /// It is ``computeStatistics(_:rows:count:weights:loop:into:)`` followed by applying those
    /// statistics, with the batch's rows at hand for the cluster spreads and for re-seeding.
    ///
    /// - Parameters:
    ///   - state: the model; must have the rows' dimension.
    ///   - rows: `count` vectors, row-major; all finite (the caller validates input).
    ///   - weights: optional sample weights, finite and ≥ 0; `nil` means 1 each.
    ///   - loop: where to run the per-row work.
    /// - Returns: the batch's report; ``events`` lists what happened to centers.
    /// - Complexity: O(|B|·k·d) for distances, O(Σ_i s_i·d) for the step.
    @discardableResult
    public func update(
        _ state: inout ModelState, rows: UnsafeBufferPointer<Float>, count: Int,
        weights: UnsafeBufferPointer<Float>? = nil, loop: some ParallelLoop = SerialLoop()
    ) -> BatchReport {
        events.removeAll(keepingCapacity: true)
        guard count > 0, let x = rows.baseAddress else {
            precondition(rows.count >= count * state.dimension, "update: \(rows.count) floats cannot hold \(count) rows of \(state.dimension)")
            lastRows = 0
            var report = BatchReport()
            report.temperature = state.temperature
            report.modelVersion = state.batches
            return report
        }
        computeStatistics(state, rows: rows, count: count, weights: weights, loop: loop, into: &batchStatistics)
        return applyStatistics(batchStatistics, to: &state, batch: (x, weights?.baseAddress), loop: loop)
    }

    /// Computes a batch's responsibilities against `state` and sums them into `statistics`,
    /// leaving the model unchanged: a worker's half of ``update(_:rows:count:weights:loop:)``.
    ///
    /// `statistics` is reset to the model's shape and version first, unless `adding`: then the
    /// batch's sums are added to those it holds (which must be relative to the model's version),
    /// as a worker gathers several batches into one epoch without a pass over k·d per batch to
    /// merge them. The rows' assignments can be read afterwards through ``bestCenter(_:)``,
    /// ``squaredDistance(_:)`` and ``support(_:)``, as after an update.
    /// - Parameters:
    ///   - rows: `count` vectors, row-major; all finite.
    ///   - weights: optional sample weights, finite and ≥ 0; `nil` means 1 each.
    ///   - adding: add to `statistics` instead of replacing them.
    /// - Complexity: O(|B|·k·d); allocates only when `statistics` has another shape.
    public func computeStatistics(
        _ state: ModelState, rows: UnsafeBufferPointer<Float>, count: Int,
        weights: UnsafeBufferPointer<Float>? = nil, loop: some ParallelLoop = SerialLoop(),
        into statistics: inout SufficientStatistics, adding: Bool = false
    ) {
        let k = state.k
        let d = state.dimension
        precondition(rows.count >= count * d, "update: \(rows.count) floats cannot hold \(count) rows of \(d)")
        precondition(weights == nil || weights!.count >= count, "update: fewer weights than rows")
        let parts = max(1, min(loop.width, count / 64))
        // Where k·d is large, the passes over it (zeroing the sums, centering the centers,
        // adding the parts' sums) are shared among the parts too: on one thread they were an
        // eighth of a batch's time at d 768, k 1024, two threads.
        let sharesPasses = parts > 1 && k * d >= Self.sharedPassSize
        var zeroDelta = false
        if adding && !statistics.isEmpty {
            precondition(statistics.k == k && statistics.dimension == d, "computeStatistics: adding to statistics of another shape")
            precondition(statistics.baseVersion == state.batches,
                         "computeStatistics: adding to statistics relative to version \(statistics.baseVersion), the model is at \(state.batches)")
        } else if statistics.k != k || statistics.dimension != d {
            statistics = SufficientStatistics(k: k, dimension: d, baseVersion: state.batches)
        } else {
            statistics.reset(baseVersion: state.batches, zeroingDelta: !sharesPasses || count == 0)
            zeroDelta = sharesPasses && count > 0
        }
        guard count > 0, let x = rows.baseAddress else {
            lastRows = 0
            return
        }
        reserve(rows: count, k: k, dimension: d, parts: parts)
        lastRows = count
        lastK = k
        let mode = configuration.mode
        let temperature = state.temperature
        let w = weights?.baseAddress

        let screened = screens(k: k, dimension: d)
        // Part 0 sums straight into the statistics (zero after a reset, or the sums to add to),
        // the others into their own buffers, added below in part order: the same additions, in
        // the same order, as summing every part apart and then adding them up.
        statistics.mass.withUnsafeMutableBufferPointer { ownMass in
            statistics.delta.withUnsafeMutableBufferPointer { ownDelta in
                state.centers.withUnsafeBufferPointer { cBuf in
                    let c = cBuf.baseAddress!
                    if screened {
                        prepareScreening(rows: count, centers: c, k: k, dimension: d, mode: mode, sharesPasses: sharesPasses)
                    }
                    let (firstMass, firstDelta) = (ownMass.baseAddress!, ownDelta.baseAddress!)
                    if sharesPasses && (screened || zeroDelta) {
                        loop.run(parts) { q in
                            let lo = Self.centerSplit(k, part: q, of: parts), hi = Self.centerSplit(k, part: q + 1, of: parts)
                            if zeroDelta { (firstDelta + lo * d).update(repeating: 0, count: (hi - lo) * d) }
                            if screened { centerCenters(c, from: lo, to: hi, k: k, dimension: d) }
                        }
                    }
                    loop.run(parts) { p in
                        let lo = count * p / parts
                        let hi = count * (p + 1) / parts
                        let scratch = partScratch + p * 2 * k
                        assign(rows: x, range: lo, hi, centers: c, k: k, dimension: d,
                               temperature: temperature, mode: mode, scratch: scratch, screened: screened, part: p)
                        if p == 0 {
                            accumulate(rows: x, range: lo, hi, weights: w, centers: c, k: k, dimension: d, part: p,
                                       mass: firstMass, delta: firstDelta)
                        } else {
                            // The parts' sums are zero here: adding them up below zeroes them.
                            let mass = partMass + p * k, delta = partDelta + p * k * d
                            mass.initialize(repeating: 0, count: k)
                            accumulate(rows: x, range: lo, hi, weights: w, centers: c, k: k, dimension: d, part: p,
                                       mass: mass, delta: delta)
                        }
                    }
                }
                for p in 1..<parts {
                    let mass = partMass + p * k
                    var j = 0
                    while j < k { ownMass[j] += mass[j]; j += 1 }
                }
                // Every part's sums in part order, zeroed as they are added; shared passes add
                // a range of centers per part (the same additions).
                let own = ownDelta.baseAddress!
                if sharesPasses {
                    loop.run(parts) { q in
                        Self.addParts(parts, partDelta, stride: k * d, into: own, from: k * q / parts * d, to: k * (q + 1) / parts * d)
                    }
                } else {
                    Self.addParts(parts, partDelta, stride: k * d, into: own, from: 0, to: k * d)
                }
            }
        }

        lastExactDistances = 0
        if screened { for p in 0..<parts { lastExactDistances += exactDistances[p] } }
        // Reduce the parts, in part order, into the statistics.
        var stats = partStats[0]
        for p in 1..<parts {
            let s = partStats[p]
            stats.inertia += s.inertia
            stats.weight += s.weight
            stats.support += s.support
            stats.oneHot += s.oneHot
        }
        statistics.vectors += count
        statistics.weight += stats.weight
        statistics.inertia += stats.inertia
        statistics.supportTotal += stats.support
        statistics.oneHotRows += stats.oneHot
        // The nearest-center sums, for applying without the rows at hand.
        var squares = 0.0
        statistics.nearestError.withUnsafeMutableBufferPointer { sums in
            statistics.nearestWeight.withUnsafeMutableBufferPointer { mass in
                var i = 0
                while i < count {
                    let wi = Double(w?[i] ?? 1)
                    let b = Int(bestIndex[i])
                    let e = Double(minDistance[i])
                    sums[b] += wi * e
                    mass[b] += wi
                    squares += wi * e * e
                    i += 1
                }
            }
        }
        statistics.squaredErrors += squares
    }

    /// Applies statistics merged from any number of batches or workers as one step: the
    /// coordinator's half of ``update(_:rows:count:weights:loop:)``.
    ///
    /// Forgetting (`γ = 2^(−weight/h)`), the received masses and the schedule's clock advance
    /// once, by the merged weight; the version advances by one. Without the rows, the cluster
    /// spreads are updated from the statistics' nearest-center sums, and dead centers are not
    /// re-seeded and a drift alarm does not re-seed (both draw rows of the batch); the rest of
    /// the drift response and the separation of coinciding centers apply as after an update.
    /// - Precondition: `statistics` has the model's shape and is relative to its current
    ///   version (``SufficientStatistics/rebase(to:from:onto:)`` first otherwise).
    /// - Returns: the step's report; ``events`` lists what happened to centers.
    /// - Complexity: O(k·d).
    @discardableResult
    public func apply(_ statistics: SufficientStatistics, to state: inout ModelState) -> BatchReport {
        events.removeAll(keepingCapacity: true)
        guard !statistics.isEmpty else {
            var report = BatchReport()
            report.temperature = state.temperature
            report.modelVersion = state.batches
            return report
        }
        // Separation draws its random direction into the step's scratch: make sure it exists.
        reserve(rows: 0, k: state.k, dimension: state.dimension, parts: 1)
        return applyStatistics(statistics, to: &state, batch: nil, loop: SerialLoop())
    }

    /// The step, and what follows it, from `st`; `batch` is present when `st` are this
    /// updater's own last batch, whose rows and assignment buffers are still at hand.
    private func applyStatistics(
        _ st: SufficientStatistics, to state: inout ModelState,
        batch: (rows: UnsafePointer<Float>, weights: UnsafePointer<Float>?)?, loop: some ParallelLoop
    ) -> BatchReport {
        let k = state.k
        let d = state.dimension
        precondition(st.k == k && st.dimension == d, "apply: statistics are \(st.k)×\(st.dimension), the model \(k)×\(d)")
        precondition(st.baseVersion == state.batches, "apply: statistics are relative to version \(st.baseVersion), the model is at \(state.batches)")
        let count = st.vectors
        var report = BatchReport()
        report.temperature = state.temperature
        let temperature = report.temperature
        let stats = PartStats(inertia: st.inertia, weight: st.weight, support: st.supportTotal, oneHot: st.oneHotRows)
        report.vectors = count
        report.weight = stats.weight
        report.inertia = stats.inertia
        report.meanSupportSize = Double(stats.support) / Double(count)
        report.oneHotRows = stats.oneHot

        // The step. Forgetting and the schedule's clock go by the batch's total weight, so a
        // vector of weight w acts exactly as w copies of it.
        let halfLife = countHalfLife(state)
        let gamma = halfLife.isFinite ? _exp2(-stats.weight / halfLife) : 1
        var moved = 0
        // Received mass for the dead-center rule: its own, longer memory in vectors per center.
        let receivedGamma = _exp2(-stats.weight / (configuration.deadCenterWindow * Double(k)))
        st.mass.withUnsafeBufferPointer { mass in
            state.received.withUnsafeMutableBufferPointer { r in
                for j in 0..<k { r[j] = receivedGamma * r[j] + mass[j] }
            }
            st.delta.withUnsafeBufferPointer { delta in
                state.counts.withUnsafeMutableBufferPointer { n in
                    state.centers.withUnsafeMutableBufferPointer { cBuf in
                        let c = cBuf.baseAddress!
                        for j in 0..<k {
                            let mass = mass[j]
                            n[j] = gamma * n[j] + mass
                            guard mass > 0 else { continue }
                            let rate: Float
                            switch configuration.learningRate {
                            case .perCenter: rate = Float(1 / n[j])
                            case .fixed(let eta): rate = Float(eta / mass)
                            }
                            voronoid_add_scaled(c + j * d, delta.baseAddress! + j * d, rate, d)
                            moved += 1
                        }
                    }
                }
            }
        }
        report.centersMoved = moved
        state.vectorsSeen &+= UInt64(count)
        state.scheduleClock += stats.weight
        state.batches &+= 1
        if configuration.supportLimit > 0, report.meanSupportSize > configuration.supportLimit { state.cool(by: 2) }

        observeClusters(&state, statistics: st, gamma: gamma)
        report.drift = respondToDrift(&state, stats: stats, count: count)
        if let batch {
            if report.drift == .drift { reseedOnDrift(&state, rows: batch.rows, count: count) }
            report.reseeds = reseedDeadCenters(&state, rows: batch.rows, count: count, weights: batch.weights)
        }
        if configuration.separationInterval > 0, state.batches % UInt64(configuration.separationInterval) == 0 {
            let scale = stats.weight > 0 ? stats.inertia / stats.weight : 0
            report.separations = separateCoincidingCenters(&state, scale: scale, temperature: temperature, loop: loop)
        }
        if state.metric == .cosine { Self.projectOntoSphere(&state) }
        report.modelVersion = state.batches
        return report
    }

    /// The soft counts' half-life for the next batch (``Pacing``), from the counts before it.
    private func countHalfLife(_ state: ModelState) -> Double {
        let pacing = configuration.pacing
        guard pacing.kind == .model else { return configuration.countHalfLife }
        let k = state.k
        let total = state.counts.withUnsafeBufferPointer { n in
            var sum = 0.0
            var j = 0
            while j < k { sum += n[j]; j += 1 }
            return sum
        }
        return pacing.countHalfLife(totalCount: total, k: k, fixed: configuration.countHalfLife)
    }

    /// Spherical k-means: after the step, re-seeding and separation, every center goes back to
    /// unit length (a center the step left at zero length stays where it is until data move it).
    public static func projectOntoSphere(_ state: inout ModelState) {
        let k = state.k, d = state.dimension
        state.centers.withUnsafeMutableBufferPointer { c in
            for j in 0..<k { Metric.normalize(rows: c.baseAddress! + j * d, count: 1, dimension: d) }
        }
    }

    /// Adds rows `lo..<hi` (part `p`'s) into the soft masses and deltas `Σ w r (x − c)` at
    /// `mass` (k) and `delta` (k·d).
    private func accumulate(
        rows x: UnsafePointer<Float>, range lo: Int, _ hi: Int, weights: UnsafePointer<Float>?,
        centers c: UnsafePointer<Float>, k: Int, dimension d: Int, part p: Int,
        mass: UnsafeMutablePointer<Double>, delta: UnsafeMutablePointer<Float>
    ) {
        var stats = PartStats()
        for i in lo..<hi {
            let wi = weights.map { Double($0[i]) } ?? 1
            let s = Int(supportCount[i])
            stats.inertia += wi * Double(minDistance[i])
            stats.weight += wi
            stats.support += s
            if s == 1 { stats.oneHot += 1 }
            let xi = x + i * d
            let idx = supportIndex + i * k
            let r = supportWeight + i * k
            for e in 0..<s {
                let j = Int(idx[e])
                let wr = wi * Double(r[e])
                mass[j] += wr
                voronoid_add_scaled_difference(delta + j * d, xi, c + j * d, Float(wr), d)
            }
        }
        partStats[p] = stats
    }

    // MARK: - Cluster statistics and drift

    /// Each cluster's spread: its forgotten nearest-center sums plus this batch's, from the
    /// statistics (which the updater's own batch computed already, and which a merge carries).
    private func observeClusters(_ state: inout ModelState, statistics st: SufficientStatistics, gamma: Double) {
        let k = state.k
        state.spreadSums.withUnsafeMutableBufferPointer { sums in
            state.spreadMass.withUnsafeMutableBufferPointer { mass in
                st.nearestError.withUnsafeBufferPointer { e in
                    st.nearestWeight.withUnsafeBufferPointer { w in
                        var j = 0
                        while j < k { sums[j] = gamma * sums[j] + e[j]; mass[j] = gamma * mass[j] + w[j]; j += 1 }
                    }
                }
            }
        }
        batchSquares = st.squaredErrors
    }

    /// The drift test observes a batch only if its mean support size is at most this.
    public static let driftSupportLimit = 1.5

    /// `Σ w·e²` of the last batch's nearest squared distances `e` (from ``observeClusters``).
    private var batchSquares = 0.0

    /// Feeds the drift test and applies its documented response (``CenterEvent/Kind/drift``).
    private func respondToDrift(_ state: inout ModelState, stats: PartStats, count: Int) -> DriftDetector.Level {
        guard let parameters = configuration.drift, stats.weight > 0 else { return .none }
        // Only nearly hard assignments make the error a statement about the data: while many
        // vectors are shared the error moves with the temperature (softmax, which is never
        // sparse, is therefore never tested).
        guard Double(stats.support) <= Self.driftSupportLimit * Double(count) else { return .none }
        let before = state.drift.level
        // The per-vector relative variance of the error, Var(e)/mean(e)², from this batch alone:
        // by the delta method the log of a mean of W such values varies as that over W.
        let mean = stats.inertia / stats.weight
        let relativeVariance = mean > 0 ? Swift.max(0, batchSquares / stats.weight - mean * mean) / (mean * mean) : 0
        let level = state.drift.observe(error: mean, weight: stats.weight, relativeVariance: relativeVariance, parameters)
        let k = state.k
        switch level {
        case .none:
            break
        case .warning:
            guard before == .none else { break }
            events.append(CenterEvent(kind: .driftWarning, center: -1, other: -1, count: 0,
                                      value: state.drift.statistic, threshold: state.drift.threshold(parameters)))
            // Shorter memory: the centers follow a real change twice as fast, and a false
            // warning costs only a little extra noise.
            state.counts.withUnsafeMutableBufferPointer { n in
                var j = 0
                while j < k { n[j] *= 0.5; j += 1 }
            }
        case .drift:
            events.append(CenterEvent(kind: .drift, center: -1, other: -1, count: 0,
                                      value: state.drift.alarmStatistic, threshold: state.drift.alarmThreshold))
            let window = configuration.deadCenterWindow
            state.counts.withUnsafeMutableBufferPointer { n in
                var j = 0
                while j < k { n[j] = min(n[j], window); j += 1 }
            }
            state.received.withUnsafeMutableBufferPointer { r in
                var j = 0
                while j < k { r[j] = min(r[j], 1); j += 1 }
            }
            let from = state.temperature
            state.reheat(by: configuration.reheatFactor)
            let to = state.temperature
            if to > from {
                events.append(CenterEvent(kind: .reheated, center: -1, other: -1, count: 0, value: from, threshold: to))
            }
        }
        return level
    }

    /// After a drift alarm: k-means++ on the batch (all of it from after the change, as the
    /// alarm comes after it), kept only if it explains the batch better than the current centers,
    /// so a change that moved a few clusters does not throw away the others. Allocates (the
    /// seeding's buffers): it runs once per alarm, never in steady state.
    private func reseedOnDrift(_ state: inout ModelState, rows x: UnsafePointer<Float>, count: Int) {
        let k = state.k, d = state.dimension
        guard count >= 2 * k else { return }
        func error(_ centers: UnsafePointer<Float>) -> Double {
            DistanceKernel.squaredDistances(rows: x, count: count, centers: centers, k: k, dimension: d, into: distances)
            var total = 0.0
            for i in 0..<count {
                var best = Float.infinity
                for j in 0..<k { best = min(best, distances[i * k + j]) }
                total += Double(best)
            }
            return total / Double(count)
        }
        let current = state.centers.withUnsafeBufferPointer { error($0.baseAddress!) }
        // The best of three seedings (scikit-learn's n_init = 3): one k-means++ draw on a few
        // hundred vectors misses a cluster often enough to matter, and nothing repairs that later.
        var candidate = [Float]()
        var proposed = Double.infinity
        for _ in 0..<3 {
            let c = Seeding.kMeansPlusPlus(
                rows: UnsafeBufferPointer(start: x, count: count * d), count: count, dimension: d, k: k, random: &state.random)
            let e = c.withUnsafeBufferPointer { error($0.baseAddress!) }
            if e < proposed { proposed = e; candidate = c }
        }
        guard proposed < current else { return }
        state.centers = candidate
        for j in 0..<k {
            events.append(CenterEvent(kind: .reseededOnDrift, center: j, other: -1, count: state.counts[j],
                                      value: current, threshold: proposed))
            state.counts[j] = 0
            state.received[j] = 1
            state.spreadSums[j] = 0
            state.spreadMass[j] = 0
            state.seededAt[j] = state.vectorsSeen
        }
        if state.metric == .cosine { Self.projectOntoSphere(&state) }
    }

    // MARK: - Dead and coinciding centers

    /// Under the received rule a center is dead below this much recent mass: it started at 1
    /// (its seed vector), so it has won less than about half a vector in one window.
    static let deadReceivedMass = 0.5

    /// Moves each dead center onto a batch row drawn with probability proportional to its
    /// squared distance to the nearest center (the k-means++ rule), so it lands where the
    /// model explains the data worst.
    private func reseedDeadCenters(
        _ state: inout ModelState, rows x: UnsafePointer<Float>, count: Int, weights: UnsafePointer<Float>?
    ) -> Int {
        let fraction = configuration.deadCenterFraction
        guard fraction > 0, state.k > 1 else { return 0 }
        let k = state.k
        let d = state.dimension
        let patience = configuration.deadCenterPatience
        let byShare = configuration.deadCenterRule == .share
        // Index loops over buffers: this runs after every batch, and must not allocate even
        // where generic iteration is left unspecialized (debug builds).
        let (threshold, anyDead): (Double, Bool) = state.counts.withUnsafeBufferPointer { n in
            var largest = 0.0
            var j = 0
            while j < k { largest = Swift.max(largest, n[j]); j += 1 }
            let threshold = fraction * largest
            var dead = false
            j = 0
            while j < k {
                if byShare {
                    if n[j] < threshold && state.vectorsSeen &- state.seededAt[j] >= patience { dead = true }
                } else if state.received[j] < Self.deadReceivedMass {
                    dead = true
                }
                j += 1
            }
            return (threshold, dead && largest > 0)
        }
        guard anyDead else { return 0 }
        var reseeded = 0
        var j = 0
        while j < k {
            defer { j += 1 }
            if byShare {
                guard state.counts[j] < threshold, state.vectorsSeen &- state.seededAt[j] >= patience else { continue }
            } else {
                guard state.received[j] < Self.deadReceivedMass else { continue }
            }
            // Draw a row ∝ its weight times its nearest distance; rows already used get 0.
            var total = 0.0
            var i = 0
            while i < count { total += Double(weights?[i] ?? 1) * Double(minDistance[i]); i += 1 }
            var chosen = 0
            if total > 0 {
                var target = state.random.nextUnit() * total
                chosen = count - 1
                i = 0
                while i < count {
                    target -= Double(weights?[i] ?? 1) * Double(minDistance[i])
                    if target < 0 { chosen = i; break }
                    i += 1
                }
            } else {
                chosen = Int(state.random.next() % UInt64(count))
            }
            minDistance[chosen] = 0
            events.append(CenterEvent(kind: .reseeded, center: j, other: chosen, count: state.counts[j]))
            let xi = x + chosen * d
            state.centers.withUnsafeMutableBufferPointer { c in
                var t = 0
                while t < d { c[j * d + t] = xi[t]; t += 1 }
            }
            state.counts[j] = 0
            state.received[j] = 1
            state.seededAt[j] = state.vectorsSeen
            state.reseeds &+= 1
            reseeded += 1
        }
        return reseeded
    }

    /// Directions the coincidence check projects the centers on (a multiple of four: its kernel
    /// projects four at once).
    static let separationDirections = 4

    /// Marks every center that may lie within `threshold` (a squared distance) of another, so
    /// the pairwise check runs on those alone. Two centers within distance r have projections
    /// on any unit direction within r of each other. After sorting the projections on the first
    /// direction, only neighbours within r there (widened for rounding) are candidates, and a
    /// candidate pair is marked only when its projections on the other directions are within r
    /// too: in high dimension one direction leaves a third of all pairs as candidates (at k
    /// 1024, d 768 the pairwise check over them cost 5 % of the update), each further direction
    /// keeps about that fraction of the rest. O(k·d + k log k + candidates).
    private func markPossiblyCoinciding(_ state: ModelState, threshold: Double, loop: some ParallelLoop) {
        let k = state.k, d = state.dimension, m = Self.separationDirections
        if separationShape.k != k || separationShape.d != d {
            separationDirection.deallocate(); separationDirection = .allocate(capacity: m * d)
            separationKey.deallocate(); separationKey = .allocate(capacity: m * k)
            separationOrder.deallocate(); separationOrder = .allocate(capacity: k)
            separationMark.deallocate(); separationMark = .allocate(capacity: k)
            // Fixed pseudo-random directions (not the model's generator, whose draws stay the
            // model's): a direction orthogonal to the data's span would mark everything.
            var random = RandomSource(seed: 0x5E9A_7A7E)
            for u in 0..<m {
                let p = separationDirection + u * d
                var norm = 0.0
                for t in 0..<d {
                    let g = random.nextGaussian()
                    p[t] = g
                    norm += g * g
                }
                let inverse = norm > 0 ? 1 / norm.squareRoot() : 0
                for t in 0..<d { p[t] *= inverse }
            }
            separationShape = (k, d)
        }
        let key = separationKey, order = separationOrder, mark = separationMark
        // The projections are k·d·m work: shared among the parts where k·d is large.
        let parts = k * d >= Self.sharedPassSize ? max(1, min(loop.width, k / 64)) : 1
        let directions = separationDirection
        state.centers.withUnsafeBufferPointer { c in
            let c = c.baseAddress!
            loop.run(parts) { q in
                let lo = k * q / parts, hi = k * (q + 1) / parts
                voronoid_project_rows(c + lo * d, hi - lo, d, directions, m, key + lo, k)
            }
        }
        var largest = 0.0
        for e in 0..<(m * k) { largest = Swift.max(largest, abs(key[e])) }
        for j in 0..<k {
            order[j] = j
            mark[j] = false
        }
        Self.heapSort(order, count: k, by: key)
        // The projections' own rounding is far below this margin.
        let window = threshold.squareRoot() * (1 + 1e-9) + 1e-12 * (1 + largest)
        var i = 0
        while i < k {
            let a = order[i]
            var j = i + 1
            while j < k && key[order[j]] - key[a] <= window {
                let b = order[j]
                var near = true
                var u = 1
                while near && u < m {
                    near = abs(key[u * k + a] - key[u * k + b]) <= window
                    u += 1
                }
                if near {
                    mark[a] = true
                    mark[b] = true
                }
                j += 1
            }
            i += 1
        }
    }

    /// Sorts `order[0..<n]` by `key[order[·]]`, ascending, in place and without allocating.
    private static func heapSort(_ order: UnsafeMutablePointer<Int>, count n: Int, by key: UnsafePointer<Double>) {
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while true {
                var child = 2 * root + 1
                if child >= end { return }
                if child + 1 < end && key[order[child + 1]] > key[order[child]] { child += 1 }
                if key[order[child]] <= key[order[root]] { return }
                let v = order[root]; order[root] = order[child]; order[child] = v
                root = child
            }
        }
        var start = n / 2 - 1
        while start >= 0 { siftDown(start, n); start -= 1 }
        var end = n - 1
        while end > 0 {
            let v = order[0]; order[0] = order[end]; order[end] = v
            siftDown(0, end)
            end -= 1
        }
    }

    /// Nudges apart centers that coincide: above a critical temperature centers merge, and by
    /// symmetry merged centers would stay identical forever, as in deterministic annealing.
    private func separateCoincidingCenters(
        _ state: inout ModelState, scale: Double, temperature: Double, loop: some ParallelLoop
    ) -> Int {
        let k = state.k
        let d = state.dimension
        guard k > 1 else { return 0 }
        let threshold = configuration.separationTolerance * scale
        var separated = 0
        markPossiblyCoinciding(state, threshold: threshold, loop: loop)
        let mark = separationMark
        state.centers.withUnsafeMutableBufferPointer { cBuf in
            let c = cBuf.baseAddress!
            for a in 0..<(k - 1) where mark[a] {
                for b in (a + 1)..<k where mark[b] {
                    let dist = Double(DistanceKernel.squaredDistance(c + a * d, c + b * d, dimension: d))
                    guard dist <= threshold else { continue }
                    var magnitude: Float = 0
                    for t in 0..<d { magnitude = max(magnitude, abs(c[a * d + t])) }
                    // Large enough to survive float32 rounding, small against the data scale.
                    let step = max(1e-3 * max(scale, temperature, 0).squareRoot(), 1e-5 * Double(1 + magnitude))
                    // A random unit direction; the step's delta buffer is free again by now.
                    let dir = partDelta
                    var norm = 0.0
                    for t in 0..<d {
                        let g = state.random.nextGaussian()
                        dir[t] = Float(g)
                        norm += g * g
                    }
                    let scaleStep = Float(norm > 0 ? step / norm.squareRoot() : 0)
                    for t in 0..<d {
                        c[a * d + t] += scaleStep * dir[t]
                        c[b * d + t] -= scaleStep * dir[t]
                    }
                    events.append(CenterEvent(kind: .separated, center: b, other: a, count: state.counts[b]))
                    state.separations &+= 1
                    separated += 1
                }
            }
        }
        return separated
    }
}
