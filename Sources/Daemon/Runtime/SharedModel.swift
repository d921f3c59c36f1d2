import Clustering
import Synchronization

/// The latest model for readers on other threads (queries, metrics), double-buffered: the
/// model owner refreshes its spare copy in place after each batch and swaps it in, so
/// publishing copies the model's numbers but allocates nothing; readers take the current one
/// (a reference) and never block the owner for longer than the swap.
final class SharedModel: Sendable {
    struct Snapshot: Sendable {
        var state: ModelState?
        /// The update rule in force (its mode decides what `predict` answers); changes on reload.
        var update: UpdateConfiguration
        var warmupCollected = 0
        var warmupNeeded = 0
    }

    private let slot: Mutex<Snapshot>

    init(update: UpdateConfiguration) {
        slot = Mutex(Snapshot(update: update))
    }

    func setUpdate(_ update: UpdateConfiguration) {
        slot.withLock { $0.update = update }
    }

    /// Publishes `state` (any thread; a copy-on-write reference, for start-up and reloads).
    func publish(_ state: ModelState) {
        slot.withLock { $0.state = state }
    }

    /// Publishes `model` through the owner's `spare`: the spare is refreshed in place, swapped
    /// with the current snapshot, and the previous snapshot becomes the next spare. A reader
    /// still holding that previous snapshot makes the next refresh copy it once (copy on write).
    func publish(_ model: ModelState, through spare: inout ModelState?) {
        if spare == nil {
            spare = model.detached()
        } else {
            spare!.assign(from: model)
        }
        slot.withLock { swap(&$0.state, &spare) }
    }

    func warmup(collected: Int, needed: Int) {
        slot.withLock {
            $0.warmupCollected = collected
            $0.warmupNeeded = needed
        }
    }

    var snapshot: Snapshot { slot.withLock { $0 } }
}
