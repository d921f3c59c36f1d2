import Clustering

/// Everything `voronoid run` can be told, with its defaults. Every key is documented in
/// `config/voronoid.toml`; the reader that fills this from a file and flags is
/// ``ConfigurationReader``.
public struct DaemonConfiguration: Sendable, Equatable {
    /// `[model]`: the clustering model.
    public struct Model: Sendable, Equatable {
        /// `model.k`: number of centers.
        public var k = 8
        /// `model.dimension`: vector dimension; 0 takes it from the first valid message.
        public var dimension = 0
        /// `model.mode`: entmax15, softmax or hard.
        public var mode = ResponsibilityMode.entmax15
        /// `model.metric`: euclidean, or cosine (vectors scaled to unit length on arrival,
        /// centers kept on the unit sphere, distance 2 − 2·cos).
        public var metric = Metric.euclidean
        /// `model.seed`: seed of every random choice of a new model.
        public var seed: UInt64 = 1
        /// `model.warmup`: vectors gathered for k-means++ seeding; 0 means max(4k, one batch).
        public var warmup = 0
        /// `model.warmup_iterations`: Lloyd steps of the k-means++ centers over the warm-up
        /// before the stream is trained on; 0 keeps the k-means++ centers.
        public var warmupIterations = 10
        /// `model.warmup_seedings`: k-means++ seedings drawn (each refined); the one with the
        /// lowest warm-up inertia after refinement is kept.
        public var warmupSeedings = 5
        /// `model.count_half_life`: soft-count half-life in vectors under `pacing = "fixed"`;
        /// infinity keeps all history.
        public var countHalfLife = 10_000.0
        /// `model.pacing`: `model` (half-lives from the model's own counts and k, see
        /// ``Pacing``) or `fixed` (`count_half_life` and `temperature.half_life` in vectors).
        public var pacing = Pacing.Kind.model
        /// `model.memory_fraction`: under `pacing = "model"`, the count half-life as a fraction
        /// of the vectors seen since the counts were last cut (by seeding or drift).
        public var memoryFraction = Pacing().memoryFraction
        /// `model.memory_floor`: under `pacing = "model"`, the least count half-life in vectors
        /// per center.
        public var memoryFloor = Pacing().memoryFloor
        /// `model.learning_rate`: nil for the per-center rate 1/N_k, else a fixed rate in (0, 1].
        public var learningRate: Double? = nil
        /// `model.dead_center_rule`: how a dead center is recognised (`received` or `share`).
        public var deadCenterRule = UpdateConfiguration.DeadCenterRule.received
        /// `model.dead_center_window`: the received rule's window, in vectors per center.
        public var deadCenterWindow = 100.0
        /// `model.dead_center_fraction`: the share rule's threshold, a fraction of the largest
        /// count; 0 turns re-seeding off under either rule.
        public var deadCenterFraction = 0.01
        /// `model.dead_center_patience`: vectors a (re-)seeded center gets before it can be dead.
        public var deadCenterPatience: UInt64 = 10_000
        /// `model.separation_interval`: batches between checks for coinciding centers (0: never).
        public var separationInterval = 8
        /// `model.threads`: threads for the per-row work of a batch.
        public var threads = 1
        /// `model.initial_centers`: a CSV file of k rows to start from instead of k-means++
        /// (the warm-up then only sets the automatic temperature); empty: k-means++.
        public var initialCenters = ""
    }

