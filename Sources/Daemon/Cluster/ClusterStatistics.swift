import Synchronization

/// The counters of the worker and coordinator roles, for `stats` and `/metrics`. Written by the
/// clustering thread and the cluster link thread, read by the query and metrics threads.
final class ClusterStatistics: Sendable {
    private struct Setup {
        var role = DaemonConfiguration.ClusterRole.single
        var workerTimeoutMilliseconds: UInt64 = 10_000
    }

    private let setup = Mutex(Setup())

    /// Records the role and the silence limit (the runner, once at start).
    func configure(_ cluster: DaemonConfiguration.Cluster) {
        setup.withLock {
            $0.role = cluster.role
            $0.workerTimeoutMilliseconds = UInt64(cluster.workerTimeoutSeconds * 1000)
        }
    }

    var role: DaemonConfiguration.ClusterRole { setup.withLock { $0.role } }

    // MARK: Worker

    /// Statistics messages handed to libzmq for the coordinator.
    let epochsSent = Atomic<UInt64>(0)
    /// Statistics messages dropped because `cluster.queue_epochs` were already waiting: their
    /// vectors got assignments but never reach the model.
    let epochsDropped = Atomic<UInt64>(0)
    /// Vectors in those dropped messages.
    let vectorsDropped = Atomic<UInt64>(0)
    /// Vectors computed but not sent yet (held while `cluster.window` messages are on their way).
    let heldVectors = Atomic<UInt64>(0)
    /// Messages sent and not yet acknowledged by a model version.
    let unacknowledged = Atomic<UInt64>(0)
    /// Epochs taken as lost because no acknowledgement came within `cluster.ack_timeout_s`.
    let acknowledgementsTimedOut = Atomic<UInt64>(0)
    /// Copies of sent epochs kept until the coordinator's checkpoint holds them.
    let retainedEpochs = Atomic<UInt64>(0)
    /// Epochs (and their vectors) released from `cluster.retain_epochs` before a checkpoint
    /// was known to hold them: a coordinator restored from an older checkpoint lacks them.
    let epochsUnretained = Atomic<UInt64>(0)
    let vectorsUnretained = Atomic<UInt64>(0)
    /// Epochs (and their vectors) sent again to a coordinator restored without them.
    let epochsResent = Atomic<UInt64>(0)
    let vectorsResent = Atomic<UInt64>(0)
    /// Seeded models offered to the coordinator.
    let proposalsSent = Atomic<UInt64>(0)
    /// Model versions received from the coordinator and adopted.
    let modelsAdopted = Atomic<UInt64>(0)
    /// Model messages refused: undecodable, or another k, dimension or metric.
    let modelsRefused = Atomic<UInt64>(0)
    /// Model messages ignored because the worker already held that version or a newer one.
    let modelsOutdated = Atomic<UInt64>(0)
    /// Batches computed against the model version the worker holds now (its staleness in
    /// batches: 0 right after adopting a version).
    let epochsOnCurrentModel = Atomic<UInt64>(0)
    /// Monotonic milliseconds when the current version was adopted (0: none yet).
    let adoptedAtMilliseconds = Atomic<UInt64>(0)

    // MARK: Coordinator

    /// One worker as the coordinator sees it.
    struct WorkerStatus: Sendable, Equatable {
        var incarnation: UInt64
        var lastSequence: UInt64
        /// Versions its last merged epoch lagged the model when it arrived.
        var staleness: UInt64
        /// Vectors in its epochs that were admitted for merging.
        var vectorsMerged: UInt64
        /// Monotonic milliseconds of its last admitted epoch.
        var lastHeardMilliseconds: UInt64
    }

