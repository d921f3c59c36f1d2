/// How fast the model forgets and cools, in units the model itself supplies rather than a guess
/// of the stream's length.
///
/// Under ``Kind/model`` the soft counts' half-life is a multiple of the mass the model already
/// holds, with a floor in vectors per center:
///
/// ```
/// h = max(memoryFloor · k, (memoryFraction + ln 2) · Σ_k N_k)
/// ```
///
/// On a stationary stream `dΣN/dn = 1 − ΣN · ln 2 / h` makes `ΣN` grow as
/// `ρ / (ρ + ln 2) · n` (ρ = ``memoryFraction``), so the half-life is `ρ · n`: the memory grows
/// with the stream, a fixed fraction of everything seen since the counts were last cut, and the
/// step size falls like scikit-learn's cumulative `1/N` up to a constant. Whatever shrinks the
/// counts shrinks the memory with them: the drift warning halves them, a drift alarm cuts them
/// to one dead-center window, a re-seeded center starts from 0. The temperature's
/// half-life is ``coolingPerCenter`` vectors per center, fixed when the model is seeded.
///
/// Everything it reads is the model's own counts and `k`, so whoever owns the counts (one
/// daemon, or a coordinator merging workers' sums) applies it once per batch.
public struct Pacing: Sendable, Equatable {
    /// Which rule sets the half-lives.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// Half-lives from the model: see ``Pacing``.
        case model
        /// The configured half-lives in vectors (``UpdateConfiguration/countHalfLife`` and the
        /// schedule's own half-life).
        case fixed
    }

    /// Which rule sets the half-lives.
    public var kind: Kind
    /// ``Kind/model``: on a stationary stream, the count half-life as a fraction of the vectors
    /// seen since the counts were last cut (> 0).
    public var memoryFraction: Double
    /// ``Kind/model``: the least count half-life, in vectors per center.
    public var memoryFloor: Double
    /// ``Kind/model``: the temperature's half-life, in vectors per center.
    public var coolingPerCenter: Double

    /// The measured defaults (docs/SCHEDULES.md).
    public init(kind: Kind = .model, memoryFraction: Double = 0.1, memoryFloor: Double = 100, coolingPerCenter: Double = 100) {
        self.kind = kind
        self.memoryFraction = memoryFraction
        self.memoryFloor = memoryFloor
        self.coolingPerCenter = coolingPerCenter
    }

    /// The configured half-lives, in vectors.
    public static let fixed = Pacing(kind: .fixed)

    /// The soft counts' half-life for the next batch, in vectors.
    ///
    /// - Parameters:
    ///   - totalCount: `Σ_k N_k` before the batch.
    ///   - k: the number of centers.
    ///   - fixed: the configured half-life, used by ``Kind/fixed``.
    public func countHalfLife(totalCount: Double, k: Int, fixed: Double) -> Double {
        switch kind {
        case .fixed: fixed
        case .model: Swift.max(memoryFloor * Double(k), (memoryFraction + Self.ln2) * totalCount)
        }
    }

    /// The temperature's half-life for a model of `k` centers, in vectors.
    public func temperatureHalfLife(k: Int, fixed: Double) -> Double {
        switch kind {
        case .fixed: fixed
        case .model: coolingPerCenter * Double(k)
        }
    }

    static let ln2 = 0.6931471805599453

    /// Why the pacing cannot be used, or `nil`.
    public var validationError: String? {
        guard kind == .model else { return nil }
        if !(memoryFraction > 0 && memoryFraction.isFinite) {
            return "memory fraction must be finite and > 0, got \(memoryFraction)"
        }
        if !(memoryFloor > 0 && memoryFloor.isFinite) { return "memory floor must be finite and > 0, got \(memoryFloor)" }
        if !(coolingPerCenter > 0 && coolingPerCenter.isFinite) {
            return "cooling per center must be finite and > 0, got \(coolingPerCenter)"
        }
        return nil
    }
}
