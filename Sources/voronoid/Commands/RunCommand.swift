import ArgumentParser
import Daemon
import Glibc

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: subscribe to vectors, cluster them, publish centers and assignments.",
        discussion: """
            Settings come from the defaults, then the configuration file (--config, or \
            $CONFIGURATION_DIRECTORY/voronoid.toml under systemd), then the flags below; every \
            key is documented in the reference configuration (config/voronoid.toml in the \
            sources, /etc/voronoid/voronoid.toml as installed). A bad value names its key and \
            exits 78.
            """)

    @Option(help: "Configuration file (TOML subset).") var config: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Override any key, e.g. --set input.batch_size=512.", valueName: "key=value"))
    var settings: [String] = []
    @Option(help: "model.k: number of centers.") var k: Int?
    @Option(help: "model.dimension: vector dimension (0: from the first message).") var dimension: Int?
    @Option(help: "model.mode: entmax15, softmax or hard.") var mode: String?
    @Option(help: "input.endpoints: inbound endpoint (repeatable).") var input: [String] = []
    @Flag(help: "input.connect: connect to the input endpoints instead of binding.") var connect = false
    @Flag(help: "input.socket = pull: lossless input with backpressure.") var pull = false
    @Option(help: "output.endpoint: the XPUB endpoint.") var output: String?
    @Option(help: "query.endpoint: the REP endpoint (\"\" disables).") var query: String?
    @Option(help: "state.directory: where checkpoints live.") var state: String?
    @Flag(help: "state.fresh_start: start a new model if the checkpoint's k or dimension differ.") var fresh = false
    @Option(help: "log.level: trace, debug, info, notice, warning, error, critical.") var logLevel: String?
    @Option(help: "cluster.role: single, worker (learns with a coordinator) or coordinator (merges the workers' statistics).") var role: String?

    /// The flags as typed settings, then every `--set` (which may override a flag): a flag's
    /// text goes to the validators as given, never re-parsed.
    func overrides() throws(ConfigurationError) -> [ConfigurationOverride] {
        var o: [ConfigurationOverride] = []
        func set(_ key: String, _ value: ConfigurationValue) { o.append(ConfigurationOverride(key: key, value: value)) }
        if let k { set("model.k", .number(Double(k), text: String(k))) }
        if let dimension { set("model.dimension", .number(Double(dimension), text: String(dimension))) }
        if let mode { set("model.mode", .string(mode)) }
        if !input.isEmpty { set("input.endpoints", .array(input)) }
        if connect { set("input.connect", .bool(true)) }
        if pull { set("input.socket", .string("pull")) }
        if let output { set("output.endpoint", .string(output)) }
        if let query { set("query.endpoint", .string(query)) }
        if let state { set("state.directory", .string(state)) }
        if fresh { set("state.fresh_start", .bool(true)) }
        if let logLevel { set("log.level", .string(logLevel)) }
        if let role { set("cluster.role", .string(role)) }
        for item in settings { o.append(try ConfigurationOverride(parsing: item)) }
        return o
    }

    func run() throws {
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(file: config, overrides: try overrides())
        } catch {
            printError("voronoid: configuration error: \(error)")
            throw ExitCode(ConfigurationError.exitStatus)
        }
        let logger = StderrLogHandler.bootstrap(level: configuration.log.level)
        do {
            let runner = try DaemonRunner(configuration: configuration, logger: logger)
            let file = config
            // Read once: the flags cannot change, and they were valid at start.
            let overrides = (try? self.overrides()) ?? []
            let status = try runner.run(reload: { () throws(ConfigurationError) in
                try DaemonConfiguration.load(file: file, overrides: overrides)
            })
            throw ExitCode(status)
        } catch let error as DaemonRunner.StartError {
            logger.critical("cannot start: \(error.description)")
            throw ExitCode(error.status)
        }
    }
}

func printError(_ message: String) {
    let line = message + "\n"
    line.withCString { _ = write(2, $0, strlen($0)) }
}