    /// The merger's counters and the workers, refreshed after every drain of the inbound queue.
    private let coordinator = Mutex<(counters: StatisticsMerger.Counters, workers: [UInt64: WorkerStatus])>((.init(), [:]))
    /// Frames that arrived before the coordinator had a model (statistics) or after it had one
    /// (seeding proposals, answered by publishing the model again).
    let framesWithoutModel = Atomic<UInt64>(0)
    let proposalsIgnored = Atomic<UInt64>(0)
    /// Seeding proposals that could not be decoded or have another k, dimension or metric.
    let proposalsRefused = Atomic<UInt64>(0)
    /// Model versions handed to the model socket, and those it could not take (a full queue).
    let modelsPublished = Atomic<UInt64>(0)
    let modelsNotPublished = Atomic<UInt64>(0)

    /// Replaces the coordinator's view (the clustering thread, after each drain).
    func setCoordinator(counters: StatisticsMerger.Counters, workers: [UInt64: WorkerStatus]) {
        coordinator.withLock { $0 = (counters, workers) }
    }

    /// The coordinator's merge counters and its view of each worker.
    var coordinatorView: (counters: StatisticsMerger.Counters, workers: [UInt64: WorkerStatus]) {
        coordinator.withLock { $0 }
    }

    /// One reported quantity: `stats` shows it as `cluster_NAME` (per worker,
    /// `cluster_worker_ID_NAME`), `/metrics` as `voronoid_cluster_NAME`.
    struct Reading {
        var name: String
        var type: String
        var help: String
        var value: Double
        /// The worker it is about, for per-worker readings.
        var worker: UInt64?
    }

