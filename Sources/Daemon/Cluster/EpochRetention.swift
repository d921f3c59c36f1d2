import Clustering

/// A worker's copies of the epochs it sent that the coordinator's newest checkpoint may not
/// hold yet, so a coordinator restored from a checkpoint can be sent them again, and each is
/// merged exactly once.
///
/// An epoch is released once a model version says the checkpoint holds it (``release(through:)``).
/// When a coordinator comes back under a new model epoch, its model's merged epochs say where
/// its checkpoint ended: the copies after that point are added to the worker's held statistics
/// and go out again as part of its next epoch (``takeAll(after:onto:version:into:)``); the
/// rest are released. Messages of the old model epoch still on the wire are dropped by the
/// coordinator as foreign, so nothing reaches the model twice.
///
/// The copies are kept relative to one set of centers (``base``), whichever version's centers
/// the oldest copy was computed against, so adopting a model version costs nothing here; a copy
/// is rebased once when it is kept and once when it is sent again, each exact for the sums
/// (`Σ w r (x − c′) = delta + mass·(c − c′)`, see ``SufficientStatistics``).
///
/// At most `capacity` copies are kept; beyond that the oldest is released unconfirmed, and a
/// restart from a checkpoint older than it loses that epoch (the count is returned to the caller).
struct EpochRetention {
    /// Copies kept at most; 0 keeps none.
    let capacity: Int
    private let k: Int
    private let dimension: Int
    /// A ring of `count` copies from `head`, oldest first, all relative to ``base``. A slot is
    /// made only when every slot holds a copy, so there are as many as were ever unconfirmed
    /// at once (not `capacity`), and keeping a copy allocates nothing once they exist.
    private var slots: [SufficientStatistics] = []
    private var sequences: [UInt64] = []
    private var head = 0
    private var count = 0
    /// The centers every copy is relative to, and their version.
    private var base: [Float] = []
    private var baseVersion: UInt64 = 0

    init(capacity: Int, k: Int, dimension: Int) {
        precondition(capacity >= 0, "EpochRetention: capacity must be ≥ 0")
        self.capacity = capacity
        self.k = k
        self.dimension = dimension
    }

    /// Copies kept.
    var epochs: Int { count }
    /// Vectors in the copies kept.
    var vectors: Int { (0..<count).reduce(0) { $0 + slots[slot($1)].vectors } }
    var isEmpty: Bool { count == 0 }
    /// Buffers made so far (each about 4·k·d bytes).
    var buffers: Int { slots.count }
    /// Whether `statistics` have the shape the copies have.
    func matches(_ statistics: SufficientStatistics) -> Bool { statistics.k == k && statistics.dimension == dimension }

    /// The slot of the `i`-th oldest copy.
    private func slot(_ i: Int) -> Int { (head + i) % slots.count }

    /// Keeps epoch `sequence` (numbered above every kept one), computed against `centers` of
    /// version `version`: takes `statistics`' storage and leaves a spare buffer of the same shape
    /// in its place, for the caller to reset. With capacity 0 nothing changes.
    ///
    /// - Returns: the vectors of the oldest copy released to make room (0: none).
    mutating func retain(taking statistics: inout SufficientStatistics, sequence: UInt64,
                         centers: UnsafeBufferPointer<Float>, version: UInt64) -> Int {
        guard capacity > 0 else { return 0 }
        precondition(matches(statistics), "EpochRetention: shape differs")
        precondition(count == 0 || sequences[slot(count - 1)] < sequence, "EpochRetention: sequences must grow")
        var evicted = 0
        if count == capacity {
            evicted = slots[head].vectors
            head = slot(1)
            count -= 1
        }
        if count == slots.count {
            // Every slot holds a copy: a new one goes after the newest, so the ring is first
            // turned to start at slot 0.
            if head != 0 {
                slots = Array(slots[head...] + slots[..<head])
                sequences = Array(sequences[head...] + sequences[..<head])
                head = 0
            }
            slots.append(SufficientStatistics(k: k, dimension: dimension))
            sequences.append(0)
        }
        let index = slot(count)
        swap(&slots[index], &statistics)
        sequences[index] = sequence
        count += 1
        if count == 1 {
            // The first copy sets the base: no rebase, and the old base's storage is reused.
            if base.count == centers.count {
                base.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: centers) }
            } else {
                base = Array(centers)
            }
            baseVersion = version
            slots[index].baseVersion = version
        } else {
            base.withUnsafeBufferPointer { slots[index].rebase(to: baseVersion, from: centers, onto: $0) }
        }
        return evicted
    }

    /// Releases the copies of epochs numbered up to `sequence`: a checkpoint holds them.
    mutating func release(through sequence: UInt64) {
        while count > 0, sequences[head] <= sequence {
            head = slot(1)
            count -= 1
        }
    }

    /// Adds every copy numbered after `sequence` to `held` (relative to `centers`, version
    /// `version`, as `held` must already be) and releases all copies.
    ///
    /// - Returns: the epochs and vectors added.
    mutating func takeAll(after sequence: UInt64, onto centers: UnsafeBufferPointer<Float>, version: UInt64,
                          into held: inout SufficientStatistics) -> (epochs: Int, vectors: Int) {
        precondition(held.baseVersion == version, "EpochRetention: held statistics are relative to another version")
        release(through: sequence)
        var taken = (epochs: 0, vectors: 0)
        for i in 0..<count {
            let j = slot(i)
            base.withUnsafeBufferPointer { slots[j].rebase(to: version, from: $0, onto: centers) }
            held.merge(slots[j])
            taken.epochs += 1
            taken.vectors += slots[j].vectors
        }
        count = 0
        return taken
    }
}