    /// `[temperature]`: the annealing schedule.
    public struct Temperature: Sendable, Equatable {
        /// `temperature.schedule`: exponential, inverse_time or constant.
        public var schedule = TemperatureSchedule.Kind.exponential
        /// `temperature.initial`: T₀ in squared-distance units; nil for `auto`.
        public var initial: Double? = nil
        /// `temperature.floor`: T_min; nil for `auto` (initial × floor_ratio).
        public var floor: Double? = nil
        /// `temperature.half_life`: under `model.pacing = "fixed"`, vectors for the temperature
        /// to halve (or, inverse time, double its denominator).
        public var halfLife = 20_000.0
        /// `temperature.cooling_per_center`: under `model.pacing = "model"`, the half-life in
        /// vectors per center.
        public var coolingPerCenter = Pacing().coolingPerCenter
        /// `temperature.heat`: multiplier of the median-gap rule for `auto`. 0.25: as good as 1
        /// on the low-dimensional sets (within 0.3 %) and 2.6× less error at d 768, k 1024, where
        /// the median gap is near the temperature at which neighbouring centers merge
        /// (docs/SCHEDULES.md).
        public var heat = 0.25
        /// `temperature.floor_ratio`: the `auto` floor as a fraction of T₀.
        public var floorRatio = 1e-3
        /// `temperature.support_limit`: while a batch's vectors share more centers than this on
        /// average, the temperature halves after the batch on top of its schedule; 0 turns it
        /// off (``UpdateConfiguration/supportLimit``).
        public var supportLimit = 3.0
    }

    /// `[drift]`: the test for a change of the error's level, and the response to one.
    public struct Drift: Sendable, Equatable {
        /// `drift.enabled`: run the test.
        public var enabled = true
        /// `drift.tolerance`: the relative growth of the per-vector error tolerated (0.1: 10 %).
        public var tolerance = 0.1
        /// `drift.threshold`: the alarm threshold in units of the statistic's own noise.
        public var threshold = 12.0
        /// `drift.reheat`: on drift the temperature is multiplied by this (1: no reheating).
        public var reheat = 1.0
    }

    /// `[changes]`: per-cluster change events (``ClusterMonitor``).
    public struct Changes: Sendable, Equatable {
        /// `changes.enabled`: publish `change` events.
        public var enabled = true
        /// `changes.size_factor`: a cluster's share that grew or shrank by this factor.
        public var sizeFactor = ClusterMonitor().sizeFactor
        /// `changes.spread_factor`: a cluster's spread that grew or shrank by this factor.
        public var spreadFactor = ClusterMonitor().spreadFactor
        /// `changes.location_fraction`: a center that moved by this fraction of its cluster's
        /// spread (squared distance).
        public var locationFraction = ClusterMonitor().locationFraction

        /// The monitor these settings describe.
        public var monitor: ClusterMonitor {
            ClusterMonitor(sizeFactor: sizeFactor, spreadFactor: spreadFactor, locationFraction: locationFraction)
        }
    }

    /// Where inbound vectors come from.
    public enum InputSocket: String, Sendable, Equatable {
        /// Best effort: producers publish; a full queue drops and counts.
        case sub
        /// Lossless: producers push; a full queue stops reading so producers slow down.
        case pull
    }

    /// `[input]`: the inbound socket and batching.
    public struct Input: Sendable, Equatable {
        /// `input.socket`: sub or pull.
        public var socket = InputSocket.sub
        /// `input.endpoints`: where to bind (or connect, with `input.connect`).
        public var endpoints = ["tcp://127.0.0.1:5555"]
        /// `input.connect`: connect to producers' endpoints instead of binding.
        public var connect = false
        /// `input.topics`: topic prefixes to subscribe to (SUB only).
        public var topics = ["vectors"]
        /// `input.batch_size`: a batch closes at this many vectors…
        public var batchSize = 1024
        /// `input.max_wait_ms`: …or this long after its first vector, whichever comes first.
        public var maxWaitMilliseconds = 1
        /// `input.max_frame_bytes`: larger frames are refused by libzmq (the peer is disconnected).
        public var maxFrameBytes = 64 << 20
        /// `input.max_vectors_per_message`: larger messages are dropped.
        public var maxVectorsPerMessage = 65_536
        /// `input.high_water_mark`: messages libzmq queues before dropping (SUB) or blocking (PULL).
        public var highWaterMark = 100_000
        /// `input.buffer_bytes`: PULL only: about how many bytes of messages libzmq holds per
        /// producer before it stops reading (producers then block). The high-water mark follows
        /// the size of the messages seen, between ``IngestLoop/minimumHighWaterMark`` and
        /// `input.high_water_mark`; 0 leaves it at `input.high_water_mark`.
        public var bufferBytes = 32 << 20
        /// `input.queue_batches`: closed batches waiting for the clustering thread.
        public var queueBatches = 16
        /// `input.max_producers`: distinct topics whose sequence numbers are tracked.
        public var maxProducers = 1024
    }