    /// What the role reports now; nothing for a single daemon.
    func readings(now: UInt64) -> [Reading] {
        let (role, timeout) = setup.withLock { ($0.role, $0.workerTimeoutMilliseconds) }
        func load(_ a: borrowing Atomic<UInt64>) -> Double { Double(a.load(ordering: .relaxed)) }
        switch role {
        case .single:
            return []
        case .worker:
            let adopted = adoptedAtMilliseconds.load(ordering: .relaxed)
            return [
                Reading(name: "epochs_sent_total", type: "counter", help: "Statistics messages sent to the coordinator.", value: load(epochsSent)),
                Reading(name: "epochs_dropped_total", type: "counter", help: "Statistics messages dropped because cluster.queue_epochs were waiting (their vectors never reach the model).", value: load(epochsDropped)),
                Reading(name: "vectors_dropped_total", type: "counter", help: "Vectors in the dropped statistics messages.", value: load(vectorsDropped)),
                Reading(name: "held_vectors", type: "gauge", help: "Vectors learned but not sent yet: held while cluster.window messages are on their way.", value: load(heldVectors)),
                Reading(name: "unacknowledged_epochs", type: "gauge", help: "Statistics messages sent and not yet acknowledged by the coordinator.", value: load(unacknowledged)),
                Reading(name: "acknowledgements_timed_out_total", type: "counter", help: "Epochs taken as lost because the coordinator did not acknowledge them within cluster.ack_timeout_s.", value: load(acknowledgementsTimedOut)),
                Reading(name: "retained_epochs", type: "gauge", help: "Sent epochs kept until the coordinator's newest checkpoint holds them (cluster.retain_epochs).", value: load(retainedEpochs)),
                Reading(name: "epochs_unretained_total", type: "counter", help: "Sent epochs released before a checkpoint was known to hold them (cluster.retain_epochs was full).", value: load(epochsUnretained)),
                Reading(name: "vectors_unretained_total", type: "counter", help: "Vectors in those epochs.", value: load(vectorsUnretained)),
                Reading(name: "epochs_resent_total", type: "counter", help: "Sent epochs sent again to a coordinator restored without them.", value: load(epochsResent)),
                Reading(name: "vectors_resent_total", type: "counter", help: "Vectors in the epochs sent again.", value: load(vectorsResent)),
                Reading(name: "proposals_sent_total", type: "counter", help: "Seeded models offered to the coordinator.", value: load(proposalsSent)),
                Reading(name: "models_adopted_total", type: "counter", help: "Model versions adopted from the coordinator.", value: load(modelsAdopted)),
                Reading(name: "models_refused_total", type: "counter", help: "Model messages refused (undecodable, or another k, dimension or metric).", value: load(modelsRefused)),
                Reading(name: "models_outdated_total", type: "counter", help: "Model messages ignored because a newer version was held.", value: load(modelsOutdated)),
                Reading(name: "staleness_batches", type: "gauge", help: "Batches computed against the model version held now.", value: load(epochsOnCurrentModel)),
                Reading(name: "model_age_seconds", type: "gauge", help: "Seconds since the held model version arrived (-1: none yet).",
                        value: adopted == 0 ? -1 : Double(now &- adopted) / 1000),
            ]
        case .coordinator:
            let (counters, workers) = coordinatorView
            let refused = counters.refused.values.reduce(0, +)
            var out = [
                Reading(name: "epochs_merged_total", type: "counter", help: "Workers' epochs merged into the model.", value: Double(counters.epochsMerged)),
                Reading(name: "steps_total", type: "counter", help: "Merged steps applied (model versions made).", value: Double(counters.stepsApplied)),
                Reading(name: "duplicates_dropped_total", type: "counter", help: "Epochs dropped because that epoch or a later one of the worker was merged.", value: Double(counters.duplicatesDropped)),
                Reading(name: "superseded_dropped_total", type: "counter", help: "Epochs dropped from an older incarnation of a worker.", value: Double(counters.supersededDropped)),
                Reading(name: "stale_dropped_total", type: "counter", help: "Epochs dropped because their model version lagged by more than cluster.staleness.", value: Double(counters.staleDropped)),
                Reading(name: "foreign_epoch_dropped_total", type: "counter", help: "Epochs computed against another model epoch (before a coordinator restart).", value: Double(counters.foreignEpochDropped)),
                Reading(name: "invalid_dropped_total", type: "counter", help: "Statistics frames refused as malformed, of another shape, or impossible.", value: Double(refused)),
                Reading(name: "epochs_missed_total", type: "counter", help: "Epochs a worker numbered that never arrived.", value: Double(counters.epochsMissed)),
                Reading(name: "frames_without_model_total", type: "counter", help: "Statistics that arrived before the coordinator had a model.", value: load(framesWithoutModel)),
                Reading(name: "proposals_ignored_total", type: "counter", help: "Seeding proposals that arrived after the model existed.", value: load(proposalsIgnored)),
                Reading(name: "proposals_refused_total", type: "counter", help: "Seeding proposals refused (undecodable, or another k, dimension or metric).", value: load(proposalsRefused)),
                Reading(name: "models_published_total", type: "counter", help: "Model versions sent to the workers.", value: load(modelsPublished)),
                Reading(name: "models_not_published_total", type: "counter", help: "Model versions the model socket could not take.", value: load(modelsNotPublished)),
                Reading(name: "workers", type: "gauge", help: "Workers heard from since start.", value: Double(workers.count)),
                Reading(name: "workers_silent", type: "gauge", help: "Workers not heard from for cluster.worker_timeout_s.",
                        value: Double(workers.values.filter { now &- $0.lastHeardMilliseconds > timeout }.count)),
            ]
            for (id, w) in workers.sorted(by: { $0.key < $1.key }) {
                out.append(Reading(name: "worker_staleness_versions", type: "gauge", help: "Versions the worker's last epoch lagged the model when it arrived.", value: Double(w.staleness), worker: id))
                out.append(Reading(name: "worker_last_sequence", type: "gauge", help: "The last epoch admitted from the worker.", value: Double(w.lastSequence), worker: id))
                out.append(Reading(name: "worker_vectors_merged_total", type: "counter", help: "Vectors in the worker's admitted epochs.", value: Double(w.vectorsMerged), worker: id))
                out.append(Reading(name: "worker_lag_seconds", type: "gauge", help: "Seconds since the worker's last admitted epoch.", value: Double(now &- w.lastHeardMilliseconds) / 1000, worker: id))
            }
            return out
        }
    }
}
