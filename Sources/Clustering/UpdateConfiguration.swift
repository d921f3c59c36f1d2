/// How a batch moves the centers. Changing it never invalidates a model.
public struct UpdateConfiguration: Sendable, Equatable {
    /// The step size of each center.
    public enum LearningRate: Sendable, Equatable {
        /// `η_k = 1 / (2 N_k)`: the streaming mean of MATH.md, with forgotten soft counts.
        case perCenter
        /// Each supported center moves the fraction `η ∈ (0, 1]` of the way to its batch's
        /// responsibility-weighted mean, whatever its history.
        case fixed(Double)
    }

    /// How responsibilities are computed.
    public var mode: ResponsibilityMode
    /// Half-life of the soft counts, in vectors: `γ = 2^(−|B| / h)` per batch, used while
    /// ``pacing`` is fixed. `.infinity` keeps counts forever (scikit-learn's rule), which under
    /// annealing freezes centers early.
    public var countHalfLife: Double
    /// How the count half-life is chosen each batch. The core's default is ``Pacing/fixed``
    /// (``countHalfLife`` as given); the daemon's is ``Pacing/Kind/model``.
    public var pacing = Pacing.fixed
    /// The step size.
    public var learningRate: LearningRate
    /// How a dead center is recognised; see ``DeadCenterRule``.
    public var deadCenterRule: DeadCenterRule = .received
    /// ``DeadCenterRule/received``: the half-life of each center's received mass, in vectors per
    /// center (the window is `deadCenterWindow · k` vectors).
    public var deadCenterWindow: Double = 100
    /// ``DeadCenterRule/share``: a center whose soft count is below this fraction of the largest
    /// is dead. For either rule, 0 turns re-seeding off.
    public var deadCenterFraction: Double
    /// ``DeadCenterRule/share``: vectors a center is given after it was (re-)seeded before it can
    /// be declared dead.
    public var deadCenterPatience: UInt64

    /// How the updater decides that a center is dead and must be re-seeded.
    public enum DeadCenterRule: String, Sendable, Equatable, CaseIterable {
        /// By what it receives: each center's responsibility mass, forgotten with a half-life of
        /// ``deadCenterWindow`` vectors per center, starts at 1 (the vector it was seeded on) and
        /// the center is dead once it falls below ½ — it has won less than about half a vector
        /// over a window in which an average center wins ``deadCenterWindow``. A cluster
        /// holding a fraction p of the stream keeps about `p · k · window / ln 2` there, so
        /// small but real clusters (p ≥ ~1/(k·window)) live.
        case received
        /// By its share: soft count below ``deadCenterFraction`` of the largest (the rule of
        /// scikit-learn's kind, which also re-seeds legitimately small clusters).
        case share
    }
    /// Coinciding centers are looked for every this many batches (0 disables).
    public var separationInterval: Int
    /// Two centers coincide when their squared distance is at most this fraction of the
    /// batch's mean squared distance to the nearest center.
    public var separationTolerance: Double
    /// The drift test on the per-vector quantisation error; nil turns it off.
    public var drift: DriftParameters? = DriftParameters()
    /// On drift the temperature is raised by this factor (capped at the schedule's start);
    /// 1, the default, leaves it alone: measured on a jump stream (docs/SCHEDULES.md), a reheat
    /// ×4 left the model at 1.68× the true error 20 000 vectors later, no reheat at ≤ 1.2×.
    public var reheatFactor: Double = 1
    /// While a batch's vectors share more than this many centers on average, the temperature
    /// halves after the batch's step, on top of its schedule; 0 turns the rule off.
    ///
    /// The automatic start comes from the typical gap between a vector's two nearest centers, but
    /// in many dimensions soft steps at that temperature pull neighbouring centers together: at
    /// d 768, k 1024 (docs/SCHEDULES.md) the mean support grew to 41 and the schedule kept it
    /// for the whole stream, a quarter slower and 3.9× the error of hard assignments. At the
    /// daemon's default, 3, the low-dimensional sets, which start near 1.5, never trigger it.
    /// Computing such a batch again at the lower temperature before its step was tried: the
    /// error ended 16 % higher, and a coordinator, which has only statistics, could not do it.
    public var supportLimit: Double = 0
    /// How distances are computed: both ways give the same supports and weights, to float32
    /// rounding; see ``DistanceMethod``.
    public var distances: DistanceMethod = .automatic