    /// `[output]`: the outbound XPUB socket.
    public struct Output: Sendable, Equatable {
        /// `output.endpoint`: where to bind.
        public var endpoint = "tcp://127.0.0.1:5556"
        /// `output.centers_interval_ms`: centers are published at most this often (and at once to a new subscriber).
        public var centersIntervalMilliseconds = 1000
        /// `output.centers_json`: also publish `centers.json`.
        public var centersJSON = true
        /// `output.assignments`: publish `assignments.bin` for every batch.
        public var assignments = true
        /// `output.assignments_json`: also publish `assignments.json` (slow; for debugging).
        public var assignmentsJSON = false
        /// `output.heartbeat_interval_ms`: heartbeat period.
        public var heartbeatIntervalMilliseconds = 1000
        /// `output.high_water_mark`: messages queued per subscriber; beyond it only that subscriber loses messages.
        public var highWaterMark = 10_000
        /// `output.queue_messages`: messages waiting for the publish thread before new ones are dropped.
        public var queueMessages = 4096
        /// `output.dead_letter`: republish rejected inbound messages on the `rejected` topic.
        public var deadLetter = false
        /// `output.dead_letter_rate`: at most this many rejected messages per second are republished.
        public var deadLetterRate = 10.0
    }

    /// `[query]`: the REP socket.
    public struct Query: Sendable, Equatable {
        /// `query.endpoint`: where to bind; empty disables queries.
        public var endpoint = "tcp://127.0.0.1:5557"
        /// `query.max_predict_vectors`: larger predict requests get an error reply.
        public var maxPredictVectors = 65_536
    }

    /// `[state]`: checkpoints.
    public struct State: Sendable, Equatable {
        /// `state.directory`: where checkpoints live. Empty means `$STATE_DIRECTORY` when systemd
        /// sets it, else no checkpoints; `none` turns them off everywhere.
        public var directory = ""
        /// `state.checkpoint_interval_s`: seconds between checkpoints (0: only by batches and at exit).
        public var checkpointIntervalSeconds = 30.0
        /// `state.checkpoint_batches`: batches between checkpoints (0: only by time and at exit).
        public var checkpointBatches = 0
        /// `state.fresh_start`: ignore a checkpoint whose k or dimension disagree instead of refusing to start.
        public var freshStart = false
    }

    /// `[log]`.
    public struct Log: Sendable, Equatable {
        /// `log.level`: trace, debug, info, notice, warning, error or critical.
        public var level = "info"
        /// `log.drop_interval_s`: at most one log line per drop reason this often.
        public var dropIntervalSeconds = 10.0
    }

    /// `[metrics]`: Prometheus metrics and health checks over HTTP.
    public struct Metrics: Sendable, Equatable {
        /// `metrics.address`: `host:port` to serve `/metrics`, `/healthz` and `/readyz` on; empty disables.
        public var address = "127.0.0.1:9464"
    }

    /// `[security]`: CURVE encryption and an allow-list of client keys.
    public struct Security: Sendable, Equatable {
        /// `security.curve_secret_key_file`: the daemon's CURVE secret key (Z85, 40 characters),
        /// a path or `credential:NAME` for a systemd credential; empty disables CURVE.
        public var curveSecretKeyFile = ""
        /// `security.allowed_clients_file`: client public keys allowed in, one Z85 key per line,
        /// optionally followed by a name used in logs and counters (a path or `credential:NAME`).
        public var allowedClientsFile = ""
        /// `security.curve_sockets`: which bound sockets require CURVE: input, output, query.
        public var curveSockets = ["input", "output", "query"]

        /// Whether CURVE is on.
        public var enabled: Bool { !curveSecretKeyFile.isEmpty }
    }

