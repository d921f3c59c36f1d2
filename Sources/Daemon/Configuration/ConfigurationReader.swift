import Clustering

/// A configuration that cannot be used: names the key and the value. `voronoid run` prints it
/// once and exits 78 (EX_CONFIG).
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The full key, such as `input.batch_size`, or the file for syntax errors.
    public var key: String
    /// What is wrong, with the offending value.
    public var reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "\(key): \(reason)" }

    /// The exit status for a bad configuration (sysexits.h EX_CONFIG).
    public static let exitStatus: Int32 = 78
}

/// A value as written in the file or on the command line.
public enum ConfigurationValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case number(Double, text: String)
    case bool(Bool)
    case array([String])

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .number(_, let text): text
        case .bool(let b): b ? "true" : "false"
        case .array(let a): "[" + a.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
    }
}

/// Reads `voronoid.toml` (TOML 1.0, parsed by toml++ through TOMLKit: see
/// `ConfigurationReader+TOML.swift`) and `--set key=value` overrides into a
/// ``DaemonConfiguration``, validating every value.
public enum ConfigurationReader {
    /// Parses one `--set` value: a TOML-like scalar or one-line array of strings; with
    /// `bareStrings`, text that is not a number, boolean or array is a string (so
    /// `--set input.socket=pull` needs no quotes).
    public static func parseValue(_ text: String, key: String, bareStrings: Bool) throws(ConfigurationError) -> ConfigurationValue {
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\""), let s = unescape(String(text.dropFirst().dropLast())) else {
                throw ConfigurationError(key: key, reason: "unterminated or badly escaped string \(text)")
            }
            return .string(s)
        }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw ConfigurationError(key: key, reason: "unterminated array \(text)") }
            let inner = String(text.dropFirst().dropLast()).trimmed
            if inner.isEmpty { return .array([]) }
            var items: [String] = []
            for part in inner.split(separator: ",", omittingEmptySubsequences: false) {
                let p = part.trimmed
                if p.isEmpty { continue }
                switch try parseValue(p, key: key, bareStrings: bareStrings) {
                case .string(let s): items.append(s)
                default: throw ConfigurationError(key: key, reason: "arrays hold strings only, got \(p)")
                }
            }
            return .array(items)
        }
        let cleaned = String(text.filter { $0 != "_" })
        if let v = Double(cleaned) { return .number(v, text: text) }
        if ["inf", "+inf", "infinity"].contains(cleaned.lowercased()) { return .number(.infinity, text: text) }
        if bareStrings, !text.isEmpty { return .string(text) }
        throw ConfigurationError(key: key, reason: "cannot read the value \(text) (strings need double quotes)")
    }

    /// Applies every pair to `configuration`, in order.
    public static func apply(_ pairs: [(String, ConfigurationValue)], to configuration: inout DaemonConfiguration) throws(ConfigurationError) {
        for (key, value) in pairs { try apply(key: key, value: value, to: &configuration) }
        try validate(configuration)
    }

    /// The keys this build knows, for error messages and documentation checks.
    public static let keys: [String] = [
        "model.k", "model.dimension", "model.mode", "model.seed", "model.warmup", "model.warmup_iterations",
        "model.warmup_seedings", "model.count_half_life",
        "model.learning_rate", "model.metric", "model.dead_center_fraction", "model.dead_center_patience",
        "model.dead_center_rule", "model.dead_center_window", "model.pacing", "model.memory_fraction", "model.memory_floor",
        "model.separation_interval", "model.threads", "model.initial_centers",
        "temperature.schedule", "temperature.initial", "temperature.floor", "temperature.half_life",
        "temperature.heat", "temperature.floor_ratio", "temperature.cooling_per_center", "temperature.support_limit",
        "drift.enabled", "drift.tolerance", "drift.threshold", "drift.reheat",
        "changes.enabled", "changes.size_factor", "changes.spread_factor", "changes.location_fraction",
        "input.socket", "input.endpoints", "input.connect", "input.topics", "input.batch_size", "input.max_wait_ms",
        "input.max_frame_bytes", "input.max_vectors_per_message", "input.high_water_mark", "input.buffer_bytes", "input.queue_batches",
        "input.max_producers",
        "output.endpoint", "output.centers_interval_ms", "output.centers_json", "output.assignments",
        "output.assignments_json", "output.heartbeat_interval_ms", "output.high_water_mark", "output.queue_messages",
        "output.dead_letter", "output.dead_letter_rate",
        "query.endpoint", "query.max_predict_vectors",
        "state.directory", "state.checkpoint_interval_s", "state.checkpoint_batches", "state.fresh_start",
        "log.level", "log.drop_interval_s", "metrics.address",
        "security.curve_secret_key_file", "security.allowed_clients_file", "security.curve_sockets",
        "fault.stall_after_s", "fault.fail_loop", "fault.fail_after_s", "fault.query_send_failures",
        "fault.checkpoint_delay_ms",
        "cluster.role", "cluster.statistics_endpoint", "cluster.model_endpoint", "cluster.staleness",
        "cluster.workers", "cluster.window", "cluster.ack_timeout_s", "cluster.worker_id", "cluster.queue_epochs", "cluster.retain_epochs", "cluster.worker_timeout_s",
        "cluster.model_interval_ms", "cluster.epoch_vectors", "cluster.epoch_ms",
    ]

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    static func apply(key: String, value: ConfigurationValue, to c: inout DaemonConfiguration) throws(ConfigurationError) {
        let v = Field(key: key, value: value)
        switch key {
        case "model.k": c.model.k = try v.int(min: 1, max: 1 << 16)
        case "model.dimension": c.model.dimension = try v.int(min: 0, max: 1 << 16)
        case "model.mode": c.model.mode = try v.choice(ResponsibilityMode.init(rawValue:), ResponsibilityMode.allCases.map(\.rawValue))
        case "model.metric": c.model.metric = try v.choice(Metric.init(rawValue:), Metric.allCases.map(\.rawValue))
        case "model.seed": c.model.seed = UInt64(try v.int(min: 0, max: Int.max))
        case "model.warmup": c.model.warmup = try v.int(min: 0, max: 1 << 24)
        case "model.warmup_iterations": c.model.warmupIterations = try v.int(min: 0, max: 1000)
        case "model.warmup_seedings": c.model.warmupSeedings = try v.int(min: 1, max: 64)
        case "model.count_half_life": c.model.countHalfLife = try v.double(above: 0, allowInfinity: true)
        case "model.pacing": c.model.pacing = try v.choice(Pacing.Kind.init(rawValue:), Pacing.Kind.allCases.map(\.rawValue))
        case "model.memory_fraction": c.model.memoryFraction = try v.double(above: 0, allowInfinity: false)
        case "model.memory_floor": c.model.memoryFloor = try v.double(above: 0, allowInfinity: false)
        case "temperature.cooling_per_center": c.temperature.coolingPerCenter = try v.double(above: 0, allowInfinity: false)
        case "temperature.support_limit":
            let limit = try v.double(atLeast: 0)
            guard limit == 0 || limit >= 1 else {
                throw ConfigurationError(key: key, reason: "\(limit) must be 0 (off) or at least 1 (a vector always has one center)")
            }
            c.temperature.supportLimit = limit
        case "model.learning_rate":
            if case .string("per_center") = value { c.model.learningRate = nil } else {
                let r = try v.double(above: 0, allowInfinity: false)
                guard r <= 1 else { throw v.error("must be \"per_center\" or a number in (0, 1]") }
                c.model.learningRate = r
            }
        case "model.dead_center_fraction":
            let f = try v.double(atLeast: 0)
            guard f < 1 else { throw v.error("must be in [0, 1)") }
            c.model.deadCenterFraction = f
        case "model.dead_center_patience": c.model.deadCenterPatience = UInt64(try v.int(min: 0, max: Int.max))
        case "model.dead_center_rule":
            c.model.deadCenterRule = try v.choice(UpdateConfiguration.DeadCenterRule.init(rawValue:), UpdateConfiguration.DeadCenterRule.allCases.map(\.rawValue))
        case "model.dead_center_window": c.model.deadCenterWindow = try v.double(above: 0, allowInfinity: false)
        case "model.separation_interval": c.model.separationInterval = try v.int(min: 0, max: Int(Int32.max))
        case "model.threads": c.model.threads = try v.int(min: 1, max: 64)
        case "model.initial_centers": c.model.initialCenters = try v.string()
        case "temperature.schedule":
            c.temperature.schedule = try v.choice(TemperatureSchedule.Kind.init(rawValue:), TemperatureSchedule.Kind.allCases.map(\.rawValue))
        case "temperature.initial": c.temperature.initial = try v.autoOrPositive()
        case "temperature.floor": c.temperature.floor = try v.autoOrPositive()
        case "temperature.half_life": c.temperature.halfLife = try v.double(above: 0, allowInfinity: false)
        case "temperature.heat": c.temperature.heat = try v.double(above: 0, allowInfinity: false)
        case "drift.enabled": c.drift.enabled = try v.bool()
        case "drift.tolerance": c.drift.tolerance = try v.double(above: 0, allowInfinity: false)
        case "drift.threshold": c.drift.threshold = try v.double(above: 0, allowInfinity: false)
        case "changes.enabled": c.changes.enabled = try v.bool()
        case "changes.size_factor": c.changes.sizeFactor = try v.double(above: 1, allowInfinity: false)
        case "changes.spread_factor": c.changes.spreadFactor = try v.double(above: 1, allowInfinity: false)
        case "changes.location_fraction": c.changes.locationFraction = try v.double(above: 0, allowInfinity: false)
        case "drift.reheat":
            let r = try v.double(above: 0, allowInfinity: false)
            guard r >= 1 else { throw v.error("must be ≥ 1") }
            c.drift.reheat = r
        case "temperature.floor_ratio":
            let r = try v.double(above: 0, allowInfinity: false)
            guard r <= 1 else { throw v.error("must be in (0, 1]") }
            c.temperature.floorRatio = r
        case "input.socket": c.input.socket = try v.choice(DaemonConfiguration.InputSocket.init(rawValue:), ["sub", "pull"])
        case "input.endpoints": c.input.endpoints = try v.endpoints(allowEmpty: false)
        case "input.connect": c.input.connect = try v.bool()
        case "input.topics": c.input.topics = try v.strings()
        case "input.batch_size": c.input.batchSize = try v.int(min: 1, max: 1 << 20)
        case "input.max_wait_ms": c.input.maxWaitMilliseconds = try v.int(min: 0, max: 3_600_000)
        case "input.max_frame_bytes": c.input.maxFrameBytes = try v.int(min: 64, max: 1 << 31)
        case "input.max_vectors_per_message": c.input.maxVectorsPerMessage = try v.int(min: 1, max: 1 << 24)
        case "input.high_water_mark": c.input.highWaterMark = try v.int(min: 0, max: Int(Int32.max))
        case "input.buffer_bytes": c.input.bufferBytes = try v.int(min: 0, max: 1 << 40)
        case "input.queue_batches": c.input.queueBatches = try v.int(min: 1, max: 1 << 16)
        case "input.max_producers": c.input.maxProducers = try v.int(min: 1, max: 1 << 20)
        case "output.endpoint": c.output.endpoint = try v.endpoints(allowEmpty: false)[0]
        case "output.centers_interval_ms": c.output.centersIntervalMilliseconds = try v.int(min: 0, max: 86_400_000)
        case "output.centers_json": c.output.centersJSON = try v.bool()
        case "output.assignments": c.output.assignments = try v.bool()
        case "output.assignments_json": c.output.assignmentsJSON = try v.bool()
        case "output.heartbeat_interval_ms": c.output.heartbeatIntervalMilliseconds = try v.int(min: 0, max: 86_400_000)
        case "output.high_water_mark": c.output.highWaterMark = try v.int(min: 0, max: Int(Int32.max))
        case "output.queue_messages": c.output.queueMessages = try v.int(min: 1, max: 1 << 24)
        case "output.dead_letter": c.output.deadLetter = try v.bool()
        case "output.dead_letter_rate": c.output.deadLetterRate = try v.double(above: 0, allowInfinity: false)
        case "query.endpoint": c.query.endpoint = try v.endpoints(allowEmpty: true).first ?? ""
        case "query.max_predict_vectors": c.query.maxPredictVectors = try v.int(min: 1, max: 1 << 24)
        case "state.directory": c.state.directory = try v.string()
        case "state.checkpoint_interval_s": c.state.checkpointIntervalSeconds = try v.double(atLeast: 0)
        case "state.checkpoint_batches": c.state.checkpointBatches = try v.int(min: 0, max: Int.max)
        case "state.fresh_start": c.state.freshStart = try v.bool()
        case "log.level":
            c.log.level = try v.choice({ LogLevelName.all.contains($0) ? $0 : nil }, LogLevelName.all)
        case "log.drop_interval_s": c.log.dropIntervalSeconds = try v.double(atLeast: 0)
        case "metrics.address":
            let a = try v.string()
            if !a.isEmpty && HTTPAddress(a) == nil { throw v.error("must be host:port (IPv4, or [IPv6]:port) or \"\"") }
            c.metrics.address = a
        case "security.curve_secret_key_file": c.security.curveSecretKeyFile = try v.string()
        case "security.allowed_clients_file": c.security.allowedClientsFile = try v.string()
        case "security.curve_sockets":
            let list = try v.strings()
            for s in list where !["input", "output", "query"].contains(s) {
                throw v.error("must list only input, output and query")
            }
            c.security.curveSockets = list
        case "fault.stall_after_s": c.fault.stallAfterSeconds = try v.double(atLeast: 0)
        case "fault.fail_loop":
            let loop = try v.string()
            if !loop.isEmpty && !DaemonConfiguration.Fault.loopNames.contains(loop) {
                throw v.error("must name a loop: \(DaemonConfiguration.Fault.loopNames.joined(separator: ", ")), or \"\"")
            }
            c.fault.failLoop = loop
        case "fault.fail_after_s": c.fault.failAfterSeconds = try v.double(atLeast: 0)
        case "fault.query_send_failures": c.fault.querySendFailures = try v.int(min: 0, max: 1_000_000)
        case "fault.checkpoint_delay_ms": c.fault.checkpointDelayMilliseconds = try v.int(min: 0, max: 3_600_000)
        case "cluster.role": c.cluster.role = try v.choice(DaemonConfiguration.ClusterRole.init(rawValue:), DaemonConfiguration.ClusterRole.allCases.map(\.rawValue))
        case "cluster.statistics_endpoint": c.cluster.statisticsEndpoint = try v.endpoints(allowEmpty: false)[0]
        case "cluster.model_endpoint": c.cluster.modelEndpoint = try v.endpoints(allowEmpty: false)[0]
        case "cluster.staleness": c.cluster.staleness = try v.int(min: 0, max: 1024)
        case "cluster.workers": c.cluster.workers = try v.int(min: 1, max: 1 << 16)
        case "cluster.window": c.cluster.window = try v.int(min: 1, max: 1 << 16)
        case "cluster.ack_timeout_s": c.cluster.ackTimeoutSeconds = try v.double(above: 0, allowInfinity: false)
        case "cluster.worker_id":
            // Ids travel as unsigned 64-bit integers; a TOML integer is signed, and a double
            // above 2⁵³ would not round-trip, so the range stops there.
            c.cluster.workerID = UInt64(try v.int(min: 0, max: 1 << 53))
        case "cluster.queue_epochs": c.cluster.queueEpochs = try v.int(min: 1, max: 1 << 16)
        case "cluster.retain_epochs": c.cluster.retainEpochs = try v.int(min: 0, max: 1 << 16)
        case "cluster.worker_timeout_s": c.cluster.workerTimeoutSeconds = try v.double(above: 0, allowInfinity: false)
        case "cluster.model_interval_ms": c.cluster.modelIntervalMilliseconds = try v.int(min: 0, max: 60_000)
        case "cluster.epoch_vectors": c.cluster.epochVectors = try v.int(min: 0, max: 1 << 30)
        case "cluster.epoch_ms": c.cluster.epochMilliseconds = try v.int(min: 0, max: 60_000)
        default:
            throw ConfigurationError(key: key, reason: "unknown key (known sections: model, temperature, drift, changes, input, output, query, state, log, metrics, security, fault, cluster)")
        }
    }

    /// Cross-key rules.
    static func validate(_ c: DaemonConfiguration) throws(ConfigurationError) {
        if let floor = c.temperature.floor, let initial = c.temperature.initial, floor > initial {
            throw ConfigurationError(key: "temperature.floor", reason: "must not exceed temperature.initial (\(initial)), got \(floor)")
        }
        if c.temperature.floor != nil && c.temperature.initial == nil {
            throw ConfigurationError(key: "temperature.floor", reason: "a fixed floor needs a fixed temperature.initial, got initial = \"auto\"")
        }
        if let schedule = c.fixedSchedule, let why = schedule.validationError {
            throw ConfigurationError(key: "temperature.initial", reason: "with temperature.floor_ratio = \(c.temperature.floorRatio) the schedule is unusable (\(why)), got \(c.temperature.initial ?? 0)")
        }
        if c.security.enabled && c.security.allowedClientsFile.isEmpty {
            throw ConfigurationError(key: "security.allowed_clients_file", reason: "CURVE needs an allow-list of client keys, got \"\"")
        }
        if c.security.enabled && c.input.connect && c.security.curveSockets.contains("input") {
            throw ConfigurationError(key: "security.curve_sockets", reason: "CURVE protects bound sockets; input.connect = true makes the input a client, got [\"input\", …]")
        }
        if c.input.socket == .sub && c.input.topics.isEmpty {
            throw ConfigurationError(key: "input.topics", reason: "a SUB socket with no topics receives nothing, got []")
        }
        if c.cluster.role != .single && c.cluster.statisticsEndpoint == c.cluster.modelEndpoint {
            throw ConfigurationError(key: "cluster.model_endpoint", reason: "must differ from cluster.statistics_endpoint, got \"\(c.cluster.modelEndpoint)\"")
        }
        let coordinator = c.cluster.role == .coordinator
        let bound = [c.output.endpoint, c.query.endpoint]
            + (coordinator ? [c.cluster.statisticsEndpoint, c.cluster.modelEndpoint] : [])
            + (c.input.connect || coordinator ? [] : c.input.endpoints)
        var seen = Set<String>()
        for e in bound where !e.isEmpty && !e.hasSuffix(":*") {
            guard seen.insert(e).inserted else {
                throw ConfigurationError(key: "output.endpoint", reason: "endpoint \(e) is used twice")
            }
        }
    }

    private static func unescape(_ s: String) -> String? {
        var out = ""
        var escaped = false
        for ch in s {
            if escaped {
                switch ch {
                case "\\": out.append("\\")
                case "\"": out.append("\"")
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: return nil
                }
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == "\"" {
                return nil
            } else {
                out.append(ch)
            }
        }
        return escaped ? nil : out
    }
}