    /// The precision of the screen's matrix product; see ``ProductPrecision``.
    public var products: ProductPrecision = .automatic

    /// The precision of the screen's matrix product, which only screens: either way the direct
    /// form decides every distance that can matter, so the supports, weights and model are the
    /// same to float32 rounding.
    public enum ProductPrecision: String, Sendable, Equatable, CaseIterable {
        /// bfloat16 where the processor has AVX-512 BF16 (``DistanceKernel/bfloat16Available``,
        /// whatever ``Kernels/level`` the other kernels are held at), float32 elsewhere and in
        /// softmax mode (whose weights beyond its window come from the expanded distances the
        /// screen leaves, whose rounding bfloat16 would coarsen). bfloat16 rounds 2⁸ times as
        /// coarsely as float32, so the screen's bound widens and a few more centers per row get
        /// the direct form; its product runs at twice the rate. Measured (`voronoid bench core --only embedding --products
        /// automatic|float32`, one thread, AMD EPYC Zen 4): the update at d 768, k 1024 1.7×
        /// (entmax-1.5) and 1.9× (hard) the float32 screen's rate.
        case automatic
        /// float32 (OpenBLAS's `sgemm`) on every processor.
        case float32
    }

    /// How the updater computes squared distances.
    public enum DistanceMethod: String, Sendable, Equatable, CaseIterable {
        /// Screened where it pays (dimension and k large enough), direct otherwise.
        case automatic
        /// `Σ (x − c)²` for every row and center.
        case direct
        /// A matrix product (OpenBLAS) screens, with a bound on its rounding error, which
        /// centers can matter; those get the direct form.
        case screened
    }

    /// The defaults: entmax-1.5, counts with a 10 000-vector half-life, per-center rate,
    /// dead by the received rule (a window of 100 vectors per center), separation checked every
    /// 8 batches.
    public init(
        mode: ResponsibilityMode = .entmax15,
        countHalfLife: Double = 10_000,
        learningRate: LearningRate = .perCenter,
        deadCenterFraction: Double = 0.01,
        deadCenterPatience: UInt64 = 10_000,
        separationInterval: Int = 8,
        separationTolerance: Double = 1e-10
    ) {
        self.mode = mode
        self.countHalfLife = countHalfLife
        self.learningRate = learningRate
        self.deadCenterFraction = deadCenterFraction
        self.deadCenterPatience = deadCenterPatience
        self.separationInterval = separationInterval
        self.separationTolerance = separationTolerance
    }

    /// Why the configuration cannot be used, or `nil`.
    public var validationError: String? {
        if !(countHalfLife > 0) { return "count half-life must be > 0 (or infinite), got \(countHalfLife)" }
        if let why = pacing.validationError { return why }
        if case .fixed(let eta) = learningRate, !(eta > 0 && eta <= 1) {
            return "fixed learning rate must be in (0, 1], got \(eta)"
        }
        if !(deadCenterWindow > 0 && deadCenterWindow.isFinite) {
            return "dead-center window must be finite and > 0, got \(deadCenterWindow)"
        }
        if !(deadCenterFraction >= 0 && deadCenterFraction < 1) {
            return "dead-center fraction must be in [0, 1), got \(deadCenterFraction)"
        }
        if let why = drift?.validationError { return why }
        if !(reheatFactor >= 1 && reheatFactor.isFinite) { return "reheat factor must be finite and ≥ 1, got \(reheatFactor)" }
        if !(supportLimit == 0 || (supportLimit >= 1 && supportLimit.isFinite)) {
            return "support limit must be 0 or finite and ≥ 1, got \(supportLimit)"
        }
        if separationInterval < 0 { return "separation interval must be ≥ 0, got \(separationInterval)" }
        if !(separationTolerance >= 0 && separationTolerance.isFinite) {
            return "separation tolerance must be finite and ≥ 0, got \(separationTolerance)"
        }
        return nil
    }
}