    /// `[fault]`: fault injection, for testing supervision (never set in production).
    public struct Fault: Sendable, Equatable {
        /// `fault.stall_after_s`: the clustering loop stops making progress this many seconds
        /// after start (0: never), so the systemd watchdog can be seen to fire.
        public var stallAfterSeconds = 0.0
        /// `fault.fail_loop`: this loop (ingest, clustering, publish, query, metrics, zap,
        /// checkpoint) fails `fault.fail_after_s` after start as if its poll had failed; "" never.
        public var failLoop = ""
        /// `fault.fail_after_s`: when `fault.fail_loop` fails.
        public var failAfterSeconds = 1.0
        /// `fault.query_send_failures`: the first this many query replies fail to send, as a
        /// broken REP socket would (the query loop must recover).
        public var querySendFailures = 0
        /// `fault.checkpoint_delay_ms`: every checkpoint's `fsync` takes this much longer (a slow disk).
        public var checkpointDelayMilliseconds = 0

        /// The loops `fault.fail_loop` may name (``LoopHealth/Loop``'s names; configuration stays
        /// free of runtime types, and a test checks the two agree).
        public static let loopNames = ["zap", "publish", "query", "checkpoint", "clustering", "ingest", "metrics", "cluster"]

        /// Whether the injected failure of `loop` is due at monotonic time `now` (milliseconds)
        /// for a loop started at `started`.
        func failureDue(_ loop: String, started: UInt64, now: UInt64) -> Bool {
            failLoop == loop && now >= started + UInt64(failAfterSeconds * 1000)
        }
    }

    /// What a process does in a group of daemons that learn one model (README, "Several machines").
    public enum ClusterRole: String, Sendable, Equatable, CaseIterable {
        /// One daemon, one model: ingests, learns and publishes (the default).
        case single
        /// Ingests and publishes assignments for its own vectors; sends each batch's sufficient
        /// statistics to the coordinator and adopts every model version the coordinator publishes.
        case worker
        /// Merges the workers' statistics into the model, owns forgetting and the schedule,
        /// publishes every version to the workers and writes the checkpoints. Ingests nothing.
        case coordinator
    }

    /// `[cluster]`: several daemons learning one model.
    public struct Cluster: Sendable, Equatable {
        /// `cluster.role`: single, worker or coordinator.
        public var role = ClusterRole.single
        /// `cluster.statistics_endpoint`: the coordinator's PULL socket for statistics (it binds,
        /// workers connect).
        public var statisticsEndpoint = "tcp://127.0.0.1:5570"
        /// `cluster.model_endpoint`: the coordinator's XPUB socket for model versions (it binds,
        /// workers connect).
        public var modelEndpoint = "tcp://127.0.0.1:5571"
        /// `cluster.staleness`: model versions a worker's statistics may lag the coordinator's
        /// model and still be merged (rebased onto the current centers); 0 is the synchronous
        /// mode, for tests: a worker waits for the version that includes its last batch.
        public var staleness = 16
        /// `cluster.window`: statistics messages a worker may have on their way to the coordinator
        /// (sent, not yet acknowledged by a model version). Further batches are merged into one
        /// held message, rebased onto each new version and sent when the window opens, so a slow
        /// coordinator makes messages larger, not lost, and the lag of what it merges stays
        /// near `window` × workers versions.
        public var window = 2
        /// `cluster.ack_timeout_s`: a worker whose window stays closed this long takes the
        /// messages on their way as lost (counted) and opens it.
        public var ackTimeoutSeconds = 5.0
        /// `cluster.workers`: under `staleness = 0`, the coordinator applies a step once this
        /// many workers have each sent the batch for the current version. Ignored otherwise.
        public var workers = 1
        /// `cluster.worker_id`: this worker's name in the coordinator's ledger and statistics;
        /// 0 derives one from the host name and process id.
        public var workerID: UInt64 = 0
        /// `cluster.queue_epochs`: statistics messages a worker holds for the coordinator before
        /// it drops new ones (and counts them); the clustering thread never waits for the network.
        public var queueEpochs = 64
        /// `cluster.retain_epochs`: sent epochs a worker keeps a copy of until the coordinator's
        /// newest checkpoint holds them, so a coordinator restored from it is sent them again
        /// (exactly once); beyond this many the oldest is released unconfirmed (counted). 0 keeps none.
        public var retainEpochs = 64
        /// `cluster.worker_timeout_s`: a worker the coordinator has not heard from for this long
        /// counts as silent in `stats` and `/metrics`.
        public var workerTimeoutSeconds = 10.0
        /// `cluster.model_interval_ms`: the coordinator publishes a model version at most this
        /// often (every step is still applied, and the next version includes it). Each worker
        /// decodes every version it takes, so without a bound N workers would cost each of them
        /// N models per batch of its own. 0 publishes after every step, as the synchronous
        /// mode (`staleness = 0`) always does.
        public var modelIntervalMilliseconds = 20
        /// `cluster.epoch_vectors`: a worker sends its statistics once it holds this many vectors
        /// (or after `cluster.epoch_ms`); 0 is 16·k. A message carries k·d sums whatever the
        /// vectors it sums, and each costs the coordinator a step over k·d values and every
        /// worker a model version: at 16·k vectors both stay near a sixteenth of the data's
        /// bytes, where a message per batch of 1024 at k 1024 would double the traffic.
        /// Measured at (768, 1024) with two workers on two cores (`scripts/cluster-check.sh`):
        /// learning 1.46× one worker's rate at 4·k, 1.79× at 16·k.
        public var epochVectors = 0
        /// `cluster.epoch_ms`: a worker holds statistics no longer than this before sending them,
        /// however few vectors they sum (the window permitting).
        public var epochMilliseconds = 200
        /// The vectors an epoch gathers before it is sent, `epoch_vectors` resolved.
        public func epochVectors(k: Int) -> Int { epochVectors > 0 ? epochVectors : 16 * k }
    }

