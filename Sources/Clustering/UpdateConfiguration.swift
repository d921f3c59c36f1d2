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
    /// Half-life of the soft counts, in vectors: `γ = 2^(−|B| / h)` per batch. `.infinity`
    /// keeps counts forever (scikit-learn's rule), which under annealing freezes centers early.
    public var countHalfLife: Double
    /// The step size.
    public var learningRate: LearningRate
    /// A center whose soft count is below this fraction of the largest is dead (0 disables).
    public var deadCenterFraction: Double
    /// Vectors a center is given after it was (re-)seeded before it can be declared dead.
    public var deadCenterPatience: UInt64
    /// Coinciding centers are looked for every this many batches (0 disables).
    public var separationInterval: Int
    /// Two centers coincide when their squared distance is at most this fraction of the
    /// batch's mean squared distance to the nearest center.
    public var separationTolerance: Double
    /// How distances are computed: both ways give the same supports and weights, to float32
    /// rounding; see ``DistanceMethod``.
    public var distances: DistanceMethod = .automatic

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
    /// dead below 1 % of the largest count after 10 000 vectors, separation checked every 8 batches.
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
        if case .fixed(let eta) = learningRate, !(eta > 0 && eta <= 1) {
            return "fixed learning rate must be in (0, 1], got \(eta)"
        }
        if !(deadCenterFraction >= 0 && deadCenterFraction < 1) {
            return "dead-center fraction must be in [0, 1), got \(deadCenterFraction)"
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
    }

    /// The kind of event.
    public var kind: Kind
    /// The center concerned.
    public var center: Int
    /// For `.reseeded`, the batch row it was moved to; for `.separated`, the other center.
    public var other: Int
    /// The center's soft count before the event.
    public var count: Double

    public init(kind: Kind, center: Int, other: Int, count: Double) {
        self.kind = kind
        self.center = center
        self.other = other
        self.count = count
    }
}