/// Runs `parts` independent pieces of work and returns when all are done.
///
/// The core starts no threads itself: the caller injects parallelism. An implementation must call
/// `body` once for each index in `0..<parts`, may do so concurrently, and must not return before
/// every call has returned.
public protocol ParallelLoop {
    /// How many pieces are worth making (≥ 1).
    var width: Int { get }
    /// Runs `body(0) … body(parts − 1)`.
    func run(_ parts: Int, _ body: (Int) -> Void)
}

/// Runs everything on the calling thread.
public struct SerialLoop: ParallelLoop {
    public init() {}
    public var width: Int { 1 }
    public func run(_ parts: Int, _ body: (Int) -> Void) {
        for p in 0..<parts { body(p) }
    }
}

/// What one batch did: the numbers operators graph.
public struct BatchReport: Sendable, Equatable {
    /// Vectors in the batch.
    public var vectors: Int = 0
    /// Their total sample weight.
    public var weight: Double = 0
    /// `Σ w_i · min_k ‖x_i − c_k‖²` against the centers before the step.
    public var inertia: Double = 0
    /// Mean number of centers with non-zero responsibility per vector.
    public var meanSupportSize: Double = 0
    /// Vectors whose responsibilities were one-hot.
    public var oneHotRows: Int = 0
    /// The temperature used.
    public var temperature: Double = 0
    /// Centers that received mass and moved.
    public var centersMoved: Int = 0
    /// Dead centers re-seeded after this batch.
    public var reseeds: Int = 0
    /// Pairs of coinciding centers separated after this batch.
    public var separations: Int = 0
    /// The model version after the batch (its batch count).
    public var modelVersion: UInt64 = 0
    /// What the drift test concluded after this batch.
    public var drift = DriftDetector.Level.none

    public init() {}
}

/// Something that happened to a center, to be published.
public struct CenterEvent: Sendable, Equatable {
    /// The kind of event.
    public enum Kind: String, Sendable {
        /// A dead center was moved onto a vector of the batch.
        case reseeded
        /// A center coincided with another and both were nudged apart.
        case separated
        /// The drift test's statistic passed half its threshold (``CenterEvent/value``,
        /// ``CenterEvent/threshold``); the soft counts were halved. `center` is -1.
        case driftWarning
        /// The drift test's statistic passed its threshold; memory was shortened, the received
        /// masses cut to one window (centers that now win nothing are re-seeded within one) and
        /// the temperature raised (a ``reheated`` event follows when it changed). `center` is -1.
        case drift
        /// The temperature was raised from ``CenterEvent/value`` to ``CenterEvent/threshold``. `center` is -1.
        case reheated
        /// On drift, center `center` was re-seeded by k-means++ on the batch, because the new
        /// seeding explains the batch better (``CenterEvent/threshold``, its error per vector)
        /// than the current centers (``CenterEvent/value``).
        case reseededOnDrift
    }

    /// The kind of event.
    public var kind: Kind
    /// The center concerned.
    public var center: Int
    /// For `.reseeded`, the batch row it was moved to; for `.separated`, the other center.
    public var other: Int
    /// The center's soft count before the event.
    public var count: Double
    /// For drift events, the test statistic; for ``Kind/reheated``, the temperature before.
    public var value: Double = 0
    /// For drift events, the threshold; for ``Kind/reheated``, the temperature after.
    public var threshold: Double = 0

    public init(kind: Kind, center: Int, other: Int, count: Double, value: Double = 0, threshold: Double = 0) {
        self.kind = kind
        self.center = center
        self.other = other
        self.count = count
        self.value = value
        self.threshold = threshold
    }
}
