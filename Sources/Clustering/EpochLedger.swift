/// Which workers' epochs have been merged, so that each is merged at most once.
///
/// A worker numbers the statistics it sends 1, 2, 3, … within one incarnation (one run of the
/// process); a restarted worker comes back under a larger incarnation and numbers from 1 again.
/// Messages between one worker and the coordinator arrive in order (one ZeroMQ connection), so
/// an epoch numbered at or below the last one merged is a duplicate — a re-send after a
/// reconnect, or a copy — and a jump past the next number means epochs were lost on the way.
public struct EpochLedger: Sendable, Equatable {
    /// One worker's position: its newest incarnation and the last sequence merged in it.
    public struct Position: Sendable, Equatable {
        public var incarnation: UInt64
        public var sequence: UInt64

        public init(incarnation: UInt64, sequence: UInt64) {
            self.incarnation = incarnation
            self.sequence = sequence
        }
    }

    /// What to do with an epoch.
    public enum Admission: Sendable, Equatable {
        /// Merge it; `missed` epochs of this incarnation never arrived before it.
        case fresh(missed: UInt64)
        /// Drop it: this epoch, or a later one, was merged already.
        case duplicate
        /// Drop it: it comes from an incarnation older than one already heard from.
        case superseded
    }

    /// Each worker's position, by worker id.
    public private(set) var positions: [UInt64: Position] = [:]

    /// An empty ledger.
    public init() {}

    /// Decides whether epoch `sequence` of `worker`'s `incarnation` is new, and records it if so.
    ///
    /// - Complexity: O(1) expected; allocates only when a worker is first seen.
    public mutating func admit(worker: UInt64, incarnation: UInt64, sequence: UInt64) -> Admission {
        guard let known = positions[worker] else {
            positions[worker] = Position(incarnation: incarnation, sequence: sequence)
            return .fresh(missed: sequence > 0 ? sequence - 1 : 0)
        }
        if incarnation < known.incarnation { return .superseded }
        if incarnation > known.incarnation {
            positions[worker] = Position(incarnation: incarnation, sequence: sequence)
            return .fresh(missed: sequence > 0 ? sequence - 1 : 0)
        }
        guard sequence > known.sequence else { return .duplicate }
        positions[worker]!.sequence = sequence
        return .fresh(missed: sequence - known.sequence - 1)
    }

    /// The last sequence merged from `worker` in its current incarnation, or nil if never heard from.
    public func lastSequence(of worker: UInt64) -> Position? { positions[worker] }

    /// Restores positions from a checkpoint: a coordinator restarted from it still drops what it
    /// merged before.
    public init(positions: [UInt64: Position]) { self.positions = positions }
}