    public var model = Model()
    public var cluster = Cluster()
    public var temperature = Temperature()
    public var input = Input()
    public var output = Output()
    public var query = Query()
    public var state = State()
    public var log = Log()
    public var metrics = Metrics()
    public var security = Security()
    public var fault = Fault()
    public var drift = Drift()
    public var changes = Changes()

    /// The defaults of ARCHITECTURE.md.
    public init() {}

    /// The update configuration of the core.
    public var update: UpdateConfiguration {
        var u = UpdateConfiguration(
            mode: model.mode, countHalfLife: model.countHalfLife,
            learningRate: model.learningRate.map { .fixed($0) } ?? .perCenter,
            deadCenterFraction: model.deadCenterFraction, deadCenterPatience: model.deadCenterPatience,
            separationInterval: model.separationInterval)
        u.pacing = pacing
        u.deadCenterRule = model.deadCenterRule
        u.deadCenterWindow = model.deadCenterWindow
        u.drift = drift.enabled ? DriftParameters(tolerance: drift.tolerance, sigmas: drift.threshold) : nil
        u.reheatFactor = drift.reheat
        u.supportLimit = temperature.supportLimit
        return u
    }

    /// The fixed schedule if both temperature ends are given, else nil (automatic from warm-up).
    public var fixedSchedule: TemperatureSchedule? {
        guard let initial = temperature.initial else { return nil }
        let floor = temperature.floor ?? initial * temperature.floorRatio
        return TemperatureSchedule(kind: temperature.schedule, initial: initial, floor: min(floor, initial), halfLife: temperatureHalfLife)
    }

    /// The pacing rule of ``update``.
    public var pacing: Pacing {
        Pacing(kind: model.pacing, memoryFraction: model.memoryFraction, memoryFloor: model.memoryFloor,
               coolingPerCenter: temperature.coolingPerCenter)
    }

    /// The temperature's half-life in vectors, under either pacing.
    public var temperatureHalfLife: Double {
        pacing.temperatureHalfLife(k: model.k, fixed: temperature.halfLife)
    }

    /// Vectors gathered before seeding: 32k up to 4 096, at least 4k and one batch. k-means++
    /// on the old 4k missed well-separated clusters that nothing later repairs (docs/SCHEDULES.md:
    /// blobs (64, 64) 1.29× and blobs (384, 256) 1.05× the full-batch limit on some seeds); 2 048
    /// to 4 096 rows found them, 8 192 did worse on both.
    public var warmupVectors: Int {
        model.warmup > 0 ? model.warmup : max(4 * model.k, min(32 * model.k, 4096), input.batchSize)
    }
}
