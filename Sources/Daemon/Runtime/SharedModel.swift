import Clustering
import Synchronization

/// The latest model for readers on other threads (queries, metrics): the clustering thread
/// replaces it after each batch; readers take a copy-on-write copy and never block the writer
/// for longer than that copy.
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

    func publish(_ state: ModelState) {
        slot.withLock { $0.state = state }
    }

    func warmup(collected: Int, needed: Int) {
        slot.withLock {
            $0.warmupCollected = collected
            $0.warmupNeeded = needed
        }
    }

    var snapshot: Snapshot { slot.withLock { $0 } }
}