/// The log level names `log.level` accepts.
public enum LogLevelName {
    public static let all = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

/// One key's value, with typed readers that produce the key-and-value error messages.
struct Field {
    let key: String
    let value: ConfigurationValue

    func error(_ rule: String) -> ConfigurationError {
        ConfigurationError(key: key, reason: "\(rule), got \(value)")
    }

    func int(min: Int, max: Int) throws(ConfigurationError) -> Int {
        // Int(exactly:) rather than a range check: Double(Int.max) rounds up to 2⁶³.
        guard case .number(let v, _) = value, v.isFinite || v.isInfinite, v == v.rounded() else {
            throw error("must be a whole number")
        }
        guard let i = Int(exactly: v) else { throw error("is out of range (\(min) to \(max))") }
        guard i >= min && i <= max else {
            throw error(max == Int.max || max >= 1 << 30 && min == 0 ? "must be ≥ \(min)" : "must be between \(min) and \(max)")
        }
        return i
    }

    func double(above bound: Double, allowInfinity: Bool) throws(ConfigurationError) -> Double {
        guard case .number(let v, _) = value, !v.isNaN, allowInfinity || v.isFinite else {
            throw error(allowInfinity ? "must be a number or inf" : "must be a finite number")
        }
        guard v > bound else { throw error("must be > \(bound)") }
        return v
    }

