import Clustering
import Glibc
import Logging
import Synchronization
import Transport

/// The checkpoint thread: encodes and durably writes model snapshots the model owner hands it,
/// so a slow disk (an `fsync` that takes seconds) never stalls training.
///
/// The hand-off is a one-slot mailbox: a newer snapshot replaces one not yet written, so the
/// writer falls behind by skipping versions, never by queueing them. A snapshot is a
/// copy-on-write value: handing it over copies nothing; the owner's next update copies the
/// model's arrays once, which happens once per checkpoint, not per batch.
final class CheckpointWriter: DaemonService {
    let store: CheckpointStore
    let statistics: Statistics
    let logger: Logger
    let health: LoopHealth
    private let pending = Mutex<ModelState?>(nil)
    private let durable = Mutex(EpochLedger())
    private let wake: EventFD
    private let stop: EventFD

    let fault: DaemonConfiguration.Fault

    init(store: CheckpointStore, statistics: Statistics, health: LoopHealth, fault: DaemonConfiguration.Fault = .init(),
         logger: Logger) throws(ZMQError) {
        self.store = store
        self.fault = fault
        self.statistics = statistics
        self.health = health
        self.logger = logger
        wake = try EventFD()
        stop = try EventFD()
    }

    /// Hands `state` to the writer (any thread); replaces a snapshot still waiting.
    func submit(_ state: ModelState) {
        let replaced = pending.withLock { slot in
            defer { slot = state }
            return slot != nil
        }
        if replaced { statistics.checkpointsSkipped.add(1, ordering: .relaxed) }
        try? wake.signal()  // an eventfd signal fails only on counter overflow; the slot is read anyway
    }

    /// The workers' epochs (``ModelState/mergedEpochs``) the newest checkpoint on disk holds:
    /// what a coordinator restarted now would still have merged.
    var durableEpochs: EpochLedger { durable.withLock { $0 } }

    /// Records that a model holding `epochs` is on disk already (the checkpoint a coordinator
    /// was restored from).
    func noteDurable(_ epochs: EpochLedger) { durable.withLock { $0 = epochs } }

    /// Asks the thread to write what is waiting and end.
    func requestStop() { try? stop.signal() }  // see submit(_:)

    var loop: LoopHealth.Loop { .checkpoint }
    func start() throws(StartupFailure) {}

    /// Snapshots waiting or being written: nil once the writer is idle.
    var isIdle: Bool { pending.withLock { $0 == nil } }

    /// Runs until ``requestStop()``; writes the snapshot waiting then, if any.
    func run() {
        var fds = [pollfd(fd: wake.fileDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stop.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        let started = Clock.monotonicMilliseconds()
        while true {
            health.beat(.checkpoint)
            if fault.failureDue("checkpoint", started: started, now: Clock.monotonicMilliseconds()) {
                health.fail(.checkpoint, "poll: injected fault (fault.fail_loop)")
                return
            }
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, 1000) < 0 && errno != EINTR {
                health.fail(.checkpoint, "poll: \(String(cString: strerror(errno)))")
                return
            }
            if fds[0].revents != 0 { _ = try? wake.drain() }  // drained only to re-arm; the slot is what counts
            writePending()
            if fds[1].revents != 0 {
                writePending()
                return
            }
        }
    }

    private func writePending() {
        // The slot is cleared only after the write, so `isIdle` means "on disk".
        guard let state = pending.withLock({ $0 }) else { return }
        health.busy(.checkpoint, true)
        defer {
            health.busy(.checkpoint, false)
            pending.withLock { if $0?.batches == state.batches && $0?.epoch == state.epoch { $0 = nil } }
        }
        do {
            let path = try store.write(state)
            durable.withLock { $0 = state.mergedEpochs }
            statistics.checkpointsWritten.add(1, ordering: .relaxed)
            statistics.lastCheckpointUnixMilliseconds.store(UInt64(Clock.unixMilliseconds()), ordering: .relaxed)
            logger.debug("checkpoint written: \(path) (model version \(state.batches))")
        } catch {
            statistics.checkpointFailures.add(1, ordering: .relaxed)
            logger.error("checkpoint failed (clustering goes on; the next one retries): \(error)")
        }
    }
}
