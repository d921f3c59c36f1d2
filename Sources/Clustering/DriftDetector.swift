/// A one-sided Page-Hinkley (CUSUM) test for an increase of the model's per-vector quantisation
/// error, the statistic every batch already reports (``BatchReport/inertia`` / ``BatchReport/weight``).
///
/// Each batch contributes `u = ln(e / μ)`, the log of its mean squared distance to the nearest
/// center `e` against a slow reference `μ`; on the log scale a jump is "the error grew by a
/// factor" whatever the data's units. With `W` the batch's weight,
///
/// ```
/// g ← max(0, g + W·(u − δ))          (δ: the relative growth tolerated, ln(1 + tolerance))
/// alarm when g > h · s² / δ           (s²: the per-vector variance of u, estimated online)
/// ```
///
/// Scaling the threshold by `s²/δ` makes it a number of standard deviations: for a random walk
/// with drift −δ and variance s² per vector, the mean run length between false alarms grows like
/// `exp(2h)`, independently of the data (Page 1954; Basseville & Nikiforov 1993, §2.2). `s²` is
/// each batch's own `Var(e)/mean(e)²` (the delta method's variance of a log of a mean). The
/// reference and the variance learn only while `g = 0`, so a change cannot teach the test to
/// accept it. A warning is `g` above half the threshold.
///
/// The test is pure state and arithmetic: no allocation, no I/O. It is part of ``ModelState``
/// (checkpointed), so a restart neither forgets a change in progress nor re-learns the reference.
public struct DriftDetector: Sendable, Equatable {
    /// What the last observation concluded.
    public enum Level: Int, Sendable, Equatable {
        /// Nothing unusual (or still learning the reference).
        case none = 0
        /// The statistic rose past half the threshold: a change may be under way.
        case warning = 1
        /// The statistic rose past the threshold: the error's level changed.
        case drift = 2
    }

    /// The cumulative statistic `g` (in vectors × log-ratio).
    public private(set) var statistic = 0.0
    /// The reference `ln μ`: the log of the typical per-vector error.
    public private(set) var reference = 0.0
    /// The per-vector variance `s²` of `u`.
    public private(set) var variance = 0.0
    /// Weight observed since the reference was (re)started; the test waits for enough of it.
    public private(set) var learned = 0.0
    /// The level of the last observation.
    public private(set) var level = Level.none
    /// The statistic and threshold at the last alarm (the test restarts at once, so these
    /// keep what it concluded from; not checkpointed).
    public private(set) var alarmStatistic = 0.0
    public private(set) var alarmThreshold = 0.0

    /// Equality of the checkpointed fields.
    public static func == (a: DriftDetector, b: DriftDetector) -> Bool {
        a.statistic.bitPattern == b.statistic.bitPattern && a.reference.bitPattern == b.reference.bitPattern
            && a.variance.bitPattern == b.variance.bitPattern && a.learned.bitPattern == b.learned.bitPattern
    }

    /// Creates a detector that has seen nothing.
    public init() {}

    /// Restores a detector from its fields (the checkpoint reader uses this).
    public init(statistic: Double, reference: Double, variance: Double, learned: Double) {
        self.statistic = statistic
        self.reference = reference
        self.variance = variance
        self.learned = learned
    }

    /// The threshold `h · s² / δ` the statistic is compared with.
    public func threshold(_ p: DriftParameters) -> Double {
        p.sigmas * Swift.max(variance, p.minimumVariance) / p.delta
    }

    /// Observes one batch: `error` is its per-vector quantisation error, `weight` its total
    /// weight, `relativeVariance` the variance of its vectors' errors over the squared mean.
    /// - Returns: the level this batch reached (``Level/drift`` once per change: the test then
    ///   restarts on the new level).
    @discardableResult
    public mutating func observe(error: Double, weight: Double, relativeVariance: Double, _ p: DriftParameters) -> Level {
        guard weight > 0, error.isFinite, error > 0, relativeVariance.isFinite else { return level }
        let x = _log(error)
        // Learning: a running mean and variance with a memory of `p.memory` vectors.
        let alpha = Swift.min(1, weight / Swift.min(p.memory, learned + weight))
        if learned == 0 {
            reference = x
        }
        let u = x - reference
        if statistic == 0 || learned < p.learning {
            reference += alpha * u
            // Measured within each batch rather than from the batches' spread around the
            // reference, which the model's own convergence after seeding would inflate.
            variance += alpha * (relativeVariance - variance)
            learned += weight
        }
        guard learned >= p.learning else {
            level = .none
            return level
        }
        statistic = Swift.max(0, statistic + weight * (u - p.delta))
        let h = threshold(p)
        if statistic > h {
            level = .drift
            alarmStatistic = statistic
            alarmThreshold = h
            restart()
        } else {
            level = statistic > h / 2 ? .warning : .none
        }
        return level
    }

    /// Forgets the reference so the test learns the new level from the next batch.
    public mutating func restart() {
        statistic = 0
        learned = 0
        variance = 0
    }
}

/// The drift test's parameters; the defaults are measured (docs/SCHEDULES.md).
public struct DriftParameters: Sendable, Equatable {
    /// `δ`: the log of the relative growth of the error that is tolerated without alarm.
    public var delta: Double
    /// `h`: the threshold in units of `s²/δ` (false alarms become rarer like `exp(2h)`).
    public var sigmas: Double
    /// Vectors of memory of the reference and variance.
    public var memory: Double
    /// Vectors observed before the test starts (after seeding and after each alarm).
    public var learning: Double
    /// A floor under `s²`, so a nearly constant error cannot make the threshold vanish. At 1 (the
    /// relative variance of an exponentially distributed error) a single batch a little above the
    /// tolerance is not an alarm: on tight, well-separated clusters (s² ≈ 0.05) a floor of 0.05
    /// raised alarms on stationary streams from the model's own steps (a re-seed, a separation).
    public var minimumVariance: Double

    /// Creates parameters. The default tolerance, 10 %, lets the warning (and its halving of
    /// the counts) follow centers that move steadily: on the evidence report's moving-centers
    /// stream 25 % left the last window at 1.7× the true error, 10 % at 1.05–1.14×, with no drift
    /// event on 10 M stationary vectors (docs/SCHEDULES.md).
    public init(tolerance: Double = 0.1, sigmas: Double = 12, memory: Double = 20_000, learning: Double = 4_000,
                minimumVariance: Double = 1) {
        self.delta = _log1p(tolerance)
        self.sigmas = sigmas
        self.memory = memory
        self.learning = learning
        self.minimumVariance = minimumVariance
    }

    /// Why the parameters cannot be used, or nil.
    public var validationError: String? {
        if !(delta > 0 && delta.isFinite) { return "drift tolerance must be finite and > 0" }
        if !(sigmas > 0 && sigmas.isFinite) { return "drift threshold must be finite and > 0, got \(sigmas)" }
        if !(memory > 0 && memory.isFinite) { return "drift memory must be finite and > 0, got \(memory)" }
        if !(learning >= 0 && learning.isFinite) { return "drift learning must be finite and ≥ 0, got \(learning)" }
        return nil
    }
}
