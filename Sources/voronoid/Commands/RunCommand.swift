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

    var overrides: [String] {
        var o: [String] = []
        if let k { o.append("model.k=\(k)") }
        if let dimension { o.append("model.dimension=\(dimension)") }
        if let mode { o.append("model.mode=\(mode)") }
        if !input.isEmpty { o.append("input.endpoints=[" + input.map { "\"\($0)\"" }.joined(separator: ",") + "]") }
        if connect { o.append("input.connect=true") }
        if pull { o.append("input.socket=pull") }
        if let output { o.append("output.endpoint=\"\(output)\"") }
        if let query { o.append("query.endpoint=\"\(query)\"") }
        if let state { o.append("state.directory=\"\(state)\"") }
        if fresh { o.append("state.fresh_start=true") }
        if let logLevel { o.append("log.level=\(logLevel)") }
        return o + settings
    }

    func run() throws {
        do { try HostCheck.requireVectorUnits() } catch { printError("voronoid: \(error)"); throw ExitCode(1) }
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(file: config, overrides: overrides)
        } catch {
            printError("voronoid: configuration error: \(error)")
            throw ExitCode(ConfigurationError.exitStatus)
        }
        let logger = StderrLogHandler.bootstrap(level: configuration.log.level)
        do {
            let runner = try DaemonRunner(configuration: configuration, logger: logger)
            let file = config
            let overrides = self.overrides
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
