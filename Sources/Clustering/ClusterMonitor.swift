/// Per-cluster changes worth telling, in the spirit of MONIC's external transitions (Spiliopoulou
/// et al. 2006): a cluster that grew or shrank, became tighter or looser, or moved.
///
/// Each cluster is compared with the reference taken when it was last announced (or seeded):
///
/// ```
/// size:     share_j = N_j / Σ N  changed by a factor ≥ sizeFactor (either way)
/// spread:   spread_j             changed by a factor ≥ spreadFactor (either way)
/// location: ‖c_j − c_j,ref‖²     ≥ locationFraction · spread_j,ref (the center left its cluster)
/// ```
///
/// A change resets only its own reference, so a cluster that keeps growing is announced once per
/// factor. A center (re-)seeded since its reference (``ModelState/seededAt``) restarts silently:
/// its birth is its own event. The monitor owns its buffers; checks after the first at a given
/// shape allocate nothing.
public struct ClusterMonitor: Sendable {
    /// A change of one cluster.
    public struct Change: Sendable, Equatable {
        /// What changed.
        public enum Kind: String, Sendable, CaseIterable {
            /// The cluster's share of the soft counts.
            case size
            /// Its spread (mean squared distance of its vectors to its center).
            case spread
            /// Its center, by squared distance, against the spread it had.
            case location
        }

        /// What changed.
        public var kind: Kind
        /// The cluster.
        public var center: Int
        /// The value at the reference (share, spread, or 0 for location).
        public var before: Double
        /// The value now (share, spread, or the squared distance moved).
        public var after: Double
        /// What `after` had to pass: a factor for size and spread, a squared distance for location.
        public var threshold: Double
    }

    /// A share that changes by this factor is announced (> 1).
    public var sizeFactor: Double
    /// A spread that changes by this factor is announced (> 1).
    public var spreadFactor: Double
    /// A center that moved by this fraction of its reference spread (squared) is announced (> 0).
    public var locationFraction: Double
    /// Clusters whose share is below this are not judged: their statistics are too noisy to
    /// mean anything (and a dying center is told by `death`).
    public var minimumShare: Double

    private var shares: [Double] = []
    private var spreads: [Double] = []
    private var centers: [Float] = []
    private var seededAt: [UInt64] = []
    /// The changes found by the last ``check(_:)``; reused.
    public private(set) var changes: [Change] = []

    /// Creates a monitor; the defaults announce a share that doubled or halved, a spread that
    /// grew or shrank by half, and a center that moved by its cluster's radius.
    public init(sizeFactor: Double = 2, spreadFactor: Double = 1.5, locationFraction: Double = 1, minimumShare: Double = 0.001) {
        self.sizeFactor = sizeFactor
        self.spreadFactor = spreadFactor
        self.locationFraction = locationFraction
        self.minimumShare = minimumShare
    }

    /// Compares every cluster of `state` with its reference; the changes are in ``changes``.
    ///
    /// - Parameter settle: vectors a center must have seen since it was (re-)seeded before its
    ///   reference is taken: a center converging from its seed moves and tightens, which is
    ///   not news.
    public mutating func check(_ state: ModelState, settle: UInt64) {
        changes.removeAll(keepingCapacity: true)
        let k = state.k, d = state.dimension
        var total = 0.0
        var j = 0
        while j < k { total += state.counts[j]; j += 1 }
        guard total > 0 else { return }
        if shares.count != k || centers.count != k * d {
            shares = Array(repeating: 0, count: k)
            spreads = Array(repeating: 0, count: k)
            centers = Array(repeating: 0, count: k * d)
            seededAt = Array(repeating: .max, count: k)
            // Room for every kind of change of every cluster, so no check has to grow it.
            changes.reserveCapacity(3 * k)
        }
        j = 0
        while j < k {
            defer { j += 1 }
            let share = state.counts[j] / total
            let spread = state.spread(j)
            if state.vectorsSeen &- state.seededAt[j] < settle {
                seededAt[j] = .max
                continue
            }
            if seededAt[j] != state.seededAt[j] || shares[j] < minimumShare || spreads[j] <= 0 {
                // No usable reference yet (new model, new center, a cluster too small or without
                // spread so far): take one now, silently.
                remember(j, state: state, share: share, spread: spread)
                continue
            }
            guard share >= minimumShare else { continue }
            if share >= sizeFactor * shares[j] || share * sizeFactor <= shares[j] {
                changes.append(Change(kind: .size, center: j, before: shares[j], after: share, threshold: sizeFactor))
                shares[j] = share
            }
            if spread > 0, spread >= spreadFactor * spreads[j] || spread * spreadFactor <= spreads[j] {
                changes.append(Change(kind: .spread, center: j, before: spreads[j], after: spread, threshold: spreadFactor))
                spreads[j] = spread
            }
            var moved = 0.0
            let base = j * d
            state.centers.withUnsafeBufferPointer { c in
                var t = 0
                while t < d {
                    let delta = Double(c[base + t] - centers[base + t])
                    moved += delta * delta
                    t += 1
                }
            }
            let limit = locationFraction * spreads[j]
            if moved >= limit {
                changes.append(Change(kind: .location, center: j, before: 0, after: moved, threshold: limit))
                copyCenter(j, state: state)
            }
        }
    }

    /// Drops every reference; the next ``check(_:settle:)`` takes new ones silently. For when
    /// the model is not in a state worth comparing with (many vectors still shared between
    /// centers: the centers then move with the temperature, not with the data).
    public mutating func forget() {
        var j = 0
        while j < seededAt.count { seededAt[j] = .max; j += 1 }
    }

    private mutating func remember(_ j: Int, state: ModelState, share: Double, spread: Double) {
        shares[j] = share
        spreads[j] = spread
        seededAt[j] = state.seededAt[j]
        copyCenter(j, state: state)
    }

    private mutating func copyCenter(_ j: Int, state: ModelState) {
        let d = state.dimension
        let base = j * d
        state.centers.withUnsafeBufferPointer { c in
            var t = 0
            while t < d { centers[base + t] = c[base + t]; t += 1 }
        }
    }

    /// Why the monitor cannot be used, or `nil`.
    public var validationError: String? {
        if !(sizeFactor > 1 && sizeFactor.isFinite) { return "size factor must be finite and > 1, got \(sizeFactor)" }
        if !(spreadFactor > 1 && spreadFactor.isFinite) { return "spread factor must be finite and > 1, got \(spreadFactor)" }
        if !(locationFraction > 0 && locationFraction.isFinite) {
            return "location fraction must be finite and > 0, got \(locationFraction)"
        }
        return nil
    }
}
