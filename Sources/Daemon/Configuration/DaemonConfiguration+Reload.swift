extension DaemonConfiguration {
    /// What a reload (SIGHUP) applies: the schedule, the update rule, publish rates, checkpoint
    /// cadence and the log level change in place; sockets, `k`, the dimension, the state
    /// directory and the thread count cannot change under a running model, so they keep their
    /// old values and their keys are returned as refused.
    public func reloaded(from new: DaemonConfiguration) -> (effective: DaemonConfiguration, refused: [String]) {
        var e = self
        var refused: [String] = []
        func keep<T: Equatable>(_ key: String, _ old: T, _ candidate: T) {
            if old != candidate { refused.append(key) }
        }
        keep("model.k", model.k, new.model.k)
        keep("model.dimension", model.dimension, new.model.dimension)
        keep("model.threads", model.threads, new.model.threads)
        keep("model.seed", model.seed, new.model.seed)
        keep("model.metric", model.metric, new.model.metric)
        keep("model.initial_centers", model.initialCenters, new.model.initialCenters)
        keep("input", input, new.input)
        keep("output.endpoint", output.endpoint, new.output.endpoint)
        keep("output.high_water_mark", output.highWaterMark, new.output.highWaterMark)
        keep("output.queue_messages", output.queueMessages, new.output.queueMessages)
        keep("output.dead_letter", output.deadLetter, new.output.deadLetter)
        keep("output.dead_letter_rate", output.deadLetterRate, new.output.deadLetterRate)
        keep("query", query, new.query)
        keep("state.directory", state.directory, new.state.directory)
        keep("metrics.address", metrics.address, new.metrics.address)
        keep("fault", fault, new.fault)
        keep("security", security, new.security)
        keep("cluster", cluster, new.cluster)
        e.model.mode = new.model.mode
        e.model.warmup = new.model.warmup
        e.model.warmupIterations = new.model.warmupIterations
        e.model.warmupSeedings = new.model.warmupSeedings
        e.model.countHalfLife = new.model.countHalfLife
        e.model.pacing = new.model.pacing
        e.model.memoryFraction = new.model.memoryFraction
        e.model.memoryFloor = new.model.memoryFloor
        e.model.learningRate = new.model.learningRate
        e.model.deadCenterFraction = new.model.deadCenterFraction
        e.model.deadCenterPatience = new.model.deadCenterPatience
        e.model.deadCenterRule = new.model.deadCenterRule
        e.model.deadCenterWindow = new.model.deadCenterWindow
        e.model.separationInterval = new.model.separationInterval
        e.temperature = new.temperature
        e.drift = new.drift
        e.changes = new.changes
        e.output.centersIntervalMilliseconds = new.output.centersIntervalMilliseconds
        e.output.centersJSON = new.output.centersJSON
        e.output.assignments = new.output.assignments
        e.output.assignmentsJSON = new.output.assignmentsJSON
        e.output.heartbeatIntervalMilliseconds = new.output.heartbeatIntervalMilliseconds
        e.state.checkpointIntervalSeconds = new.state.checkpointIntervalSeconds
        e.state.checkpointBatches = new.state.checkpointBatches
        e.state.freshStart = new.state.freshStart
        e.log = new.log
        return (e, refused)
    }
}
