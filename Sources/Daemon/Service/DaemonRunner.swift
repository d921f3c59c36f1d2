import CSignalShims
import Clustering
import Glibc
import Logging
import Synchronization
import Transport
import Wire

/// Runs the daemon: restores the model, opens the sockets (each on the thread that owns it),
/// tells systemd it is ready, and waits for signals; shuts down in data-flow order.
public final class DaemonRunner: Sendable {
    /// Why the daemon could not start (not a configuration error).
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
        /// Exit status: 78 when the operator must change something, 1 otherwise.
        public var status: Int32
    }

    public let configuration: DaemonConfiguration
    let logger: Logger
    /// The daemon's counters, for embedding code (benchmarks, tests) that reads them live.
    public let statistics = Statistics()
    /// Set by tests and `demo` to stop the daemon without a signal.
    let stopRequest: EventFD
    /// The eventfd the signal handlers make readable; set once in `run`.
    private let signalEvents = Mutex<EventFD?>(nil)
    /// Log limiters whose interval (`log.drop_interval_s`) a reload changes; set once in `run`.
    private let limiters = Mutex<[DropLogLimiter]>([])

    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.stopRequest = try EventFD()
    }

    /// Asks a running daemon to shut down as SIGTERM would.
    public func requestStop() { try? stopRequest.signal() }  // fails only on counter overflow: already signalled

    /// Runs until SIGTERM or SIGINT (or ``requestStop()``); returns the exit status.
    ///
    /// - Parameter handleSignals: block SIGTERM/SIGINT/SIGHUP and wait for them (the command
    ///   line does; an embedding test does not).
    /// - Parameter reload: reads the configuration again for SIGHUP; nil refuses reloads.
    public func run(
        handleSignals: Bool = true, onReady: (@Sendable () -> Void)? = nil,
        reload: (() throws(ConfigurationError) -> DaemonConfiguration)? = nil
    ) throws(StartError) -> Int32 {
        if handleSignals {
            do {
                try installSignalHandlers()
            } catch {
                throw StartError(description: "cannot install signal handlers: \(error)", status: 1)
            }
        }
        let c = configuration
        let notifier = SystemdNotifier()
        let startEpoch = UInt64(Clock.unixMilliseconds())

        // The model: newest valid checkpoint, or none (seeded from the warm-up). A worker keeps
        // none: its model is the coordinator's, which it adopts as soon as it connects.
        let role = c.cluster.role
        statistics.cluster.configure(c.cluster)
        let store = c.state.directory.isEmpty || role == .worker ? nil : CheckpointStore(
            directory: c.state.directory,
            beforeSync: { [delay = c.fault.checkpointDelayMilliseconds] in if delay > 0 { usleep(UInt32(delay) * 1000) } })
        var restored: ModelState?
        if let store {
            if mkdir(c.state.directory, 0o700) != 0 && errno != EEXIST {
                throw StartError(description: "state.directory: cannot create \(c.state.directory): \(String(cString: strerror(errno)))", status: 78)
            }
            let found = store.loadNewest()
            for s in found.skipped { logger.error("skipping damaged or foreign checkpoint \(s)") }
            let unclean = store.markRunning()
            if let state = found.state, let path = found.path {
                let dimensionDiffers = c.model.dimension > 0 && c.model.dimension != state.dimension
                if state.k != c.model.k || dimensionDiffers || state.metric != c.model.metric {
                    let what = "checkpoint \(path) has k = \(state.k), dimension = \(state.dimension), metric = \(state.metric.rawValue); the configuration says model.k = \(c.model.k), model.dimension = \(c.model.dimension), model.metric = \(c.model.metric.rawValue)"
                    if c.state.freshStart {
                        logger.warning("\(what): starting fresh as state.fresh_start asks (its checkpoints stay until newer ones replace them)")
                    } else {
                        throw StartError(description: "\(what). Set state.fresh_start = true (or --fresh) to start a new model", status: 78)
                    }
                } else {
                    var state = state
                    // Versions past this checkpoint may already have been published (the last
                    // run crashed, or a newer checkpoint was damaged): go on under a new model
                    // epoch so (epoch, version) never names two different models. A coordinator
                    // always does: its workers then drop what they sent the last run from the
                    // wire and send again, once, every epoch the checkpoint does not hold.
                    if unclean || !found.skipped.isEmpty || role == .coordinator {
                        let previous = state.epoch
                        state.epoch = max(UInt64(Clock.unixMilliseconds()), previous &+ 1)
                        let why = unclean ? "the last run did not stop cleanly, so versions past \(state.batches) may have been published already"
                            : !found.skipped.isEmpty ? "a newer checkpoint was damaged, so versions past \(state.batches) may have been published already"
                            : "a coordinator starts each run under a new epoch, so its workers send again what this checkpoint lacks"
                        logger.notice("the model continues as epoch \(state.epoch) (was \(previous)): \(why)")
                    }
                    restored = state
                    logger.notice("restored model from \(path): version \(state.batches), \(state.vectorsSeen) vectors seen, T = \(state.temperature)")
                }
            }
        }

        let security = try CurveSecurity.load(c.security)
        var given: (centers: [Float], dimension: Int)?
        if !c.model.initialCenters.isEmpty && restored == nil {
            do {
                given = try InitialCenters.load(path: c.model.initialCenters, k: c.model.k, dimension: c.model.dimension)
            } catch {
                throw StartError(description: error.description, status: 78)
            }
        }
        let context: ZMQContext
        let batches: BoundedQueue<InboundBatch>
        let recycled: BoundedQueue<VectorBatch>
        let outbound: BoundedQueue<Outbound>
        let spent: BoundedQueue<WireMessage>
        let stops: [EventFD]
        do {
            context = try ZMQContext(ioThreads: 1)
            batches = try BoundedQueue(capacity: c.input.queueBatches)
            recycled = try BoundedQueue(capacity: c.input.queueBatches + 4)
            outbound = try BoundedQueue(capacity: c.output.queueMessages)
            // Enough spent messages to cover what is in flight between emitter and socket.
            spent = try BoundedQueue(capacity: min(c.output.queueMessages, 64))
            stops = try (0..<7).map { _ throws(ZMQError) in try EventFD() }
        } catch {
            throw StartError(description: "cannot set up ZeroMQ: \(error)", status: 1)
        }
        let shared = SharedModel(update: c.update)
        let health = LoopHealth(logger: logger)
        let dropLimiter = DropLogLimiter(intervalSeconds: c.log.dropIntervalSeconds)
        let refusalLimiter = DropLogLimiter(intervalSeconds: c.log.dropIntervalSeconds, what: "refused client")
        limiters.withLock { $0 = [dropLimiter, refusalLimiter] }
        let writer: CheckpointWriter?
        do {
            writer = try store.map { s throws(ZMQError) in try CheckpointWriter(store: s, statistics: self.statistics, health: health, fault: c.fault, logger: logger) }
        } catch {
            throw StartError(description: "cannot set up the checkpoint writer: \(error)", status: 1)
        }
        let workerLink: WorkerLink?
        let coordinatorLink: CoordinatorLink?
        do {
            workerLink = role == .worker ? try WorkerLink(configuration: c, context: context, statistics: statistics, stop: stops[6], health: health, logger: logger) : nil
            coordinatorLink = role == .coordinator ? try CoordinatorLink(configuration: c, context: context, statistics: statistics, stop: stops[6], health: health, logger: logger) : nil
        } catch {
            throw StartError(description: "cannot set up the cluster link: \(error)", status: 1)
        }
        // The coordinator learns from the workers' statistics, not from vectors.
        let ingest = role == .coordinator ? nil : IngestLoop(configuration: c, context: context, statistics: statistics, batches: batches,
                                recycled: recycled, stop: stops[0], dimension: restored?.dimension ?? given?.dimension ?? (c.model.dimension > 0 ? c.model.dimension : nil),
                                security: security, deadLetters: c.output.deadLetter ? outbound : nil, health: health,
                                limiter: dropLimiter, logger: logger)
        let clustering = ClusteringLoop(configuration: c, statistics: statistics, batches: batches, recycled: recycled,
                                        outbound: outbound, spent: spent, shared: shared, stop: stops[1], logger: logger,
                                        startEpoch: startEpoch, restored: restored, checkpoints: writer, health: health,
                                        initialCenters: given, workerLink: workerLink, coordinatorLink: coordinatorLink)
        let publish = PublishLoop(configuration: c, context: context, statistics: statistics, outbound: outbound,
                                  spent: spent, stop: stops[2], security: security, health: health, logger: logger)
        let query = c.query.endpoint.isEmpty ? nil : QueryLoop(
            configuration: c, context: context, statistics: statistics, shared: shared, stop: stops[3],
            logger: logger, startEpoch: startEpoch, security: security, health: health)

        let ready = Atomic<Bool>(false)
        let statistics = self.statistics
        let metrics = c.metrics.address.isEmpty ? nil : MetricsServer(
            address: c.metrics.address, statistics: statistics, shared: shared, stop: stops[4], loops: health,
            fault: c.fault, logger: logger, isReady: { ready.load(ordering: .relaxed) },
            health: { health.report(now: Clock.monotonicMilliseconds(), maxStallMilliseconds: 5000) })
        let zap = security.map {
            ZAPHandler(security: $0, context: context, statistics: statistics, stop: stops[5], health: health,
                       fault: c.fault, limiter: refusalLimiter, logger: logger)
        }

        // The declared order: the page and the checkpoint writer first; the ZAP handler before
        // any CURVE socket binds (or those sockets would accept every key); the outputs before
        // the model owner, and the input last, so nothing arrives before it can go on. The
        // supervisor stops them in the reverse order: intake first, then the model owner (which
        // flushes its last batch, publishes the final centers and hands over the final
        // checkpoint), then what carries its output.
        // The cluster link comes before the model owner, which queues to it and reads from it.
        let link: (any DaemonService)? = workerLink ?? coordinatorLink
        let services: [(any DaemonService)?] = [metrics, writer, zap, publish, query, link, clustering, ingest]
        let supervisor = Supervisor(health: health)
        do {
            try supervisor.start(services.compactMap { $0 })
        } catch {
            context.shutdown()
            throw StartError(description: "cannot open \(error.description)", status: error.exitStatus)
        }
        func shutdown() {
            supervisor.stopAll()
            context.shutdown()
        }

        let metricsNote = (c.metrics.address.isEmpty ? "" : ", metrics http://\(c.metrics.address)/metrics")
            + (security.map { ", CURVE on \($0.sockets.sorted().joined(separator: "/")) for \($0.allowed.count) allowed keys (server key \($0.keyPair.z85PublicKey))" } ?? "")
        let intake = switch role {
        case .single: ""
        case .worker: "worker: statistics push \(c.cluster.statisticsEndpoint), model sub \(c.cluster.modelEndpoint), "
        case .coordinator: "coordinator: statistics pull \(c.cluster.statisticsEndpoint), model xpub \(c.cluster.modelEndpoint), "
        }
        let input = role == .coordinator ? "" : "in \(c.input.socket.rawValue) \(c.input.connect ? "connect" : "bind") \(c.input.endpoints.joined(separator: ",")), "
        let endpoints = intake + input + "out xpub \(c.output.endpoint)" + (query == nil ? "" : ", query rep \(c.query.endpoint)") + metricsNote
        logger.notice("voronoid ready: \(endpoints); k = \(c.model.k), mode = \(c.model.mode.rawValue), kernels = \(Kernels.level), blas = \(VoronoidVersion.blasDescription), product = \(VoronoidVersion.screenProduct)")
        ready.store(true, ordering: .relaxed)
        notifier.notify("READY=1\nSTATUS=ready: \(endpoints)")
        onReady?()

        // Supervise: signals, loop failures, watchdog, status.
        let watchdogMs = notifier.watchdogMicroseconds.map { max(1, $0 / 2000) }
        var running = c
        var lastStatus: UInt64 = 0
        var lastAccepted: UInt64 = 0
        var lastStatusAt = Clock.monotonicMilliseconds()
        var status: Int32 = 0
        while true {
            let tick = Int(min(watchdogMs ?? 1000, 250))
            if let signal = handleSignals ? waitForSignal(milliseconds: tick, extra: stopRequest) : waitForStop(milliseconds: tick) {
                if signal == SIGHUP {
                    notifier.notify("RELOADING=1\nSTATUS=reloading")
                    running = self.reload(clustering, running: running, read: reload)
                    notifier.notify("READY=1\nSTATUS=running")
                    continue
                }
                logger.notice("shutting down (\(signal == 0 ? "stop requested" : "signal \(signal)")): stopping intake, finishing the batch in flight")
                break
            }
            if let failed = health.failure {
                // The documented rule: a failed loop stops the daemon with status 1, and the
                // service manager restarts it from the newest checkpoint.
                logger.critical("stopping: the \(failed.loop.rawValue) loop failed (\(failed.reason)); exit status 1 so the service manager restarts the daemon")
                notifier.notify("STATUS=failed: \(failed.loop.rawValue) loop: \(failed.reason)")
                status = 1
                break
            }
            let now = Clock.monotonicMilliseconds()
            // Healthy means every loop went round within half the watchdog interval (they wake at
            // least once a second), so a stall is reported within about 1.5 × WatchdogSec.
            if watchdogMs != nil, health.report(now: now, maxStallMilliseconds: max(watchdogMs ?? 1000, 2000)).healthy {
                notifier.notify("WATCHDOG=1")
            }
            if now - lastStatus >= 5000, notifier.isActive {
                let accepted = statistics.vectorsAccepted.load(ordering: .relaxed)
                let rate = Double(accepted - lastAccepted) / (Double(now - lastStatusAt) / 1000)
                notifier.notify("STATUS=\(Int(rate)) vectors/s, model version \(statistics.modelVersion.load(ordering: .relaxed)), T = \(statistics.temperature), dropped \(statistics.totalDropped)")
                lastStatus = now
                lastAccepted = accepted
                lastStatusAt = now
            }
        }
        notifier.notify("STOPPING=1\nSTATUS=stopping")
        shutdown()
        // A clean stop leaves the newest model on disk; only then is the run marked as ended.
        if let store, let writer, status == 0, writer.isIdle, statistics.checkpointFailures.load(ordering: .relaxed) == 0 {
            store.markStopped()
        }
        logger.notice("stopped: \(statistics.vectorsAccepted.load(ordering: .relaxed)) vectors accepted, \(statistics.totalDropped) dropped")
        return status
    }

    /// SIGHUP: read the configuration again; apply what can change, name what cannot.
    private func reload(
        _ clustering: ClusteringLoop, running: DaemonConfiguration,
        read: (() throws(ConfigurationError) -> DaemonConfiguration)?
    ) -> DaemonConfiguration {
        guard let read else {
            logger.warning("SIGHUP: this daemon was started without a configuration source; nothing to reload")
            return running
        }
        let next: DaemonConfiguration
        do {
            next = try read()
        } catch {
            logger.error("SIGHUP: configuration not reloaded: \(error); the running one stays")
            return running
        }
        let (effective, refused) = running.reloaded(from: next)
        if !refused.isEmpty {
            logger.warning("SIGHUP: cannot change \(refused.joined(separator: ", ")) while running (the model and sockets depend on them); restart to change them")
        }
        StderrLogHandler.setLevel(Logger.Level(rawValue: effective.log.level) ?? .info)
        for limiter in limiters.withLock({ $0 }) { limiter.setInterval(seconds: effective.log.dropIntervalSeconds) }
        clustering.requestReload(effective)
        return effective
    }

    /// Handlers that record SIGTERM, SIGINT and SIGHUP and wake ``waitForSignal`` through an
    /// eventfd. Handlers rather than a blocked mask and `sigtimedwait`: libraries start threads
    /// before `main` (OpenBLAS's pool) with every signal unblocked, and a signal the kernel gave
    /// one of them would take its default action and kill the daemon without a checkpoint.
    private func installSignalHandlers() throws(ZMQError) {
        let events = try EventFD()
        signalEvents.withLock { $0 = events }
        guard voronoid_signals_install(events.fileDescriptor) == 0 else {
            throw ZMQError(operation: "sigaction", code: errno)
        }
    }

    /// Waits up to `milliseconds` for SIGTERM/SIGINT/SIGHUP or a stop request (reported as 0);
    /// a stop wins over a reload.
    private func waitForSignal(milliseconds: Int, extra: EventFD) -> Int32? {
        guard let events = signalEvents.withLock({ $0 }) else { return waitForStop(milliseconds: milliseconds) }
        var fds = [pollfd(fd: extra.fileDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: events.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 2, Int32(milliseconds))  // EINTR (a signal arrived) is read below like a wake-up
        if fds[0].revents != 0 { return 0 }
        _ = try? events.drain()  // EAGAIN when nothing is pending; the mask below is what counts
        let received = voronoid_signals_take()
        for s in [SIGTERM, SIGINT] where received & (1 << UInt32(s)) != 0 { return s }
        if received & (1 << UInt32(SIGHUP)) != 0 { return SIGHUP }
        return nil
    }

    private func waitForStop(milliseconds: Int) -> Int32? {
        var fd = pollfd(fd: stopRequest.fileDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, Int32(milliseconds)) > 0 ? 0 : nil
    }
}