    func double(atLeast bound: Double) throws(ConfigurationError) -> Double {
        guard case .number(let v, _) = value, v.isFinite else { throw error("must be a finite number") }
        guard v >= bound else { throw error("must be ≥ \(bound)") }
        return v
    }

    func bool() throws(ConfigurationError) -> Bool {
        guard case .bool(let b) = value else { throw error("must be true or false") }
        return b
    }

    func string() throws(ConfigurationError) -> String {
        guard case .string(let s) = value else { throw error("must be a string") }
        return s
    }

    func strings() throws(ConfigurationError) -> [String] {
        switch value {
        case .string(let s): return [s]
        case .array(let a): return a
        default: throw error("must be a string or an array of strings")
        }
    }

    func choice<T>(_ make: (String) -> T?, _ names: [String]) throws(ConfigurationError) -> T {
        guard case .string(let s) = value, let t = make(s) else {
            throw error("must be one of \(names.joined(separator: ", "))")
        }
        return t
    }

    func autoOrPositive() throws(ConfigurationError) -> Double? {
        if case .string("auto") = value { return nil }
        guard case .number(let v, _) = value, v.isFinite, v > 0 else { throw error("must be \"auto\" or a finite number > 0") }
        return v
    }

    func endpoints(allowEmpty: Bool) throws(ConfigurationError) -> [String] {
        let list = try strings()
        if list.isEmpty && !allowEmpty { throw error("needs at least one endpoint") }
        for e in list {
            if allowEmpty && e.isEmpty { continue }
            let ok = ["tcp://", "ipc://", "inproc://"].contains { e.hasPrefix($0) && e.count > $0.count }
            guard ok else { throw error("endpoint \(e) must start with tcp://, ipc:// or inproc://") }
        }
        return list
    }
}

extension StringProtocol {
    var trimmed: String {
        String(drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed())
    }
}
