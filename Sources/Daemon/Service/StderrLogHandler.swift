import Glibc
import Logging
import Synchronization

/// One log line per event on standard error, unbuffered, with the `<N>` priority prefix that
/// journald reads (sd-daemon(3)), so levels survive into `journalctl -p`.
public struct StderrLogHandler: LogHandler {
    /// The process-wide level, changed in place by a reload.
    static let currentLevel = Atomic<UInt8>(2)

    /// Sets the level of every handler at once.
    public static func setLevel(_ level: Logger.Level) {
        currentLevel.store(UInt8(Logger.Level.allCases.firstIndex(of: level) ?? 2), ordering: .relaxed)
    }

    public var logLevel: Logger.Level {
        get { Logger.Level.allCases[Int(Self.currentLevel.load(ordering: .relaxed))] }
        set { Self.setLevel(newValue) }
    }
    public var metadata: Logger.Metadata = [:]
    private let label: String

    /// Creates a handler; a given `level` becomes the process-wide level.
    public init(label: String, level: Logger.Level? = nil) {
        self.label = label
        if let level { Self.setLevel(level) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "<\(Self.priority(event.level))>\(event.level): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty {
            line += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        // One write per line: lines from several threads never interleave, and nothing waits in
        // a buffer to be lost if the process dies.
        line = line.replacingNewlines() + "\n"
        line.withCString { p in _ = write(2, p, strlen(p)) }
    }

    /// syslog priorities: debug 7, info 6, notice 5, warning 4, error 3, critical 2.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Sets up the process-wide logging system once; returns the daemon's logger.
    public static func bootstrap(level: String) -> Logger {
        let lvl = Logger.Level(rawValue: level) ?? .info
        setLevel(lvl)
        LoggingSystem.bootstrap { StderrLogHandler(label: $0) }
        return Logger(label: "voronoid")
    }
}

extension String {
    /// Keeps a message on one line so each journald entry is one event.
    func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
